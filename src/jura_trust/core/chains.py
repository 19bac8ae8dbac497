"""Aggregation and calendar hash chains: model, TLV codec and evaluation.

CONSENSUS-CRITICAL: the hashing rules here (spec/ksi-format.md sections 4
and 5) decide which aggregation root and which calendar root a signature
proves. A change can invalidate every issued signature.

* Aggregation step: ``L := L + correction + 1`` then ``x := A(x || s || L)``
  for a left link (the running hash is the left child) or
  ``x := A(s || x || L)`` for a right link; ``x`` and ``s`` are full
  imprints or metadata/legacy-id bytes, and ``L`` is one byte.
* Calendar step: the level byte is always 0xFF; each node is hashed with the
  algorithm of its right child's imprint.

Parsed structures keep their exact bytes (``raw``), so :meth:`encode`
reproduces the input byte for byte; structures built in code are encoded
the way KSI writers do.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from jura_trust._value import Value, _init
from jura_trust.core import tlv
from jura_trust.core.hashing import (
    IMPRINT_SIZES,
    HashAlgorithm,
    Imprint,
    _imprint_unchecked,
    hash_constructor,
)
from jura_trust.errors import ErrorCode, FormatError, VerificationError

__all__ = [
    "AGGREGATION_CHAIN_TYPE",
    "CALENDAR_CHAIN_TYPE",
    "CALENDAR_LEVEL",
    "LEGACY_ID_LENGTH",
    "MAX_LEVEL",
    "AggregationChain",
    "AggregationLink",
    "CalendarChain",
    "CalendarLink",
    "ChainComputationError",
    "Direction",
    "Metadata",
    "aggregation_shape_index",
    "calendar_time_from_shape",
    "evaluate_aggregation_links",
    "evaluate_calendar_links",
]

#: TLV type of an aggregation hash chain inside a signature or PDU.
AGGREGATION_CHAIN_TYPE = 0x801
#: TLV type of a calendar hash chain.
CALENDAR_CHAIN_TYPE = 0x802
#: The level byte of every calendar node.
CALENDAR_LEVEL = 0xFF
#: The highest level an aggregation chain may reach.
MAX_LEVEL = 0xFF
#: Exact length of a legacy-id sibling.
LEGACY_ID_LENGTH = 29
#: Longest name a legacy id can hold.
LEGACY_ID_MAX_NAME = 25
#: TLV type of the metadata padding element.
METADATA_PADDING_TYPE = 0x1E

_LEVEL_BYTES = tuple(bytes((i,)) for i in range(256))
#: TLV8 headers of unsigned integer elements, by type and value length.
_UINT_HEADERS = {t: [bytes((t, n)) for n in range(9)] for t in (0x03, 0x04)}
#: The metadata padding element (flags N and F) that makes a value of
#: ``2 + pad + body`` bytes even, by ``(len(body) + 3) % 2``: value ``01``
#: when that is 0, ``01 01`` when it is 1. Immutable, so shared.
_PADDING = tuple(
    tlv.TLV.build(METADATA_PADDING_TYPE, pad, non_critical=True, forward=True)
    for pad in (b"\x01", b"\x01\x01")
)
_ID_BYTES = _LEVEL_BYTES
#: The TLV type of a left link, as a packed direction byte.
_LEFT_BYTE = 0x07


class Direction(enum.IntEnum):
    """Which child the running hash is. The value is the link's TLV type."""

    #: The running hash is the LEFT child; the sibling is on the right.
    LEFT = 0x07
    #: The running hash is the RIGHT child; the sibling is on the left.
    RIGHT = 0x08


#: The two directions, as module constants (the link constructors' hot check).
_LEFT: Direction = Direction.LEFT
_RIGHT: Direction = Direction.RIGHT


class ChainComputationError(VerificationError):
    """A chain cannot be computed (level overflow, unavailable algorithm)."""

    default_code = ErrorCode.INT_01


# -- metadata -----------------------------------------------------------------

_METADATA_TEMPLATE = tlv.Template(
    "metadata",
    {
        METADATA_PADDING_TYPE: tlv.Field("padding", tlv.Kind.ELEMENT, multiple=True),
        0x01: tlv.Field("client_id", tlv.Kind.UTF8, mandatory=True),
        0x02: tlv.Field("machine_id", tlv.Kind.UTF8),
        0x03: tlv.Field("sequence_number", tlv.Kind.UINT),
        0x04: tlv.Field("request_time", tlv.Kind.UINT),
    },
)


def _fill(meta: Metadata, fields: tuple[Any, ...]) -> None:
    """Set a metadata value's fields (in ``Metadata._fields`` order) and an empty ``raw``."""
    for name, field in zip(Metadata._fields, fields, strict=True):
        _init(meta, name, field)
    _init(meta, "raw", b"")


class Metadata(Value):
    """Client metadata used as a sibling in an aggregation chain.

    ``value`` is the metadata element's value bytes exactly as they appear
    in the signature (padding included): these bytes are what is hashed.
    ``client_id`` names the signature's issuer (the aggregator login).
    """

    __slots__ = (
        "child_types",
        "client_id",
        "machine_id",
        "padding",
        "raw",
        "request_time",
        "sequence_number",
        "value",
    )
    _fields = (
        "value",
        "client_id",
        "machine_id",
        "sequence_number",
        "request_time",
        "child_types",
        "padding",
    )
    value: bytes
    client_id: str
    machine_id: str | None
    sequence_number: int | None
    #: Request time in microseconds since the epoch.
    request_time: int | None
    #: The child element types, in file order (for the padding rules).
    child_types: tuple[int, ...]
    #: The padding elements, as parsed.
    padding: tuple[tlv.TLV, ...]
    #: The element's bytes as parsed (empty when built in code).
    raw: bytes

    def __init__(  # noqa: PLR0917 - positional, as before
        self,
        value: bytes,
        client_id: str,
        machine_id: str | None = None,
        sequence_number: int | None = None,
        request_time: int | None = None,
        child_types: tuple[int, ...] = (),
        padding: tuple[tlv.TLV, ...] = (),
    ) -> None:
        """Metadata whose fields are what ``value`` encodes.

        ``value`` is what a chain hashes and the fields are what a result
        shows (``client_id`` is the issuer), so they must agree: ``value``
        is read as the parser reads it (:class:`FormatError` if malformed)
        and a field that differs raises :class:`ValueError`. Empty
        ``child_types`` and ``padding`` are taken from ``value``. To make
        metadata from its fields, use :meth:`build`.
        """
        read = Metadata.from_tlv(tlv.TLV(0x04, value, tlv16=len(value) > 0xFF))
        child_types = tuple(child_types) or read.child_types
        padding = tuple(padding) or read.padding
        given = (client_id, machine_id, sequence_number, request_time, child_types, padding)
        found = (
            read.client_id,
            read.machine_id,
            read.sequence_number,
            read.request_time,
            read.child_types,
            read.padding,
        )
        if given != found:
            raise ValueError(
                "metadata fields differ from what its value encodes (the value is what "
                "is hashed, the fields what is shown): build it with Metadata.build"
            )
        _fill(self, (value, *given))

    @classmethod
    def _read(  # noqa: PLR0917 - the fields in order
        cls,
        value: bytes,
        client_id: str,
        machine_id: str | None,
        sequence_number: int | None,
        request_time: int | None,
        child_types: tuple[int, ...],
        padding: tuple[tlv.TLV, ...],
    ) -> Metadata:
        """Metadata from fields a parser (or :meth:`build`) derived from ``value`` itself.

        For parsers and builders only: nothing is checked, the caller made
        the fields from the value (or the value from the fields).
        """
        meta: Metadata = object.__new__(cls)
        _fill(
            meta,
            (value, client_id, machine_id, sequence_number, request_time, child_types, padding),
        )
        return meta

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> Metadata:
        """Parse a 0x04 metadata element."""
        parsed = tlv.parse_composite(element, _METADATA_TEMPLATE)
        if "padding" in parsed and parsed.order[0] != METADATA_PADDING_TYPE:
            # libksi's parser rejects this outright (test pack: "parsing"),
            # although the internal policy's INT-11 also names it.
            raise FormatError(
                "metadata padding must be the first element",
                code=ErrorCode.FMT_STRUCTURE,
            )
        return tlv.keep_raw(
            cls._read(
                element.value,
                parsed["client_id"],
                parsed.get("machine_id"),
                parsed.get("sequence_number"),
                parsed.get("request_time"),
                parsed.order,
                tuple(parsed.get("padding", ())),
            ),
            element.raw,
        )

    @classmethod
    def build(
        cls,
        client_id: str,
        *,
        machine_id: str | None = None,
        sequence_number: int | None = None,
        request_time: int | None = None,
    ) -> Metadata:
        """Build padded metadata the way a current aggregator writes it.

        The padding element (type 0x1E, flags N and F, value ``01`` or
        ``01 01``) comes first and makes the value length even, so the
        metadata can never be read as an imprint.
        """
        types = [METADATA_PADDING_TYPE, 0x01]
        body = tlv.encode(0x01, tlv.encode_utf8(client_id))
        if machine_id is not None:
            body += tlv.encode(0x02, tlv.encode_utf8(machine_id))
            types.append(0x02)
        return cls._padded(
            body,
            client_id=client_id,
            machine_id=machine_id,
            sequence_number=sequence_number,
            request_time=request_time,
            types=types,
        )

    @classmethod
    def _padded(
        cls,
        ids: bytes,
        *,
        client_id: str,
        machine_id: str | None,
        sequence_number: int | None,
        request_time: int | None,
        types: list[int],
    ) -> Metadata:
        """:meth:`build` from the encoded id elements ``ids`` (their types in ``types``).

        The value is built from the fields, as :meth:`from_tlv` would read
        its encoding back (tests/core/test_signature.py holds them equal).
        """
        body = ids
        if sequence_number is not None:
            number = tlv.encode_uint(sequence_number)  # at most 8 bytes: a TLV8
            body += _UINT_HEADERS[0x03][len(number)] + number
            types = [*types, 0x03]
        if request_time is not None:
            number = tlv.encode_uint(request_time)
            body += _UINT_HEADERS[0x04][len(number)] + number
            types = [*types, 0x04]
        # The padding header is 2 bytes; pick a 1- or 2-byte value so that
        # the total (2 + pad + body) is even.
        pad = _PADDING[(len(body) + 3) % 2]
        value = pad.raw + body
        return tlv.keep_raw(
            cls._read(
                value,
                client_id,
                machine_id,
                sequence_number,
                request_time,
                tuple(types),
                (pad,),
            ),
            tlv.encode(0x04, value),
        )

    @classmethod
    def builder(cls, client_id: str) -> Callable[[int | None, int | None], Metadata]:
        """``(sequence_number, request_time) -> Metadata`` for one client id.

        ``builder(c)(n, t) == build(c, sequence_number=n, request_time=t)``,
        with the client id encoded once: an aggregator keeps one per login.
        """
        ids = tlv.encode(0x01, tlv.encode_utf8(client_id))
        types = [METADATA_PADDING_TYPE, 0x01]

        def make(sequence_number: int | None, request_time: int | None) -> Metadata:
            return cls._padded(
                ids,
                client_id=client_id,
                machine_id=None,
                sequence_number=sequence_number,
                request_time=request_time,
                types=types,
            )

        return make

    def encode(self) -> bytes:
        """The metadata element (type 0x04) as bytes."""
        return self.raw or tlv.encode(0x04, self.value)


# -- aggregation links --------------------------------------------------------

_LINK_TEMPLATE = tlv.Template(
    "aggregation link",
    {
        0x01: tlv.Field("level_correction", tlv.Kind.UINT),
        0x02: tlv.Field("sibling", tlv.Kind.IMPRINT),
        0x03: tlv.Field("legacy_id", tlv.Kind.BYTES),
        0x04: tlv.Field("metadata", tlv.Kind.ELEMENT),
    },
)


def check_legacy_id(value: bytes) -> str:
    """Validate a legacy-id sibling (spec 4.2) and return its name."""
    if len(value) != LEGACY_ID_LENGTH:
        raise FormatError(
            f"legacy id is {len(value)} bytes, not {LEGACY_ID_LENGTH}",
            code=ErrorCode.FMT_BAD_LEGACY_ID,
        )
    if value[0] != 0x03 or value[1] != 0x00:
        raise FormatError("legacy id has a bad prefix", code=ErrorCode.FMT_BAD_LEGACY_ID)
    n = value[2]
    if n > LEGACY_ID_MAX_NAME:
        raise FormatError(
            f"legacy id name length {n} exceeds {LEGACY_ID_MAX_NAME}",
            code=ErrorCode.FMT_BAD_LEGACY_ID,
        )
    if any(value[3 + n :]):
        raise FormatError("legacy id padding is not zero", code=ErrorCode.FMT_BAD_LEGACY_ID)
    try:
        return value[3 : 3 + n].decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("legacy id name is not UTF-8", code=ErrorCode.FMT_BAD_LEGACY_ID) from None


class AggregationLink(Value):
    """One step of an aggregation chain.

    Exactly one of ``sibling``, ``legacy_id`` and ``metadata`` is set.
    """

    __slots__ = (
        "direction",
        "legacy_id",
        "level_correction",
        "metadata",
        "raw",
        "sibling",
        "unknown",
    )
    _fields = ("direction", "level_correction", "sibling", "legacy_id", "metadata", "unknown")
    _compare = ("direction", "level_correction", "sibling", "legacy_id", "metadata")
    direction: Direction
    level_correction: int
    sibling: Imprint | None
    legacy_id: bytes | None
    metadata: Metadata | None
    #: Unknown non-critical children, as parsed (not compared).
    unknown: tuple[tlv.TLV, ...]
    #: The element's bytes as parsed (empty when built in code).
    raw: bytes

    def __init__(  # noqa: PLR0917 - positional, as before
        self,
        direction: Direction,
        level_correction: int = 0,
        sibling: Imprint | None = None,
        legacy_id: bytes | None = None,
        metadata: Metadata | None = None,
        unknown: tuple[tlv.TLV, ...] = (),
    ) -> None:
        count = (sibling is not None) + (legacy_id is not None) + (metadata is not None)
        if count != 1:
            raise ValueError("an aggregation link needs exactly one sibling kind")
        if not 0 <= level_correction <= MAX_LEVEL:
            raise ValueError("level correction out of range")
        if direction is not _LEFT and direction is not _RIGHT:
            # A link keeps a Direction, never a plain 7: the packed form
            # hashes the byte (7 is left) while ``is_left`` and the walks
            # over links test ``is Direction.LEFT``, so a plain 7 would be
            # hashed as a left link and shown as a right one.
            direction = Direction(direction)  # ValueError for anything but 7 and 8
        _init(self, "direction", direction)
        _init(self, "level_correction", level_correction)
        _init(self, "sibling", sibling)
        _init(self, "legacy_id", legacy_id)
        _init(self, "metadata", metadata)
        _init(self, "unknown", unknown)
        _init(self, "raw", b"")

    @property
    def sibling_bytes(self) -> bytes:
        """The bytes hashed for the sibling (spec 4.2)."""
        if self.sibling is not None:
            return self.sibling.value
        if self.legacy_id is not None:
            return self.legacy_id
        assert self.metadata is not None
        return self.metadata.value

    @property
    def is_left(self) -> bool:
        """True for a left link (the running hash is the left child)."""
        return self.direction is Direction.LEFT

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> AggregationLink:
        """Parse a 0x07 or 0x08 link element."""
        direction = Direction(element.type)
        parsed = tlv.parse_composite(element, _LINK_TEMPLATE)
        kinds = [k for k in ("sibling", "legacy_id", "metadata") if k in parsed]
        if len(kinds) != 1:
            raise FormatError(
                "aggregation link needs exactly one of sibling hash, legacy id, metadata",
                code=ErrorCode.FMT_STRUCTURE,
            )
        correction = parsed.get("level_correction", 0)
        if correction > MAX_LEVEL:
            # A level is one byte: no chain can climb more than 255 levels.
            raise FormatError(
                f"aggregation link level correction {correction} exceeds {MAX_LEVEL}",
                code=ErrorCode.FMT_BAD_INTEGER,
                level_correction=correction,
            )
        legacy = parsed.get("legacy_id")
        if legacy is not None:
            check_legacy_id(legacy)
        meta_elem = parsed.get("metadata")
        return tlv.keep_raw(
            cls(
                direction=direction,
                level_correction=correction,
                sibling=parsed.get("sibling"),
                legacy_id=legacy,
                metadata=Metadata.from_tlv(meta_elem) if meta_elem is not None else None,
                unknown=parsed.unknown,
            ),
            element.raw,
        )

    def encode(self) -> bytes:
        """The link element as bytes."""
        if self.raw:
            return self.raw
        body = b""
        if self.level_correction:
            body += tlv.encode(0x01, tlv.encode_uint(self.level_correction))
        if self.sibling is not None:
            body += tlv.encode(0x02, self.sibling.value)
        elif self.legacy_id is not None:
            body += tlv.encode(0x03, self.legacy_id)
        else:
            assert self.metadata is not None
            body += self.metadata.encode()
        return tlv.encode(int(self.direction), body)


# -- evaluation ---------------------------------------------------------------


def evaluate_aggregation_links(
    algorithm: HashAlgorithm,
    input_hash: bytes,
    links: Sequence[AggregationLink],
    start_level: int = 0,
) -> tuple[bytes, int]:
    """Run ``links`` from ``input_hash``; return ``(output imprint, level)``.

    Raises :class:`ChainComputationError` (INT-01) if the level passes 255
    or the algorithm is unavailable.
    """
    return _evaluate_packed(
        algorithm,
        input_hash,
        bytes(link.direction for link in links),
        bytes(link.level_correction for link in links),
        tuple(link.sibling_bytes for link in links),
        start_level,
    )


def _evaluate_packed(  # noqa: PLR0917 - the packed chain's parts
    algorithm: HashAlgorithm,
    input_hash: bytes,
    directions: bytes,
    corrections: bytes,
    siblings: tuple[bytes, ...],
    start_level: int,
) -> tuple[bytes, int]:
    """:func:`evaluate_aggregation_links` on a chain's packed links."""
    try:
        new = hash_constructor(algorithm)
    except FormatError as exc:
        raise ChainComputationError(exc.message) from None
    prefix = _ID_BYTES[algorithm.value]
    x = input_hash
    level = start_level
    levels = _LEVEL_BYTES
    for direction, correction, s in zip(directions, corrections, siblings, strict=True):
        level += correction + 1
        if level > MAX_LEVEL:
            raise ChainComputationError(
                f"aggregation chain level {level} exceeds {MAX_LEVEL}", level=level
            )
        if direction == _LEFT_BYTE:
            x = prefix + new(x + s + levels[level]).digest()
        else:
            x = prefix + new(s + x + levels[level]).digest()
    return x, level


def _shape_index(directions: bytes) -> int:
    """:func:`aggregation_shape_index` of packed directions."""
    index = 0
    bit = 1
    for direction in directions:  # leaf side first: the lowest bits
        if direction == _LEFT_BYTE:
            index |= bit
        bit <<= 1
    return index | bit


def aggregation_shape_index(links: Iterable[AggregationLink]) -> int:
    """The chain-index value that encodes ``links``' shape (spec 4.3).

    A leading 1 bit, then one bit per link from the root side down to the
    leaf side; a bit is 1 for a left link.
    """
    return _shape_index(bytes(link.direction for link in links))


# -- aggregation chain --------------------------------------------------------

_AGGREGATION_CHAIN_TEMPLATE = tlv.Template(
    "aggregation chain",
    {
        0x02: tlv.Field("aggregation_time", tlv.Kind.UINT, mandatory=True),
        0x03: tlv.Field("chain_index", tlv.Kind.UINT, mandatory=True, multiple=True),
        0x04: tlv.Field("input_data", tlv.Kind.BYTES),
        0x05: tlv.Field("input_hash", tlv.Kind.IMPRINT, mandatory=True),
        0x06: tlv.Field("algorithm", tlv.Kind.UINT, mandatory=True),
        0x07: tlv.Field("link", tlv.Kind.ELEMENT, multiple=True),
        0x08: tlv.Field("link", tlv.Kind.ELEMENT, multiple=True),
    },
)


def _algorithm_from_field(value: int, what: str) -> HashAlgorithm:
    try:
        return HashAlgorithm.from_id(value)
    except FormatError:
        raise FormatError(
            f"{what}: unknown hash algorithm id {value}",
            code=ErrorCode.FMT_UNSUPPORTED_ALGORITHM,
            algorithm_id=value,
        ) from None


class AggregationChain(Value):
    """An aggregation hash chain (TLV 0x801)."""

    __slots__ = (
        "_corrections",
        "_directions",
        "_links",
        "_metadata",
        "_siblings",
        "aggregation_time",
        "algorithm",
        "chain_index",
        "input_data",
        "input_hash",
        "raw",
        "unknown",
    )
    #: Slots that only cache what the others hold (not part of the value).
    _caches = ("_links",)
    _fields = (
        "aggregation_time",
        "chain_index",
        "input_hash",
        "algorithm",
        "links",
        "input_data",
        "unknown",
    )
    _compare = ("aggregation_time", "chain_index", "input_hash", "algorithm", "links", "input_data")
    aggregation_time: int
    chain_index: tuple[int, ...]
    input_hash: Imprint
    algorithm: HashAlgorithm
    input_data: bytes | None
    #: Unknown non-critical children, as parsed (not compared).
    unknown: tuple[tlv.TLV, ...]
    #: The element's bytes as parsed (empty when built in code).
    raw: bytes
    # The links in the packed form the hash steps use: one direction byte
    # (0x07 left, 0x08 right) and one level-correction byte per link, the
    # bytes each link hashes, and the metadata siblings. A parser fills
    # these and leaves ``_links`` to be read from ``raw`` on first use.
    _directions: bytes
    _corrections: bytes
    _siblings: tuple[bytes, ...]
    _metadata: tuple[Metadata, ...]
    _links: tuple[AggregationLink, ...] | None

    def __init__(  # noqa: PLR0917 - positional, as before
        self,
        aggregation_time: int,
        chain_index: tuple[int, ...],
        input_hash: Imprint,
        algorithm: HashAlgorithm,
        links: tuple[AggregationLink, ...],
        input_data: bytes | None = None,
        unknown: tuple[tlv.TLV, ...] = (),
    ) -> None:
        chain_index = tuple(chain_index)
        if not chain_index:
            # As the parsers refuse it: the rules read its last element.
            raise ValueError("an aggregation chain needs a chain index")
        _init(self, "aggregation_time", aggregation_time)
        _init(self, "chain_index", chain_index)
        _init(self, "input_hash", input_hash)
        _init(self, "algorithm", algorithm)
        _init(self, "input_data", input_data)
        _init(self, "unknown", unknown)
        _init(self, "raw", b"")
        links = tuple(links)
        if not links:
            # As the parsers refuse it: an empty chain proves nothing and
            # has no first link (``first_level_correction``).
            raise ValueError("an aggregation chain needs at least one link")
        _init(self, "_links", links)
        _init(self, "_directions", bytes(link.direction for link in links))
        _init(self, "_corrections", bytes(link.level_correction for link in links))
        _init(self, "_siblings", tuple(link.sibling_bytes for link in links))
        _init(self, "_metadata", tuple(x.metadata for x in links if x.metadata is not None))

    @property
    def links(self) -> tuple[AggregationLink, ...]:
        """The links, leaf side first."""
        links = self._links
        if links is None:
            # Parsed by the one-pass parser: the reference parser reads the
            # same bytes (tests/core/test_sigparse.py holds the two equal).
            links = AggregationChain.from_tlv(tlv.decode(self.raw)).links
            _init(self, "_links", links)
        return links

    @property
    def metadata_siblings(self) -> tuple[Metadata, ...]:
        """The metadata of the links that have metadata as their sibling, leaf side first."""
        return self._metadata

    @property
    def first_level_correction(self) -> int:
        """The level correction of the first (leaf-most) link."""
        return self._corrections[0]

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> AggregationChain:
        """Parse a 0x801 element."""
        parsed = tlv.parse_composite(element, _AGGREGATION_CHAIN_TEMPLATE)
        link_elems: list[tlv.TLV] = parsed.get("link", [])
        if not link_elems:
            raise FormatError(
                "aggregation chain has no links", code=ErrorCode.FMT_MISSING, type=0x07
            )
        return tlv.keep_raw(
            cls(
                aggregation_time=parsed["aggregation_time"],
                chain_index=tuple(parsed["chain_index"]),
                input_hash=parsed["input_hash"],
                algorithm=_algorithm_from_field(parsed["algorithm"], "aggregation chain"),
                links=tuple(AggregationLink.from_tlv(e) for e in link_elems),
                input_data=parsed.get("input_data"),
                unknown=parsed.unknown,
            ),
            element.raw,
        )

    def encode(self) -> bytes:
        """The chain element as bytes (the parsed bytes when parsed)."""
        if self.raw:
            return self.raw
        parts = [tlv.encode(0x02, tlv.encode_uint(self.aggregation_time))]
        parts.extend(tlv.encode(0x03, tlv.encode_uint(i)) for i in self.chain_index)
        if self.input_data is not None:
            parts.append(tlv.encode(0x04, self.input_data))
        parts.append(tlv.encode(0x05, self.input_hash.value))
        parts.append(tlv.encode(0x06, tlv.encode_uint(self.algorithm.value)))
        parts.extend(link.encode() for link in self.links)
        parts.extend(u.raw for u in self.unknown)
        return tlv.encode(AGGREGATION_CHAIN_TYPE, b"".join(parts))

    def evaluate(self, start_level: int = 0) -> tuple[Imprint, int]:
        """The chain's output imprint and final level from ``start_level``."""
        out, level = _evaluate_packed(
            self.algorithm,
            self.input_hash.value,
            self._directions,
            self._corrections,
            self._siblings,
            start_level,
        )
        return _imprint_unchecked(out), level

    @property
    def shape_index(self) -> int:
        """The chain-index value this chain's links encode."""
        return _shape_index(self._directions)


# -- calendar chain -----------------------------------------------------------


_DIRECTION_OF = {0x07: Direction.LEFT, 0x08: Direction.RIGHT}


class CalendarLink(Value):
    """One calendar-chain step: a direction and the sibling imprint."""

    __slots__ = ("direction", "sibling")
    _fields = ("direction", "sibling")
    direction: Direction
    sibling: Imprint

    def __init__(self, direction: Direction, sibling: Imprint) -> None:
        if direction is not _LEFT and direction is not _RIGHT:
            direction = Direction(direction)  # as AggregationLink's: 7 and 8 only
        _init(self, "direction", direction)
        _init(self, "sibling", sibling)

    @property
    def is_left(self) -> bool:
        """True for a left link (the sibling summarises newer seconds)."""
        return self.direction is Direction.LEFT

    def encode(self) -> bytes:
        """The link element as bytes."""
        return tlv.encode(int(self.direction), self.sibling.value)


def _calendar_root(input_hash: bytes, directions: bytes, siblings: tuple[bytes, ...]) -> bytes:
    """:func:`evaluate_calendar_links` on packed links."""
    x = input_hash
    level = _LEVEL_BYTES[CALENDAR_LEVEL]
    alg_id = -1
    new = _no_hash
    prefix = b""
    for direction, s in zip(directions, siblings, strict=True):
        if direction == _LEFT_BYTE:
            if s[0] != alg_id:
                alg_id = s[0]
                new = _calendar_constructor(alg_id)
                prefix = _ID_BYTES[alg_id]
            x = prefix + new(x + s + level).digest()
        else:
            if alg_id < 0:  # the first node hashed: the input's algorithm
                alg_id = x[0]
                new = _calendar_constructor(alg_id)
                prefix = _ID_BYTES[alg_id]
            x = prefix + new(s + x + level).digest()
    return x


def _time_from_directions(publication_time: int, directions: bytes) -> int | None:
    """:func:`calendar_time_from_shape` of packed directions."""
    if not directions:
        return None
    r = publication_time
    t = 0
    for d in reversed(directions):
        if r <= 0:
            return None
        h = 1 << (r.bit_length() - 1)
        if d == _LEFT_BYTE:
            r = h - 1
        else:
            t += h
            r -= h
    if r != 0:
        return None
    return t


def evaluate_calendar_links(input_hash: bytes, links: Sequence[CalendarLink]) -> bytes:
    """The calendar root reached from ``input_hash`` (spec 5.1).

    Each node is hashed with the algorithm of its right child: on a left
    link the sibling is the right child and its algorithm takes over; on a
    right link the running hash is the right child and keeps its algorithm.
    """
    return _calendar_root(
        input_hash,
        bytes(link.direction for link in links),
        tuple(link.sibling.value for link in links),
    )


def _no_hash(_data: bytes) -> Any:  # pragma: no cover - replaced before any use
    raise AssertionError("no algorithm chosen")


def _calendar_constructor(alg_id: int) -> Callable[..., Any]:
    try:
        return hash_constructor(alg_id)
    except FormatError as exc:
        raise ChainComputationError(exc.message) from None


def calendar_time_from_shape(
    publication_time: int, directions: Sequence[Direction | CalendarLink]
) -> int | None:
    """The aggregation time a calendar chain's shape encodes (spec 5.2).

    ``directions`` are leaf-first: directions, or the links themselves.
    Returns ``None`` for a malformed shape.
    """
    return _time_from_directions(
        publication_time,
        bytes(d if type(d) is Direction else d.direction for d in directions),  # type: ignore[union-attr]
    )


_CALENDAR_CHAIN_TEMPLATE = tlv.Template(
    "calendar chain",
    {
        0x01: tlv.Field("publication_time", tlv.Kind.UINT, mandatory=True),
        0x02: tlv.Field("aggregation_time", tlv.Kind.UINT),
        0x05: tlv.Field("input_hash", tlv.Kind.IMPRINT, mandatory=True),
        0x07: tlv.Field("link", tlv.Kind.ELEMENT, multiple=True),
        0x08: tlv.Field("link", tlv.Kind.ELEMENT, multiple=True),
    },
)


class CalendarChain(Value):
    """A calendar hash chain (TLV 0x802)."""

    __slots__ = (
        "_directions",
        "_links",
        "_root",
        "_siblings",
        "aggregation_time_field",
        "input_hash",
        "publication_time",
        "raw",
        "unknown",
    )
    #: Slots that only cache what the others hold (not part of the value).
    _caches = ("_links", "_root")
    _fields = ("publication_time", "input_hash", "links", "aggregation_time_field", "unknown")
    _compare = ("publication_time", "input_hash", "links", "aggregation_time_field")
    publication_time: int
    input_hash: Imprint
    #: The aggregation time field; ``None`` when absent (then the
    #: publication time stands in for it).
    aggregation_time_field: int | None
    #: Unknown non-critical children, as parsed (not compared).
    unknown: tuple[tlv.TLV, ...]
    #: The element's bytes as parsed (empty when built in code).
    raw: bytes
    # The links packed: one direction byte per link (0x07 left, 0x08 right)
    # and the siblings' imprint bytes. A parser fills these and leaves
    # ``_links`` to be read from ``raw`` on first use.
    _directions: bytes
    _siblings: tuple[bytes, ...]
    _links: tuple[CalendarLink, ...] | None
    _root: Imprint | None

    def __init__(
        self,
        publication_time: int,
        input_hash: Imprint,
        links: tuple[CalendarLink, ...],
        aggregation_time_field: int | None = None,
        unknown: tuple[tlv.TLV, ...] = (),
    ) -> None:
        _init(self, "publication_time", publication_time)
        _init(self, "input_hash", input_hash)
        _init(self, "aggregation_time_field", aggregation_time_field)
        _init(self, "unknown", unknown)
        _init(self, "raw", b"")
        links = tuple(links)
        if not links:
            raise ValueError("a calendar chain needs at least one link")  # as the parsers
        _init(self, "_links", links)
        _init(self, "_directions", bytes(link.direction for link in links))
        _init(self, "_siblings", tuple(link.sibling.value for link in links))
        _init(self, "_root", None)

    @property
    def links(self) -> tuple[CalendarLink, ...]:
        """The links, leaf side first."""
        links = self._links
        if links is None:
            directions = _DIRECTION_OF
            links = tuple(
                CalendarLink(directions[d], _imprint_unchecked(s))
                for d, s in zip(self._directions, self._siblings, strict=True)
            )
            _init(self, "_links", links)
        return links

    def left_algorithm_ids(self) -> frozenset[int]:
        """The algorithm ids of the left links' siblings (the nodes they make)."""
        return frozenset(
            s[0] for d, s in zip(self._directions, self._siblings, strict=True) if d == _LEFT_BYTE
        )

    @property
    def aggregation_time(self) -> int:
        """The aggregation time, falling back to the publication time."""
        t = self.aggregation_time_field
        return self.publication_time if t is None else t

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> CalendarChain:
        """Parse a 0x802 element."""
        parsed = tlv.parse_composite(element, _CALENDAR_CHAIN_TEMPLATE)
        link_elems: list[tlv.TLV] = parsed.get("link", [])
        if not link_elems:
            raise FormatError("calendar chain has no links", code=ErrorCode.FMT_MISSING, type=0x07)
        links = tuple(
            CalendarLink(Direction(e.type), tlv.decode_imprint(e.value, what="calendar link"))
            for e in link_elems
        )
        return tlv.keep_raw(
            cls(
                publication_time=parsed["publication_time"],
                input_hash=parsed["input_hash"],
                links=links,
                aggregation_time_field=parsed.get("aggregation_time"),
                unknown=parsed.unknown,
            ),
            element.raw,
        )

    def encode(self) -> bytes:
        """The chain element as bytes (the parsed bytes when parsed)."""
        if self.raw:
            return self.raw
        parts = [tlv.encode(0x01, tlv.encode_uint(self.publication_time))]
        if self.aggregation_time_field is not None:
            parts.append(tlv.encode(0x02, tlv.encode_uint(self.aggregation_time_field)))
        parts.append(tlv.encode(0x05, self.input_hash.value))
        parts.extend(link.encode() for link in self.links)
        parts.extend(u.raw for u in self.unknown)
        return tlv.encode(CALENDAR_CHAIN_TYPE, b"".join(parts))

    def root(self) -> Imprint:
        """The calendar root (the published hash at the publication time)."""
        root = self._root
        if root is None:
            root = _imprint_unchecked(
                _calendar_root(self.input_hash.value, self._directions, self._siblings)
            )
            _init(self, "_root", root)
        return root

    def time_from_shape(self) -> int | None:
        """The aggregation time encoded by the shape, or ``None`` if malformed."""
        return _time_from_directions(self.publication_time, self._directions)

    def right_siblings(self) -> tuple[Imprint, ...]:
        """The right-link siblings, in order (they never change on extension)."""
        return tuple(
            _imprint_unchecked(s)
            for d, s in zip(self._directions, self._siblings, strict=True)
            if d != _LEFT_BYTE
        )


def imprint_like(value: bytes) -> bool:
    """True if ``value`` has the exact length of an imprint of its first byte."""
    return bool(value) and IMPRINT_SIZES.get(value[0]) == len(value)

"""Publication data, publication records and printed publication strings.

CONSENSUS-CRITICAL: a publication binds a calendar root to a second; the
publication-based policies compare signatures against these values, the
key-based policy verifies a PKI signature over the *raw* published-data
bytes, and users check printed publication strings by eye. Changing the
encoding, the CRC or the base32 rules here can make issued signatures or
printed strings fail to verify.

Structures (spec/ksi-format.md sections 3 and 7):

* published data ``0x10``: ``0x02`` publication time (seconds) and ``0x04``
  published hash (the calendar root at that second). Inside a publication
  record the element has no flags (header ``10 29`` for SHA-256); inside a
  calendar authentication record real files set the F flag (``30 29``).
* publication record ``0x803`` (in signatures) or ``0x703`` (in the
  publications file): published data, then any number of publication
  references ``0x09`` and repository URIs ``0x0A`` (non-empty strings).
* publication string: base32 of ``time (8 bytes) || imprint || CRC-32``,
  with a dash after every six characters.

Parsed values keep their exact bytes (``raw``) and re-encode to them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from jura_trust._value import Value, _init, evolve
from jura_trust.core import tlv
from jura_trust.core.hashing import IMPRINT_SIZES, Imprint
from jura_trust.errors import ErrorCode, FormatError

__all__ = [
    "PUBLICATIONS_FILE_RECORD_TYPE",
    "PUBLICATION_DATA_TYPE",
    "PUBLICATION_RECORD_TYPES",
    "PUBLICATION_REFERENCE_TYPE",
    "PUBLICATION_REPOSITORY_URI_TYPE",
    "PUBLICATION_STRING_GROUP",
    "SIGNATURE_PUBLICATION_RECORD_TYPE",
    "PublicationData",
    "PublicationRecord",
    "decode_publication_string",
    "encode_publication_string",
]

#: TLV type of published data (time + hash).
PUBLICATION_DATA_TYPE = 0x10
#: TLV type of a publication reference (a printed medium, free text).
PUBLICATION_REFERENCE_TYPE = 0x09
#: TLV type of a publication repository URI.
PUBLICATION_REPOSITORY_URI_TYPE = 0x0A
#: TLV type of a publication record inside a KSI signature.
SIGNATURE_PUBLICATION_RECORD_TYPE = 0x803
#: TLV type of a publication record inside a publications file.
PUBLICATIONS_FILE_RECORD_TYPE = 0x703
#: The record types :meth:`PublicationRecord.from_tlv` accepts.
PUBLICATION_RECORD_TYPES = frozenset(
    {SIGNATURE_PUBLICATION_RECORD_TYPE, PUBLICATIONS_FILE_RECORD_TYPE}
)
#: Characters between two dashes of a printed publication string.
PUBLICATION_STRING_GROUP = 6

_MAX_TIME = (1 << 64) - 1
_TIME_BYTES = 8
_CRC_BYTES = 4
#: Time + the shortest imprint header byte + CRC: the least a string decodes to.
_MIN_STRING_BYTES = _TIME_BYTES + 1 + _CRC_BYTES
_B32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_VALUES = {c: i for i, c in enumerate(_B32_ALPHABET)}
#: Valid counts of significant characters in the last (partial) base32 quantum.
_B32_TAIL_CHARS = frozenset({0, 2, 4, 5, 7})


def _validate_time(value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("publication_time must be an int")
    if not 0 <= value <= _MAX_TIME:
        raise ValueError(f"publication_time {value} out of range")


def _validate_imprint(value: object) -> None:
    if not isinstance(value, Imprint):
        raise TypeError("published_hash must be an Imprint")


def _encode_data_value(publication_time: int, published_hash: Imprint) -> bytes:
    return tlv.encode(0x02, tlv.encode_uint(publication_time)) + tlv.encode(
        0x04, published_hash.value
    )


def _default_data_raw(self: PublicationData) -> bytes:
    _validate_time(self.publication_time)
    _validate_imprint(self.published_hash)
    return tlv.encode(
        PUBLICATION_DATA_TYPE, _encode_data_value(self.publication_time, self.published_hash)
    )


_PUBLICATION_DATA_TEMPLATE = tlv.Template(
    "published data",
    {
        0x02: tlv.Field("publication_time", tlv.Kind.UINT, mandatory=True),
        0x04: tlv.Field("published_hash", tlv.Kind.IMPRINT, mandatory=True),
    },
)


class PublicationData(Value):
    """Published data (TLV 0x10): a publication time and the calendar root.

    Two values are equal when their time and hash are equal; :attr:`raw`
    (the exact encoding, header included) is not compared, so the flagged
    calendar-auth-record variant equals the plain one.

    Construct with :meth:`build` or :meth:`from_tlv`; the constructor
    computes the canonical unflagged encoding when ``raw`` is not given.
    """

    __slots__ = ("publication_time", "published_hash", "raw")
    _fields = ("publication_time", "published_hash")
    publication_time: int
    published_hash: Imprint
    #: The exact TLV encoding of the 0x10 element, header included. Hash or
    #: verify these bytes, never a re-encoding.
    raw: bytes

    def __init__(self, publication_time: int, published_hash: Imprint) -> None:
        _init(self, "publication_time", publication_time)
        _init(self, "published_hash", published_hash)
        _init(self, "raw", _default_data_raw(self))

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> PublicationData:
        """Parse a 0x10 element (any flags); keeps its exact bytes."""
        if element.type != PUBLICATION_DATA_TYPE:
            raise FormatError(
                f"expected published data (0x10), got 0x{element.type:x}",
                code=ErrorCode.FMT_STRUCTURE,
                type=element.type,
            )
        parsed = tlv.parse_composite(element, _PUBLICATION_DATA_TEMPLATE)
        return tlv.keep_raw(cls(parsed["publication_time"], parsed["published_hash"]), element.raw)

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicationData:
        """Parse the encoding of one 0x10 element (nothing may follow it)."""
        return cls.from_tlv(tlv.decode(data))

    @classmethod
    def build(
        cls, publication_time: int, published_hash: Imprint, *, forward: bool = False
    ) -> PublicationData:
        """Build published data as KSI writers do.

        ``forward=True`` sets the F flag (header ``30 29...``), the form used
        inside calendar authentication records; otherwise the header is
        ``10 29...`` as inside publication records.
        """
        _validate_time(publication_time)
        _validate_imprint(published_hash)
        raw = tlv.encode(
            PUBLICATION_DATA_TYPE,
            _encode_data_value(publication_time, published_hash),
            forward=forward,
        )
        return tlv.keep_raw(cls(publication_time, published_hash), raw)

    @property
    def forward(self) -> bool:
        """Whether the encoding carries the F flag."""
        return bool(self.raw) and bool(self.raw[0] & 0x20)

    def encode(self) -> bytes:
        """The exact encoding (the parsed bytes when parsed)."""
        return self.raw

    def publication_string(self) -> str:
        """The printed publication string of this data."""
        return encode_publication_string(self)


def _string_tuple(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)):
        raise TypeError("expected a sequence of strings, not a single string")
    return tuple(value)


def _check_strings(name: str, value: tuple[str, ...]) -> None:
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold strings")
        if not item or "\x00" in item:
            raise ValueError(f"{name} entries must be non-empty and without NUL")


def _validate_record_type(value: int) -> None:
    if value not in PUBLICATION_RECORD_TYPES:
        raise ValueError(f"publication record type must be 0x803 or 0x703, not {value!r}")


def _default_record_raw(self: PublicationRecord) -> bytes:
    _validate_record_type(self.tlv_type)
    if not isinstance(self.published_data, PublicationData):
        raise TypeError("published_data must be PublicationData")
    parts = [self.published_data.raw]
    parts.extend(
        tlv.encode(PUBLICATION_REFERENCE_TYPE, tlv.encode_utf8(r)) for r in self.references
    )
    parts.extend(
        tlv.encode(PUBLICATION_REPOSITORY_URI_TYPE, tlv.encode_utf8(u))
        for u in self.repository_uris
    )
    parts.extend(u.raw for u in self.unknown)
    return tlv.encode(self.tlv_type, b"".join(parts))


_PUBLICATION_RECORD_TEMPLATE = tlv.Template(
    "publication record",
    {
        PUBLICATION_DATA_TYPE: tlv.Field("published_data", tlv.Kind.ELEMENT, mandatory=True),
        PUBLICATION_REFERENCE_TYPE: tlv.Field("references", tlv.Kind.UTF8_NONEMPTY, multiple=True),
        PUBLICATION_REPOSITORY_URI_TYPE: tlv.Field(
            "repository_uris", tlv.Kind.UTF8_NONEMPTY, multiple=True
        ),
    },
)


class PublicationRecord(Value):
    """A publication record: published data plus where it was published.

    Type 0x803 inside a signature, 0x703 inside a publications file.
    Equality compares the published data, references and URIs; the record
    type, unknown non-critical children and :attr:`raw` are not compared.
    """

    __slots__ = ("published_data", "raw", "references", "repository_uris", "tlv_type", "unknown")
    _fields = ("published_data", "references", "repository_uris", "unknown", "tlv_type")
    _compare = ("published_data", "references", "repository_uris")
    published_data: PublicationData
    references: tuple[str, ...]
    repository_uris: tuple[str, ...]
    #: Unknown non-critical children, kept untouched (re-encoded last).
    unknown: tuple[tlv.TLV, ...]
    #: 0x803 (signature) or 0x703 (publications file).
    tlv_type: int
    #: The exact encoding, header included.
    raw: bytes

    def __init__(
        self,
        published_data: PublicationData,
        references: Iterable[str] = (),
        repository_uris: Iterable[str] = (),
        unknown: tuple[tlv.TLV, ...] = (),
        tlv_type: int = SIGNATURE_PUBLICATION_RECORD_TYPE,
    ) -> None:
        refs = _string_tuple(references)
        uris = _string_tuple(repository_uris)
        _check_strings("references", refs)
        _check_strings("repository_uris", uris)
        _validate_record_type(tlv_type)
        _init(self, "published_data", published_data)
        _init(self, "references", refs)
        _init(self, "repository_uris", uris)
        _init(self, "unknown", unknown)
        _init(self, "tlv_type", tlv_type)
        _init(self, "raw", _default_record_raw(self))

    @property
    def publication_time(self) -> int:
        """The publication time (seconds)."""
        return self.published_data.publication_time

    @property
    def published_hash(self) -> Imprint:
        """The published hash (the calendar root at the publication time)."""
        return self.published_data.published_hash

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> PublicationRecord:
        """Parse a 0x803 or 0x703 element; keeps its exact bytes."""
        if element.type not in PUBLICATION_RECORD_TYPES:
            raise FormatError(
                f"expected a publication record (0x803/0x703), got 0x{element.type:x}",
                code=ErrorCode.FMT_STRUCTURE,
                type=element.type,
            )
        parsed = tlv.parse_composite(element, _PUBLICATION_RECORD_TEMPLATE)
        data = PublicationData.from_tlv(parsed["published_data"])
        return tlv.keep_raw(
            cls(
                published_data=data,
                references=tuple(parsed.get("references", ())),
                repository_uris=tuple(parsed.get("repository_uris", ())),
                unknown=parsed.unknown,
                tlv_type=element.type,
            ),
            element.raw,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicationRecord:
        """Parse the encoding of one record element (nothing may follow it)."""
        return cls.from_tlv(tlv.decode(data))

    @classmethod
    def build(
        cls,
        data: PublicationData,
        references: Iterable[str] = (),
        repository_uris: Iterable[str] = (),
        tlv_type: int = SIGNATURE_PUBLICATION_RECORD_TYPE,
    ) -> PublicationRecord:
        """Build a record; the published data is re-encoded without flags.

        Children are written in the order data, references, URIs.
        """
        if data.forward:
            data = PublicationData.build(data.publication_time, data.published_hash)
        return cls(
            published_data=data,
            references=_string_tuple(references),
            repository_uris=_string_tuple(repository_uris),
            tlv_type=tlv_type,
        )

    def with_type(self, tlv_type: int) -> PublicationRecord:
        """The same record under another element type (0x803 or 0x703).

        The children keep their exact bytes; only the outer header changes.
        """
        if tlv_type == self.tlv_type:
            return self
        _validate_record_type(tlv_type)
        value = tlv.decode(self.raw).value
        return tlv.keep_raw(evolve(self, tlv_type=tlv_type), tlv.encode(tlv_type, value))

    def encode(self) -> bytes:
        """The exact encoding (the parsed bytes when parsed)."""
        return self.raw


# -- publication strings ------------------------------------------------------


def _bad_string(message: str, **details: object) -> FormatError:
    return FormatError(
        f"publication string: {message}", code=ErrorCode.FMT_BAD_PUBLICATION_STRING, **details
    )


def _b32encode(data: bytes) -> str:
    out: list[str] = []
    acc = 0
    bits = 0
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append(_B32_ALPHABET[(acc >> bits) & 0x1F])
        acc &= (1 << bits) - 1
    if bits:
        out.append(_B32_ALPHABET[(acc << (5 - bits)) & 0x1F])
    out.extend("=" * (-len(out) % 8))
    return "".join(out)


def encode_publication_string(data: PublicationData) -> str:
    """The printed publication string of ``data`` (spec section 7.2).

    ``time (8 bytes, big-endian) || imprint || CRC-32 (4 bytes, big-endian)``
    in RFC 4648 base32, ``=``-padded, with a ``-`` after every six
    characters. A SHA-256 publication gives 72 characters without padding.
    """
    if not isinstance(data, PublicationData):
        raise TypeError("data must be PublicationData")
    body = data.publication_time.to_bytes(_TIME_BYTES, "big") + data.published_hash.value
    body += zlib.crc32(body).to_bytes(_CRC_BYTES, "big")
    text = _b32encode(body)
    step = PUBLICATION_STRING_GROUP
    return "-".join(text[i : i + step] for i in range(0, len(text), step))


def _b32decode(chars: str) -> bytes:
    if len(chars) % 8 not in _B32_TAIL_CHARS:
        raise _bad_string("impossible number of base32 characters", length=len(chars))
    out = bytearray()
    acc = 0
    bits = 0
    for char in chars:
        acc = (acc << 5) | _B32_VALUES[char]
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
            acc &= (1 << bits) - 1
    if acc:
        raise _bad_string("non-zero bits after the last byte")
    return bytes(out)


def decode_publication_string(text: str) -> PublicationData:
    """Parse a printed publication string; any defect raises FMT-11.

    Accepts lower case and ignores dashes and surrounding whitespace.
    Decoding stops at the first ``=``; after it only ``=`` and ``-`` may
    follow. Stricter than libksi in two harmless ways: characters after the
    padding and non-zero leftover bits (which no encoder produces) are
    rejected rather than ignored. The CRC-32 must match, and the length must
    be exactly ``8 + imprint length + 4`` for the imprint's algorithm.
    """
    if not isinstance(text, str):
        raise TypeError("publication string must be str")
    chars: list[str] = []
    padding = False
    for pos, char in enumerate(text.strip().upper()):
        if char == "-":
            continue
        if char == "=":
            padding = True
            continue
        if padding or char not in _B32_VALUES:
            raise _bad_string(f"unexpected character {char!r}", position=pos)
        chars.append(char)
    raw = _b32decode("".join(chars))
    if len(raw) < _MIN_STRING_BYTES:
        raise _bad_string(f"decodes to only {len(raw)} bytes", length=len(raw))
    body, crc = raw[:-_CRC_BYTES], raw[-_CRC_BYTES:]
    if zlib.crc32(body).to_bytes(_CRC_BYTES, "big") != crc:
        raise _bad_string("CRC-32 mismatch (mistyped string?)")
    imprint = body[_TIME_BYTES:]
    size = IMPRINT_SIZES.get(imprint[0])
    if size is None:
        raise _bad_string(f"unknown hash algorithm id 0x{imprint[0]:02x}", algorithm_id=imprint[0])
    if len(imprint) != size:
        raise _bad_string(
            f"imprint is {len(imprint)} bytes, its algorithm needs {size}", length=len(imprint)
        )
    publication_time = int.from_bytes(body[:_TIME_BYTES], "big")
    return PublicationData.build(publication_time, Imprint(imprint))

"""One-pass fast path of the KSI signature parser (private).

CONSENSUS-CRITICAL, but it decides nothing on its own. The reference parser
(:meth:`Signature.from_tlv` and the ``from_tlv`` methods it calls, built on
:func:`jura_trust.core.tlv.parse_composite`) defines what a well-formed
signature is and which error code each defect gets. This module reads the
common shapes of a signature in one pass over the bytes, with no
intermediate element objects, and builds exactly the values the reference
parser builds (the same classes, the same fields, the same ``raw`` bytes,
attached with :func:`~jura_trust.core.tlv.keep_raw`).

The contract that keeps it safe:

* It accepts a **subset** of what the reference parser accepts: anything it
  does not handle, and any defect at all, makes :func:`parse_signature`
  return ``None``, and the caller runs the reference parser, which then
  accepts or raises its own error with its own code. So every error (its
  code, message and details) comes from the reference parser, unchanged.
* What it accepts, it parses to a value equal, field by field and ``raw``
  by ``raw``, to the reference parser's. tests/core/test_sigparse.py holds
  the two parsers to that on every test vector, every bit flip and the
  fuzzers' inputs.

Handled: signatures of aggregation chains (sibling-hash, legacy-id and
metadata links, with or without level corrections), a calendar chain, a
publication record or a calendar authentication record, an RFC 3161
record, and unknown non-critical elements in the signature, its chains,
links and records. Left to the reference parser: aggregation
authentication records, unknown elements inside metadata, published data
and signature data, and every malformed input.

How the usual shapes are read (each a regular expression over the bytes,
with a loop over the elements behind it for every other shape): the head
of an aggregation chain (time, index, input hash, algorithm); a chain's
links up to its end when all are plain SHA-256 links (by strides) or of
the four usual shapes (one ``findall``, checked to cover every byte);
metadata links; the usual calendar authentication record (RSA-2048).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from jura_trust.core import tlv
from jura_trust.core.chains import (
    AggregationChain,
    CalendarChain,
    Direction,
    Metadata,
    check_legacy_id,
)
from jura_trust.core.hashing import IMPRINT_SIZES, HashAlgorithm, Imprint
from jura_trust.core.publication import PublicationData, PublicationRecord
from jura_trust.core.signature import (
    CalendarAuthRecord,
    RFC3161Record,
    Signature,
    SignatureData,
)
from jura_trust.errors import FormatError

__all__ = ["parse_signature"]

_new = object.__new__
_set = object.__setattr__
_keep_raw = tlv.keep_raw
_sizes = IMPRINT_SIZES
_LEFT = Direction.LEFT
_RIGHT = Direction.RIGHT
_DIRECTIONS = {0x07: _LEFT, 0x08: _RIGHT}
_MAX_UINT_BYTES = tlv.MAX_UINT_BYTES
_MAX_LEVEL = 0xFF
_META_PAD = 0x1E
_ALGORITHMS = {alg.value: alg for alg in HashAlgorithm}


def _setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The slot's own setter: a frozen value's field set once, as its ``__init__`` does."""
    setter: Callable[[Any, Any], None] = cls.__dict__[name].__set__
    return setter


# Values built field by field, without their ``__init__`` (the fields are
# checked here first, as the validators would): the hottest objects only.
_set_imprint = _setter(Imprint, "value")
(
    _set_meta_value,
    _set_meta_client,
    _set_meta_machine,
    _set_meta_sequence,
    _set_meta_time,
    _set_meta_types,
    _set_meta_padding,
    _set_meta_raw,
) = (
    _setter(Metadata, name)
    for name in (
        "value",
        "client_id",
        "machine_id",
        "sequence_number",
        "request_time",
        "child_types",
        "padding",
        "raw",
    )
)
(
    _set_chain_time,
    _set_chain_index,
    _set_chain_input_hash,
    _set_chain_algorithm,
    _set_chain_input_data,
    _set_chain_unknown,
    _set_chain_raw,
    _set_chain_directions,
    _set_chain_corrections,
    _set_chain_siblings,
    _set_chain_metadata,
    _set_chain_links,
) = (
    _setter(AggregationChain, name)
    for name in (
        "aggregation_time",
        "chain_index",
        "input_hash",
        "algorithm",
        "input_data",
        "unknown",
        "raw",
        "_directions",
        "_corrections",
        "_siblings",
        "_metadata",
        "_links",
    )
)
#: The usual metadata padding elements (TLV8, with or without the N and F
#: flags, value ``01`` or ``01 01``), built once: a parsed one is equal.
_PADDINGS = {
    raw: tlv.TLV(_META_PAD, raw[2:], bool(raw[0] & 0x40), bool(raw[0] & 0x20), False, raw)
    for raw in (
        bytes((flags | _META_PAD,)) + pad
        for flags in (0x00, 0x20, 0x40, 0x60)
        for pad in (b"\x01\x01", b"\x02\x01\x01")
    )
}


#: A run of the most common calendar links up to the chain's end: plain TLV8
#: headers (no flags), each a SHA-256 sibling imprint. 35 bytes per link.
_SHA256_CALENDAR_RUN = re.compile(rb"(?:[\x07\x08]\x21\x01[\x00-\xff]{32})+")
#: The same for aggregation links: a link holding only a SHA-256 sibling
#: (no level correction, no flags on the link or its child). 37 bytes per link.
_SHA256_LINK_RUN = re.compile(rb"(?:[\x07\x08]\x23\x02\x21\x01[\x00-\xff]{32})+")
_CALENDAR_STRIDE = 35
_LINK_STRIDE = 37
#: The other usual aggregation links (plain TLV8 headers, no flags), up to
#: their sibling: a one-byte level correction (group 1) and a SHA-256
#: sibling imprint; a one-byte level correction (group 2) and a legacy id;
#: a legacy id alone. The element's length fixes the sibling's.
_LINK = re.compile(
    rb"[\x07\x08](?:"
    rb"\x26\x01\x01([\x01-\xff])\x02\x21(?=\x01)"
    rb"|\x22\x01\x01([\x01-\xff])\x03\x1d"
    rb"|\x1f\x03\x1d"
    rb")"
)
#: Any of the usual aggregation links, whole (plain TLV8 headers, no flags):
#: a SHA-256 sibling imprint or a legacy id, each with or without a one-byte
#: non-zero level correction. Groups: the direction byte, the correction
#: (empty when none) and the sibling (33 bytes after ``02 21``, 29 after
#: ``03 1d``). The length byte (0x23, 0x26, 0x1F or 0x22) tells the four
#: shapes apart: from an element's start there is one reading at most.
_USUAL_LINK = re.compile(
    rb"([\x07\x08])"
    rb"(?:\x23\x02\x21|\x1f\x03\x1d"
    rb"|(?=\x26\x01\x01[\x01-\xff]\x02\x21|\x22\x01\x01[\x01-\xff]\x03\x1d)"
    rb"[\x26\x22]\x01\x01([\x01-\xff])[\x02\x03][\x21\x1d])"
    rb"((?<=\x21)\x01[\x00-\xff]{32}|(?<=\x1d)[\x00-\xff]{29})"
)
#: The value lengths of those four shapes.
_USUAL_LINK_LENGTHS = frozenset((0x23, 0x26, 0x1F, 0x22))
_SHA256_WITH_RSA = "1.2.840.113549.1.1.11"
#: The usual calendar authentication record (the value of its element): the
#: published data (a TLV8 with any flags: a four-byte time, group 1, and a
#: SHA-256 imprint, group 2), then the signature data (a plain TLV16 of 290
#: bytes): SHA-256 with RSA, a 2048-bit signature value (group 3) and a
#: four-byte certificate id (group 4), no repository URI.
_AUTH_RECORD = re.compile(
    rb"[\x10\x30\x50\x70]\x29\x02\x04([\x01-\xff][\x00-\xff]{3})\x04\x21(\x01[\x00-\xff]{32})"
    rb"\x80\x0b\x01\x22"
    rb"\x01\x16" + re.escape(_SHA256_WITH_RSA.encode()) + rb"\x00"
    rb"\x80\x02\x01\x00([\x00-\xff]{256})"
    rb"\x03\x04([\x00-\xff]{4})"
)
#: The usual head of an aggregation chain, in the usual order: a four-byte
#: aggregation time (group 1), the chain index (group 2: elements of one to
#: eight bytes, minimal), a SHA-256 input hash (group 3) and a one-byte
#: algorithm id (group 4). Plain TLV8 headers throughout.
_CHAIN_HEAD = re.compile(
    rb"\x02\x04([\x01-\xff][\x00-\xff]{3})"
    rb"((?:\x03(?:"
    + rb"|".join(rb"\x%02x[\x01-\xff][\x00-\xff]{%d}" % (n, n - 1) for n in range(1, 9))
    + rb"))+)"
    rb"\x05\x21(\x01[\x00-\xff]{32})"
    rb"\x06\x01([\x01-\xff])"
)
#: The child types each template knows (any other is unknown: kept when
#: non-critical, an error when critical).
_LINK_FIELDS = frozenset((0x01, 0x02, 0x03, 0x04))
_CHAIN_FIELDS = frozenset((0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08))
_CALENDAR_FIELDS = frozenset((0x01, 0x02, 0x05, 0x07, 0x08))
_RFC3161_FIELDS = frozenset((0x02, 0x03, 0x05, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15))
_PUBLICATION_RECORD_FIELDS = frozenset((0x10, 0x09, 0x0A))
_AUTH_RECORD_FIELDS = frozenset((0x10, 0x0B))
_RFC3161_PARTS = frozenset((0x10, 0x11, 0x13, 0x14))
_SIGNATURE_FIELDS = frozenset((0x801, 0x802, 0x803, 0x804, 0x805, 0x806))


class _UnhandledError(Exception):
    """Not a shape this fast path handles: the reference parser decides."""


#: One element of a scanned sequence: type, first header byte, start of the
#: element, start and end of its value.
_Elem = tuple[int, int, int, int, int]


def _scan(data: bytes, pos: int, end: int) -> list[_Elem]:
    """The elements between ``pos`` and ``end`` (exactly as ``tlv._read_one`` reads them)."""
    out: list[_Elem] = []
    append = out.append
    while pos < end:
        if end - pos < 2:
            raise _UnhandledError
        b0 = data[pos]
        if b0 & 0x80:
            if end - pos < 4:
                raise _UnhandledError
            typ = ((b0 & 0x1F) << 8) | data[pos + 1]
            start = pos + 4
            stop = start + ((data[pos + 2] << 8) | data[pos + 3])
        else:
            typ = b0 & 0x1F
            start = pos + 2
            stop = start + data[pos + 1]
        if stop > end:
            raise _UnhandledError
        append((typ, b0, pos, start, stop))
        pos = stop
    return out


def _uint(data: bytes, start: int, stop: int) -> int:
    n = stop - start
    if n > _MAX_UINT_BYTES or (n and data[start] == 0):
        raise _UnhandledError
    return int.from_bytes(data[start:stop], "big")


def _imprint(data: bytes, start: int, stop: int) -> Imprint:
    if stop <= start or _sizes.get(data[start]) != stop - start:
        raise _UnhandledError
    imprint = _new(Imprint)
    _set_imprint(imprint, data[start:stop])
    return imprint


def _utf8(data: bytes, start: int, stop: int, *, allow_empty: bool = True) -> str:
    if stop <= start or data[stop - 1] != 0:
        raise _UnhandledError
    body = data[start : stop - 1]
    if b"\x00" in body or (not body and not allow_empty):
        raise _UnhandledError
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise _UnhandledError from None


def _metadata(data: bytes, pos: int, start: int, stop: int) -> Metadata:
    client_id: str | None = None
    machine_id: str | None = None
    sequence: int | None = None
    request_time: int | None = None
    types: list[int] = []
    padding: list[tlv.TLV] = []
    p = start
    while p < stop:  # the element loop of _scan, inlined
        b0 = data[p]
        if b0 & 0x80:
            if stop - p < 4:
                raise _UnhandledError
            typ = ((b0 & 0x1F) << 8) | data[p + 1]
            s = p + 4
            e = s + ((data[p + 2] << 8) | data[p + 3])
        else:
            if stop - p < 2:
                raise _UnhandledError
            typ = b0 & 0x1F
            s = p + 2
            e = s + data[p + 1]
        if e > stop:
            raise _UnhandledError
        types.append(typ)
        if typ == 0x01 and client_id is None:
            client_id = _utf8(data, s, e)
        elif typ == 0x04 and request_time is None:
            request_time = _uint(data, s, e)
        elif typ == 0x03 and sequence is None:
            sequence = _uint(data, s, e)
        elif typ == 0x02 and machine_id is None:
            machine_id = _utf8(data, s, e)
        elif typ == _META_PAD:
            element = data[p:e]
            pad = _PADDINGS.get(element)  # the usual ones, shared (immutable)
            if pad is None:
                pad = tlv.TLV(
                    typ, data[s:e], bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x80), element
                )
            padding.append(pad)
        else:
            raise _UnhandledError
        p = e
    if client_id is None or (padding and types[0] != _META_PAD):
        raise _UnhandledError
    metadata = _new(Metadata)
    _set_meta_value(metadata, data[start:stop])
    _set_meta_client(metadata, client_id)
    _set_meta_machine(metadata, machine_id)
    _set_meta_sequence(metadata, sequence)
    _set_meta_time(metadata, request_time)
    _set_meta_types(metadata, tuple(types))
    _set_meta_padding(metadata, tuple(padding))
    _set_meta_raw(metadata, data[pos:stop])
    return metadata


def _unknown(data: bytes, p: int, s: int, e: int) -> tlv.TLV:
    """The unknown child at ``p`` as the reference parser keeps it: non-critical ones only."""
    b0 = data[p]
    if not b0 & 0x40:
        raise _UnhandledError  # an unknown critical element: an error
    typ = ((b0 & 0x1F) << 8) | data[p + 1] if b0 & 0x80 else b0 & 0x1F
    return tlv.TLV(typ, data[s:e], True, bool(b0 & 0x20), bool(b0 & 0x80), data[p:e])


def _aggregation_link(data: bytes, start: int, stop: int) -> tuple[bytes, int, Metadata | None]:
    """The packed form of a link (any shape): sibling bytes, level correction, metadata."""
    correction: int | None = None
    sibling: bytes | None = None
    metadata: Metadata | None = None
    for typ, _b0, p, s, e in _scan(data, start, stop):
        if typ == 0x02 and sibling is None:
            sibling = _imprint(data, s, e).value
        elif typ == 0x03 and sibling is None:
            sibling = data[s:e]
            try:
                check_legacy_id(sibling)
            except FormatError:
                raise _UnhandledError from None
        elif typ == 0x01 and correction is None:
            correction = _uint(data, s, e)
        elif typ == 0x04 and sibling is None:
            metadata = _metadata(data, p, s, e)
            sibling = metadata.value
        elif typ not in _LINK_FIELDS:
            _unknown(data, p, s, e)  # kept by the link the reference parser builds
        else:
            raise _UnhandledError  # a second sibling or correction
    if correction is None:
        correction = 0
    elif correction > _MAX_LEVEL:
        raise _UnhandledError
    if sibling is None:
        raise _UnhandledError
    return sibling, correction, metadata


def _links_to_end(data: bytes, p: int, stop: int) -> tuple[bytes, bytes, Sequence[bytes]] | None:
    """The links from ``p`` to ``stop`` packed, if all are of the usual shapes, else ``None``.

    Packed as :class:`AggregationChain` keeps them: the direction bytes,
    the level-correction bytes and the siblings' bytes.
    """
    if _SHA256_LINK_RUN.fullmatch(data, p, stop) is not None:
        # Only plain SHA-256 links: fixed-size, read by strides.
        return (
            data[p:stop:_LINK_STRIDE],
            bytes((stop - p) // _LINK_STRIDE),
            [data[i : i + 33] for i in range(p + 4, stop, _LINK_STRIDE)],
        )
    found = _USUAL_LINK.findall(data, p, stop)
    if not found:
        return None
    left, corr, sibling = zip(*found, strict=True)
    count = len(found)
    plain = corr.count(b"")
    # A link is 4 bytes of headers around its sibling, 7 with a correction.
    # findall's matches lie in [p, stop) in order without overlapping: if
    # their lengths add up to stop - p they are every element there, one
    # after the other from p (and each is the element it starts with).
    if sum(map(len, sibling)) + 7 * count - 3 * plain != stop - p:
        return None
    if 29 in map(len, sibling):
        for value in sibling:
            if len(value) == 29:
                try:
                    check_legacy_id(value)
                except FormatError:
                    raise _UnhandledError from None
    corrections = bytes(count) if plain == count else b"".join([c or b"\x00" for c in corr])
    return b"".join(left), corrections, sibling


def _aggregation_chain(data: bytes, pos: int, start: int, stop: int) -> AggregationChain:
    time: int | None = None
    index: list[int] = []
    input_data: bytes | None = None
    input_hash: Imprint | None = None
    algorithm: int | None = None
    unknown: list[tlv.TLV] = []
    # The links, packed as AggregationChain keeps them (no object per link).
    directions = bytearray()
    corrections = bytearray()
    siblings: list[bytes] = []
    metadata: list[Metadata] = []
    append = siblings.append
    tail_tries = 2
    p = start
    head = _CHAIN_HEAD.match(data, p, stop)
    if head is not None:
        # The usual head, read at once: time, index, SHA-256 input hash, algorithm.
        time = int.from_bytes(head.group(1), "big")
        run = head.group(2)
        if len(run) % 3 == 0 and run[1::3].count(1) == len(run) // 3:
            index.extend(run[2::3])  # one-byte values (each element is 03 01 xx)
        else:
            i = 0
            while i < len(run):
                n = run[i + 1]
                index.append(int.from_bytes(run[i + 2 : i + 2 + n], "big"))
                i += 2 + n
        input_hash = _new(Imprint)
        _set_imprint(input_hash, head.group(3))
        algorithm = head.group(4)[0]
        p = head.end()
    while p < stop:  # the element loop of _scan, inlined
        b0 = data[p]
        if b0 & 0x80:
            if stop - p < 4:
                raise _UnhandledError
            typ = ((b0 & 0x1F) << 8) | data[p + 1]
            s = p + 4
            e = s + ((data[p + 2] << 8) | data[p + 3])
        else:
            if stop - p < 2:
                raise _UnhandledError
            typ = b0 & 0x1F
            s = p + 2
            e = s + data[p + 1]
        if e > stop:
            raise _UnhandledError
        if typ == 0x07 or typ == 0x08:  # noqa: PLR1714 - the hot loop
            if b0 == typ:  # a plain TLV8 header: maybe one of the usual shapes
                if tail_tries and e - s in _USUAL_LINK_LENGTHS:
                    # Usually every link from here on is one of the usual
                    # shapes (links are the chain's last elements): read
                    # them all at once. Tried at most twice a chain (at the
                    # first link, and after a link of another shape, such
                    # as the leaf's metadata), so the scans stay linear.
                    tail_tries -= 1
                    tail = _links_to_end(data, p, stop)
                    if tail is not None:
                        directions += tail[0]
                        corrections += tail[1]
                        siblings.extend(tail[2])
                        p = stop
                        break
                if e - s == 35 and data[s] == 0x02 and data[s + 1] == 0x21:
                    # One sibling imprint, no level correction.
                    if _sizes.get(data[s + 2]) != 33:
                        raise _UnhandledError
                    append(data[s + 2 : e])
                    directions.append(typ)
                    corrections.append(0)
                    p = e
                    continue
                link = _LINK.match(data, p, e)
                if link is not None:
                    # A level correction of one byte with a SHA-256
                    # sibling, or a legacy id with or without one.
                    sibling = data[link.end() : e]
                    if link.lastindex != 1:
                        try:
                            check_legacy_id(sibling)
                        except FormatError:
                            raise _UnhandledError from None
                    append(sibling)
                    directions.append(typ)
                    corrections.append(data[p + 4] if link.lastindex else 0)
                    p = e
                    continue
            size = e - s
            meta: Metadata | None
            if size >= 2 and data[s] == 0x04 and data[s + 1] == size - 2:
                # Metadata alone (a plain TLV8 filling the link).
                meta = _metadata(data, s, s + 2, e)
                sibling = meta.value
                correction = 0
            elif (
                size >= 5
                and data[s] == 0x01
                and data[s + 1] == 0x01
                and data[s + 3] == 0x04
                and data[s + 4] == size - 5
            ):
                # A level correction of one byte, then metadata.
                correction = data[s + 2]
                if not correction:
                    raise _UnhandledError  # not minimal
                meta = _metadata(data, s + 3, s + 5, e)
                sibling = meta.value
            else:
                sibling, correction, meta = _aggregation_link(data, s, e)
            append(sibling)
            if meta is not None:
                metadata.append(meta)
            directions.append(typ)
            corrections.append(correction)
        elif typ == 0x03:
            index.append(_uint(data, s, e))
        elif typ == 0x02 and time is None:
            time = _uint(data, s, e)
        elif typ == 0x05 and input_hash is None:
            input_hash = _imprint(data, s, e)
        elif typ == 0x06 and algorithm is None:
            algorithm = _uint(data, s, e)
        elif typ == 0x04 and input_data is None:
            input_data = data[s:e]
        elif typ not in _CHAIN_FIELDS:
            unknown.append(_unknown(data, p, s, e))
        else:
            raise _UnhandledError
        p = e
    if time is None or not index or input_hash is None or algorithm is None or not siblings:
        raise _UnhandledError
    alg = _ALGORITHMS.get(algorithm)
    if alg is None:
        raise _UnhandledError
    chain = _new(AggregationChain)
    _set_chain_time(chain, time)
    _set_chain_index(chain, tuple(index))
    _set_chain_input_hash(chain, input_hash)
    _set_chain_algorithm(chain, alg)
    _set_chain_input_data(chain, input_data)
    _set_chain_unknown(chain, tuple(unknown) if unknown else ())
    _set_chain_raw(chain, data[pos:stop])
    _set_chain_directions(chain, bytes(directions))
    _set_chain_corrections(chain, bytes(corrections))
    _set_chain_siblings(chain, tuple(siblings))
    _set_chain_metadata(chain, tuple(metadata) if metadata else ())
    _set_chain_links(chain, None)  # read from ``raw`` when asked for
    return chain


def _calendar_chain(data: bytes, pos: int, start: int, stop: int) -> CalendarChain:
    publication_time: int | None = None
    time: int | None = None
    input_hash: Imprint | None = None
    unknown: list[tlv.TLV] = []
    # The links, packed as CalendarChain keeps them (no object per link).
    directions = bytearray()
    push = directions.append
    siblings: list[bytes] = []
    append = siblings.append
    sizes = _sizes
    run_tried = False
    p = start
    while p < stop:  # the element loop of _scan, inlined: the hottest loop
        b0 = data[p]
        if b0 & 0x80:
            if stop - p < 4:
                raise _UnhandledError
            typ = ((b0 & 0x1F) << 8) | data[p + 1]
            s = p + 4
            e = s + ((data[p + 2] << 8) | data[p + 3])
        else:
            if stop - p < 2:
                raise _UnhandledError
            typ = b0 & 0x1F
            s = p + 2
            e = s + data[p + 1]
        if e > stop:
            raise _UnhandledError
        if typ == 0x07 or typ == 0x08:  # noqa: PLR1714 - the hot loop
            if not run_tried:
                # Usually every link is a SHA-256 one with a plain header:
                # read them all at once (links are the chain's last elements).
                run_tried = True
                if _SHA256_CALENDAR_RUN.fullmatch(data, p, stop) is not None:
                    directions += data[p:stop:_CALENDAR_STRIDE]
                    siblings.extend(
                        [data[i : i + 33] for i in range(p + 2, stop, _CALENDAR_STRIDE)]
                    )
                    p = stop
                    break
            if e <= s or sizes.get(data[s]) != e - s:
                raise _UnhandledError
            append(data[s:e])
            push(typ)
        elif typ == 0x01 and publication_time is None:
            publication_time = _uint(data, s, e)
        elif typ == 0x02 and time is None:
            time = _uint(data, s, e)
        elif typ == 0x05 and input_hash is None:
            input_hash = _imprint(data, s, e)
        elif typ not in _CALENDAR_FIELDS:
            unknown.append(_unknown(data, p, s, e))
        else:
            raise _UnhandledError
        p = e
    if publication_time is None or input_hash is None or not siblings:
        raise _UnhandledError
    chain = _new(CalendarChain)
    _set(chain, "publication_time", publication_time)
    _set(chain, "input_hash", input_hash)
    _set(chain, "aggregation_time_field", time)
    _set(chain, "unknown", tuple(unknown))
    _set(chain, "raw", data[pos:stop])
    _set(chain, "_directions", bytes(directions))
    _set(chain, "_siblings", tuple(siblings))
    _set(chain, "_links", None)  # built from the packed links when asked for
    _set(chain, "_root", None)
    return chain


def _publication_data(data: bytes, pos: int, start: int, stop: int) -> PublicationData:
    time: int | None = None
    published: Imprint | None = None
    for typ, _b0, _p, s, e in _scan(data, start, stop):
        if typ == 0x02 and time is None:
            time = _uint(data, s, e)
        elif typ == 0x04 and published is None:
            published = _imprint(data, s, e)
        else:
            raise _UnhandledError
    if time is None or published is None:
        raise _UnhandledError
    # Fields set as PublicationData's validators would accept them (a
    # minimal uint of at most 8 bytes is in range; the imprint is checked).
    value = _new(PublicationData)
    _set(value, "publication_time", time)
    _set(value, "published_hash", published)
    return _keep_raw(value, data[pos:stop])


def _publication_record(data: bytes, pos: int, start: int, stop: int) -> PublicationRecord:
    published: PublicationData | None = None
    references: list[str] = []
    uris: list[str] = []
    unknown: list[tlv.TLV] = []
    for typ, _b0, p, s, e in _scan(data, start, stop):
        if typ == 0x10 and published is None:
            published = _publication_data(data, p, s, e)
        elif typ == 0x09:
            references.append(_utf8(data, s, e, allow_empty=False))
        elif typ == 0x0A:
            uris.append(_utf8(data, s, e, allow_empty=False))
        elif typ not in _PUBLICATION_RECORD_FIELDS:
            unknown.append(_unknown(data, p, s, e))
        else:
            raise _UnhandledError
    if published is None:
        raise _UnhandledError
    record = _new(PublicationRecord)
    _set(record, "published_data", published)
    _set(record, "references", tuple(references))
    _set(record, "repository_uris", tuple(uris))
    _set(record, "unknown", tuple(unknown))
    _set(record, "tlv_type", 0x803)
    return _keep_raw(record, data[pos:stop])


def _signature_data(data: bytes, pos: int, start: int, stop: int) -> SignatureData:
    kind: str | None = None
    value: bytes | None = None
    certificate_id: bytes | None = None
    uri: str | None = None
    for typ, _b0, _p, s, e in _scan(data, start, stop):
        if typ == 0x01 and kind is None:
            kind = _utf8(data, s, e)
        elif typ == 0x02 and value is None:
            value = data[s:e]
        elif typ == 0x03 and certificate_id is None:
            certificate_id = data[s:e]
        elif typ == 0x04 and uri is None:
            uri = _utf8(data, s, e, allow_empty=False)
        else:
            raise _UnhandledError
    if kind is None or value is None or certificate_id is None:
        raise _UnhandledError
    return _keep_raw(SignatureData(kind, value, certificate_id, uri), data[pos:stop])


def _usual_auth_record(
    data: bytes, pos: int, start: int, stop: int, usual: re.Match[bytes]
) -> CalendarAuthRecord:
    """The record ``_AUTH_RECORD`` matched, read at once.

    The values are those :func:`_calendar_auth_record` builds from the same
    bytes field by field.
    """
    time, published_hash, value, certificate_id = usual.groups()
    published = _new(PublicationData)
    _set(published, "publication_time", int.from_bytes(time, "big"))
    imprint = _new(Imprint)
    _set_imprint(imprint, published_hash)
    _set(published, "published_hash", imprint)
    _set(published, "raw", data[start : start + 43])
    signed = _new(SignatureData)
    _set(signed, "signature_type", _SHA256_WITH_RSA)
    _set(signed, "signature_value", value)
    _set(signed, "certificate_id", certificate_id)
    _set(signed, "certificate_repository_uri", None)
    _set(signed, "raw", data[start + 43 : stop])
    record = _new(CalendarAuthRecord)
    _set(record, "published_data", published)
    _set(record, "signature_data", signed)
    _set(record, "unknown", ())
    _set(record, "raw", data[pos:stop])
    return record


def _calendar_auth_record(data: bytes, pos: int, start: int, stop: int) -> CalendarAuthRecord:
    usual = _AUTH_RECORD.fullmatch(data, start, stop)
    if usual is not None:
        return _usual_auth_record(data, pos, start, stop, usual)
    published: PublicationData | None = None
    signed: SignatureData | None = None
    unknown: list[tlv.TLV] = []
    for typ, _b0, p, s, e in _scan(data, start, stop):
        if typ == 0x10 and published is None:
            published = _publication_data(data, p, s, e)
        elif typ == 0x0B and signed is None:
            signed = _signature_data(data, p, s, e)
        elif typ not in _AUTH_RECORD_FIELDS:
            unknown.append(_unknown(data, p, s, e))
        else:
            raise _UnhandledError
    if published is None or signed is None:
        raise _UnhandledError
    return _keep_raw(CalendarAuthRecord(published, signed, tuple(unknown)), data[pos:stop])


def _rfc3161_record(data: bytes, pos: int, start: int, stop: int) -> RFC3161Record:
    time: int | None = None
    index: list[int] = []
    input_hash: Imprint | None = None
    parts: dict[int, bytes] = {}  # the TSTInfo and signed attributes' prefixes and suffixes
    algorithms: dict[int, HashAlgorithm] = {}
    unknown: list[tlv.TLV] = []
    for typ, _b0, p, s, e in _scan(data, start, stop):
        if typ == 0x03:
            index.append(_uint(data, s, e))
        elif typ == 0x02 and time is None:
            time = _uint(data, s, e)
        elif typ == 0x05 and input_hash is None:
            input_hash = _imprint(data, s, e)
        elif typ in _RFC3161_PARTS and typ not in parts:
            parts[typ] = data[s:e]
        elif (typ == 0x12 or typ == 0x15) and typ not in algorithms:  # noqa: PLR1714
            algorithm = _ALGORITHMS.get(_uint(data, s, e))
            if algorithm is None:
                raise _UnhandledError
            algorithms[typ] = algorithm
        elif typ not in _RFC3161_FIELDS:
            unknown.append(_unknown(data, p, s, e))
        else:
            raise _UnhandledError
    if time is None or not index or input_hash is None or len(parts) != 4 or len(algorithms) != 2:
        raise _UnhandledError
    return _keep_raw(
        RFC3161Record(
            time,
            tuple(index),
            input_hash,
            parts[0x10],
            parts[0x11],
            algorithms[0x12],
            parts[0x13],
            parts[0x14],
            algorithms[0x15],
            tuple(unknown),
        ),
        data[pos:stop],
    )


def _signature(data: bytes) -> Signature:
    end = len(data)
    if end > tlv.MAX_INPUT_SIZE:
        raise _UnhandledError
    ((typ, _b0, _p, start, stop),) = _scan(data, 0, end)  # exactly one element
    if typ != 0x800:
        raise _UnhandledError
    chains: list[AggregationChain] = []
    calendar: CalendarChain | None = None
    publication: PublicationRecord | None = None
    auth: CalendarAuthRecord | None = None
    rfc3161: RFC3161Record | None = None
    unknown: list[tlv.TLV] = []
    for typ, _b0, p, s, e in _scan(data, start, stop):
        if typ == 0x801:
            chains.append(_aggregation_chain(data, p, s, e))
        elif typ == 0x802 and calendar is None:
            calendar = _calendar_chain(data, p, s, e)
        elif typ == 0x803 and publication is None:
            publication = _publication_record(data, p, s, e)
        elif typ == 0x805 and auth is None:
            auth = _calendar_auth_record(data, p, s, e)
        elif typ == 0x806 and rfc3161 is None:
            rfc3161 = _rfc3161_record(data, p, s, e)
        elif typ not in _SIGNATURE_FIELDS:
            unknown.append(_unknown(data, p, s, e))
        else:
            raise _UnhandledError  # a duplicate, or an aggregation auth record
    if not chains or ((publication is not None or auth is not None) and calendar is None):
        raise _UnhandledError
    if publication is not None and auth is not None:
        raise _UnhandledError
    if len(chains) > 1:
        # Leaf-most first, stable (as Signature's reference parser sorts).
        chains.sort(key=lambda c: -len(c.chain_index))
    return _keep_raw(
        Signature(tuple(chains), calendar, publication, auth, rfc3161, None, tuple(unknown)),
        data,
    )


def parse_signature(data: bytes) -> Signature | None:
    """The signature in ``data``, or ``None`` to let the reference parser decide.

    ``None`` means only "not handled here": an input this fast path does
    not read (see the module docstring) or a malformed one. It never
    raises for bad input.
    """
    try:
        return _signature(data)
    except (_UnhandledError, ValueError, IndexError):
        return None

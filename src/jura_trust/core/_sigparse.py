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
metadata links),
a calendar chain, a publication record or a calendar authentication record.
Left to the reference parser: RFC 3161 records, aggregation authentication
records, unknown non-critical elements anywhere, and every malformed input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jura_trust.core import tlv
from jura_trust.core.chains import (
    AggregationChain,
    AggregationLink,
    CalendarChain,
    Direction,
    Metadata,
    check_legacy_id,
)
from jura_trust.core.hashing import IMPRINT_SIZES, HashAlgorithm, Imprint
from jura_trust.core.publication import PublicationData, PublicationRecord
from jura_trust.core.signature import CalendarAuthRecord, Signature, SignatureData
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


#: A run of the most common calendar links up to the chain's end: plain TLV8
#: headers (no flags), each a SHA-256 sibling imprint. 35 bytes per link.
_SHA256_CALENDAR_RUN = re.compile(rb"(?:[\x07\x08]\x21\x01[\x00-\xff]{32})+")
#: The same for aggregation links: a link holding only a SHA-256 sibling
#: (no level correction, no flags on the link or its child). 37 bytes per link.
_SHA256_LINK_RUN = re.compile(rb"(?:[\x07\x08]\x23\x02\x21\x01[\x00-\xff]{32})+")
_CALENDAR_STRIDE = 35
_LINK_STRIDE = 37


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
    for typ, b0, p, s, e in _scan(data, start, stop):
        types.append(typ)
        if typ == _META_PAD:
            padding.append(
                tlv.TLV(
                    typ, data[s:e], bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x80), data[p:e]
                )
            )
        elif typ == 0x01 and client_id is None:
            client_id = _utf8(data, s, e)
        elif typ == 0x02 and machine_id is None:
            machine_id = _utf8(data, s, e)
        elif typ == 0x03 and sequence is None:
            sequence = _uint(data, s, e)
        elif typ == 0x04 and request_time is None:
            request_time = _uint(data, s, e)
        else:
            raise _UnhandledError
    if client_id is None or (padding and types[0] != _META_PAD):
        raise _UnhandledError
    return _keep_raw(
        Metadata._read(
            data[start:stop],
            client_id,
            machine_id,
            sequence,
            request_time,
            tuple(types),
            tuple(padding),
        ),
        data[pos:stop],
    )


def _aggregation_link(
    direction: Direction, data: bytes, pos: int, start: int, stop: int
) -> AggregationLink:
    correction: int | None = None
    sibling: Imprint | None = None
    legacy_id: bytes | None = None
    metadata: Metadata | None = None
    for typ, _b0, p, s, e in _scan(data, start, stop):
        if typ == 0x02 and sibling is None and metadata is None and legacy_id is None:
            sibling = _imprint(data, s, e)
        elif typ == 0x03 and sibling is None and metadata is None and legacy_id is None:
            legacy_id = data[s:e]
            try:
                check_legacy_id(legacy_id)
            except FormatError:
                raise _UnhandledError from None
        elif typ == 0x01 and correction is None:
            correction = _uint(data, s, e)
        elif typ == 0x04 and metadata is None and sibling is None and legacy_id is None:
            metadata = _metadata(data, p, s, e)
        else:
            raise _UnhandledError
    if correction is None:
        correction = 0
    elif correction > _MAX_LEVEL:
        raise _UnhandledError
    if sibling is None and metadata is None and legacy_id is None:
        raise _UnhandledError
    return _keep_raw(
        AggregationLink(direction, correction, sibling, legacy_id, metadata), data[pos:stop]
    )


def _aggregation_chain(data: bytes, pos: int, start: int, stop: int) -> AggregationChain:
    time: int | None = None
    index: list[int] = []
    input_data: bytes | None = None
    input_hash: Imprint | None = None
    algorithm: int | None = None
    # The links, packed as AggregationChain keeps them (no object per link).
    directions = bytearray()
    corrections = bytearray()
    siblings: list[bytes] = []
    metadata: list[Metadata] = []
    append = siblings.append
    run_tried = False
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
        if typ == 0x07 or typ == 0x08:  # noqa: PLR1714 - the hot loop
            if e - s == 35 and data[s] == 0x02 and data[s + 1] == 33:
                # The common link: one sibling imprint, no level correction.
                if _sizes.get(data[s + 2]) != 33:
                    raise _UnhandledError
                if b0 == typ and not run_tried:
                    # Usually every link from here on is one: read them all
                    # at once (links are the chain's last elements).
                    run_tried = True
                    if _SHA256_LINK_RUN.fullmatch(data, p, stop) is not None:
                        count = (stop - p) // _LINK_STRIDE
                        directions += data[p:stop:_LINK_STRIDE]
                        corrections += bytes(count)
                        siblings.extend(
                            [data[i : i + 33] for i in range(p + 4, stop, _LINK_STRIDE)]
                        )
                        p = stop
                        break
                append(data[s + 2 : e])
                correction = 0
            else:
                link = _aggregation_link(_LEFT if typ == 0x07 else _RIGHT, data, p, s, e)
                append(link.sibling_bytes)
                correction = link.level_correction
                if link.metadata is not None:
                    metadata.append(link.metadata)
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
        else:
            raise _UnhandledError
        p = e
    if time is None or not index or input_hash is None or algorithm is None or not siblings:
        raise _UnhandledError
    alg = _ALGORITHMS.get(algorithm)
    if alg is None:
        raise _UnhandledError
    chain = _new(AggregationChain)
    _set(chain, "aggregation_time", time)
    _set(chain, "chain_index", tuple(index))
    _set(chain, "input_hash", input_hash)
    _set(chain, "algorithm", alg)
    _set(chain, "input_data", input_data)
    _set(chain, "unknown", ())
    _set(chain, "raw", data[pos:stop])
    _set(chain, "_directions", bytes(directions))
    _set(chain, "_corrections", bytes(corrections))
    _set(chain, "_siblings", tuple(siblings))
    _set(chain, "_metadata", tuple(metadata))
    _set(chain, "_links", None)  # read from ``raw`` when asked for
    return chain


def _calendar_chain(data: bytes, pos: int, start: int, stop: int) -> CalendarChain:
    publication_time: int | None = None
    time: int | None = None
    input_hash: Imprint | None = None
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
        else:
            raise _UnhandledError
        p = e
    if publication_time is None or input_hash is None or not siblings:
        raise _UnhandledError
    chain = _new(CalendarChain)
    _set(chain, "publication_time", publication_time)
    _set(chain, "input_hash", input_hash)
    _set(chain, "aggregation_time_field", time)
    _set(chain, "unknown", ())
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
    for typ, _b0, p, s, e in _scan(data, start, stop):
        if typ == 0x10 and published is None:
            published = _publication_data(data, p, s, e)
        elif typ == 0x09:
            references.append(_utf8(data, s, e, allow_empty=False))
        elif typ == 0x0A:
            uris.append(_utf8(data, s, e, allow_empty=False))
        else:
            raise _UnhandledError
    if published is None:
        raise _UnhandledError
    record = _new(PublicationRecord)
    _set(record, "published_data", published)
    _set(record, "references", tuple(references))
    _set(record, "repository_uris", tuple(uris))
    _set(record, "unknown", ())
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


def _calendar_auth_record(data: bytes, pos: int, start: int, stop: int) -> CalendarAuthRecord:
    published: PublicationData | None = None
    signed: SignatureData | None = None
    for typ, _b0, p, s, e in _scan(data, start, stop):
        if typ == 0x10 and published is None:
            published = _publication_data(data, p, s, e)
        elif typ == 0x0B and signed is None:
            signed = _signature_data(data, p, s, e)
        else:
            raise _UnhandledError
    if published is None or signed is None:
        raise _UnhandledError
    return _keep_raw(CalendarAuthRecord(published, signed), data[pos:stop])


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
    for typ, _b0, p, s, e in _scan(data, start, stop):
        if typ == 0x801:
            chains.append(_aggregation_chain(data, p, s, e))
        elif typ == 0x802 and calendar is None:
            calendar = _calendar_chain(data, p, s, e)
        elif typ == 0x803 and publication is None:
            publication = _publication_record(data, p, s, e)
        elif typ == 0x805 and auth is None:
            auth = _calendar_auth_record(data, p, s, e)
        else:
            raise _UnhandledError
    if not chains or ((publication is not None or auth is not None) and calendar is None):
        raise _UnhandledError
    if publication is not None and auth is not None:
        raise _UnhandledError
    if len(chains) > 1:
        # Leaf-most first, stable (as Signature's reference parser sorts).
        chains.sort(key=lambda c: -len(c.chain_index))
    return _keep_raw(
        Signature(tuple(chains), calendar, publication, auth),
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

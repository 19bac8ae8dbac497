"""KSI PDU version 2: the aggregator and extender wire format (layer 6).

Shared by the local service (server side) and the ``ksi_http`` client
backend. Facts from spec/ksi-format.md section 9; every PDU is one TLV16
element:

====================  =====  ==================================================
PDU                   type   children, in order
====================  =====  ==================================================
aggregation request   0x220  header, request(s) 0x02, config request 0x04,
                             ack request 0x05, HMAC 0x1F
aggregation response  0x221  header, response(s) 0x02, error 0x03, config 0x04,
                             ack 0x05, HMAC 0x1F
extend request        0x320  header, request(s) 0x02, config request 0x04, HMAC
extend response       0x321  header, response(s) 0x02, error 0x03, config 0x04,
                             HMAC
====================  =====  ==================================================

Rules enforced by :func:`parse_pdu`:

* The header (0x01) is the first child and the HMAC (0x1F) the last
  (FMT-15). Both are mandatory, except in a *reduced error* response: a
  response PDU holding only an error element (0x03), which a server sends
  when it cannot authenticate the client (e.g. an unknown login). Such a
  PDU has ``header is None`` and ``hmac is None``; :func:`verify_hmac`
  refuses it.
* Strict templates: unknown critical children raise FMT-03, duplicates
  FMT-04, missing mandatory fields FMT-05, bad values FMT-06/07/08. Unknown
  non-critical children are kept (``unknown``) but not re-encoded.
* The ack element (0x05) exists only in aggregation PDUs; in an extend PDU
  it is an unknown critical element.
* A response payload's status (0x04) is optional: absent means 0 (OK), as
  libksi reads it (libksi's own recorded responses converted from PDU v1
  carry none).

Request levels: in an aggregation *response* the first link of the
request's aggregation chain carries a level correction *relative to the
request's level* (libksi's ``signing-request-with-level-response.tlv``
answers a level-3 request with a first-link correction of 0, and libksi's
test expects 3 in the signature). A client adds the level it sent
(:meth:`AggregationResponse.signature` with ``request_level``,
:func:`shift_first_link_level`); a server subtracts it from the absolute
correction its tree computed.

HMAC: RFC 2104 HMAC with the algorithm of the 0x1F imprint, over every byte
of the PDU except the trailing digest bytes (so the 0x1F header and the
algorithm byte are covered). Encoding and verification refuse algorithms
that are not *trusted* for new use (:attr:`HashAlgorithm.trusted`): SHA-1
is deprecated for new data since 2016, and an HMAC is always new data, so a
SHA-1 HMAC is an authentication failure (SVC-03), not a format error.

Encoders write TLV16 exactly when the type is above 0x1F or the value
longer than 255 bytes, as libksi does, so the bytes match libksi's output
for the same content and child order.
"""

from __future__ import annotations

import enum
import hmac as _hmac
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Final, TypeAlias, TypeVar

import attrs

from jura_trust._value import evolve
from jura_trust.core import tlv
from jura_trust.core.chains import AggregationChain, CalendarChain
from jura_trust.core.hashing import (
    DEFAULT_ALGORITHM,
    IMPRINT_SIZES,
    HashAlgorithm,
    Imprint,
    _imprint_unchecked,
)
from jura_trust.core.publication import PublicationRecord
from jura_trust.core.signature import CalendarAuthRecord, RFC3161Record, Signature
from jura_trust.core.tlv import TLV, Field, Kind, Template
from jura_trust.errors import BackendError, ErrorCode, FormatError

__all__ = [
    "AGGREGATION_REQUEST_PDU_TYPE",
    "AGGREGATION_RESPONSE_PDU_TYPE",
    "EXTEND_REQUEST_PDU_TYPE",
    "EXTEND_RESPONSE_PDU_TYPE",
    "MAX_LEVEL",
    "MAX_PAYLOADS",
    "MAX_PDUS",
    "MAX_PDU_SIZE",
    "MAX_STREAM_SIZE",
    "PDU",
    "AggregationAck",
    "AggregationRequest",
    "AggregationRequestPDU",
    "AggregationResponse",
    "AggregationResponsePDU",
    "AggregatorConfig",
    "AggregatorStatus",
    "ErrorPayload",
    "ExtendRequest",
    "ExtendRequestPDU",
    "ExtendResponse",
    "ExtendResponsePDU",
    "ExtenderConfig",
    "ExtenderStatus",
    "Header",
    "compute_hmac",
    "compute_hmac_held",
    "encode_aggregation_request",
    "encode_aggregation_response",
    "encode_error_pdu",
    "encode_extend_request",
    "encode_extend_response",
    "parse_pdu",
    "parse_pdus",
    "recorded_extender",
    "seal_pdu",
    "shift_first_link_level",
    "verify_hmac",
]

# -- limits and constants -------------------------------------------------------

#: Outer type of an aggregation request PDU (v2).
AGGREGATION_REQUEST_PDU_TYPE = 0x220
#: Outer type of an aggregation response PDU (v2).
AGGREGATION_RESPONSE_PDU_TYPE = 0x221
#: Outer type of an extend request PDU (v2).
EXTEND_REQUEST_PDU_TYPE = 0x320
#: Outer type of an extend response PDU (v2).
EXTEND_RESPONSE_PDU_TYPE = 0x321
#: PDU version 1 outer types (deprecated; refused with FMT-15).
_V1_TYPES = frozenset({0x200, 0x300})

#: Largest single PDU: a TLV16 header (4 bytes) plus at most 65535 value
#: bytes. This is a format limit, not a policy: nothing larger can exist.
MAX_PDU_SIZE = 4 + tlv.MAX_TLV16_LENGTH
#: Largest input accepted by :func:`parse_pdus` (several PDUs back to back,
#: e.g. an HTTP request body). A server should refuse larger bodies before
#: reading them.
MAX_STREAM_SIZE = 1 << 20
#: Most PDUs :func:`parse_pdus` accepts in one input.
MAX_PDUS = 256
#: Most request or response payloads (0x02) in one PDU. A 64 KiB PDU holds
#: at most about 1600 minimal aggregation requests.
MAX_PAYLOADS = 1024
#: Largest aggregation request level (the tree level byte).
MAX_LEVEL = 0xFF


class AggregatorStatus(enum.IntEnum):
    """Aggregator response status codes (spec section 9); 0 is success."""

    OK = 0x000
    INVALID_REQUEST = 0x101
    AUTHENTICATION_FAILURE = 0x102
    INVALID_PAYLOAD = 0x103
    REQUEST_TOO_LARGE = 0x104
    OVER_QUOTA = 0x105
    TOO_MANY_REQUESTS = 0x106
    INPUT_HASH_TOO_LONG = 0x107
    INTERNAL_ERROR = 0x200
    UPSTREAM_ERROR = 0x300
    UPSTREAM_TIMEOUT = 0x301

    @property
    def message(self) -> str:
        """A human explanation of the status."""
        return _AGGREGATOR_MESSAGES[self]

    @classmethod
    def describe(cls, status: int) -> str:
        """A human explanation of any status value, known or not."""
        try:
            return cls(status).message
        except ValueError:
            return f"unknown aggregator status 0x{status:x}"


_SHARED_MESSAGES = {
    0x000: "No error.",
    0x101: "The request had invalid format.",
    0x102: "The request could not be authenticated.",
    0x103: "The request contained invalid payload.",
    0x200: "The server encountered an unspecified internal error.",
    0x300: "The server encountered unspecified critical errors connecting to upstream servers.",
    0x301: "No response from upstream servers.",
}

_AGGREGATOR_MESSAGES = {
    AggregatorStatus(code): text
    for code, text in {
        **_SHARED_MESSAGES,
        0x104: "The request contained more data than the server accepts.",
        0x105: "The request exceeded the client's quota.",
        0x106: "The client sent too many requests.",
        0x107: "The input hash is longer than the server accepts.",
    }.items()
}


class ExtenderStatus(enum.IntEnum):
    """Extender response status codes (spec section 9); 0 is success."""

    OK = 0x000
    INVALID_REQUEST = 0x101
    AUTHENTICATION_FAILURE = 0x102
    INVALID_PAYLOAD = 0x103
    INVALID_TIME_RANGE = 0x104
    REQUEST_TIME_TOO_OLD = 0x105
    REQUEST_TIME_TOO_NEW = 0x106
    REQUEST_TIME_IN_FUTURE = 0x107
    INTERNAL_ERROR = 0x200
    DATABASE_MISSING = 0x201
    DATABASE_CORRUPT = 0x202
    UPSTREAM_ERROR = 0x300
    UPSTREAM_TIMEOUT = 0x301

    @property
    def message(self) -> str:
        """A human explanation of the status."""
        return _EXTENDER_MESSAGES[self]

    @classmethod
    def describe(cls, status: int) -> str:
        """A human explanation of any status value, known or not."""
        try:
            return cls(status).message
        except ValueError:
            return f"unknown extender status 0x{status:x}"


_EXTENDER_MESSAGES = {
    ExtenderStatus(code): text
    for code, text in {
        **_SHARED_MESSAGES,
        0x104: "The request asked for a hash chain going backwards in time.",
        0x105: "The request asked for hash values older than the oldest round in the database.",
        0x106: "The request asked for hash values newer than the newest round in the database.",
        0x107: "The request asked for hash values newer than the current real time.",
        0x201: "The server misses the internal database needed to service the request.",
        0x202: "The server's internal database is in an inconsistent state.",
    }.items()
}


# -- helpers ----------------------------------------------------------------------


def _bad_pdu(message: str, **details: object) -> FormatError:
    return FormatError(message, code=ErrorCode.FMT_BAD_PDU, **details)


def _uint(typ: int, value: int) -> bytes:
    return tlv.encode(typ, tlv.encode_uint(value))


def _opt_uint(typ: int, value: int | None) -> list[bytes]:
    return [] if value is None else [_uint(typ, value)]


def _opt_utf8(typ: int, value: str | None) -> list[bytes]:
    return [] if value is None else [tlv.encode(typ, tlv.encode_utf8(value))]


_LINK_TYPES = frozenset({0x07, 0x08})


def shift_first_link_level(chain: TLV, delta: int) -> bytes:
    """An aggregation chain element (0x801) with its first link's level correction moved.

    Adds ``delta`` (negative to subtract) to the level correction of the
    chain's first link (the leaf side) and re-encodes the link and the
    chain; every other byte is kept. This converts between the correction a
    signature holds (absolute: verification starts at level 0) and the one
    a PDU v2 aggregation response carries (relative to the request's
    level). Raises :class:`FormatError` (FMT-10) when the chain has no link
    or the result leaves 0..255, or the element is not a chain.
    """
    if chain.type != 0x801:
        raise FormatError(
            f"not an aggregation chain (element type 0x{chain.type:x})",
            code=ErrorCode.FMT_STRUCTURE,
        )
    children = chain.children()
    index = next((i for i, c in enumerate(children) if c.type in _LINK_TYPES), None)
    if index is None:
        raise FormatError("the aggregation chain has no link", code=ErrorCode.FMT_STRUCTURE)
    link = children[index]
    parts = link.children()
    corrections = [p for p in parts if p.type == 0x01]
    if len(corrections) > 1:
        raise FormatError("a link repeats its level correction", code=ErrorCode.FMT_DUPLICATE)
    current = tlv.decode_uint(corrections[0].value, what="level correction") if corrections else 0
    new = current + delta
    if not 0 <= new <= MAX_LEVEL:
        raise FormatError(
            f"level correction {current} {delta:+d} leaves 0..{MAX_LEVEL}",
            code=ErrorCode.FMT_STRUCTURE,
            level_correction=current,
            delta=delta,
        )
    body = [_uint(0x01, new)] if new else []
    body += [p.raw for p in parts if p.type != 0x01]
    new_link = tlv.encode(
        link.type, b"".join(body), non_critical=link.non_critical, forward=link.forward
    )
    value = b"".join(new_link if i == index else c.raw for i, c in enumerate(children))
    return tlv.encode(chain.type, value, non_critical=chain.non_critical, forward=chain.forward)


_HEADER_TEMPLATE = Template(
    "header",
    {
        0x01: Field("login_id", Kind.UTF8, mandatory=True),
        0x02: Field("instance_id", Kind.UINT),
        0x03: Field("message_id", Kind.UINT),
    },
)


# -- payload models -----------------------------------------------------------------


@attrs.frozen(slots=True)
class Header:
    """The PDU header (0x01): login id and optional duplicate-filter ids.

    Attributes:
        login_id: the client's login; the server looks the HMAC key up by it.
        instance_id: grows each time the client process restarts.
        message_id: numbers the messages within one client instance.
        unknown: unknown non-critical children, kept as parsed.
    """

    login_id: str
    instance_id: int | None = None
    message_id: int | None = None
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)

    @classmethod
    def from_tlv(cls, element: TLV) -> Header:
        """Parse a 0x01 header element."""
        p = tlv.parse_composite(element, _HEADER_TEMPLATE)
        return cls(p["login_id"], p.get("instance_id"), p.get("message_id"), p.unknown)

    def encode(self) -> bytes:
        """The header element (children: login, instance, message id)."""
        parts = [tlv.encode(0x01, tlv.encode_utf8(self.login_id))]
        parts += _opt_uint(0x02, self.instance_id)
        parts += _opt_uint(0x03, self.message_id)
        return tlv.encode(0x01, b"".join(parts))


_AGGR_REQUEST_TEMPLATE = Template(
    "aggregation request",
    {
        0x01: Field("request_id", Kind.UINT, mandatory=True),
        0x02: Field("request_hash", Kind.IMPRINT, mandatory=True),
        0x03: Field("request_level", Kind.UINT),
    },
)


@attrs.frozen(slots=True)
class AggregationRequest:
    """One aggregation request payload (0x02 in a 0x220 PDU).

    Attributes:
        request_id: matches the response to the request.
        request_hash: the document imprint or the root of a local tree.
        request_level: the level of ``request_hash`` in the client's tree
            (0 for a document hash; written only when above 0).
        unknown: unknown non-critical children, kept as parsed.
    """

    request_id: int
    request_hash: Imprint
    request_level: int = 0
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)

    @classmethod
    def from_tlv(cls, element: TLV) -> AggregationRequest:
        """Parse a 0x02 aggregation request element.

        The usual shape (request id, hash, optional level, each a plain
        TLV8) is read directly; anything else, and every defect, goes
        through the template parser, which alone decides the error.
        """
        fast = _fast_aggregation_request(element.value)
        if fast is not None:
            return fast
        p = tlv.parse_composite(element, _AGGR_REQUEST_TEMPLATE)
        level = p.get("request_level", 0)
        if level > MAX_LEVEL:
            raise FormatError(
                f"aggregation request level {level} exceeds {MAX_LEVEL}",
                code=ErrorCode.FMT_LIMIT,
                level=level,
            )
        return cls(p["request_id"], p["request_hash"], level, p.unknown)

    def encode(self) -> bytes:
        """The payload element."""
        if not 0 <= self.request_level <= MAX_LEVEL:
            raise ValueError(f"request level {self.request_level} out of range 0..{MAX_LEVEL}")
        parts = [_uint(0x01, self.request_id), tlv.encode(0x02, self.request_hash.value)]
        if self.request_level > 0:
            parts.append(_uint(0x03, self.request_level))
        return tlv.encode(0x02, b"".join(parts))


def _fast_aggregation_request(v: bytes) -> AggregationRequest | None:
    """``01 n id``, ``02 n imprint`` and optionally ``03 n level``, or ``None``.

    Accepts only what the template parser accepts, with the same value
    (tests/test_pdu_fast.py compares them); ``None`` hands the element over.
    """
    end = len(v)
    if end < 4 or v[0] != 0x01:
        return None
    n = v[1]
    p = 2 + n
    if n > tlv.MAX_UINT_BYTES or (n and v[2] == 0) or p + 2 > end or v[p] != 0x02:
        return None
    size = v[p + 1]
    q = p + 2 + size
    if q > end or size == 0 or IMPRINT_SIZES.get(v[p + 2]) != size:
        return None
    level = 0
    if q != end:
        if end - q != 3 or v[q] != 0x03 or v[q + 1] != 1 or v[q + 2] == 0:
            return None
        level = v[q + 2]  # one byte: never above MAX_LEVEL
    return AggregationRequest(
        int.from_bytes(v[2:p], "big"), _imprint_unchecked(v[p + 2 : q]), level
    )


_AGGR_RESPONSE_TEMPLATE = Template(
    "aggregation response",
    {
        0x01: Field("request_id", Kind.UINT, mandatory=True),
        0x04: Field("status", Kind.UINT),
        0x05: Field("error_message", Kind.UTF8),
        0x801: Field("aggregation_chains", Kind.ELEMENT, multiple=True),
        0x802: Field("calendar_chain", Kind.ELEMENT),
        0x803: Field("publication_record", Kind.ELEMENT),
        0x804: Field("aggregation_auth_record", Kind.ELEMENT),
        0x805: Field("calendar_auth_record", Kind.ELEMENT),
        0x806: Field("rfc3161_record", Kind.ELEMENT),
    },
)


@attrs.frozen(slots=True)
class AggregationResponse:
    """One aggregation response payload (0x02 in a 0x221 PDU).

    The KSI items (chains and records) are the pieces of a signature;
    :meth:`signature` assembles them.

    Attributes:
        request_id: the id of the request answered.
        status: 0 for success, else an :class:`AggregatorStatus` value. An
            absent status element reads as 0, as libksi reads it (its
            templates make the element optional; the PDU's HMAC still has
            to verify).
        error_message: the server's free-form explanation, if any.
        aggregation_chains: the aggregation hash chains (0x801), in file order.
        calendar_chain: the calendar hash chain (0x802).
        calendar_auth_record: the calendar authentication record (0x805).
        publication_record: a publication record (0x803), rarely sent.
        aggregation_auth_record: the aggregation auth record (0x804), kept
            as an element.
        rfc3161_record: an RFC 3161 compatibility record (0x806).
        unknown: unknown non-critical children, kept as parsed.
    """

    request_id: int
    status: int = 0
    error_message: str | None = None
    aggregation_chains: tuple[AggregationChain, ...] = ()
    calendar_chain: CalendarChain | None = None
    calendar_auth_record: CalendarAuthRecord | None = None
    publication_record: PublicationRecord | None = None
    aggregation_auth_record: TLV | None = None
    rfc3161_record: RFC3161Record | None = None
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)

    @classmethod
    def from_tlv(cls, element: TLV) -> AggregationResponse:
        """Parse a 0x02 aggregation response element."""
        p = tlv.parse_composite(element, _AGGR_RESPONSE_TEMPLATE)
        cal = p.get("calendar_chain")
        auth = p.get("calendar_auth_record")
        pub = p.get("publication_record")
        rfc = p.get("rfc3161_record")
        return cls(
            request_id=p["request_id"],
            status=p.get("status", 0),
            error_message=p.get("error_message"),
            aggregation_chains=tuple(
                AggregationChain.from_tlv(e) for e in p.get("aggregation_chains", ())
            ),
            calendar_chain=None if cal is None else CalendarChain.from_tlv(cal),
            calendar_auth_record=None if auth is None else CalendarAuthRecord.from_tlv(auth),
            publication_record=None if pub is None else PublicationRecord.from_tlv(pub),
            aggregation_auth_record=p.get("aggregation_auth_record"),
            rfc3161_record=None if rfc is None else RFC3161Record.from_tlv(rfc),
            unknown=p.unknown,
        )

    def encode(self) -> bytes:
        """The payload element: id, status, message, chains, calendar, records."""
        parts = [_uint(0x01, self.request_id), _uint(0x04, self.status)]
        parts += _opt_utf8(0x05, self.error_message)
        parts += [c.encode() for c in self.aggregation_chains]
        if self.calendar_chain is not None:
            parts.append(self.calendar_chain.encode())
        if self.publication_record is not None:
            parts.append(self.publication_record.encode())
        if self.aggregation_auth_record is not None:
            parts.append(self.aggregation_auth_record.raw)
        if self.calendar_auth_record is not None:
            parts.append(self.calendar_auth_record.encode())
        if self.rfc3161_record is not None:
            parts.append(self.rfc3161_record.encode())
        return tlv.encode(0x02, b"".join(parts))

    def signature(self, request_level: int = 0) -> Signature:
        """Assemble the KSI signature carried by this response.

        ``request_level`` is the level the request was sent with: the first
        link of the leaf-side aggregation chain carries a correction
        relative to it in PDU v2, so it is added there (see the module
        docstring). Raises :class:`BackendError` SVC-05 if the status is not
        0, and SVC-04 if the pieces do not form a signature (no aggregation
        chain, records that a signature cannot hold together, or a level
        that does not fit).
        """
        if self.status != 0:
            raise BackendError(
                f"aggregator refused request {self.request_id}: status 0x{self.status:x} "
                f"({AggregatorStatus.describe(self.status)})"
                + (f": {self.error_message}" if self.error_message else ""),
                code=ErrorCode.SVC_REFUSED,
                status=self.status,
                request_id=self.request_id,
                server_message=self.error_message,
            )
        if not self.aggregation_chains:
            raise BackendError(
                f"aggregation response {self.request_id} carries no aggregation chain",
                code=ErrorCode.SVC_BAD_RESPONSE,
                request_id=self.request_id,
            )
        chains = self.aggregation_chains
        try:
            if request_level:
                chains = _shift_leaf_chain(chains, request_level)
            sig = Signature.build(
                chains,
                self.calendar_chain,
                publication_record=self.publication_record,
                calendar_auth_record=self.calendar_auth_record,
                rfc3161_record=self.rfc3161_record,
            )
            if self.aggregation_auth_record is not None:
                sig = evolve(sig, aggregation_auth_record=self.aggregation_auth_record)
        except FormatError as exc:
            raise BackendError(
                f"aggregation response {self.request_id} does not form a signature: {exc.message}",
                code=ErrorCode.SVC_BAD_RESPONSE,
                request_id=self.request_id,
                cause=exc.code.value,
            ) from exc
        return sig


def _shift_leaf_chain(
    chains: Sequence[AggregationChain], level: int
) -> tuple[AggregationChain, ...]:
    """``chains`` with ``level`` added to the leaf-side chain's first link."""
    if not 0 <= level <= MAX_LEVEL:
        raise FormatError(f"request level {level} out of range", code=ErrorCode.FMT_STRUCTURE)
    leaf = max(range(len(chains)), key=lambda i: len(chains[i].chain_index))
    shifted = shift_first_link_level(tlv.decode(chains[leaf].encode()), level)
    out = list(chains)
    out[leaf] = AggregationChain.from_tlv(tlv.decode(shifted))
    return tuple(out)


_EXTEND_REQUEST_TEMPLATE = Template(
    "extend request",
    {
        0x01: Field("request_id", Kind.UINT, mandatory=True),
        0x02: Field("aggregation_time", Kind.UINT, mandatory=True),
        0x03: Field("publication_time", Kind.UINT),
    },
)


@attrs.frozen(slots=True)
class ExtendRequest:
    """One extend request payload (0x02 in a 0x320 PDU).

    Attributes:
        request_id: matches the response to the request.
        aggregation_time: the round (Unix seconds) the chain starts from.
        publication_time: the calendar time to extend to; ``None`` means
            the calendar head.
        unknown: unknown non-critical children, kept as parsed.
    """

    request_id: int
    aggregation_time: int
    publication_time: int | None = None
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)

    @classmethod
    def from_tlv(cls, element: TLV) -> ExtendRequest:
        """Parse a 0x02 extend request element."""
        p = tlv.parse_composite(element, _EXTEND_REQUEST_TEMPLATE)
        return cls(p["request_id"], p["aggregation_time"], p.get("publication_time"), p.unknown)

    def encode(self) -> bytes:
        """The payload element."""
        parts = [_uint(0x01, self.request_id), _uint(0x02, self.aggregation_time)]
        parts += _opt_uint(0x03, self.publication_time)
        return tlv.encode(0x02, b"".join(parts))


_EXTEND_RESPONSE_TEMPLATE = Template(
    "extend response",
    {
        0x01: Field("request_id", Kind.UINT, mandatory=True),
        0x04: Field("status", Kind.UINT),
        0x05: Field("error_message", Kind.UTF8),
        0x12: Field("calendar_last_time", Kind.UINT),
        0x802: Field("calendar_chain", Kind.ELEMENT),
    },
)


@attrs.frozen(slots=True)
class ExtendResponse:
    """One extend response payload (0x02 in a 0x321 PDU).

    Attributes:
        request_id: the id of the request answered.
        status: 0 for success, else an :class:`ExtenderStatus` value (an
            absent element reads as 0, as in libksi).
        error_message: the server's free-form explanation, if any.
        calendar_last_time: the newest second the extender's calendar has.
        calendar_chain: the extended calendar chain (0x802).
        unknown: unknown non-critical children, kept as parsed.
    """

    request_id: int
    status: int = 0
    error_message: str | None = None
    calendar_last_time: int | None = None
    calendar_chain: CalendarChain | None = None
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)

    @classmethod
    def from_tlv(cls, element: TLV) -> ExtendResponse:
        """Parse a 0x02 extend response element."""
        p = tlv.parse_composite(element, _EXTEND_RESPONSE_TEMPLATE)
        cal = p.get("calendar_chain")
        return cls(
            request_id=p["request_id"],
            status=p.get("status", 0),
            error_message=p.get("error_message"),
            calendar_last_time=p.get("calendar_last_time"),
            calendar_chain=None if cal is None else CalendarChain.from_tlv(cal),
            unknown=p.unknown,
        )

    def encode(self) -> bytes:
        """The payload element: id, status, message, last time, chain."""
        parts = [_uint(0x01, self.request_id), _uint(0x04, self.status)]
        parts += _opt_utf8(0x05, self.error_message)
        parts += _opt_uint(0x12, self.calendar_last_time)
        if self.calendar_chain is not None:
            parts.append(self.calendar_chain.encode())
        return tlv.encode(0x02, b"".join(parts))


_ERROR_TEMPLATE = Template(
    "error",
    {
        0x04: Field("status", Kind.UINT, mandatory=True),
        0x05: Field("message", Kind.UTF8),
    },
)


@attrs.frozen(slots=True)
class ErrorPayload:
    """The PDU-level error element (0x03): the whole PDU was refused.

    Attributes:
        status: an :class:`AggregatorStatus` or :class:`ExtenderStatus` value.
        message: the server's free-form explanation, if any.
        unknown: unknown non-critical children, kept as parsed.
    """

    status: int
    message: str | None = None
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)

    @classmethod
    def from_tlv(cls, element: TLV) -> ErrorPayload:
        """Parse a 0x03 error element."""
        p = tlv.parse_composite(element, _ERROR_TEMPLATE)
        return cls(p["status"], p.get("message"), p.unknown)

    def encode(self) -> bytes:
        """The error element."""
        parts = [_uint(0x04, self.status), *_opt_utf8(0x05, self.message)]
        return tlv.encode(0x03, b"".join(parts))


_AGGR_CONFIG_TEMPLATE = Template(
    "aggregator config",
    {
        0x01: Field("max_level", Kind.UINT),
        0x02: Field("aggregation_algorithm", Kind.UINT),
        0x03: Field("aggregation_period", Kind.UINT),
        0x04: Field("max_requests", Kind.UINT),
        0x10: Field("parent_uris", Kind.UTF8, multiple=True),
    },
)


@attrs.frozen(slots=True)
class AggregatorConfig:
    """Aggregator configuration (0x04 in a 0x221 PDU); every field optional.

    Attributes:
        max_level: the highest tree level a client request may have.
        aggregation_algorithm: the hash algorithm clients should use.
        aggregation_period: the round length in milliseconds.
        max_requests: requests a client may send per period.
        parent_uris: the parent servers' URIs.
        unknown: unknown non-critical children, kept as parsed.
    """

    max_level: int | None = None
    aggregation_algorithm: HashAlgorithm | None = None
    aggregation_period: int | None = None
    max_requests: int | None = None
    parent_uris: tuple[str, ...] = ()
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)

    @classmethod
    def from_tlv(cls, element: TLV) -> AggregatorConfig:
        """Parse a 0x04 aggregator configuration element."""
        p = tlv.parse_composite(element, _AGGR_CONFIG_TEMPLATE)
        alg_id = p.get("aggregation_algorithm")
        alg = None
        if alg_id is not None:
            if alg_id > 0xFF:
                raise FormatError(
                    f"aggregator config: algorithm id {alg_id} is not one byte",
                    code=ErrorCode.FMT_BAD_INTEGER,
                )
            alg = HashAlgorithm.from_id(alg_id)
        return cls(
            max_level=p.get("max_level"),
            aggregation_algorithm=alg,
            aggregation_period=p.get("aggregation_period"),
            max_requests=p.get("max_requests"),
            parent_uris=tuple(p.get("parent_uris", ())),
            unknown=p.unknown,
        )

    def encode(self) -> bytes:
        """The configuration element."""
        alg = self.aggregation_algorithm
        parts = _opt_uint(0x01, self.max_level)
        parts += _opt_uint(0x02, None if alg is None else alg.id)
        parts += _opt_uint(0x03, self.aggregation_period)
        parts += _opt_uint(0x04, self.max_requests)
        parts += [tlv.encode(0x10, tlv.encode_utf8(u)) for u in self.parent_uris]
        return tlv.encode(0x04, b"".join(parts))


_EXT_CONFIG_TEMPLATE = Template(
    "extender config",
    {
        0x04: Field("max_requests", Kind.UINT),
        0x10: Field("parent_uris", Kind.UTF8, multiple=True),
        0x11: Field("calendar_first_time", Kind.UINT),
        0x12: Field("calendar_last_time", Kind.UINT),
    },
)


@attrs.frozen(slots=True)
class ExtenderConfig:
    """Extender configuration (0x04 in a 0x321 PDU); every field optional.

    Attributes:
        max_requests: requests a client may send per second.
        parent_uris: the parent servers' URIs.
        calendar_first_time: the oldest second the calendar holds.
        calendar_last_time: the newest second the calendar holds.
        unknown: unknown non-critical children, kept as parsed.
    """

    max_requests: int | None = None
    parent_uris: tuple[str, ...] = ()
    calendar_first_time: int | None = None
    calendar_last_time: int | None = None
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)

    @classmethod
    def from_tlv(cls, element: TLV) -> ExtenderConfig:
        """Parse a 0x04 extender configuration element."""
        p = tlv.parse_composite(element, _EXT_CONFIG_TEMPLATE)
        return cls(
            max_requests=p.get("max_requests"),
            parent_uris=tuple(p.get("parent_uris", ())),
            calendar_first_time=p.get("calendar_first_time"),
            calendar_last_time=p.get("calendar_last_time"),
            unknown=p.unknown,
        )

    def encode(self) -> bytes:
        """The configuration element."""
        parts = _opt_uint(0x04, self.max_requests)
        parts += [tlv.encode(0x10, tlv.encode_utf8(u)) for u in self.parent_uris]
        parts += _opt_uint(0x11, self.calendar_first_time)
        parts += _opt_uint(0x12, self.calendar_last_time)
        return tlv.encode(0x04, b"".join(parts))


_ACK_TEMPLATE = Template(
    "aggregation ack",
    {
        0x01: Field("request_time", Kind.UINT),
        0x02: Field("receipt_time", Kind.UINT),
        0x03: Field("ack_time", Kind.UINT),
        0x04: Field("aggregation_delay", Kind.UINT),
        0x05: Field("aggregation_period", Kind.UINT),
        0x06: Field("aggregation_drift", Kind.UINT),
    },
)


@attrs.frozen(slots=True)
class AggregationAck:
    """Aggregator acknowledgement (0x05), or its request; every field optional.

    In a request PDU the client fills at most ``request_time``; the server
    answers at once (before its round ends) with the other fields.

    Attributes:
        request_time: when the client sent the request (µs, client clock).
        receipt_time: when the server received it (µs, server clock).
        ack_time: when the server wrote the acknowledgement (µs).
        aggregation_delay: ms from receipt to the end of the current round.
        aggregation_period: the server's round length in ms.
        aggregation_drift: the round schedule's offset in ms.
        unknown: unknown non-critical children, kept as parsed.
    """

    request_time: int | None = None
    receipt_time: int | None = None
    ack_time: int | None = None
    aggregation_delay: int | None = None
    aggregation_period: int | None = None
    aggregation_drift: int | None = None
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)

    @classmethod
    def from_tlv(cls, element: TLV) -> AggregationAck:
        """Parse a 0x05 acknowledgement element."""
        p = tlv.parse_composite(element, _ACK_TEMPLATE)
        return cls(
            p.get("request_time"),
            p.get("receipt_time"),
            p.get("ack_time"),
            p.get("aggregation_delay"),
            p.get("aggregation_period"),
            p.get("aggregation_drift"),
            p.unknown,
        )

    def encode(self) -> bytes:
        """The acknowledgement element."""
        values = (
            self.request_time,
            self.receipt_time,
            self.ack_time,
            self.aggregation_delay,
            self.aggregation_period,
            self.aggregation_drift,
        )
        parts = [b"".join(_opt_uint(i, v)) for i, v in enumerate(values, start=1)]
        return tlv.encode(0x05, b"".join(parts))


_CONFIG_REQUEST_TEMPLATE = Template("config request", {})


# -- PDU containers -------------------------------------------------------------------


def _signed_bytes(raw: bytes, mac: Imprint | None) -> bytes:
    if mac is None:
        raise BackendError("the PDU carries no HMAC", code=ErrorCode.SVC_AUTH)
    return raw[: len(raw) - mac.algorithm.digest_size]


@attrs.frozen(slots=True)
class AggregationRequestPDU:
    """An aggregation request PDU (0x220).

    Attributes:
        header: the header (login id).
        requests: the aggregation request payloads, in order.
        config_request: whether the client asks for the configuration.
        ack_request: the acknowledgement request, if any.
        hmac: the HMAC imprint (0x1F).
        unknown: unknown non-critical children, kept as parsed.
        raw: the exact bytes parsed.
    """

    TYPE: ClassVar[int] = AGGREGATION_REQUEST_PDU_TYPE

    header: Header
    requests: tuple[AggregationRequest, ...]
    config_request: bool
    ack_request: AggregationAck | None
    hmac: Imprint
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)
    raw: bytes = attrs.field(default=b"", init=False, eq=False, repr=False)

    @property
    def signed_bytes(self) -> bytes:
        """The bytes the HMAC covers (all but the trailing digest)."""
        return _signed_bytes(self.raw, self.hmac)


@attrs.frozen(slots=True)
class AggregationResponsePDU:
    """An aggregation response PDU (0x221).

    ``header`` and ``hmac`` are ``None`` only in a reduced error PDU (an
    ``error`` and nothing else).

    Attributes:
        header: the header (login id), or ``None``.
        responses: the aggregation response payloads, in order.
        error: the PDU-level error, if the whole PDU was refused.
        config: the aggregator configuration, if sent.
        ack: the acknowledgement, if sent.
        hmac: the HMAC imprint (0x1F), or ``None``.
        unknown: unknown non-critical children, kept as parsed.
        raw: the exact bytes parsed.
    """

    TYPE: ClassVar[int] = AGGREGATION_RESPONSE_PDU_TYPE

    header: Header | None
    responses: tuple[AggregationResponse, ...]
    error: ErrorPayload | None
    config: AggregatorConfig | None
    ack: AggregationAck | None
    hmac: Imprint | None
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)
    raw: bytes = attrs.field(default=b"", init=False, eq=False, repr=False)

    @property
    def signed_bytes(self) -> bytes:
        """The bytes the HMAC covers (all but the trailing digest)."""
        return _signed_bytes(self.raw, self.hmac)


@attrs.frozen(slots=True)
class ExtendRequestPDU:
    """An extend request PDU (0x320).

    Attributes:
        header: the header (login id).
        requests: the extend request payloads, in order.
        config_request: whether the client asks for the configuration.
        hmac: the HMAC imprint (0x1F).
        unknown: unknown non-critical children, kept as parsed.
        raw: the exact bytes parsed.
    """

    TYPE: ClassVar[int] = EXTEND_REQUEST_PDU_TYPE

    header: Header
    requests: tuple[ExtendRequest, ...]
    config_request: bool
    hmac: Imprint
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)
    raw: bytes = attrs.field(default=b"", init=False, eq=False, repr=False)

    @property
    def signed_bytes(self) -> bytes:
        """The bytes the HMAC covers (all but the trailing digest)."""
        return _signed_bytes(self.raw, self.hmac)


@attrs.frozen(slots=True)
class ExtendResponsePDU:
    """An extend response PDU (0x321).

    ``header`` and ``hmac`` are ``None`` only in a reduced error PDU.

    Attributes:
        header: the header (login id), or ``None``.
        responses: the extend response payloads, in order.
        error: the PDU-level error, if the whole PDU was refused.
        config: the extender configuration, if sent.
        hmac: the HMAC imprint (0x1F), or ``None``.
        unknown: unknown non-critical children, kept as parsed.
        raw: the exact bytes parsed.
    """

    TYPE: ClassVar[int] = EXTEND_RESPONSE_PDU_TYPE

    header: Header | None
    responses: tuple[ExtendResponse, ...]
    error: ErrorPayload | None
    config: ExtenderConfig | None
    hmac: Imprint | None
    unknown: tuple[TLV, ...] = attrs.field(default=(), eq=False, repr=False)
    raw: bytes = attrs.field(default=b"", init=False, eq=False, repr=False)

    @property
    def signed_bytes(self) -> bytes:
        """The bytes the HMAC covers (all but the trailing digest)."""
        return _signed_bytes(self.raw, self.hmac)


#: Any parsed PDU.
PDU: TypeAlias = (
    AggregationRequestPDU | AggregationResponsePDU | ExtendRequestPDU | ExtendResponsePDU
)


# -- HMAC -------------------------------------------------------------------------------


_P = TypeVar("_P", AggregationRequest, AggregationResponse, ExtendRequest, ExtendResponse)


def _check_hmac_algorithm(algorithm: HashAlgorithm) -> None:
    if not algorithm.trusted:
        raise ValueError(f"{algorithm.ksi_name} is not trusted for new HMACs")


def compute_hmac(algorithm: HashAlgorithm, key: bytes, data: bytes) -> bytes:
    """RFC 2104 HMAC of ``data`` under ``key`` with ``algorithm`` (raw digest).

    Raises :class:`FormatError` FMT-16 if this Python lacks the algorithm.
    """
    algorithm.new()  # raises FMT-16 when the algorithm is unavailable
    return _hmac.digest(bytes(key), bytes(data), algorithm.hashlib_name)


#: Pieces of this many bytes are hashed without releasing the interpreter
#: lock (hashlib releases it for 2048 bytes and more).
_HELD_PIECE: Final = 2047


def compute_hmac_held(algorithm: HashAlgorithm, key: bytes, data: bytes) -> bytes:
    """:func:`compute_hmac`, computed without releasing the interpreter lock.

    hashlib releases the GIL while it hashes 2 KiB or more; in a process
    of many busy threads the thread then waits for the lock again behind
    the others (up to the switch interval, 5 ms, each time). Fed in pieces
    below that size, an answer's check runs in one go: for a client thread
    among many (the bulk signer's), the check of an answer is not spread
    over several turns. Costs about a tenth more than :func:`compute_hmac`.
    """
    algorithm.new()  # raises FMT-16 when the algorithm is unavailable
    mac = _hmac.new(bytes(key), digestmod=algorithm.hashlib_name)
    view = memoryview(data)
    for start in range(0, len(view), _HELD_PIECE):
        mac.update(view[start : start + _HELD_PIECE])
    return mac.digest()


def verify_hmac(
    pdu: PDU, key: bytes, *, algorithm: HashAlgorithm | None = None, held: bool = False
) -> None:
    """Check the HMAC of a parsed PDU; raise :class:`BackendError` SVC-03 if wrong.

    The algorithm is the HMAC imprint's own; pass ``algorithm`` to insist on
    a specific one (a client should, with the one it sent). A PDU without
    an HMAC (reduced error PDU), an algorithm not trusted for new data
    (SHA-1) or one this Python lacks all raise SVC-03. The comparison is
    constant-time. ``held``: compute it with :func:`compute_hmac_held` (for
    a client thread among many).
    """
    mac = pdu.hmac
    if mac is None:
        raise BackendError("the PDU carries no HMAC", code=ErrorCode.SVC_AUTH)
    alg = mac.algorithm
    if algorithm is not None and alg is not algorithm:
        raise BackendError(
            f"HMAC uses {alg.ksi_name}, expected {algorithm.ksi_name}",
            code=ErrorCode.SVC_AUTH,
            algorithm=alg.ksi_name,
        )
    if not alg.trusted:
        raise BackendError(
            f"HMAC algorithm {alg.ksi_name} is not trusted",
            code=ErrorCode.SVC_AUTH,
            algorithm=alg.ksi_name,
        )
    if not pdu.raw.endswith(mac.digest):
        # Only possible for hand-built values: parsed PDUs end with the HMAC.
        raise BackendError("the PDU's raw bytes do not end with its HMAC", code=ErrorCode.SVC_AUTH)
    try:
        compute = compute_hmac_held if held else compute_hmac
        expected = compute(alg, key, pdu.signed_bytes)
    except FormatError as exc:
        raise BackendError(
            f"cannot compute the HMAC: {exc.message}",
            code=ErrorCode.SVC_AUTH,
            algorithm=alg.ksi_name,
        ) from None
    if not _hmac.compare_digest(expected, mac.digest):
        raise BackendError("PDU HMAC does not match (wrong key?)", code=ErrorCode.SVC_AUTH)


# -- encoding -------------------------------------------------------------------------


def seal_pdu(
    pdu_type: int,
    header: Header,
    body: Iterable[bytes],
    key: bytes,
    algorithm: HashAlgorithm,
) -> bytes:
    """One PDU of ``pdu_type``: ``header``, the encoded ``body`` elements, then the HMAC.

    For callers that hold payloads already encoded (the service answers
    thousands per round); the ``encode_*`` functions build on it.
    """
    _check_hmac_algorithm(algorithm)
    if not isinstance(key, bytes | bytearray | memoryview):
        raise TypeError("the HMAC key must be bytes")
    digest_size = algorithm.digest_size
    value = b"".join([header.encode(), *body]) + tlv.encode(
        0x1F, bytes((algorithm.id,)) + bytes(digest_size)
    )
    unsigned = tlv.encode(pdu_type, value)[:-digest_size]
    return unsigned + compute_hmac(algorithm, bytes(key), unsigned)


def _payloads(items: _P | Sequence[_P], cls: type[_P], name: str) -> list[bytes]:
    seq: list[_P] = [items] if isinstance(items, cls) else list(items)  # type: ignore[arg-type]
    if len(seq) > MAX_PAYLOADS:
        raise ValueError(f"at most {MAX_PAYLOADS} {name} per PDU")
    for item in seq:
        if not isinstance(item, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(item).__name__}")
    return [item.encode() for item in seq]


def _header(login_id: str, instance_id: int | None, message_id: int | None) -> Header:
    return Header(login_id, instance_id, message_id)


def encode_aggregation_request(
    requests: AggregationRequest | Sequence[AggregationRequest],
    *,
    login_id: str,
    key: bytes,
    algorithm: HashAlgorithm = DEFAULT_ALGORITHM,
    instance_id: int | None = None,
    message_id: int | None = None,
    config_request: bool = False,
    ack_request: AggregationAck | None = None,
) -> bytes:
    """Encode an aggregation request PDU (0x220) with its HMAC.

    Raises :class:`ValueError` for a request hash whose algorithm is not
    trusted for new data (SHA-1), as KSI clients refuse to send one.
    """
    body = _payloads(requests, AggregationRequest, "aggregation requests")
    reqs = [requests] if isinstance(requests, AggregationRequest) else list(requests)
    for r in reqs:
        if not r.request_hash.algorithm.trusted:
            raise ValueError(
                f"request hash algorithm {r.request_hash.algorithm.ksi_name} is not trusted"
            )
    if config_request:
        body.append(tlv.encode(0x04, b""))
    if ack_request is not None:
        body.append(ack_request.encode())
    return seal_pdu(
        AGGREGATION_REQUEST_PDU_TYPE,
        _header(login_id, instance_id, message_id),
        body,
        key,
        algorithm,
    )


def encode_aggregation_response(
    responses: AggregationResponse | Sequence[AggregationResponse],
    *,
    login_id: str,
    key: bytes,
    algorithm: HashAlgorithm = DEFAULT_ALGORITHM,
    instance_id: int | None = None,
    message_id: int | None = None,
    error: ErrorPayload | None = None,
    config: AggregatorConfig | None = None,
    ack: AggregationAck | None = None,
) -> bytes:
    """Encode an aggregation response PDU (0x221) with its HMAC.

    Child order: header, responses, error, config, ack, HMAC.
    """
    body = _payloads(responses, AggregationResponse, "aggregation responses")
    body += [e.encode() for e in (error, config, ack) if e is not None]
    return seal_pdu(
        AGGREGATION_RESPONSE_PDU_TYPE,
        _header(login_id, instance_id, message_id),
        body,
        key,
        algorithm,
    )


def encode_extend_request(
    requests: ExtendRequest | Sequence[ExtendRequest],
    *,
    login_id: str,
    key: bytes,
    algorithm: HashAlgorithm = DEFAULT_ALGORITHM,
    instance_id: int | None = None,
    message_id: int | None = None,
    config_request: bool = False,
) -> bytes:
    """Encode an extend request PDU (0x320) with its HMAC."""
    body = _payloads(requests, ExtendRequest, "extend requests")
    if config_request:
        body.append(tlv.encode(0x04, b""))
    return seal_pdu(
        EXTEND_REQUEST_PDU_TYPE,
        _header(login_id, instance_id, message_id),
        body,
        key,
        algorithm,
    )


def encode_extend_response(
    responses: ExtendResponse | Sequence[ExtendResponse],
    *,
    login_id: str,
    key: bytes,
    algorithm: HashAlgorithm = DEFAULT_ALGORITHM,
    instance_id: int | None = None,
    message_id: int | None = None,
    error: ErrorPayload | None = None,
    config: ExtenderConfig | None = None,
) -> bytes:
    """Encode an extend response PDU (0x321) with its HMAC.

    Child order: header, responses, error, config, HMAC.
    """
    body = _payloads(responses, ExtendResponse, "extend responses")
    body += [e.encode() for e in (error, config) if e is not None]
    return seal_pdu(
        EXTEND_RESPONSE_PDU_TYPE,
        _header(login_id, instance_id, message_id),
        body,
        key,
        algorithm,
    )


def encode_error_pdu(pdu_type: int, error: ErrorPayload) -> bytes:
    """Encode a reduced error response: the error element only, no header or HMAC.

    For a server that cannot authenticate the client (unknown login, bad
    HMAC, unreadable request): ``pdu_type`` is 0x221 or 0x321.
    """
    if pdu_type not in (AGGREGATION_RESPONSE_PDU_TYPE, EXTEND_RESPONSE_PDU_TYPE):
        raise ValueError(f"a reduced error PDU is a response (0x221/0x321), not 0x{pdu_type:x}")
    return tlv.encode(pdu_type, error.encode())


# -- decoding -------------------------------------------------------------------------


def _pdu_template(name: str, fields: dict[int, Field]) -> Template:
    return Template(
        name,
        {
            0x01: Field("header", Kind.ELEMENT),
            0x02: Field("payloads", Kind.ELEMENT, multiple=True),
            **fields,
            0x1F: Field("hmac", Kind.IMPRINT),
        },
    )


_PDU_TEMPLATES: dict[int, Template] = {
    AGGREGATION_REQUEST_PDU_TYPE: _pdu_template(
        "aggregation request PDU",
        {0x04: Field("config", Kind.ELEMENT), 0x05: Field("ack", Kind.ELEMENT)},
    ),
    AGGREGATION_RESPONSE_PDU_TYPE: _pdu_template(
        "aggregation response PDU",
        {
            0x03: Field("error", Kind.ELEMENT),
            0x04: Field("config", Kind.ELEMENT),
            0x05: Field("ack", Kind.ELEMENT),
        },
    ),
    EXTEND_REQUEST_PDU_TYPE: _pdu_template(
        "extend request PDU", {0x04: Field("config", Kind.ELEMENT)}
    ),
    EXTEND_RESPONSE_PDU_TYPE: _pdu_template(
        "extend response PDU",
        {0x03: Field("error", Kind.ELEMENT), 0x04: Field("config", Kind.ELEMENT)},
    ),
}

_RESPONSE_TYPES = frozenset({AGGREGATION_RESPONSE_PDU_TYPE, EXTEND_RESPONSE_PDU_TYPE})


def _check_layout(element: TLV, name: str) -> bool:
    """Check header-first / HMAC-last; return True for a reduced error PDU."""
    try:
        children = element.children()
    except FormatError as exc:
        raise FormatError(f"{name}: {exc.message}", code=exc.code, **exc.details) from None
    if len(children) > MAX_PAYLOADS + 8:
        raise FormatError(
            f"{name}: {len(children)} elements exceed the limit",
            code=ErrorCode.FMT_LIMIT,
            count=len(children),
        )
    types = [c.type for c in children]
    has_header = 0x01 in types
    has_mac = 0x1F in types
    if has_header and types[0] != 0x01:
        raise _bad_pdu(f"{name}: the header is not the first element")
    if has_mac and types[-1] != 0x1F:
        raise _bad_pdu(f"{name}: the HMAC is not the last element")
    if has_header and has_mac:
        return False
    reduced = (
        element.type in _RESPONSE_TYPES
        and not has_header
        and not has_mac
        and 0x03 in types
        and all(c.type == 0x03 or c.non_critical for c in children)
    )
    if reduced:
        return True
    missing = "header" if not has_header else "HMAC"
    raise _bad_pdu(f"{name}: the {missing} is missing", missing=missing)


def _parse_element(element: TLV) -> PDU:
    template = _PDU_TEMPLATES.get(element.type)
    if template is None:
        if element.type in _V1_TYPES:
            raise _bad_pdu(
                f"PDU version 1 (0x{element.type:x}) is not supported", type=element.type
            )
        raise _bad_pdu(f"not a KSI PDU (element type 0x{element.type:x})", type=element.type)
    reduced = _check_layout(element, template.name)
    p = tlv.parse_composite(element, template)
    payload_elems: list[TLV] = p.get("payloads", [])
    if len(payload_elems) > MAX_PAYLOADS:
        raise FormatError(
            f"{template.name}: {len(payload_elems)} payloads exceed {MAX_PAYLOADS}",
            code=ErrorCode.FMT_LIMIT,
            count=len(payload_elems),
        )
    header = None if reduced else Header.from_tlv(p["header"])
    mac: Imprint | None = p.get("hmac")
    config_elem: TLV | None = p.get("config")
    ack_elem: TLV | None = p.get("ack")
    error_elem: TLV | None = p.get("error")
    typ = element.type
    if typ == AGGREGATION_REQUEST_PDU_TYPE:
        assert header is not None
        assert mac is not None
        if config_elem is not None:
            tlv.parse_composite(config_elem, _CONFIG_REQUEST_TEMPLATE)
        return tlv.keep_raw(
            AggregationRequestPDU(
                header=header,
                requests=tuple(AggregationRequest.from_tlv(e) for e in payload_elems),
                config_request=config_elem is not None,
                ack_request=None if ack_elem is None else AggregationAck.from_tlv(ack_elem),
                hmac=mac,
                unknown=p.unknown,
            ),
            element.raw,
        )
    if typ == EXTEND_REQUEST_PDU_TYPE:
        assert header is not None
        assert mac is not None
        if config_elem is not None:
            tlv.parse_composite(config_elem, _CONFIG_REQUEST_TEMPLATE)
        return tlv.keep_raw(
            ExtendRequestPDU(
                header=header,
                requests=tuple(ExtendRequest.from_tlv(e) for e in payload_elems),
                config_request=config_elem is not None,
                hmac=mac,
                unknown=p.unknown,
            ),
            element.raw,
        )
    error = None if error_elem is None else ErrorPayload.from_tlv(error_elem)
    if typ == AGGREGATION_RESPONSE_PDU_TYPE:
        return tlv.keep_raw(
            AggregationResponsePDU(
                header=header,
                responses=tuple(AggregationResponse.from_tlv(e) for e in payload_elems),
                error=error,
                config=None if config_elem is None else AggregatorConfig.from_tlv(config_elem),
                ack=None if ack_elem is None else AggregationAck.from_tlv(ack_elem),
                hmac=mac,
                unknown=p.unknown,
            ),
            element.raw,
        )
    return tlv.keep_raw(
        ExtendResponsePDU(
            header=header,
            responses=tuple(ExtendResponse.from_tlv(e) for e in payload_elems),
            error=error,
            config=None if config_elem is None else ExtenderConfig.from_tlv(config_elem),
            hmac=mac,
            unknown=p.unknown,
        ),
        element.raw,
    )


def _check_size(data: bytes, limit: int) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"PDU data must be bytes, not {type(data).__name__}")
    if len(data) > limit:
        raise FormatError(
            f"input of {len(data)} bytes exceeds the limit of {limit}",
            code=ErrorCode.FMT_LIMIT,
            size=len(data),
        )
    return bytes(data)


def parse_pdu(data: bytes) -> PDU:
    """Parse exactly one PDU v2 (0x220, 0x221, 0x320 or 0x321).

    Any defect raises :class:`FormatError`: FMT-15 for a header that is not
    first, an HMAC that is not last, a missing header or HMAC, or a non-PDU
    element; the TLV codes (FMT-01..08) for malformed content. The HMAC is
    *not* checked here: call :func:`verify_hmac`.
    """
    return _parse_element(tlv.decode(_check_size(data, MAX_PDU_SIZE)))


def parse_pdus(data: bytes) -> list[PDU]:
    """Parse several PDUs written back to back (at least one)."""
    data = _check_size(data, MAX_STREAM_SIZE)
    if not data:
        raise FormatError("no PDU in empty input", code=ErrorCode.FMT_TRUNCATED)
    elements = tlv.decode_sequence(data)
    if len(elements) > MAX_PDUS:
        raise FormatError(
            f"{len(elements)} PDUs exceed the limit of {MAX_PDUS}",
            code=ErrorCode.FMT_LIMIT,
            count=len(elements),
        )
    return [_parse_element(e) for e in elements]


# -- recorded extender ----------------------------------------------------------------


def recorded_extender(
    pdu_bytes: bytes, *, hmac_key: bytes | None = None, request: bytes | None = None
) -> Callable[[int, int | None], CalendarChain]:
    """An extender answering from a recorded extend response PDU.

    The returned function has the signature the verification policies
    expect, ``(aggregation_time, publication_time or None) -> CalendarChain``.

    With the recorded *request* PDU (``request``), the response is bound to
    it as a live exchange is: every response payload must answer a request
    id of the request, the request must be for the signature being verified
    (its aggregation time, and its publication time when both name one), and
    the chain used is the one answering that request's id. Otherwise the
    extender raises :class:`BackendError` SVC-10 (request id mismatch), as
    libksi refuses a response whose request id does not match.

    Without the request, the request id cannot be known, and the recorded
    chain is returned whatever it is asked (with several payloads, the first
    whose chain starts at the requested aggregation time, else the first
    payload): checking that the chain belongs to the signature is then the
    policies' job (CAL-03 for another aggregation time, CAL-01/PUB-01 for
    another root), which is what libksi's conformance tables expect of such
    files. A response recorded for another request can therefore only pass
    when its chain is exactly the one the signature's own request would have
    got (docs/verification.md).

    The PDUs are parsed at once (a defect raises :class:`FormatError`), and
    their HMACs are checked when ``hmac_key`` is given (SVC-03). The
    extender raises :class:`BackendError` SVC-06 when the recording holds a
    PDU error, a non-zero status or no calendar chain.
    """
    pdu = parse_pdu(pdu_bytes)
    if not isinstance(pdu, ExtendResponsePDU):
        raise _bad_pdu(f"not an extend response PDU (type 0x{pdu.TYPE:x})", type=pdu.TYPE)
    if hmac_key is not None:
        verify_hmac(pdu, hmac_key)
    requested: dict[int, ExtendRequest] | None = None
    if request is not None:
        req_pdu = parse_pdu(request)
        if not isinstance(req_pdu, ExtendRequestPDU):
            raise _bad_pdu(
                f"not an extend request PDU (type 0x{req_pdu.TYPE:x})", type=req_pdu.TYPE
            )
        if hmac_key is not None:
            verify_hmac(req_pdu, hmac_key)
        requested = {r.request_id: r for r in req_pdu.requests}
        for resp in pdu.responses:
            if resp.request_id not in requested:
                raise BackendError(
                    f"the recorded extend response answers request {resp.request_id}, "
                    f"which is not in the recorded request",
                    code=ErrorCode.SVC_REQUEST_ID_MISMATCH,
                    request_id=resp.request_id,
                    requested=sorted(requested),
                )

    def pick(aggregation_time: int, publication_time: int | None) -> ExtendResponse:
        if requested is None:
            chosen = pdu.responses[0]
            for resp in pdu.responses:
                chain = resp.calendar_chain
                if chain is not None and chain.aggregation_time == aggregation_time:
                    return resp
            return chosen
        ours = [
            r
            for r in requested.values()
            if r.aggregation_time == aggregation_time
            and (
                publication_time is None
                or r.publication_time is None
                or r.publication_time == publication_time
            )
        ]
        if not ours:
            raise BackendError(
                f"the recorded extend request is for another signature: it asks for "
                f"aggregation time(s) {sorted(r.aggregation_time for r in requested.values())}, "
                f"not {aggregation_time}",
                code=ErrorCode.SVC_REQUEST_ID_MISMATCH,
                aggregation_time=aggregation_time,
            )
        for req in ours:
            for resp in pdu.responses:
                if resp.request_id == req.request_id:
                    return resp
        raise BackendError(
            f"the recorded extend response does not answer request {ours[0].request_id}",
            code=ErrorCode.SVC_REQUEST_ID_MISMATCH,
            request_id=ours[0].request_id,
        )

    def extend(aggregation_time: int, publication_time: int | None = None) -> CalendarChain:
        if pdu.error is not None:
            raise BackendError(
                f"recorded extender error 0x{pdu.error.status:x} "
                f"({ExtenderStatus.describe(pdu.error.status)})",
                code=ErrorCode.SVC_EXTEND,
                status=pdu.error.status,
                server_message=pdu.error.message,
            )
        if not pdu.responses:
            raise BackendError("recorded extend PDU has no response", code=ErrorCode.SVC_EXTEND)
        chosen = pick(aggregation_time, publication_time)
        if chosen.status != 0:
            raise BackendError(
                f"recorded extend response has status 0x{chosen.status:x} "
                f"({ExtenderStatus.describe(chosen.status)})",
                code=ErrorCode.SVC_EXTEND,
                status=chosen.status,
                server_message=chosen.error_message,
            )
        if chosen.calendar_chain is None:
            raise BackendError(
                "recorded extend response has no calendar chain", code=ErrorCode.SVC_EXTEND
            )
        return chosen.calendar_chain

    return extend

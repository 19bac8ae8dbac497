"""Response PDUs from pre-encoded payloads (layer 10, private).

The aggregator answers thousands of requests per round; each answer is the
request's aggregation chain plus the round's shared calendar chain and
authentication record, already encoded. :mod:`jura_trust.pdu`'s encoders
take payload objects, so this module seals payload *bytes* into response
PDUs with :func:`jura_trust.pdu.seal_pdu` instead, splitting them over as
many PDUs as the 64 KiB PDU limit needs. The bytes are exactly what
:func:`jura_trust.pdu.encode_aggregation_response` and
:func:`jura_trust.pdu.encode_extend_response` write for the same content
(tests/service/test_wire.py holds them to it).

A payload may also be given as its *parts* (:func:`success_parts`: the
payload's header with the request id and status, the chain, the round's
shared elements): the parts of every payload of a PDU are then joined once,
into the PDU itself, and the HMAC computed over it in one call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from jura_trust.core import tlv
from jura_trust.core.hashing import HashAlgorithm
from jura_trust.pdu import Header, compute_hmac, seal_pdu

__all__ = [
    "WRITE_SLICE",
    "iter_responses",
    "iter_sealed",
    "request_head",
    "seal",
    "seal_responses",
    "success_parts",
    "success_payload",
    "write_slices",
]

_OK_STATUS = tlv.encode(0x04, b"")

#: Largest piece of a made answer handed to a transport at once: a client
#: that reads slowly holds its answer once (in the service) plus at most
#: this much in the transport's buffer, not a second copy of the whole.
WRITE_SLICE: Final = 128 << 10


def seal(
    pdu_type: int, header: Header, parts: Sequence[bytes], key: bytes, algorithm: HashAlgorithm
) -> bytes:
    """One PDU: ``header``, the encoded ``parts`` in order, then its HMAC."""
    return seal_pdu(pdu_type, header, parts, key, algorithm)


def seal_responses(
    pdu_type: int,
    header: Header,
    payloads: Sequence[bytes],
    *,
    trailer: Sequence[bytes],
    key: bytes,
    algorithm: HashAlgorithm,
) -> list[bytes]:
    """Response PDUs holding ``payloads`` in order, as many per PDU as fit.

    ``trailer`` (error, config, ack elements) goes into the last PDU. At
    least one PDU is returned.
    """
    return list(
        iter_responses(pdu_type, header, payloads, trailer=trailer, key=key, algorithm=algorithm)
    )


def iter_responses(
    pdu_type: int,
    header: Header,
    payloads: Iterable[bytes],
    *,
    trailer: Sequence[bytes],
    key: bytes,
    algorithm: HashAlgorithm,
) -> Iterator[bytes]:
    """:func:`seal_responses` one PDU at a time, taking ``payloads`` as they come.

    Holds at most one PDU's payloads (64 KiB) at once, so an answer of any
    size is sent PDU by PDU as it is produced.
    """
    fixed = len(header.encode()) + 3 + algorithm.digest_size
    tail = sum(map(len, trailer))
    budget = tlv.MAX_TLV16_LENGTH - fixed
    chunk: list[bytes] = []
    used = 0
    for payload in payloads:
        if len(payload) > budget - tail:
            raise ValueError(f"a payload of {len(payload)} bytes does not fit one PDU")
        if used + len(payload) > budget:
            yield seal(pdu_type, header, chunk, key, algorithm)
            chunk, used = [], 0
        chunk.append(payload)
        used += len(payload)
    if used + tail > budget:
        yield seal(pdu_type, header, chunk, key, algorithm)
        chunk = []
    yield seal(pdu_type, header, [*chunk, *trailer], key, algorithm)


def iter_sealed(
    pdu_type: int,
    header: Header,
    payloads: Iterable[Sequence[bytes]],
    *,
    trailer: Sequence[bytes],
    key: bytes,
    algorithm: HashAlgorithm,
) -> Iterator[bytes]:
    """:func:`iter_responses` for payloads given as their parts (:func:`success_parts`).

    The same PDUs, byte for byte, made with one join and one HMAC call per
    PDU (no payload is joined on its own): the service seals a round's
    answers with it right after the round is durable.
    """
    if not algorithm.trusted:
        raise ValueError(f"{algorithm.ksi_name} is not trusted for new HMACs")
    digest_size = algorithm.digest_size
    head = header.encode()
    # the HMAC element's header and algorithm byte; its digest is appended last
    mac = bytes((0x1F, digest_size + 1, algorithm.id))
    fixed = len(head) + 3 + digest_size
    tail = sum(map(len, trailer))
    budget = tlv.MAX_TLV16_LENGTH - fixed
    parts: list[bytes] = []
    used = 0

    def sealed(parts: list[bytes], used: int) -> bytes:
        size = fixed + used
        unsigned = b"".join(
            [
                bytes((0x80 | (pdu_type >> 8), pdu_type & 0xFF, size >> 8, size & 0xFF)),
                head,
                *parts,
                mac,
            ]
        )
        return unsigned + compute_hmac(algorithm, key, unsigned)

    for payload in payloads:
        n = sum(map(len, payload))
        if n > budget - tail:
            raise ValueError(f"a payload of {n} bytes does not fit one PDU")
        if used + n > budget:
            yield sealed(parts, used)
            parts, used = [], 0
        parts += payload
        used += n
    if used + tail > budget:
        yield sealed(parts, used)
        parts, used = [], 0
    yield sealed([*parts, *trailer], used + tail)


def request_head(request_id: int) -> bytes:
    """The first elements of a successful aggregation payload: request id, status 0."""
    return tlv.encode(0x01, tlv.encode_uint(request_id)) + _OK_STATUS


def success_parts(head: bytes, chain: bytes, shared: bytes) -> tuple[bytes, ...]:
    """:func:`success_payload` as parts for :func:`iter_sealed` (``head``: :func:`request_head`).

    The payload's own header and ``head`` are one part; ``chain`` and
    ``shared`` are passed on as they are (not copied).
    """
    n = len(head) + len(chain) + len(shared)
    if tlv.MAX_TLV8_LENGTH < n <= tlv.MAX_TLV16_LENGTH:
        return (_PAYLOAD_HEADER + n.to_bytes(2, "big") + head, chain, shared)
    return (tlv.encode(0x02, b"".join((head, chain, shared))),)


def success_payload(request_id: int, *items: bytes) -> bytes:
    """An aggregation response payload with status 0 and the signature ``items``.

    The items (a chain, then the round's shared calendar chain and auth
    record) are joined once, straight into the payload element.
    """
    head = tlv.encode(0x01, tlv.encode_uint(request_id)) + _OK_STATUS
    n = len(head) + sum(map(len, items))
    if tlv.MAX_TLV8_LENGTH < n <= tlv.MAX_TLV16_LENGTH:
        return b"".join((_PAYLOAD_HEADER, n.to_bytes(2, "big"), head, *items))
    return tlv.encode(0x02, b"".join((head, *items)))


#: The first two header bytes of a TLV16 payload element (type 0x02).
_PAYLOAD_HEADER = tlv.encode(0x02, bytes(tlv.MAX_TLV8_LENGTH + 1))[:2]


def write_slices(made: bytes) -> Iterator[memoryview | bytes]:
    """``made`` in pieces of :data:`WRITE_SLICE` bytes (itself when it is no larger)."""
    if len(made) <= WRITE_SLICE:
        yield made
        return
    view = memoryview(made)
    for start in range(0, len(made), WRITE_SLICE):
        yield view[start : start + WRITE_SLICE]

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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from jura_trust.core import tlv
from jura_trust.core.hashing import HashAlgorithm
from jura_trust.pdu import Header, seal_pdu

__all__ = ["iter_responses", "seal", "seal_responses", "success_payload"]

_OK_STATUS = tlv.encode(0x04, b"")


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

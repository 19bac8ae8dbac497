"""The service's response PDUs are byte for byte what jura_trust.pdu's encoders write."""

from __future__ import annotations

import pytest

from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.pdu import (
    AGGREGATION_RESPONSE_PDU_TYPE,
    EXTEND_RESPONSE_PDU_TYPE,
    MAX_PDU_SIZE,
    AggregationResponse,
    AggregationResponsePDU,
    AggregatorConfig,
    ErrorPayload,
    ExtendResponse,
    Header,
    encode_aggregation_response,
    encode_extend_response,
    parse_pdu,
    verify_hmac,
)
from jura_trust.service._wire import (
    iter_sealed,
    request_head,
    seal_responses,
    success_parts,
    success_payload,
)

KEY = b"k"


def a_round(n: int):
    backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
    requests = [RoundRequest(Imprint.hash(b"%d" % i), i % 3, f"login{i % 2}") for i in range(n)]
    return backend.aggregate(requests)


def test_success_payloads_match_the_pdu_encoder():
    rnd = a_round(5)
    shared = rnd.calendar_chain.encode() + rnd.calendar_auth_record.encode()
    chains = rnd.encoded_aggregation_chains()
    header = Header("alice", 7, 9)
    for alg in (HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_512):
        mine = seal_responses(
            AGGREGATION_RESPONSE_PDU_TYPE,
            header,
            [success_payload(i + 1, chains[i] + shared) for i in range(5)],
            trailer=[AggregatorConfig(max_level=3).encode()],
            key=KEY,
            algorithm=alg,
        )
        theirs = encode_aggregation_response(
            [
                AggregationResponse(
                    i + 1,
                    aggregation_chains=(rnd.aggregation_chain(i),),
                    calendar_chain=rnd.calendar_chain,
                    calendar_auth_record=rnd.calendar_auth_record,
                )
                for i in range(5)
            ],
            login_id="alice",
            key=KEY,
            algorithm=alg,
            instance_id=7,
            message_id=9,
            config=AggregatorConfig(max_level=3),
        )
        assert mine == [theirs]


def test_extend_and_error_answers_match_the_pdu_encoder():
    rnd = a_round(2)
    responses = [
        ExtendResponse(1, 0, calendar_last_time=5, calendar_chain=rnd.calendar_chain),
        ExtendResponse(2, 0x104, "bad range"),
    ]
    header = Header("bob")
    mine = seal_responses(
        EXTEND_RESPONSE_PDU_TYPE,
        header,
        [r.encode() for r in responses],
        trailer=[],
        key=KEY,
        algorithm=HashAlgorithm.SHA2_256,
    )
    assert mine == [encode_extend_response(responses, login_id="bob", key=KEY)]
    error = ErrorPayload(0x106, "rate limit exceeded")
    mine = seal_responses(
        AGGREGATION_RESPONSE_PDU_TYPE,
        header,
        [],
        trailer=[error.encode()],
        key=KEY,
        algorithm=HashAlgorithm.SHA2_256,
    )
    assert mine == [encode_aggregation_response([], login_id="bob", key=KEY, error=error)]


def test_many_answers_are_split_over_pdus_that_fit():
    rnd = a_round(120)
    shared = rnd.calendar_chain.encode() + rnd.calendar_auth_record.encode()
    chains = rnd.encoded_aggregation_chains()
    payloads = [success_payload(i, chains[i] + shared) for i in range(120)]
    pdus = seal_responses(
        AGGREGATION_RESPONSE_PDU_TYPE,
        Header("alice"),
        payloads,
        trailer=[AggregatorConfig(max_level=3).encode()],
        key=KEY,
        algorithm=HashAlgorithm.SHA2_256,
    )
    assert len(pdus) > 1
    ids = []
    for data in pdus:
        assert len(data) <= MAX_PDU_SIZE
        pdu = parse_pdu(data)
        assert isinstance(pdu, AggregationResponsePDU)
        verify_hmac(pdu, KEY)
        ids += [r.request_id for r in pdu.responses]
    assert ids == list(range(120))
    assert parse_pdu(pdus[-1]).config is not None  # type: ignore[union-attr]


def test_answers_sealed_from_parts_are_the_same_pdus_byte_for_byte():
    rnd = a_round(130)
    shared = rnd.calendar_chain.encode() + rnd.calendar_auth_record.encode()
    chains = rnd.encoded_aggregation_chains()
    refused = AggregationResponse(7, 0x101, "refused").encode()
    header = Header("alice", 3, 4)
    cases = [
        # one PDU, several PDUs with a trailer, a trailer alone, a short payload (TLV8)
        ([success_payload(i, chains[i], shared) for i in range(3)], [], 3),
        ([success_payload(i, chains[i], shared) for i in range(130)], [b"\x05\x00"], 130),
        ([], [ErrorPayload(0x106, "rate limit exceeded").encode()], 0),
        ([success_payload(9, b"\x88\x01\x01\x00")], [], -1),
    ]
    for payloads, trailer, n in cases:
        if n >= 0:
            parts = [success_parts(request_head(i), chains[i], shared) for i in range(n)]
        else:
            parts = [success_parts(request_head(9), b"\x88\x01\x01\x00", b"")]
        parts.insert(0, (refused,))
        for alg in (HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_512):
            expected = seal_responses(
                AGGREGATION_RESPONSE_PDU_TYPE,
                header,
                [refused, *payloads],
                trailer=trailer,
                key=KEY,
                algorithm=alg,
            )
            got = list(
                iter_sealed(
                    AGGREGATION_RESPONSE_PDU_TYPE,
                    header,
                    parts,
                    trailer=trailer,
                    key=KEY,
                    algorithm=alg,
                )
            )
            assert got == expected
    with pytest.raises(ValueError, match="not trusted"):
        next(
            iter_sealed(
                AGGREGATION_RESPONSE_PDU_TYPE,
                header,
                [],
                trailer=[],
                key=KEY,
                algorithm=HashAlgorithm.SHA1,
            )
        )

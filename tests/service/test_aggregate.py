"""The embedded backend's round API, which the service's round loop runs on."""

from __future__ import annotations

import pytest

from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.errors import BackendError, ErrorCode, Outcome
from jura_trust.verify import verify_signature


@pytest.fixture
def backend():
    b = EmbeddedBackend(clock=ManualClock(1_700_000_000))
    yield b
    b.close()


def test_aggregate_records_each_login_and_honours_levels(backend: EmbeddedBackend):
    requests = [
        RoundRequest(Imprint.hash(b"%d" % i), level=i % 4, client_id=f"login-{i % 3}")
        for i in range(40)
    ]
    rnd = backend.aggregate(requests)
    pubfile = backend.trusted_publications_file()
    assert len(rnd) == 40
    for i, request in enumerate(requests):
        sig = rnd.signature(i)
        assert sig.issuer == (request.client_id,)
        assert sig.aggregation_time == rnd.aggregation_time
        result = verify_signature(
            sig,
            policy="key",
            document_hash=request.imprint,
            input_level=request.level,
            publications_file=pubfile,
        )
        assert result.outcome is Outcome.OK, (i, result)


def test_encoded_chains_equal_the_chain_objects(backend: EmbeddedBackend):
    requests = [
        RoundRequest(
            Imprint.hash(
                b"%d" % i, HashAlgorithm.SHA2_512 if i % 5 == 0 else HashAlgorithm.SHA2_256
            ),
            level=i % 3 if i % 2 else 0,
            client_id="x" * (1 + i % 200),
        )
        for i in range(77)
    ]
    rnd = backend.aggregate(requests)
    encoded = rnd.encoded_aggregation_chains()
    assert encoded == [rnd.aggregation_chain(i).encode() for i in range(77)]


def test_default_client_id_and_sign_many_are_unchanged(backend: EmbeddedBackend):
    sigs = backend.sign_many([Imprint.hash(b"a"), Imprint.hash(b"b")])
    assert {s.issuer for s in sigs} == {(backend.client_id,)}
    receipt = backend.sign_round([Imprint.hash(b"c")])
    assert receipt.aggregation_time > sigs[0].aggregation_time


def test_pending_round_refuses_bad_requests_without_harm(backend: EmbeddedBackend):
    pending = backend.open_round()
    pending.add(RoundRequest(Imprint.hash(b"good")))
    with pytest.raises(ValueError, match="level"):
        pending.add(RoundRequest(Imprint.hash(b"x"), level=300))
    with pytest.raises(BackendError) as info:
        pending.add(RoundRequest(Imprint.hash(b"x", HashAlgorithm.SHA1)))
    assert info.value.code is ErrorCode.SVC_REFUSED
    assert len(pending) == 1
    rnd = backend.close_round(pending)
    assert len(rnd) == 1
    with pytest.raises(ValueError, match="closed"):
        pending.add(RoundRequest(Imprint.hash(b"late")))
    with pytest.raises(ValueError, match="empty"):
        backend.close_round(backend.open_round())


def test_rounds_take_successive_seconds_and_explicit_seconds_are_checked(backend: EmbeddedBackend):
    clock = backend.clock
    assert isinstance(clock, ManualClock)
    first = backend.aggregate([RoundRequest(Imprint.hash(b"1"))])
    second = backend.aggregate([RoundRequest(Imprint.hash(b"2"))])
    assert second.aggregation_time == first.aggregation_time + 1
    with pytest.raises(ValueError, match="future"):
        backend.aggregate([RoundRequest(Imprint.hash(b"3"))], second=int(clock.now()) + 10)
    with pytest.raises(BackendError) as info:
        backend.aggregate([RoundRequest(Imprint.hash(b"4"))], second=first.aggregation_time)
    assert info.value.code is ErrorCode.SVC_STORE
    clock.advance(100)
    at = backend.aggregate([RoundRequest(Imprint.hash(b"5"))], second=int(clock.now()) - 50)
    assert at.aggregation_time == int(clock.now()) - 50

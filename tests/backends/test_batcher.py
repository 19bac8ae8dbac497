"""The one round batcher shared by the embedded backend and the service's round loop."""

from __future__ import annotations

import threading

import pytest

from jura_trust.backends.base import ManualClock
from jura_trust.backends.batcher import RoundBatcher
from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode


def test_one_ticket_per_round_and_a_new_round_after_take() -> None:
    backend = EmbeddedBackend(clock=ManualClock())
    batcher = RoundBatcher(backend.open_round, backend.close_round)
    first, i0, opened0 = batcher.add(RoundRequest(Imprint.hash(b"a")))
    same, i1, opened1 = batcher.add(RoundRequest(Imprint.hash(b"b")))
    assert first is same and (i0, i1) == (0, 1) and (opened0, opened1) == (True, False)
    taken = batcher.take()
    assert taken is not None and batcher.pending == 0 and batcher.take() is None
    nxt, index, opened = batcher.add(RoundRequest(Imprint.hash(b"c")))
    assert nxt is not first and index == 0 and opened
    rnd = batcher.close(taken)
    assert first.result() is rnd and len(rnd) == 2


def test_a_round_that_could_not_be_committed_answers_every_request_with_its_error() -> None:
    backend = EmbeddedBackend(clock=ManualClock())

    def fail(pending: object) -> object:
        raise BackendError("the calendar is away", code=ErrorCode.SVC_STORE)

    batcher = RoundBatcher(backend.open_round, fail)
    tickets = [batcher.add(RoundRequest(Imprint.hash(b"%d" % i)))[0] for i in range(3)]
    taken = batcher.take()
    assert taken is not None
    with pytest.raises(BackendError):
        batcher.close(taken)
    for ticket in tickets:
        with pytest.raises(BackendError) as info:
            ticket.result(timeout=1)
        assert info.value.code is ErrorCode.SVC_STORE


def test_concurrent_signers_share_rounds_through_the_batcher() -> None:
    backend = EmbeddedBackend(round_ms=50)
    results: list[int] = []
    lock = threading.Lock()

    def sign(i: int) -> None:
        sig = backend.sign(Imprint.hash(b"doc %d" % i))
        with lock:
            results.append(sig.aggregation_time)

    threads = [threading.Thread(target=sign, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 12
    assert len(set(results)) < 12  # requests shared rounds

"""A round's answers are sealed on the writer thread before any of them is written (issue 10, item 3).

The defect: once a round closed, every HTTP handler woke and built its own
answer (payloads, PDUs, HMAC) on the event loop, one after another and
interleaved with admitting the next round's requests, so the last answers
of a round left 200-400 ms after its end (p99 1.14-1.23 s with 1-second
rounds). Now the writer thread seals every answer right after the round is
durable (while the clients wait and the machine is quiet), new requests
wait meanwhile (a bounded time), and the answers are written in one go,
each in one write. These tests hold the order of those steps, that nothing
is answered before the round is durable, that a sealed answer is byte for
byte what the PDU encoders make, and the fallbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import AggregationRound, EmbeddedBackend, RoundRequest
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.errors import ErrorCode, JuraError
from jura_trust.pdu import (
    AggregationRequest,
    AggregatorStatus,
    encode_aggregation_request,
    parse_pdus,
    verify_hmac,
)
from jura_trust.service import app as app_module
from jura_trust.service import rounds as rounds_module
from jura_trust.service._wire import WRITE_SLICE, write_slices
from jura_trust.service.app import ENDPOINTS, Service
from jura_trust.service.config import Login, ServiceConfig
from jura_trust.service.metrics import LATENCY_BUCKETS, Histogram, Metrics
from jura_trust.service.rounds import ClosedRound, RoundLoop
from tests.backends.store_contract import PHASES, STORE_KINDS, Faults

KEY = b"sealing-key"


def _loop_over(backend: EmbeddedBackend, writer: ThreadPoolExecutor, metrics: Metrics) -> RoundLoop:
    return RoundLoop(backend, round_ms=10, writer=writer, metrics=metrics)


@contextlib.contextmanager
def _backend_and_writer(**writer: str) -> Iterator[tuple[EmbeddedBackend, ThreadPoolExecutor]]:
    """An embedded backend and a one-thread round writer, both shut down afterwards."""
    backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
    pool = ThreadPoolExecutor(1, **writer)
    try:
        yield backend, pool
    finally:
        pool.shutdown(wait=True)
        backend.close()


@contextlib.asynccontextmanager
async def _running(loop: RoundLoop) -> AsyncIterator[None]:
    """``loop`` running for the block, cancelled after it."""
    task = asyncio.create_task(loop.run())
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_round_answers_are_made_on_the_writer_after_the_round_is_durable_before_any_waiter_wakes():
    seen: list[tuple[int, str, bool, int | None, int]] = []

    async def scenario(backend: EmbeddedBackend, writer: ThreadPoolExecutor) -> None:
        loop = _loop_over(backend, writer, Metrics())
        futures = []
        for i in range(3):
            future, _ = loop.add(RoundRequest(Imprint.hash(b"%d" % i)))
            futures.append(future)

            def make(closed: ClosedRound, i: int = i) -> None:
                seen.append(
                    (
                        i,
                        threading.current_thread().name,
                        futures[0].done(),
                        backend.calendar_head,
                        closed.round.aggregation_time,
                    )
                )

            loop.when_closed(make)
        async with _running(loop):
            closed = await asyncio.wait_for(futures[0], 10)
            assert all(f is futures[0] for f in futures)  # one round
            assert len(closed.chains) == 3

    with _backend_and_writer(thread_name_prefix="jura-trust-round") as (backend, writer):
        asyncio.run(scenario(backend, writer))
    assert [s[0] for s in seen] == [0, 1, 2]  # in the order they were registered
    for _, thread, answered, head, second in seen:
        assert thread.startswith("jura-trust-round")
        assert not answered  # no waiter has its round yet
        assert head == second  # the round is in the calendar: durable


def test_each_answer_is_handed_over_as_soon_as_it_is_made_while_the_next_are_made():
    """The answers of a round leave one by one: the first while the writer seals the next."""
    second_started = threading.Event()
    release = threading.Event()

    def slow(closed: ClosedRound) -> None:
        second_started.set()
        release.wait(10)

    async def scenario(backend: EmbeddedBackend, writer: ThreadPoolExecutor) -> None:
        loop = _loop_over(backend, writer, Metrics())
        future, _ = loop.add(RoundRequest(Imprint.hash(b"a")))
        first = loop.when_closed(lambda closed: None)
        loop.add(RoundRequest(Imprint.hash(b"b")))
        second = loop.when_closed(slow)
        async with _running(loop):
            try:
                # handed over while the second cannot be finished (it waits for release)
                await asyncio.wait_for(first, 10)
                while not second_started.is_set():
                    await asyncio.sleep(0.005)
                assert not second.done()
                assert not future.done()  # the round's future: once every answer is made
                assert backend.calendar_head is not None  # and its data durable before
                release.set()
                await asyncio.wait_for(second, 10)
                closed = await asyncio.wait_for(future, 10)
                assert len(closed.chains) == 2
            finally:
                release.set()

    with _backend_and_writer() as (backend, writer):
        asyncio.run(scenario(backend, writer))


def test_a_failing_answer_maker_leaves_the_round_and_the_other_makers_alone():
    ran: list[int] = []

    def broken(closed: ClosedRound) -> None:
        raise RuntimeError("a bug in one answer")

    async def scenario(backend: EmbeddedBackend, writer: ThreadPoolExecutor) -> None:
        loop = _loop_over(backend, writer, Metrics())
        future, _ = loop.add(RoundRequest(Imprint.hash(b"a")))
        loop.when_closed(broken)
        loop.add(RoundRequest(Imprint.hash(b"b")))
        loop.when_closed(lambda closed: ran.append(len(closed.chains)))
        async with _running(loop):
            closed = await asyncio.wait_for(future, 10)
            assert closed.round.signature(0).document_hash == Imprint.hash(b"a")
            assert loop.last_error is None

    with _backend_and_writer() as (backend, writer):
        asyncio.run(scenario(backend, writer))
    assert ran == [2]


def test_no_answer_is_made_for_a_round_that_was_not_committed(monkeypatch):
    ran: list[object] = []

    def refuse(pending: object) -> None:
        raise JuraError("the store is gone", code=ErrorCode.SVC_STORE)

    async def scenario(backend: EmbeddedBackend, writer: ThreadPoolExecutor) -> None:
        loop = _loop_over(backend, writer, Metrics())
        future, _ = loop.add(RoundRequest(Imprint.hash(b"a")))
        loop.when_closed(ran.append)
        async with _running(loop):
            with pytest.raises(JuraError):
                await asyncio.wait_for(future, 10)
            await asyncio.wait_for(loop.admissions(), 1)  # not held after a failure

    with _backend_and_writer() as (backend, writer):
        monkeypatch.setattr(backend, "close_round", refuse)
        asyncio.run(scenario(backend, writer))
    assert ran == []


def test_new_requests_wait_while_a_round_answers_are_made_and_not_longer_than_the_hold(
    monkeypatch,
):
    release = threading.Event()
    making = threading.Event()

    def slow(closed: ClosedRound) -> None:
        making.set()
        release.wait(10)

    async def scenario(backend: EmbeddedBackend, writer: ThreadPoolExecutor) -> None:
        loop = _loop_over(backend, writer, Metrics())
        await asyncio.wait_for(loop.admissions(), 1)  # nothing closing: at once
        future, _ = loop.add(RoundRequest(Imprint.hash(b"a")))
        loop.when_closed(slow)
        async with _running(loop):
            try:
                while not making.is_set():
                    await asyncio.sleep(0.005)
                waiting = asyncio.create_task(loop.admissions())
                await asyncio.sleep(0.1)
                assert not waiting.done()  # held while the answers are made
                release.set()
                await asyncio.wait_for(waiting, 5)
                await asyncio.wait_for(future, 5)

                # a maker that takes too long holds new requests for the hold at most
                monkeypatch.setattr(rounds_module, "ADMISSION_HOLD_S", 0.05)
                release.clear()
                making.clear()
                loop.add(RoundRequest(Imprint.hash(b"b")))
                loop.when_closed(slow)
                while not making.is_set():
                    await asyncio.sleep(0.005)
                started = time.monotonic()
                await asyncio.wait_for(loop.admissions(), 5)
                assert time.monotonic() - started < 2
            finally:
                release.set()

    with _backend_and_writer() as (backend, writer):
        asyncio.run(scenario(backend, writer))


def _request_body(n: int, *, level: int = 0, message_id: int = 1) -> bytes:
    requests = [
        AggregationRequest(100 + i, Imprint.hash(b"doc %d %d" % (message_id, i)), level)
        for i in range(n)
    ]
    return encode_aggregation_request(
        requests, login_id="alice", key=KEY, instance_id=1, message_id=message_id
    )


def _answers(tmp_path: Path, bodies: list[bytes]) -> tuple[list[bytes], list[bool], Metrics]:
    """Each body's answer (its bytes), whether it was sealed ahead, and the metrics."""
    config = ServiceConfig(home=tmp_path, round_ms=1000, logins=(Login("alice", KEY),))

    async def scenario() -> tuple[list[bytes], list[bool], Metrics]:
        backend = EmbeddedBackend(tmp_path / "state", clock=ManualClock(1_700_000_000))
        service = Service(config, backend=backend, announce=lambda line: None)
        service.start()
        try:
            answers = await asyncio.wait_for(
                asyncio.gather(
                    *(service.answer(ENDPOINTS["aggregator"], body, time.time()) for body in bodies)
                ),
                30,
            )
            sealed = [answer.made() is not None for answer in answers]
            out = [await answer.body() for answer in answers]
            return out, sealed, service.metrics
        finally:
            await service.stop()

    return asyncio.run(scenario())


def test_sealed_answers_are_the_answers_made_as_they_are_written(tmp_path, monkeypatch):
    bodies = [_request_body(3, message_id=1), _request_body(150, level=2, message_id=2)]
    sealed_answers, sealed, metrics = _answers(tmp_path / "sealed", bodies)
    assert sealed == [True, True]
    assert metrics.answer_written.count == 2
    assert metrics.answer_after_round.count == 2
    assert metrics.payloads[("aggregator", 0)] == 153

    # nothing sealed ahead (over the per-round budget): made PDU by PDU as written
    monkeypatch.setattr(app_module, "SEALED_BYTES_PER_ROUND", 0)
    lazy_answers, sealed, _ = _answers(tmp_path / "lazy", bodies)
    assert sealed == [False, False]

    for mine, theirs in zip(sealed_answers, lazy_answers, strict=True):
        a, b = parse_pdus(mine), parse_pdus(theirs)
        assert len(a) == len(b)
        for pdu_a, pdu_b in zip(a, b, strict=True):
            verify_hmac(pdu_a, KEY, algorithm=HashAlgorithm.SHA2_256)
            assert [p.request_id for p in pdu_a.responses] == [
                p.request_id for p in pdu_b.responses
            ]
            assert all(p.status == 0 for p in pdu_a.responses)
    assert len(parse_pdus(sealed_answers[1])) > 1  # 150 answers do not fit one PDU


def _sealing_service(tmp_path: Path) -> tuple[Service, EmbeddedBackend]:
    config = ServiceConfig(home=tmp_path, round_ms=1000, logins=(Login("alice", KEY),))
    backend = EmbeddedBackend(tmp_path / "state", clock=ManualClock(1_700_000_000))
    return Service(config, backend=backend, announce=lambda line: None), backend


def _plan_for(service: Service, request_id: int) -> app_module._Plan:
    """A plan of one admitted request (its slot at leaf 0 of a round), as _admit makes it."""
    login = service.config.logins[0]
    slot = app_module._Slot(request_id, 0, future=object(), index=0)  # type: ignore[arg-type]
    slot.head = app_module.request_head(request_id)
    return app_module._Plan(
        response_type=ENDPOINTS["aggregator"].response_type,
        login=login,
        header=app_module.Header(login.name, 1, request_id),
        algorithm=HashAlgorithm.SHA2_256,
        slots=[slot],
    )


def test_sealing_budget_is_per_round_even_when_a_freed_round_address_is_reused(
    tmp_path, monkeypatch
):
    """The defect: the bytes sealed ahead were counted under ``id(closed)``.

    CPython reuses the address of a freed object for the next one of its
    size, so a new round could inherit the previous round's count: the
    budget became cumulative across rounds and, under steady load, no
    answer was sealed ahead any more (every answer made on the event loop
    again, the latency the sealing exists to remove).
    """
    service, backend = _sealing_service(tmp_path)
    try:
        rnd = backend.aggregate([RoundRequest(Imprint.hash(b"leaf"), 0, "alice")])
        chains = list(rnd.iter_encoded_aggregation_chains())
        shared = rnd.shared_elements()

        probe = _plan_for(service, 1)
        service._seal(probe, ClosedRound(rnd, chains, shared))
        assert probe.sealed is not None
        one = sum(map(len, probe.sealed))
        # the budget holds exactly one such answer per round
        monkeypatch.setattr(app_module, "SEALED_BYTES_PER_ROUND", one)

        reused = 0
        for i in range(20):
            closed = ClosedRound(rnd, chains, shared)
            address = id(closed)
            first, second = _plan_for(service, 10 + 2 * i), _plan_for(service, 11 + 2 * i)
            service._seal(first, closed)
            service._seal(second, closed)
            assert first.sealed is not None, f"round {i}: its first answer was not sealed"
            assert second.sealed is None  # over this round's budget: made as it is written
            del closed
            following = ClosedRound(rnd, chains, shared)
            reused += id(following) == address
            del following
        assert reused  # the address was reused: the case the defect needed
    finally:
        backend.close()


def _serve(
    tmp_path: Path,
    bodies: list[bytes],
    prepare: object = None,
    logins: tuple[Login, ...] = (Login("alice", KEY),),
) -> list[tuple[bool, bytes]]:
    """Each body's answer: (whether it was sealed ahead, its bytes); ``prepare(service)`` first."""
    config = ServiceConfig(home=tmp_path, round_ms=1000, logins=logins)

    async def scenario() -> list[tuple[bool, bytes]]:
        backend = EmbeddedBackend(tmp_path / "state", clock=ManualClock(1_700_000_000))
        service = Service(config, backend=backend, announce=lambda line: None)
        if callable(prepare):
            prepare(service)
        service.start()
        try:
            answers = await asyncio.wait_for(
                asyncio.gather(
                    *(service.answer(ENDPOINTS["aggregator"], body, time.time()) for body in bodies)
                ),
                30,
            )
            return [(answer.made() is not None, await answer.body()) for answer in answers]
        finally:
            await service.stop()

    return asyncio.run(scenario())


def _responses(answer: bytes) -> list[tuple[int, int, int]]:
    """(request id, status, number of aggregation chains) of every payload, HMACs checked."""
    out = []
    for pdu in parse_pdus(answer):
        verify_hmac(pdu, KEY, algorithm=HashAlgorithm.SHA2_256)
        out += [(r.request_id, r.status, len(r.aggregation_chains)) for r in pdu.responses]
    return out


def test_a_failing_answer_maker_loses_no_acknowledged_request(tmp_path, monkeypatch):
    """An exception while sealing ahead: the answers are made as they are written instead."""

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug while sealing")

    monkeypatch.setattr(app_module, "iter_sealed", broken)
    bodies = [_request_body(3, message_id=1), _request_body(2, level=1, message_id=2)]
    (sealed_a, a), (sealed_b, b) = _serve(tmp_path, bodies)
    assert (sealed_a, sealed_b) == (False, False)
    assert _responses(a) == [(100, 0, 1), (101, 0, 1), (102, 0, 1)]
    assert _responses(b) == [(100, 0, 1), (101, 0, 1)]


def test_a_round_reported_failed_after_its_answers_were_sealed_answers_no_signature(
    tmp_path,
):
    """The defect: a close that raised *after* the answer makers ran (here: the metrics).

    The round's waiters were told it failed (``last_error``, a round
    failure counted, INTERNAL_ERROR payloads made), yet the answers sealed
    ahead still went out, with signatures: a failed round must never be
    answered with a signature (the store-fault contract of issue 9).

    Since each answer leaves as soon as it is sealed, a round is *decided*
    before its makers run (durable, every chain encoded) and nothing after
    that reports it failed: a fault in the bookkeeping that follows is
    logged. What the client is told and what the service reports agree.
    """

    class Broken(Histogram):
        def observe(self, value: float) -> None:
            raise RuntimeError("after the makers")

    seen: list[Service] = []

    def prepare(service: Service) -> None:
        service.metrics.answers_made = Broken(LATENCY_BUCKETS)
        seen.append(service)

    ((sealed, answer),) = _serve(tmp_path, [_request_body(3)], prepare)
    assert sealed
    assert _responses(answer) == [(r, 0, 1) for r in (100, 101, 102)]
    (service,) = seen
    assert service.rounds.last_error is None
    assert service.metrics.round_failures == 0


def test_a_round_failing_after_its_commit_before_it_is_decided_seals_nothing(tmp_path, monkeypatch):
    """The round is durable but its chains cannot be made: no maker runs, no signature leaves."""
    made: list[object] = []
    seal = Service._seal

    def counted(self: Service, plan: object, closed: ClosedRound) -> None:
        made.append(plan)
        seal(self, plan, closed)  # type: ignore[arg-type]

    def broken(self: object) -> object:
        yield b""  # one chain made, then the fault
        raise RuntimeError("a chain could not be encoded")

    monkeypatch.setattr(Service, "_seal", counted)
    monkeypatch.setattr(AggregationRound, "iter_encoded_aggregation_chains", broken)
    seen: list[Service] = []
    ((sealed, answer),) = _serve(tmp_path, [_request_body(3)], seen.append)
    assert not sealed
    assert made == []
    assert _responses(answer) == [(r, AggregatorStatus.INTERNAL_ERROR, 0) for r in (100, 101, 102)]
    assert seen[0].rounds.last_error is not None
    assert seen[0].metrics.round_failures == 1


@pytest.mark.parametrize("phase", PHASES)
def test_a_round_whose_durable_write_fails_releases_no_sealed_answer(tmp_path, monkeypatch, phase):
    """The store fails its append (before or after the data reached it): nothing is sealed.

    Answers are sealed and released one by one after the round is decided,
    never while its data is being made durable: a round whose write fails
    answers every request with an error and none with a signature.
    """
    made: list[object] = []
    seal = Service._seal

    def counted(self: Service, plan: object, closed: ClosedRound) -> None:
        made.append(plan)
        seal(self, plan, closed)  # type: ignore[arg-type]

    monkeypatch.setattr(Service, "_seal", counted)
    kind = STORE_KINDS["sqlite"](tmp_path)
    faults = Faults()
    config = ServiceConfig(home=tmp_path, round_ms=1000, logins=(Login("alice", KEY),))

    async def scenario() -> list[tuple[bool, bytes]]:
        backend = EmbeddedBackend(clock=ManualClock(1_700_000_000), store=kind.open(faults))
        service = Service(config, backend=backend, announce=lambda line: None)
        service.start()
        try:
            faults.arm(kind.points[-1], phase)  # the commit: the durable write
            failed = await asyncio.wait_for(
                service.answer(ENDPOINTS["aggregator"], _request_body(3), time.time()), 30
            )
            first = (failed.made() is not None, await failed.body())
            answered = await asyncio.wait_for(
                service.answer(
                    ENDPOINTS["aggregator"], _request_body(2, message_id=2), time.time()
                ),
                30,
            )
            return [first, (answered.made() is not None, await answered.body())]
        finally:
            await service.stop()

    (sealed, failed), (sealed_next, answered) = asyncio.run(scenario())
    assert not sealed
    assert _responses(failed) == [(r, AggregatorStatus.INTERNAL_ERROR, 0) for r in (100, 101, 102)]
    assert len(made) == 1  # only the next round's answer was sealed
    assert sealed_next
    assert _responses(answered) == [(100, 0, 1), (101, 0, 1)]


def test_a_slow_reader_holds_its_sealed_answer_once(tmp_path):
    """The defect: a made answer lived twice (or three times) while a slow client read it.

    The plans kept their sealed PDUs after :meth:`Answer.made` had joined
    them, and the joined bytes went to the transport whole (a third copy in
    its buffer): a client that does not read held about 4.3 KB per answer
    of 1.4 KB (tracemalloc, 64,000 answers on 4 sockets never read), over
    the 4 KiB per answer in flight of the documented memory bound. Now the
    PDUs move into the joined bytes and transports take them in slices.
    """
    config = ServiceConfig(home=tmp_path, round_ms=1000, logins=(Login("alice", KEY),))

    async def scenario() -> None:
        backend = EmbeddedBackend(tmp_path / "state", clock=ManualClock(1_700_000_000))
        service = Service(config, backend=backend, announce=lambda line: None)
        service.start()
        try:
            body = _request_body(150, message_id=1) + _request_body(3, message_id=2)
            answer = await asyncio.wait_for(
                service.answer(ENDPOINTS["aggregator"], body, time.time()), 30
            )
            made = answer.made()
            assert made is not None
            held = [pdu for plan in answer._plans for pdu in plan.sealed or ()]
            assert held == []  # moved into ``made``, not kept beside it
            assert answer.made() is made
            assert await answer.body() == made  # the same bytes, once
            assert len(_responses(made)) == 153
        finally:
            await service.stop()

    asyncio.run(scenario())


def test_write_slices_cut_a_made_answer_into_bounded_pieces_that_join_back():
    small = b"x" * 1000
    assert list(write_slices(small)) == [small]
    big = bytes(range(256)) * (3 * WRITE_SLICE // 256 + 7)
    pieces = list(write_slices(big))
    assert len(pieces) == 4
    assert all(len(p) <= WRITE_SLICE for p in pieces)
    assert b"".join(pieces) == big


@pytest.mark.parametrize("transport", ["http", "tcp"])
def test_a_sealed_answer_larger_than_a_slice_arrives_whole(tmp_path, transport):
    """Over both transports, an answer written in several slices is read back intact."""
    from aiohttp import web

    from jura_trust.backends.ksi_http import KsiHttpBackend
    from jura_trust.core.signature import Signature
    from jura_trust.service.tcp import TcpListener

    config = ServiceConfig(home=tmp_path, round_ms=1000, logins=(Login("alice", KEY),))
    imprints = [Imprint.hash(b"slice %d" % i) for i in range(400)]

    async def scenario() -> list[bytes]:
        backend = EmbeddedBackend(tmp_path / "state")
        service = Service(config, backend=backend, announce=lambda line: None)
        runner = web.AppRunner(service.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        tcp = TcpListener(service)
        tcp_port = await tcp.start("127.0.0.1", 0)
        service.start()
        if transport == "http":
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/aggregator"
        else:
            url = f"ksi+tcp://127.0.0.1:{tcp_port}"
        client = KsiHttpBackend(url, login="alice", key=KEY, timeout=20.0)
        try:
            return await asyncio.wait_for(asyncio.to_thread(client.sign_many_encoded, imprints), 40)
        finally:
            client.close()
            await tcp.stop()
            await runner.cleanup()
            await service.stop()

    signatures = asyncio.run(scenario())
    assert len(signatures) == len(imprints)
    assert sum(map(len, signatures)) > WRITE_SLICE
    for imprint, encoded in zip(imprints, signatures, strict=True):
        assert Signature.from_bytes(encoded).document_hash == imprint


def test_sealed_answers_of_one_round_go_to_their_own_login_key_and_request(tmp_path):
    """Answers sealed ahead for several logins in one round: each one's key, ids and hashes.

    Two logins with different keys send interleaved bodies (levels 0 and
    3) into the same round; every answer is sealed on the writer thread.
    Each answer must carry its own login in the header, verify with its own
    key only, answer its own request ids in order, and each signature must
    be for the hash that request sent, at its level (no slot or key mixed
    up when sealing ahead).
    """
    keys = {"alice": b"alice-key", "bob": b"bob-key"}
    sent: list[tuple[str, int, list[AggregationRequest]]] = []
    bodies = []
    for n in range(6):
        login = "alice" if n % 2 == 0 else "bob"
        level = 3 if n % 3 == 0 else 0
        requests = [
            AggregationRequest(
                1000 * n + i, Imprint.hash(b"%s %d %d" % (login.encode(), n, i)), level
            )
            for i in range(5 + n)
        ]
        sent.append((login, level, requests))
        bodies.append(
            encode_aggregation_request(
                requests, login_id=login, key=keys[login], instance_id=7, message_id=n + 1
            )
        )

    results = _serve(tmp_path, bodies, logins=tuple(Login(name, key) for name, key in keys.items()))
    rounds = set()
    for (login, level, requests), (sealed, answer) in zip(sent, results, strict=True):
        assert sealed
        other = "bob" if login == "alice" else "alice"
        got = []
        for pdu in parse_pdus(answer):
            assert pdu.header.login_id == login
            verify_hmac(pdu, keys[login], algorithm=HashAlgorithm.SHA2_256)
            with pytest.raises(JuraError):
                verify_hmac(pdu, keys[other], algorithm=HashAlgorithm.SHA2_256)
            got += pdu.responses
        assert [r.request_id for r in got] == [r.request_id for r in requests]
        for request, response in zip(requests, got, strict=True):
            assert response.status == 0
            signature = response.signature(level)
            assert signature.document_hash == request.request_hash
            assert signature.aggregation_chains[0].links[0].level_correction >= level
            rounds.add(signature.aggregation_time)
    assert len(rounds) == 1  # all in one round, sealed together


def test_shutdown_while_a_round_answers_are_sealed_loses_no_answer(tmp_path, monkeypatch):
    """``stop()`` while the writer is sealing: the round completes, its answers are written."""
    config = ServiceConfig(home=tmp_path, round_ms=1000, logins=(Login("alice", KEY),))
    sealing = threading.Event()
    release = threading.Event()
    seal = Service._seal

    def slow_seal(self: Service, plan: object, closed: ClosedRound) -> None:
        sealing.set()
        release.wait(10)
        seal(self, plan, closed)  # type: ignore[arg-type]

    monkeypatch.setattr(Service, "_seal", slow_seal)

    async def scenario() -> tuple[bool, bytes]:
        backend = EmbeddedBackend(tmp_path / "state", clock=ManualClock(1_700_000_000))
        service = Service(config, backend=backend, announce=lambda line: None)
        service.start()
        pending = asyncio.create_task(
            service.answer(ENDPOINTS["aggregator"], _request_body(4), time.time())
        )
        while not sealing.is_set():
            await asyncio.sleep(0.01)
        threading.Timer(0.3, release.set).start()
        service.drain()
        await asyncio.wait_for(service.stop(), 20)  # waits for the writer: no deadlock
        answer = await asyncio.wait_for(pending, 10)
        return answer.made() is not None, await answer.body()

    sealed, answer = asyncio.run(scenario())
    assert sealed
    assert _responses(answer) == [(r, 0, 1) for r in (100, 101, 102, 103)]

"""Issue 15: admission (rates, fair share, answers in flight, replays) and fair turns, in process."""

from __future__ import annotations

import asyncio

from jura_trust.pdu import Header
from jura_trust.service.app import _Turns
from jura_trust.service.auth import Gate, Refusal, ReplayWindow
from jura_trust.service.config import Login


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def header(login: str, message: int | None, instance: int | None = 7) -> Header:
    return Header(login, instance, message)


def test_replay_window_refuses_repeats_until_they_expire():
    window = ReplayWindow(10.0, 3)
    window.add(1, 0.0)
    assert window.seen(1, 5.0)
    assert not window.seen(2, 5.0)
    window.add(2, 6.0)
    window.add(3, 7.0)
    assert window.full(8.0)  # three within the window: no room, nothing forgotten early
    assert not window.seen(1, 10.0)  # expired
    assert not window.full(10.0)
    assert window.seen(2, 15.9)
    assert not window.seen(2, 16.0)


def test_gate_refuses_replays_without_taking_tokens():
    clock = Clock()
    alice = Login("alice", b"k", rate=1, burst=3)
    gate = Gate([alice], now=clock)
    assert gate.admit(alice, header("alice", 1), 1) is None
    for _ in range(5):
        assert gate.admit(alice, header("alice", 1), 1) is Refusal.REPLAY
    # the replays used none of alice's burst
    assert gate.admit(alice, header("alice", 2), 1) is None
    assert gate.admit(alice, header("alice", 3), 1) is None
    assert gate.admit(alice, header("alice", 4), 1) is Refusal.RATE
    # the same message id under another instance is another message
    clock.t += 1
    assert gate.admit(alice, header("alice", 1, instance=8), 1) is None


def test_gate_window_full_and_ids_required():
    clock = Clock()
    alice = Login("alice", b"k", rate=1000, burst=1000)
    gate = Gate([alice], replay_capacity=2, replay_window=5, now=clock)
    assert gate.admit(alice, header("alice", 1), 1) is None
    assert gate.admit(alice, header("alice", 2), 1) is None
    assert gate.admit(alice, header("alice", 3), 1) is Refusal.WINDOW_FULL
    clock.t += 5
    assert gate.admit(alice, header("alice", 3), 1) is None
    assert gate.admit(alice, header("alice", None, None), 1) is None  # not checkable
    strict = Gate([alice], require_message_ids=True, now=clock)
    assert strict.admit(alice, header("alice", None, None), 1) is Refusal.NO_IDS


def test_gate_caps_answers_in_flight_per_login_and_in_total():
    clock = Clock()
    a = Login("a", b"k", rate=1e6, burst=10**6, in_flight=2048)
    b = Login("b", b"k", rate=1e6, burst=10**6, in_flight=2048)
    gate = Gate([a, b], total_rate=1e6, total_burst=10**6, total_in_flight=3072, now=clock)
    assert gate.admit(a, header("a", 1), 1024) is None
    assert gate.admit(a, header("a", 2), 1024) is None
    assert gate.admit(a, header("a", 3), 1) is Refusal.IN_FLIGHT  # a's own cap
    assert gate.admit(b, header("b", 1), 1024) is None
    assert gate.admit(b, header("b", 2), 1) is Refusal.IN_FLIGHT  # the total cap
    gate.done(a, 1024)
    assert gate.admit(b, header("b", 3), 1000) is None
    assert gate.in_flight == {"a": 1024, "b": 2024}
    assert gate.in_flight_total == 3048


def test_gate_total_rate_keeps_a_fair_share_for_other_logins():
    clock = Clock()
    hog = Login("hog", b"k", rate=10_000, burst=10_000)
    quiet = Login("quiet", b"k", rate=10_000, burst=10_000)
    gate = Gate([hog, quiet], total_rate=1000, total_burst=1000, now=clock)
    assert gate.admit(quiet, header("quiet", 1), 1) is None
    message = 0
    taken = 0
    while True:
        message += 1
        if gate.admit(hog, header("hog", message), 50) is not None:
            break
        taken += 50
    # with the total bucket below half, the hog stops at its share (1000 / 2 logins)
    assert taken <= 550
    assert gate.admit(quiet, header("quiet", 2), 50) is None


def test_turns_go_round_robin_between_logins():
    order: list[str] = []

    async def scenario() -> None:
        turns = _Turns()

        async def work(who: str, n: int) -> None:
            async with turns.turn(who):
                order.append(f"{who}{n}")
                await asyncio.sleep(0)

        async with turns.turn("hog"):  # hold it while everybody queues
            tasks = [asyncio.create_task(work("hog", i)) for i in range(4)]
            await asyncio.sleep(0)
            tasks.append(asyncio.create_task(work("quiet", 0)))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    # the quiet login waits for one of the hog's turns, not for all four
    assert order.index("quiet0") == 1, order

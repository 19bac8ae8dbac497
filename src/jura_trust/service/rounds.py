"""The round loop: aggregation requests collected into one tree per round (layer 10).

Requests are added to the open round as they arrive (each becomes a tree
leaf with its login as metadata right away, on the event loop). Rounds close
on a fixed schedule, at the multiples of ``round_ms`` of the wall clock (as
KSI aggregators do: a round period and a drift of 0), so a client that sends
right after a round closed waits one round, and the work of closing is
hidden from clients that send right after their previous answer.

One calendar second per round: a round whose closing time falls in a second
that already has a round stays open (and keeps collecting) until the next
second starts (the configuration refuses rounds shorter than a second; the
loop itself takes any period, which tests use). A request waits at most one
``round_ms`` plus the closing work.

Closing a round (joining the tree, appending the root to the calendar store
with its fsync, signing the calendar head with RSA, encoding every
request's aggregation chain, then running the round's *answer makers*:
the service seals every answer there) runs on the single *writer* thread,
so the event loop never blocks on it. A request is answered only after its
round's calendar leaf is durable, and only once the round is *decided*
(durable and every chain encoded: it cannot fail any more). Each answer is
handed to its waiter as soon as it is made, and written by the event loop
while the writer makes the next ones. While the writer closes a round, new
requests wait (:meth:`RoundLoop.admissions`, bounded): they belong to the
next round anyway.

Collecting requests and settling a round's waiters is the one
:class:`~jura_trust.backends.batcher.RoundBatcher` (the embedded backend's
``round_ms`` batching uses it too); this module only decides *when* rounds
close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Final, TypeVar

import attrs

from jura_trust.backends.batcher import RoundBatcher
from jura_trust.backends.memory import (
    AggregationRound,
    EmbeddedBackend,
    PendingRound,
    RoundRequest,
)
from jura_trust.errors import ErrorCode, JuraError
from jura_trust.service.metrics import Metrics

__all__ = ["ROUND_FAILED", "ClosedRound", "RoundLoop", "sleep_until"]

#: The message of ``last_error`` (the details are logged, not exposed).
ROUND_FAILED: Final = "a round could not be closed; the details are in the service log"

_log = logging.getLogger("jura_trust.service")

_T = TypeVar("_T")

#: Longest a new request waits for a closing round's answers to be made
#: (a slow store must not hold admissions for long).
ADMISSION_HOLD_S: Final = 0.25


async def sleep_until(when: float, now: Callable[[], float] = time.time) -> None:
    """Sleep until the wall clock reaches ``when`` (Unix seconds)."""
    while (delay := when - now()) > 0:
        await asyncio.sleep(delay)


@attrs.frozen(slots=True, eq=False)
class ClosedRound:
    """A closed round with its answers pre-encoded.

    Attributes:
        round: the backend's round (time, root, chains, auth record).
        chains: each request's aggregation chain element (0x801), in the
            order requests were added.
        shared: the upper aggregation chains (if any), the calendar chain
            and calendar authentication record elements, the same for every
            request of the round.
        ended_at: when the round stopped collecting requests (Unix
            seconds); its answers' delay is measured from here.
    """

    round: AggregationRound
    chains: list[bytes] = attrs.field(repr=False)
    shared: bytes = attrs.field(repr=False)
    ended_at: float = 0.0


#: An answer maker and the future its waiter awaits (set once it ran).
_Maker = tuple[Callable[[ClosedRound], None], asyncio.Future[None]]


def _settle(made: asyncio.Future[None]) -> None:
    """Tell a maker's waiter that it ran (on the event loop)."""
    if not made.done():
        made.set_result(None)


def _make_answers(
    closed: ClosedRound, makers: list[_Maker], loop: asyncio.AbstractEventLoop | None
) -> None:
    """Run the answer makers of a closed round, in the order they were registered.

    Each maker's waiter is told as soon as it ran (its answer can be
    written while the next ones are made).
    """
    for make, made in makers:
        try:
            make(closed)
        except Exception:
            second = closed.round.aggregation_time
            _log.exception("an answer of round %d could not be made", second)
        finally:
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: no waiter
                    loop.call_soon_threadsafe(_settle, made)


class RoundLoop:
    """Collects aggregation requests and closes one round per tick.

    Args:
        backend: the embedded backend holding the calendar and the keys.
        round_ms: the round period in milliseconds.
        writer: the single-thread executor for calendar writes (rounds and
            publications are serialised on it).
        metrics: where rounds are counted.
        now: the wall clock (Unix seconds).
    """

    def __init__(
        self,
        backend: EmbeddedBackend,
        *,
        round_ms: int,
        writer: Executor,
        metrics: Metrics,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.round_ms = round_ms
        self._writer = writer
        self._metrics = metrics
        self._now = now
        self._batcher: RoundBatcher[ClosedRound] = RoundBatcher(
            backend.open_round, self._close_round
        )
        self._ticket: Future[ClosedRound] | None = None
        self._future: asyncio.Future[ClosedRound] | None = None
        self._wake = asyncio.Event()
        self._draining = False
        self._closing_at: float | None = None
        #: Clear while a round's answers are being made on the writer thread:
        #: new requests wait for it (see :meth:`admissions`).
        self._quiet = asyncio.Event()
        self._quiet.set()
        #: The open round's answer makers, in the order they were registered.
        self._makers: list[_Maker] = []
        #: What _close_round needs of the round being closed: when it stopped
        #: collecting, and its makers (set on the event loop before the
        #: round goes to the writer thread; rounds close one at a time).
        self._closing: tuple[float, list[_Maker]] = (0.0, [])
        #: The event loop the makers' waiters are on (set by when_closed).
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The last round failure, for ``/health`` (``None`` after a success):
        #: its error code and a generic message; the exception itself goes
        #: to the log only (its text may name files of the host).
        self.last_error: dict[str, str] | None = None

    @property
    def pending(self) -> int:
        """Requests waiting in the open round."""
        return self._batcher.pending

    def add(self, request: RoundRequest) -> tuple[asyncio.Future[ClosedRound], int]:
        """Add a request to the open round: its round's future and its index.

        Raises what :meth:`~jura_trust.backends.memory.PendingRound.add`
        raises for a request the backend refuses; the round is unaffected.
        """
        ticket, index, _ = self._batcher.add(request)
        if ticket is not self._ticket or self._future is None:
            # one asyncio future per round, wrapping the round's ticket
            self._ticket = ticket
            self._future = asyncio.wrap_future(ticket)
        self._wake.set()
        return self._future, index

    def when_closed(self, make: Callable[[ClosedRound], None]) -> asyncio.Future[None]:
        """Run ``make`` on the writer thread once the open round is decided.

        A round is decided when it is committed (its calendar leaf synced)
        and every chain is encoded: from then on it cannot fail. Makers run
        then, in the order they were registered, before the round's future
        is set: the service seals its answers there. The returned future is
        set on the event loop as soon as ``make`` ran, so its answer can be
        written while the next ones are made; it is also set (``make`` not
        run) when the round failed before it was decided, or when its close
        was abandoned (the loop stopped): the waiter then learns the outcome
        from the round's future. A maker that raises is logged; the round
        and the other makers are unaffected. Call it on the event loop right
        after :meth:`add` (with no ``await`` between), so that it belongs to
        the same round.
        """
        loop = self._loop = asyncio.get_running_loop()
        made: asyncio.Future[None] = loop.create_future()
        self._makers.append((make, made))
        return made

    async def admissions(self) -> None:
        """Wait while a closed round's answers are being made.

        Requests that arrive then belong to the next round anyway (it closes
        a round later); admitting them meanwhile would take the interpreter
        from the answers being made. They are admitted once the answers are
        made and handed to their waiters (the answers are written first),
        or after :data:`ADMISSION_HOLD_S` at most.
        """
        if not self._quiet.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ADMISSION_HOLD_S):
                    await self._quiet.wait()

    def _tick_after(self, t: float) -> float:
        period = self.round_ms / 1000.0
        return math.ceil(t / period) * period

    def next_close(self) -> float:
        """When the open round is expected to close (Unix seconds)."""
        if self._closing_at is not None:
            return self._closing_at
        target = self._tick_after(self._now())
        head = self.backend.calendar_head
        if head is not None and target < head + 1:
            target = max(self._tick_after(head + 1), head + 1)
        return target

    async def run_on_writer(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the writer thread (serialised with round closing)."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    async def run(self) -> None:
        """Close rounds forever (cancel the task to stop)."""
        while True:
            await self._wake.wait()
            if not self._draining:
                self._closing_at = self.next_close()
                await sleep_until(self._closing_at, self._now)
            await self._close_once()

    def _close_round(self, pending: PendingRound) -> ClosedRound:
        # On the writer thread; the bookkeeping is done before the round's
        # waiters learn the outcome.
        started = time.perf_counter()
        ended_at, makers = self._closing
        try:
            rnd = self.backend.close_round(pending)  # durable from here
            made = time.perf_counter()
            # One pass over the tree: every chain from the streamed paths.
            chains = list(rnd.iter_encoded_aggregation_chains())
            closed = ClosedRound(rnd, chains, rnd.shared_elements(), ended_at)
        except Exception as exc:
            self._metrics.round_failures += 1
            code = exc.code.value if isinstance(exc, JuraError) else ErrorCode.SVC_STORE.value
            self.last_error = {"code": code, "message": ROUND_FAILED}
            _log.exception("round of %d requests failed", len(pending))
            raise
        # Decided: durable, every chain encoded. Nothing below fails the
        # round: each answer made is handed to its waiter at once.
        self.last_error = None
        _make_answers(closed, makers, self._loop)
        try:
            self._metrics.answers_made.observe(time.perf_counter() - made)
            self._metrics.round_closed(len(closed.round), time.perf_counter() - started)
        except Exception:
            _log.exception("the metrics of round %d could not be kept", rnd.aggregation_time)
        return closed

    async def _close_once(self) -> None:
        taken = self._batcher.take()
        makers = self._makers
        self._closing = (self._now(), makers)
        self._makers = []
        self._wake.clear()
        self._closing_at = None
        if taken is None:
            return
        self._quiet.clear()
        try:
            # a failure is logged and answered to the round's requests
            with contextlib.suppress(Exception):
                await self.run_on_writer(lambda: self._batcher.close(taken))
        finally:
            for _, made in makers:  # not run (the round failed) or told already
                _settle(made)
            self._quiet.set()

    def drain(self) -> None:
        """Stop waiting for ticks: close open rounds as soon as they have requests."""
        self._draining = True
        self._wake.set()

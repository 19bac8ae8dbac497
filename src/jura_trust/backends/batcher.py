"""The round batcher: requests collected into one open round, closed as a whole (layer 9).

One :class:`RoundBatcher` serves every caller that batches requests into
rounds: :meth:`EmbeddedBackend.sign <jura_trust.backends.memory.EmbeddedBackend.sign>`
with ``round_ms`` (threads: the caller that opens a round waits ``round_ms``
and closes it) and the service's round loop (asyncio: rounds close on the
wall clock's ticks, on the writer thread). Only the *when* differs; what a
round is, how a request joins it, and how every waiter learns the outcome
are here, once.

Each round has one :class:`concurrent.futures.Future` (its *ticket*), set
when the round closes: to the close function's result, or to its
exception, so a round that could not be committed is answered with an
error, never a signature. Threads wait on the ticket; asyncio code wraps it
once per round (:func:`asyncio.wrap_future`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from jura_trust.backends.memory import PendingRound, RoundRequest

__all__ = ["RoundBatcher"]

_T = TypeVar("_T")


class RoundBatcher(Generic[_T]):
    """Collects requests into the open round; closes a taken round and settles its ticket.

    Args:
        open_round: a new, empty round (the aggregator's).
        close: turns a round into the result every request of it shares
            (an :class:`~jura_trust.backends.memory.AggregationRound`, or a
            service's pre-encoded answer); raises when the round fails.

    Thread-safe: any thread may :meth:`add`; :meth:`take` and :meth:`close`
    are called by whoever closes rounds.
    """

    def __init__(
        self,
        open_round: Callable[[], PendingRound],
        close: Callable[[PendingRound], _T],
    ) -> None:
        self._open_round = open_round
        self._close = close
        self._lock = threading.Lock()
        self._pending = open_round()
        self._ticket: Future[_T] | None = None

    @property
    def pending(self) -> int:
        """Requests waiting in the open round."""
        return len(self._pending)

    def add(self, request: RoundRequest) -> tuple[Future[_T], int, bool]:
        """Add ``request`` to the open round: ``(ticket, leaf index, opened)``.

        ``opened`` is true for the request that opened the round (a caller
        that closes rounds itself waits and closes it). Raises what
        :meth:`PendingRound.add` raises for a refused request; the round is
        unaffected.
        """
        with self._lock:
            index = self._pending.add(request)
            opened = self._ticket is None
            if opened:
                self._ticket = Future()
                self._ticket.set_running_or_notify_cancel()
            ticket = self._ticket
            assert ticket is not None
            return ticket, index, opened

    def take(self) -> tuple[PendingRound, Future[_T]] | None:
        """Take the open round for closing (``None`` when it is empty); open a new one."""
        with self._lock:
            pending, ticket = self._pending, self._ticket
            if ticket is None or not len(pending):
                return None
            self._pending = self._open_round()
            self._ticket = None
            return pending, ticket

    def close(self, taken: tuple[PendingRound, Future[_T]]) -> _T:
        """Close a taken round and settle its ticket; re-raise its failure."""
        pending, ticket = taken
        try:
            result = self._close(pending)
        except BaseException as exc:
            ticket.set_exception(exc)
            raise
        ticket.set_result(result)
        return result

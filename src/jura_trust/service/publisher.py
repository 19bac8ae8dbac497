"""The publisher: publishes the calendar root on a schedule (layer 10).

At each scheduled time ``T`` (by default the 15th of every month at
00:00:00 UTC, as KSI publishes) the publisher appends a publication record
for the calendar second ``T`` to the publications file, re-signs the file,
and prints the publication string (for a newspaper or the official
bulletin).

The calendar root at ``T`` exists only once the calendar reaches ``T``. If
no round took a second at or after ``T`` (a quiet service), the publisher
first closes a one-leaf *publication round* at second ``T``, whose only
request is the publisher's own (login :data:`PUBLISHER_LOGIN`). It runs on
the writer thread, serialised with the round loop, so it never races a
round for a second.

When the service starts, it catches up on the latest scheduled time it
missed while it was down (if the calendar holds rounds before it).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable
from typing import Final

from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import PublicationRecord
from jura_trust.service.config import Schedule
from jura_trust.service.metrics import Metrics
from jura_trust.service.rounds import RoundLoop, sleep_until

__all__ = ["PUBLICATION_DELAY", "PUBLISHER_LOGIN", "Publisher", "publish_at"]

#: The client id of publication rounds.
PUBLISHER_LOGIN: Final = "jura-trust-publisher"
#: Seconds after ``T`` the publication runs, so the round of second ``T``
#: (if any) closes first.
PUBLICATION_DELAY: Final = 1.0

_log = logging.getLogger("jura_trust.service")


def publish_at(backend: EmbeddedBackend, t: int) -> PublicationRecord | None:
    """Publish the calendar root at second ``t``; ``None`` if the calendar starts later.

    Closes a publication round at ``t`` first when the calendar has not
    reached it. Call it on the writer thread. A process that does not write
    the calendar (a child aggregator, a PostgreSQL process without the
    writer lease, a replica) publishes nothing: ``None``.
    """
    if not backend.calendar.local:
        return None
    existing = backend.find_publication(t)
    if existing is not None:
        return existing
    first, head = backend.calendar_first, backend.calendar_head
    if first is None or head is None or first > t:
        return None
    if head < t:
        tick = Imprint.hash(b"jura_trust publication round %d" % t)
        backend.aggregate([RoundRequest(tick, client_id=PUBLISHER_LOGIN)], second=t)
    return backend.publish(t)


def _iso(t: int) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Publisher:
    """Runs :func:`publish_at` on a :class:`~jura_trust.service.config.Schedule`.

    Args:
        rounds: the round loop (its writer thread serialises calendar writes).
        schedule: when to publish.
        metrics: where publications are counted.
        announce: receives one line per publication (the printed string).
        now: the wall clock.
    """

    def __init__(
        self,
        rounds: RoundLoop,
        schedule: Schedule,
        metrics: Metrics,
        *,
        announce: Callable[[str], None] = print,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._rounds = rounds
        self._backend = rounds.backend
        self.schedule = schedule
        self._metrics = metrics
        self._announce = announce
        self._now = now

    async def publish(self, t: int) -> PublicationRecord | None:
        """Publish second ``t`` now (on the writer thread) and announce it."""
        backend = self._backend
        known = backend.find_publication(t)
        if known is not None:
            return known
        record = await self._rounds.run_on_writer(lambda: publish_at(backend, t))
        if record is not None:
            self._metrics.publications += 1
            text = backend.publication_string(record)
            self._announce(f"jura-trust: published {_iso(t)} ({t}): {text}")
        return record

    async def run(self) -> None:
        """Publish at every scheduled time (cancel the task to stop)."""
        now = int(self._now())
        last = self.schedule.last_at_or_before(int(now - PUBLICATION_DELAY))
        if last is not None:
            latest = self._backend.latest_publication()
            if latest is None or latest.publication_time < last:
                await self._safely(last)
        cursor = max(now, last or 0)
        while True:
            t = self.schedule.next_after(cursor)
            if t is None:
                return
            await sleep_until(t + PUBLICATION_DELAY, self._now)
            await self._safely(t)
            cursor = t

    async def _safely(self, t: int) -> None:
        try:
            await self.publish(t)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("publication at %d failed", t)

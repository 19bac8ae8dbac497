"""The signing-service interface and clocks (layer 9).

A :class:`SigningService` signs imprints (one or many in one round),
extends signatures, and hands out its publications. Implementations:
:class:`jura_trust.backends.memory.EmbeddedBackend` (in process, memory or a
state directory) and, for remote KSI services, the ``ksi_http`` backend.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from jura_trust.core.chains import CalendarChain
from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import PublicationRecord
from jura_trust.core.signature import Signature

__all__ = ["Clock", "ManualClock", "SigningService", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of time. Tests inject a :class:`ManualClock`."""

    def now(self) -> float:
        """Current Unix time in seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a manual clock just advances)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Current Unix time in seconds."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        if seconds > 0:
            time.sleep(seconds)


@attrs.define
class ManualClock:
    """A clock that only moves when told to; :meth:`sleep` advances it.

    >>> clock = ManualClock(1_700_000_000)
    >>> clock.advance(5); clock.now()
    1700000005.0
    """

    current: float = 1_700_000_000.0
    #: With ``False``, :meth:`sleep` raises instead of moving time: a test
    #: then sees every place where signing would wait for the next second
    #: (a second round in the same calendar second) and advances time itself.
    sleep_advances: bool = True

    def now(self) -> float:
        """The current (manual) time."""
        return float(self.current)

    def sleep(self, seconds: float) -> None:
        """Advance instead of sleeping (or refuse, with ``sleep_advances=False``)."""
        if not self.sleep_advances:
            raise RuntimeError(
                f"the code under test waited {seconds:g} s on a ManualClock that does not "
                "move by itself (sleep_advances=False): advance() it"
            )
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backward)."""
        if seconds < 0:
            raise ValueError("a ManualClock never goes backward")
        self.current += seconds

    def set(self, when: float) -> None:
        """Jump to ``when`` (not earlier than now)."""
        if when < self.current:
            raise ValueError("a ManualClock never goes backward")
        self.current = float(when)


class SigningService(Protocol):
    """What jura_trust needs from a KSI signing service."""

    def sign_many(self, imprints: Sequence[Imprint], *, level: int = 0) -> list[Signature]:
        """Sign every imprint in one round; signatures in the same order."""
        ...

    def sign(self, imprint: Imprint, *, level: int = 0) -> Signature:
        """Sign one imprint."""
        ...

    def extend_calendar(
        self, aggregation_time: int, publication_time: int | None = None
    ) -> CalendarChain:
        """A calendar chain from ``aggregation_time`` to a publication (or the head)."""
        ...

    def extend(self, signature: Signature, publication_time: int | None = None) -> Signature:
        """``signature`` extended to a publication (the nearest one by default)."""
        ...

    def latest_publication(self) -> PublicationRecord | None:
        """The most recent publication, if any."""
        ...

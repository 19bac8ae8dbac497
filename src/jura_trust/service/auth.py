"""Logins: HMAC authentication, rate limits, answers in flight, replays (layer 10).

A request PDU is authenticated when its header names a configured login and
its HMAC verifies under that login's key. It is then *admitted*
(:meth:`Gate.admit`) only if all of these hold, checked in this order:

* **no replay**: its (instance id, message id) was not seen for this login
  within the replay window (a bounded, time-windowed set per login, as KSI's
  duplicate-filter ids intend); a PDU without them is admitted unless the
  service requires them;
* **rate**: the login's token bucket (``rate`` per second, ``burst`` at
  once) and the service's total bucket (``total_rate``, ``total_burst``)
  both hold one token per request payload (at least one). While the total
  bucket is less than half full, a login may only take up to its fair share
  of the total rate this second (``total_rate`` divided by the logins that
  sent this second), so one busy login cannot starve the others;
* **answers in flight**: the login's answers admitted but not yet written
  stay within its ``in_flight`` and all logins' within ``total_in_flight``.

Only an admitted PDU is remembered in the replay window and takes tokens;
:meth:`Gate.done` returns its answers in flight once they are written (or
the client is gone).
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Iterable

from jura_trust.errors import BackendError, ErrorCode
from jura_trust.pdu import AggregationRequestPDU, ExtendRequestPDU, Header, verify_hmac
from jura_trust.service.config import (
    DEFAULT_REPLAY_CAPACITY,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_TOTAL_BURST,
    DEFAULT_TOTAL_IN_FLIGHT,
    DEFAULT_TOTAL_RATE,
    Login,
)

__all__ = ["Gate", "Refusal", "ReplayWindow", "TokenBucket"]


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, holding at most ``burst``."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last = now

    def refill(self, now: float) -> float:
        """Add the tokens earned since the last call; the tokens held."""
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        return self._tokens

    def take(self, n: int, now: float) -> bool:
        """Take ``n`` tokens if the bucket has them; never goes negative."""
        if n > self.refill(now):
            return False
        self._tokens -= n
        return True


class ReplayWindow:
    """The (instance id, message id) pairs of one login seen in the last ``window`` seconds.

    At most ``capacity`` pairs are kept: when all of them are within the
    window, :meth:`add` refuses new pairs instead of forgetting one (which
    would let its replay through).
    """

    __slots__ = ("_seen", "capacity", "window")

    def __init__(self, window: float, capacity: int) -> None:
        self.window = window
        self.capacity = capacity
        # key -> expiry; insertion order is expiry order (the clock is monotonic)
        self._seen: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen:
            key = next(iter(seen))
            if seen[key] > now:
                break
            del seen[key]

    def seen(self, key: int, now: float) -> bool:
        """Whether ``key`` was added within the window."""
        self._expire(now)
        return key in self._seen

    def full(self, now: float) -> bool:
        """Whether no pair can be added before some expire."""
        self._expire(now)
        return len(self._seen) >= self.capacity

    def add(self, key: int, now: float) -> None:
        """Remember ``key`` until ``now + window``."""
        self._seen[key] = now + self.window


class Refusal(enum.Enum):
    """Why :meth:`Gate.admit` refused a PDU."""

    #: The (login, instance id, message id) was seen within the replay window.
    REPLAY = "repeated message id"
    #: The PDU has no instance or message id and the service requires them.
    NO_IDS = "instance and message ids are required"
    #: The login's replay window is full of recent message ids.
    WINDOW_FULL = "too many messages within the replay window"
    #: The login's or the total rate limit.
    RATE = "rate limit exceeded"
    #: The login's or the total cap on answers in flight.
    IN_FLIGHT = "too many answers in flight"


def _ids_key(header: Header) -> int | None:
    if header.instance_id is None or header.message_id is None:
        return None
    return (header.instance_id << 64) | header.message_id


class Gate:
    """Authenticates request PDUs and admits them (see the module docstring)."""

    def __init__(
        self,
        logins: Iterable[Login],
        *,
        total_rate: float = DEFAULT_TOTAL_RATE,
        total_burst: int = DEFAULT_TOTAL_BURST,
        total_in_flight: int = DEFAULT_TOTAL_IN_FLIGHT,
        replay_window: float = DEFAULT_REPLAY_WINDOW,
        replay_capacity: int = DEFAULT_REPLAY_CAPACITY,
        require_message_ids: bool = False,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._now = now
        start = now()
        self._logins = {login.name: login for login in logins}
        self._buckets = {
            name: TokenBucket(login.rate, login.burst, start)
            for name, login in self._logins.items()
        }
        self._total = TokenBucket(total_rate, total_burst, start)
        self._replays = {
            name: ReplayWindow(replay_window, replay_capacity) for name in self._logins
        }
        self.require_message_ids = require_message_ids
        self.total_in_flight = total_in_flight
        #: Answers in flight, per login and in total.
        self.in_flight: dict[str, int] = dict.fromkeys(self._logins, 0)
        self.in_flight_total = 0
        self._second = math.floor(start)
        self._used: dict[str, int] = {}

    def authenticate(self, pdu: AggregationRequestPDU | ExtendRequestPDU) -> Login:
        """The PDU's login, if it exists and the HMAC verifies; else SVC-03."""
        login = self._logins.get(pdu.header.login_id)
        if login is None:
            raise BackendError("unknown login", code=ErrorCode.SVC_AUTH)
        verify_hmac(pdu, login.key)
        return login

    def _fair(self, login: Login, n: int, now: float) -> bool:
        second = math.floor(now)
        if second != self._second:
            self._second = second
            self._used = {}
        if self._total.refill(now) - n >= self._total.burst / 2:
            return True
        active = len(self._used) + (login.name not in self._used)
        return self._used.get(login.name, 0) + n <= self._total.rate / active

    def admit(self, login: Login, header: Header, requests: int) -> Refusal | None:
        """Admit a PDU of ``requests`` payloads from ``login``, or say why not.

        An admitted PDU's ids are remembered, its tokens taken and its
        answers (``max(1, requests)``) counted in flight until :meth:`done`.
        """
        n = max(1, requests)
        now = self._now()
        window = self._replays[login.name]
        key = _ids_key(header)
        if key is None:
            if self.require_message_ids:
                return Refusal.NO_IDS
        elif window.seen(key, now):
            return Refusal.REPLAY
        elif window.full(now):
            return Refusal.WINDOW_FULL
        if (
            self.in_flight[login.name] + n > login.in_flight
            or self.in_flight_total + n > self.total_in_flight
        ):
            return Refusal.IN_FLIGHT
        bucket = self._buckets[login.name]
        if n > bucket.refill(now) or n > self._total.refill(now) or not self._fair(login, n, now):
            return Refusal.RATE
        bucket.take(n, now)
        self._total.take(n, now)
        self._used[login.name] = self._used.get(login.name, 0) + n
        if key is not None:
            window.add(key, now)
        self.in_flight[login.name] += n
        self.in_flight_total += n
        return None

    def done(self, login: Login, answers: int) -> None:
        """``max(1, answers)`` answers of ``login`` admitted earlier are written (or dropped)."""
        n = max(1, answers)
        self.in_flight[login.name] -= n
        self.in_flight_total -= n

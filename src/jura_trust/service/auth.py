"""Logins: HMAC authentication and per-login rate limits (layer 10).

A request PDU is authenticated when its header names a configured login and
its HMAC verifies under that login's key. Each login has a token bucket
(``rate`` requests per second, ``burst`` at most at once); a PDU costs one
token per request payload (at least one).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from jura_trust.errors import BackendError, ErrorCode
from jura_trust.pdu import AggregationRequestPDU, ExtendRequestPDU, verify_hmac
from jura_trust.service.config import Login

__all__ = ["Gate", "TokenBucket"]


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, holding at most ``burst``."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last = now

    def take(self, n: int, now: float) -> bool:
        """Take ``n`` tokens if the bucket has them; never goes negative."""
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        if n > self._tokens:
            return False
        self._tokens -= n
        return True


class Gate:
    """Authenticates request PDUs and applies the logins' rate limits."""

    def __init__(
        self, logins: Iterable[Login], *, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._now = now
        self._logins = {login.name: login for login in logins}
        self._buckets = {
            name: TokenBucket(login.rate, login.burst, now())
            for name, login in self._logins.items()
        }

    def authenticate(self, pdu: AggregationRequestPDU | ExtendRequestPDU) -> Login:
        """The PDU's login, if it exists and the HMAC verifies; else SVC-03."""
        login = self._logins.get(pdu.header.login_id)
        if login is None:
            raise BackendError("unknown login", code=ErrorCode.SVC_AUTH)
        verify_hmac(pdu, login.key)
        return login

    def allow(self, login: Login, requests: int) -> bool:
        """Take one token per request (at least one) from ``login``'s bucket."""
        return self._buckets[login.name].take(max(1, requests), self._now())

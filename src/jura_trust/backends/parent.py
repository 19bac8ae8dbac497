"""A child aggregator's parts: round roots anchored by a parent aggregator over PDU v2 (layer 9).

``jura-trust serve --parent URL [--parent URL2 ...]`` runs an aggregator
without a calendar of its own: each round root goes to a parent as one
aggregation request *with the round tree's level* (PDU v2 level > 0, as
Guardtime's aggregators hand roots up), and the parent's answer (its
aggregation chains, calendar chain and calendar authentication record)
completes every signature of the round. Any KSI-compatible aggregator will
do as a parent; so will another ``jura-trust serve``.

Parents are tried in order: when one fails (connection, timeout, an error
status or a response that does not match the request), the next one gets
the same root; when all fail the round is answered with an error, never a
signature.

The :class:`ParentExtender` and :class:`ParentPublications` parts read
from the first parent that answers (its ``/extender`` and
``/publications.bin`` next to its ``/aggregator`` unless given).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.backends.parts import Anchor, relative_chain
from jura_trust.core.chains import CalendarChain
from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import PublicationRecord
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.pdu import ExtenderConfig
from jura_trust.publications import PublicationsFile

__all__ = [
    "DEFAULT_PARENT_TIMEOUT",
    "ParentCalendar",
    "ParentExtender",
    "ParentPublications",
    "parent_client",
    "sibling_url",
]

#: Seconds a child waits for one parent before trying the next.
DEFAULT_PARENT_TIMEOUT: Final = 5.0
#: Seconds a child keeps the parent calendar's bounds before asking again.
BOUNDS_SECONDS: Final = 1.0


def sibling_url(aggregator_url: str, path: str) -> str:
    """The URL ``path`` (``/extender``, ``/publications.bin``) on the aggregator's host."""
    parts = urlsplit(aggregator_url)
    if parts.scheme not in ("http", "https"):
        return aggregator_url
    base = parts.path.rsplit("/", 1)[0] if parts.path.endswith("/aggregator") else ""
    return urlunsplit((parts.scheme, parts.netloc, base + path, "", ""))


def parent_client(
    url: str, login: str, key: bytes, *, timeout: float = DEFAULT_PARENT_TIMEOUT
) -> KsiHttpBackend:
    """A KSI client for one parent (aggregator at ``url``; extender and file beside it)."""
    return KsiHttpBackend(
        url,
        sibling_url(url, "/extender"),
        sibling_url(url, "/publications.bin"),
        login=login,
        key=key,
        timeout=timeout,
        retries=0,
    )


class _Failover:
    """Calls parents in order, starting with the last one that answered."""

    def __init__(self, parents: Sequence[KsiHttpBackend]) -> None:
        if not parents:
            raise ValueError("a child aggregator needs at least one parent")
        self.parents = tuple(parents)
        self._current = 0
        self._lock = threading.Lock()
        #: How often a parent failed and the next one was asked.
        self.failovers = 0

    def call(self, what: str, fn: Callable[[KsiHttpBackend], object]) -> object:
        with self._lock:
            start = self._current
        errors: list[str] = []
        n = len(self.parents)
        for k in range(n):
            i = (start + k) % n
            parent = self.parents[i]
            try:
                result = fn(parent)
            except BackendError as exc:
                errors.append(f"parent {i + 1}: {exc.message}")
                self.failovers += 1
                continue
            with self._lock:
                self._current = i
            return result
        raise BackendError(
            f"no parent aggregator could {what}: " + "; ".join(errors),
            code=ErrorCode.SVC_UNAVAILABLE,
        )


class ParentCalendar:
    """Anchors round roots through parent aggregators (see the module docstring)."""

    local = False

    def __init__(self, parents: Sequence[KsiHttpBackend]) -> None:
        self._failover = _Failover(parents)
        self._head: int | None = None
        self._first: int | None = None

    @property
    def failovers(self) -> int:
        """How often a parent failed and the next was tried."""
        return self._failover.failovers

    def head(self) -> int | None:
        """The last second a parent anchored a round of this child in."""
        return self._head

    def first(self) -> int | None:
        """The first such second (since this process started)."""
        return self._first

    def commit(self, root: Imprint, level: int, second: int | None = None) -> Anchor:
        """Send ``root`` at ``level`` to a parent; its answer is the round's anchor."""
        if second is not None:
            raise ValueError("a child aggregator cannot choose the calendar second")

        def sign(parent: KsiHttpBackend) -> Anchor:
            sig = parent.sign_many([root], level=level)[0]
            if sig.calendar_chain is None:
                raise BackendError(
                    "the parent's answer holds no calendar chain", code=ErrorCode.SVC_BAD_RESPONSE
                )
            # the client shifted the first link to count from level 0; stacked
            # on this child's tree it counts from the root's level
            chains = list(sig.aggregation_chains)
            chains[0] = relative_chain(chains[0], level)
            return Anchor(
                sig.aggregation_time, tuple(chains), sig.calendar_chain, sig.calendar_auth_record
            )

        anchor = self._failover.call("sign the round", sign)
        assert isinstance(anchor, Anchor)
        self._head = anchor.aggregation_time
        if self._first is None:
            self._first = anchor.aggregation_time
        return anchor

    def gauges(self) -> dict[str, Callable[[], float | None]]:
        """``/metrics`` gauges: parent failovers and the last second anchored."""
        return {
            "parent_failovers": lambda: self.failovers,
            "parent_last_second": lambda: self._head,
        }

    def close(self) -> None:
        """Close the parents' connections."""
        for parent in self._failover.parents:
            parent.close()


class ParentExtender:
    """Calendar chains from the parents' extenders (failing over like the calendar).

    The calendar's bounds are the parent extender's (its configuration,
    asked at most once per :data:`BOUNDS_SECONDS`).
    """

    def __init__(self, parents: Sequence[KsiHttpBackend]) -> None:
        self._failover = _Failover(parents)
        self._bounds: tuple[int | None, int | None] = (None, None)
        self._asked = -BOUNDS_SECONDS

    def _read_bounds(self) -> tuple[int | None, int | None]:
        now = time.monotonic()
        if now - self._asked >= BOUNDS_SECONDS:
            self._asked = now

            def config(parent: KsiHttpBackend) -> ExtenderConfig:
                return parent.extender_config()

            try:
                conf = self._failover.call("send its extender configuration", config)
            except BackendError:
                return self._bounds
            assert isinstance(conf, ExtenderConfig)
            self._bounds = (conf.calendar_last_time, conf.calendar_first_time)
        return self._bounds

    def head(self) -> int | None:
        """The parent calendar's head (``None`` when no parent answers)."""
        return self._read_bounds()[0]

    def first(self) -> int | None:
        """The parent calendar's first second."""
        return self._read_bounds()[1]

    def extend_calendar(self, aggregation_time: int, publication_time: int | None) -> CalendarChain:
        """A calendar chain from a parent's extender."""

        def extend(parent: KsiHttpBackend) -> CalendarChain:
            return parent.extend_calendar(aggregation_time, publication_time)

        chain = self._failover.call("extend", extend)
        assert isinstance(chain, CalendarChain)
        return chain


class ParentPublications:
    """The parents' publications file, served as it is (this child publishes nothing)."""

    def __init__(self, parents: Sequence[KsiHttpBackend]) -> None:
        self._failover = _Failover(parents)
        self._bytes: bytes | None = None
        self._records: list[PublicationRecord] = []
        self._certificate_ids: frozenset[bytes] = frozenset()

    def refresh(self) -> None:
        """Download the file again."""

        def fetch(parent: KsiHttpBackend) -> bytes:
            return parent.publications_file_bytes()

        data = self._failover.call("send its publications file", fetch)
        assert isinstance(data, bytes)
        parsed = PublicationsFile.parse(data)
        self._bytes = data
        self._records = sorted(parsed.publications, key=lambda p: p.publication_time)
        self._certificate_ids = frozenset(r.certificate_id for r in parsed.certificates)

    @property
    def records(self) -> Sequence[PublicationRecord]:
        """The parent's publications."""
        return self._records

    @property
    def certificate_ids(self) -> frozenset[bytes]:
        """The calendar certificates in the parent's file."""
        return self._certificate_ids

    @property
    def file_bytes(self) -> bytes:
        """The parent's signed file (downloaded on first use)."""
        if self._bytes is None:
            self.refresh()
        assert self._bytes is not None
        return self._bytes

    def commit(self, records: Sequence[PublicationRecord]) -> None:
        """Refused: a child aggregator does not publish."""
        raise BackendError(
            "a child aggregator does not publish (its parents do)", code=ErrorCode.SVC_REFUSED
        )

"""How ``jura-trust serve`` is assembled for each deployment (layer 10).

One service, three assemblies of the same parts (:mod:`jura_trust.backends.parts`):

* **single process** (default): the SQLite calendar in the home
  (:func:`jura_trust.service.app.open_backend`);
* **several processes on PostgreSQL** (``--store postgresql://...``):
  :func:`cluster_parts`: the calendar store, writer lease and hand-offs of
  :mod:`jura_trust.backends.postgres`, keys and publications file in the
  database (key files in the configuration take precedence); with
  ``--read-store`` alone, :func:`replica_parts`: a process that only
  extends and serves the publications file, reading a replica;
* **child aggregator** (``--parent URL``): :func:`child_parts`
  (:mod:`jura_trust.backends.parent`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from jura_trust import pki
from jura_trust.backends.base import Clock, SystemClock
from jura_trust.backends.memory import BackendParts
from jura_trust.backends.parts import (
    CALENDAR_ROLE,
    PUBLISHER_ROLE,
    Anchor,
    StoreExtender,
)
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.service.config import ServiceConfig

__all__ = ["child_parts", "cluster_parts", "open_parts", "replica_parts"]


def _subjects(config: ServiceConfig) -> tuple[dict[str, str], dict[str, str]]:
    return (
        {"O": "jura_trust", "CN": "calendar"},
        {"O": "jura_trust", "CN": "publisher", "E": config.publisher_email},
    )


def cluster_parts(
    config: ServiceConfig,
    calendar_signer: pki.CalendarSigner | None,
    publisher: pki.CalendarSigner | None,
    clock: Clock | None = None,
) -> BackendParts:
    """The parts of one of several processes on the PostgreSQL database ``config.store_dsn``."""
    from jura_trust.backends.postgres import (  # noqa: PLC0415 - the optional extra
        ClusterCalendar,
        PostgresCalendarStore,
        PostgresKeyStore,
        PostgresPublications,
        WriterLease,
        default_member_name,
    )

    dsn = config.store_dsn
    assert dsn is not None
    clock = clock or SystemClock()
    closers: list[Callable[[], object]] = []
    try:
        lease = WriterLease(dsn, config.member or default_member_name())
        store = PostgresCalendarStore(dsn, fence=lease.fence)  # migrates the schema
        closers.append(store.close)
        keys = PostgresKeyStore(dsn, clock)
        closers.append(keys.close)
        cal_subject, pub_subject = _subjects(config)
        calendar_signer = calendar_signer or keys.signer(CALENDAR_ROLE, cal_subject)
        publisher = publisher or keys.signer(PUBLISHER_ROLE, pub_subject)
        calendar = ClusterCalendar(store, lease, calendar_signer, clock=clock)
        read = store
        if config.read_dsn is not None:
            read = PostgresCalendarStore(config.read_dsn, read_only=True)
            closers.append(read.close)
        publications = PostgresPublications(dsn, publisher, calendar_signer.certificate, clock)
        closers.append(publications.close)
        calendar.start()
        closers.insert(0, calendar.stop)  # release the lease first
    except BaseException:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
        raise
    return BackendParts(
        calendar=calendar,
        extender=StoreExtender(read),
        publications=publications,
        publisher_certificate=publisher.certificate,
        calendar_certificate=calendar_signer.certificate,
        closers=tuple(closers),
        exclusive_rounds=False,
    )


class _NoCalendar:
    """The calendar of an extender-only process: it signs nothing."""

    local = False

    def __init__(self, extender: StoreExtender) -> None:
        self._extender = extender

    def head(self) -> int | None:
        return self._extender.head()

    def first(self) -> int | None:
        return self._extender.first()

    def commit(self, root: Imprint, level: int, second: int | None = None) -> Anchor:
        raise BackendError(
            "this process only extends and serves the publications file (a read replica)",
            code=ErrorCode.SVC_REFUSED,
        )


def replica_parts(config: ServiceConfig) -> BackendParts:
    """An extender-only process reading the replica ``config.read_dsn``."""
    from jura_trust.backends.postgres import (  # noqa: PLC0415 - the optional extra
        PostgresCalendarStore,
        PostgresPublications,
        read_signing_certificates,
    )

    dsn = config.read_dsn
    assert dsn is not None
    store = PostgresCalendarStore(dsn, read_only=True)
    try:
        calendar_cert, publisher_cert = read_signing_certificates(dsn)
        publications = PostgresPublications(dsn, None, calendar_cert, read_only=True)
    except BaseException:
        store.close()
        raise
    extender = StoreExtender(store)
    return BackendParts(
        calendar=_NoCalendar(extender),
        extender=extender,
        publications=publications,
        publisher_certificate=publisher_cert,
        calendar_certificate=None,
        closers=(store.close, publications.close),
    )


def child_parts(config: ServiceConfig) -> BackendParts:
    """A child aggregator's parts: the parents ``config.parents`` anchor its rounds."""
    from jura_trust.backends.parent import (  # noqa: PLC0415
        ParentCalendar,
        ParentExtender,
        ParentPublications,
        parent_client,
    )

    login = config.parent_login
    assert login is not None
    clients = [parent_client(url, login.name, login.key) for url in config.parents]
    calendar = ParentCalendar(clients)
    return BackendParts(
        calendar=calendar,
        extender=ParentExtender(clients),
        publications=ParentPublications(clients),
        publisher_certificate=None,
        calendar_certificate=None,
        closers=(calendar.close,),
        exclusive_rounds=False,
    )


def open_parts(
    config: ServiceConfig,
    calendar_signer: pki.CalendarSigner | None,
    publisher: pki.CalendarSigner | None,
) -> BackendParts | None:
    """The parts ``config`` asks for, or ``None`` for the single-process SQLite service."""
    if config.parents:
        return child_parts(config)
    if config.store_dsn is not None:
        return cluster_parts(config, calendar_signer, publisher)
    if config.read_dsn is not None:
        return replica_parts(config)
    return None


def calendar_gauges(calendar: Any) -> dict[str, Callable[[], float | None]]:
    """``/metrics`` gauges a calendar part offers (the lease, hand-offs, parent failovers)."""
    gauges = getattr(calendar, "gauges", None)
    return dict(gauges()) if callable(gauges) else {}

"""Fault injection for the calendar-store contract suite: one harness per store kind.

A *store kind* knows how to open a :class:`~jura_trust.backends.stores.CalendarStore`
of its implementation with a :class:`Faults` hook installed, and how to open it
again "after a restart". The contract tests (``test_store_faults.py``) run
against every kind in :data:`STORE_KINDS`; adding an implementation (a
PostgreSQL store, say) is one more :class:`StoreKind` and one more entry there.

Faults fire at named *write points*, ``before`` or ``after`` the write:

* ``append``: around the whole :meth:`CalendarStore.append`, for every kind
  (the :class:`FaultyStore` wrapper); a fault after it is "fail but persist".
* implementation points, inside one append: for SQLite and PostgreSQL
  ``leaf`` (the leaf row), ``nodes`` (the subtree roots) and ``commit``,
  injected by a connection subclass (:class:`sqlite3.Connection` through the
  SQLite store's ``factory``, :class:`psycopg.Connection` through the
  PostgreSQL store's ``connection_class``); a fault after ``commit`` is
  "fail but persist", every other one "fail and not persist".
* round points, outside the store, for the embedded backend:
  ``head-signature`` (the calendar signer, :class:`FaultySigner`) and
  ``publication`` (the write of ``publications.bin``, :func:`faulty_writer`).

A fault is one-shot unless armed ``times=None`` (it then fires until
:meth:`Faults.disarm`), so a test can model a transient or a lasting failure.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import attrs

from jura_trust import _files, pki
from jura_trust.backends.stores import CalendarStore, MemoryCalendarStore, SQLiteCalendarStore
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode

BEFORE, AFTER = "before", "after"
PHASES = (BEFORE, AFTER)
#: Points of a round outside the store (the embedded backend's own writes).
ROUND_POINTS = ("head-signature", "publication")


class InjectedFaultError(Exception):
    """The error a fault raises where no implementation error type applies."""


@attrs.define
class Faults:
    """Faults armed at write points; :meth:`fire` is called by the hooks."""

    armed: dict[tuple[str, str], int | None] = attrs.Factory(dict)
    fired: list[tuple[str, str]] = attrs.Factory(list)

    def arm(self, point: str, phase: str, *, times: int | None = 1) -> None:
        """Fail ``times`` times (``None``: until disarmed) at ``point``/``phase``."""
        assert phase in PHASES
        self.armed[(point, phase)] = times

    def disarm(self) -> None:
        """Remove every fault."""
        self.armed.clear()

    def should_fail(self, point: str, phase: str) -> bool:
        """Whether a fault fires now at ``point``/``phase`` (counts it down)."""
        key = (point, phase)
        if key not in self.armed:
            return False
        left = self.armed[key]
        if left is not None:
            if left <= 1:
                del self.armed[key]
            else:
                self.armed[key] = left - 1
        self.fired.append(key)
        return True

    def fire(self, point: str, phase: str, error: Callable[[str], BaseException]) -> None:
        """Raise ``error(message)`` if a fault is armed here."""
        if self.should_fail(point, phase):
            raise error(f"injected fault {phase} {point}")


class FaultyStore:
    """Any calendar store, with faults around :meth:`append` (the ``append`` point)."""

    def __init__(self, inner: CalendarStore, faults: Faults, *, close_inner: bool = True) -> None:
        self.inner = inner
        self.faults = faults
        self._close_inner = close_inner

    def append(self, second: int, imprint: Imprint) -> None:
        self.faults.fire("append", BEFORE, _store_error)
        self.inner.append(second, imprint)
        self.faults.fire("append", AFTER, _store_error)

    def head(self) -> int | None:
        return self.inner.head()

    def first(self) -> int | None:
        return self.inner.first()

    def leaf(self, second: int) -> bytes:
        return self.inner.leaf(second)

    def subtree_root(self, start: int, height: int) -> bytes:
        return self.inner.subtree_root(start, height)

    def close(self) -> None:
        if self._close_inner:
            self.inner.close()


def _store_error(message: str) -> BackendError:
    # what a failing store raises by contract
    return BackendError(message, code=ErrorCode.SVC_STORE)


class StoreKind(Protocol):
    """One store implementation under the contract suite."""

    #: The test id.
    name: str
    #: The write points inside one append, in order.
    points: tuple[str, ...]
    #: The points after which the append is durable although it failed.
    durable_after: frozenset[str]

    def open(self, faults: Faults) -> CalendarStore:
        """The store (new or as left by the last close), with ``faults`` installed."""
        ...


class MemoryKind:
    """:class:`MemoryCalendarStore`: "reopening" is a new wrapper over the same calendar."""

    name = "memory"
    points = ("append",)
    durable_after = frozenset({"append"})

    def __init__(self, directory: Path) -> None:
        self._store = MemoryCalendarStore()

    def open(self, faults: Faults) -> CalendarStore:
        # The memory calendar lives as long as the process; closing a wrapper
        # must not drop it, or there would be nothing to reopen.
        return FaultyStore(self._store, faults, close_inner=False)


def _faulty_connection(faults: Faults) -> type[sqlite3.Connection]:
    """A connection class that fires faults around the store's write statements."""

    def point_of(sql: str) -> str | None:
        text = sql.lstrip().upper()
        if text.startswith("INSERT INTO LEAF"):
            return "leaf"
        if text.startswith("INSERT INTO NODE"):
            return "nodes"
        if text.startswith("COMMIT"):
            return "commit"
        return None

    def error(message: str) -> sqlite3.Error:
        return sqlite3.OperationalError(message)

    class FaultyConnection(sqlite3.Connection):
        def execute(self, sql: str, parameters: object = (), /) -> sqlite3.Cursor:  # type: ignore[override]
            point = point_of(sql)
            if point is not None:
                faults.fire(point, BEFORE, error)
            cursor = super().execute(sql, parameters)  # type: ignore[arg-type]
            if point is not None:
                faults.fire(point, AFTER, error)
            return cursor

        def executemany(self, sql: str, parameters: object, /) -> sqlite3.Cursor:  # type: ignore[override]
            point = point_of(sql)
            if point is not None:
                faults.fire(point, BEFORE, error)
            cursor = super().executemany(sql, parameters)  # type: ignore[arg-type]
            if point is not None:
                faults.fire(point, AFTER, error)
            return cursor

    return FaultyConnection


class SQLiteKind:
    """:class:`SQLiteCalendarStore`, faults injected through its connection ``factory``."""

    name = "sqlite"
    points = ("append", "leaf", "nodes", "commit")
    durable_after = frozenset({"append", "commit"})

    def __init__(self, directory: Path) -> None:
        self.path = directory / "calendar.sqlite"

    def open(self, faults: Faults) -> CalendarStore:
        store = SQLiteCalendarStore(self.path, factory=_faulty_connection(faults))
        return FaultyStore(store, faults)


def _point_of(sql: str) -> str | None:
    text = sql.lstrip().upper()
    if text.startswith("INSERT INTO LEAF"):
        return "leaf"
    if text.startswith("INSERT INTO NODE"):
        return "nodes"
    if text.startswith("COMMIT"):
        return "commit"
    return None


def _faulty_pg_connection(faults: Faults) -> Any:
    """A :class:`psycopg.Connection` class firing faults around the store's writes."""
    import psycopg

    def error(message: str) -> psycopg.Error:
        return psycopg.OperationalError(message)

    class FaultyPgConnection(psycopg.Connection[Any]):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
            point = _point_of(query) if isinstance(query, str) else None
            if point is not None:
                faults.fire(point, BEFORE, error)
            cursor = super().execute(query, params, **kwargs)
            if point is not None:
                faults.fire(point, AFTER, error)
            return cursor

    return FaultyPgConnection


class PostgresKind:
    """:class:`PostgresCalendarStore` in a schema of its own, faults through its connection class.

    Needs ``JURA_TRUST_TEST_PG`` (:mod:`tests.pg`): fails in CI without it.
    """

    name = "postgresql"
    points = ("append", "leaf", "nodes", "commit")
    durable_after = frozenset({"append", "commit"})

    def __init__(self, directory: Path) -> None:
        from tests.pg import new_schema_dsn

        self.dsn, self.schema = new_schema_dsn()

    def open(self, faults: Faults) -> CalendarStore:
        from jura_trust.backends.postgres import PostgresCalendarStore

        store = PostgresCalendarStore(self.dsn, connection_class=_faulty_pg_connection(faults))
        return FaultyStore(store, faults)


#: Every store implementation the contract suite runs against.
STORE_KINDS: dict[str, Callable[[Path], StoreKind]] = {
    "memory": MemoryKind,
    "sqlite": SQLiteKind,
    "postgresql": PostgresKind,
}


class FaultySigner(pki.CalendarSigner):
    """A calendar signer failing at the ``head-signature`` point."""

    faults: Faults

    @classmethod
    def wrap(cls, signer: pki.CalendarSigner, faults: Faults) -> FaultySigner:
        """``signer``'s key and certificate, with ``faults``."""
        out = cls(signer.private_key, signer.certificate)
        object.__setattr__(out, "faults", faults)
        return out

    def sign(self, signed_data: bytes) -> tuple[str, bytes]:
        self.faults.fire("head-signature", BEFORE, InjectedFaultError)
        result = super().sign(signed_data)
        self.faults.fire("head-signature", AFTER, InjectedFaultError)
        return result


def faulty_writer(faults: Faults) -> Callable[[Path, bytes, int], object]:
    """The backend's file writer, failing at the ``publication`` point."""

    def write(path: Path, data: bytes, mode: int) -> object:
        publication = path.name == "publications.bin"
        if publication:
            faults.fire("publication", BEFORE, OSError)
        result = _files.write_atomic(path, data, mode)
        if publication:
            faults.fire("publication", AFTER, OSError)
        return result

    return write

"""Calendar stores: where the calendar's leaves and subtree roots live (layer 9).

A :class:`CalendarStore` is an append-only calendar (one leaf per second,
:mod:`jura_trust.core.calendar`) that is also a
:class:`~jura_trust.core.calendar.NodeSource`, so
:func:`~jura_trust.core.calendar.calendar_chain` and
:func:`~jura_trust.core.calendar.calendar_root` read from it directly.

Rules every implementation keeps:

* ``append`` returns only once the leaf is durable; a second is never
  skipped backwards or rewritten: appending at or before the head raises
  :class:`~jura_trust.errors.BackendError` with code SVC-07.
* Filler seconds (before the first leaf and between leaves) are not stored.
* Besides the leaves, the store keeps roots of complete aligned subtrees as
  they complete, so any chain costs ``O(log n)`` reads. The memory store
  keeps every such root that holds a leaf; the SQLite store only those it
  cannot recompute in a few hashes (see :class:`SQLiteCalendarStore`).

Implementations: :class:`MemoryCalendarStore` (tests, embedded use) and
:class:`SQLiteCalendarStore` (stdlib :mod:`sqlite3`, WAL, ``synchronous=FULL``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Final, Protocol, runtime_checkable

from jura_trust.core.calendar import (
    FILLER_LEAF,
    MAX_HEIGHT,
    MemoryCalendar,
    completed_subtrees,
    filler_root,
    lift_root,
    sparse_subtree_root,
)
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode

__all__ = [
    "SQLITE_FORMAT",
    "SQLITE_FORMATS_READ",
    "SQLITE_MIN_STORED_HEIGHT",
    "SQLITE_RECOMPUTED_LEAVES",
    "CalendarStore",
    "MemoryCalendarStore",
    "SQLiteCalendarStore",
]

#: The schema identifier written into a new SQLite calendar. Version 2
#: stores fewer subtree roots than version 1 (see :class:`SQLiteCalendarStore`);
#: a reader of version 1 would take a missing root for filler, so version 1
#: code refuses a version 2 file.
SQLITE_FORMAT: Final = "jura_trust.calendar.v2"

#: The schema identifiers this code opens. A version 1 file holds every root
#: version 2 needs (and more); opening it for use marks it version 2, as the
#: roots appended from then on follow the version 2 rule.
SQLITE_FORMATS_READ: Final = ("jura_trust.calendar.v1", SQLITE_FORMAT)

#: The lowest subtree height whose roots the SQLite store keeps (a subtree
#: of more than :data:`SQLITE_RECOMPUTED_LEAVES` leaves has height >= 2).
SQLITE_MIN_STORED_HEIGHT: Final = 2

#: A complete subtree holding at most this many leaves is recomputed from
#: its leaves (one range read, about ``height`` hashes per leaf) rather than
#: stored. Together with "both halves hold a leaf" this bounds the stored
#: roots to ``2 / (3 + 1)`` of the leaves at any round density.
SQLITE_RECOMPUTED_LEAVES: Final = 3


@runtime_checkable
class CalendarStore(Protocol):
    """An append-only calendar store; also a calendar ``NodeSource``."""

    def append(self, second: int, imprint: Imprint) -> None:
        """Store the round root of ``second``; durable before it returns.

        Raises :class:`~jura_trust.errors.BackendError` (SVC-07) when
        ``second`` is not after the head, or when the store fails.
        """
        ...

    def head(self) -> int | None:
        """The last stored second, or ``None`` when empty."""
        ...

    def first(self) -> int | None:
        """The first stored second, or ``None`` when empty."""
        ...

    def leaf(self, second: int) -> bytes:
        """The leaf imprint of ``second`` (the filler leaf for a quiet second).

        Raises :class:`ValueError` after the head.
        """
        ...

    def subtree_root(self, start: int, height: int) -> bytes:
        """The root of the complete aligned subtree ``[start, start + 2**height)``.

        Raises :class:`ValueError` if it is not aligned or reaches past the head.
        """
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


def _check_append_args(second: int, imprint: Imprint) -> None:
    if not isinstance(imprint, Imprint):
        raise TypeError("imprint must be an Imprint")
    if not isinstance(second, int) or isinstance(second, bool):
        raise TypeError("second must be an int")
    if second < 0:
        raise ValueError("second must not be negative")
    if imprint.value == FILLER_LEAF:
        raise ValueError("the filler imprint cannot be appended")


def _not_after_head(second: int, head: int | None) -> BackendError:
    return BackendError(
        f"calendar is append-only: second {second} is not after the head {head}",
        code=ErrorCode.SVC_STORE,
        second=second,
        head=head,
    )


def _check_subtree(start: int, height: int, head: int | None) -> None:
    if not isinstance(start, int) or isinstance(start, bool):
        raise TypeError("start must be an int")
    if start < 0:
        raise ValueError("start must not be negative")
    if not 0 <= height <= MAX_HEIGHT:
        raise ValueError(f"subtree height must be 0..{MAX_HEIGHT}")
    if start & ((1 << height) - 1):
        raise ValueError(f"subtree start {start} is not aligned to 2**{height}")
    if head is None or start + (1 << height) - 1 > head:
        raise ValueError(f"subtree [{start}, +2**{height}) reaches past the head {head}")


class MemoryCalendarStore:
    """A calendar store in memory (for tests and the embedded backend)."""

    __slots__ = ("_calendar", "_closed")

    def __init__(self) -> None:
        self._calendar = MemoryCalendar()
        self._closed = False

    def _open(self) -> MemoryCalendar:
        if self._closed:
            raise BackendError("calendar store is closed", code=ErrorCode.SVC_STORE)
        return self._calendar

    def append(self, second: int, imprint: Imprint) -> None:
        """Store the round root of ``second`` (see :class:`CalendarStore`)."""
        cal = self._open()
        _check_append_args(second, imprint)
        head = cal.head
        if head is not None and second <= head:
            raise _not_after_head(second, head)
        cal.append(second, imprint)

    def append_many(self, items: Iterable[tuple[int, Imprint]]) -> None:
        """Append ``(second, imprint)`` pairs in order."""
        for second, imprint in items:
            self.append(second, imprint)

    def head(self) -> int | None:
        """The last stored second, or ``None`` when empty."""
        return self._open().head

    def first(self) -> int | None:
        """The first stored second, or ``None`` when empty."""
        return self._open().first

    def leaf(self, second: int) -> bytes:
        """The leaf imprint of ``second``."""
        return self._open().leaf(second)

    def subtree_root(self, start: int, height: int) -> bytes:
        """The root of the complete aligned subtree ``[start, start + 2**height)``."""
        return self._open().subtree_root(start, height)

    def close(self) -> None:
        """Forget nothing, but refuse further use."""
        self._closed = True


_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS calendar_meta ( key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS leaf ( second INTEGER PRIMARY KEY, imprint BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS node ("
    " height INTEGER NOT NULL, idx INTEGER NOT NULL, imprint BLOB NOT NULL,"
    " PRIMARY KEY (height, idx)) WITHOUT ROWID",
)


class _RelationalStore:
    """What the SQLite and PostgreSQL calendar stores share: the tables and their reads.

    Tables: ``leaf(second, imprint)`` holds the stored seconds; ``node(height,
    idx, imprint)`` the root of the complete subtree ``[idx * 2**height,
    (idx + 1) * 2**height)`` when both of its halves hold a leaf and it holds
    more than :data:`SQLITE_RECOMPUTED_LEAVES` leaves (see
    :class:`SQLiteCalendarStore`). Statements use ``?`` placeholders;
    :meth:`_exec` adapts them to the driver.
    """

    __slots__ = ("_first", "_head", "_lock")

    _first: int | None
    _head: int | None
    _lock: threading.RLock

    _errors: tuple[type[Exception], ...] = ()

    @property
    def _name(self) -> str:
        raise NotImplementedError

    def _db(self) -> Any:
        raise NotImplementedError

    def _error(self, what: str, exc: Exception) -> BackendError:
        return BackendError(f"calendar store {self._name}: {what}: {exc}", code=ErrorCode.SVC_STORE)

    def _exec(self, conn: Any, sql: str, params: Sequence[object] = ()) -> Any:
        return conn.execute(sql, params)

    def _insert_nodes(self, conn: Any, rows: list[tuple[int, int, bytes]]) -> None:
        conn.executemany("INSERT INTO node (height, idx, imprint) VALUES (?, ?, ?)", rows)

    def _read_bounds(self) -> tuple[int | None, int | None]:
        # Two sub-queries: SQLite answers a lone max() or min() on the key
        # from the index, but scans the table for both in one SELECT.
        row = self._exec(
            self._db(), "SELECT (SELECT max(second) FROM leaf), (SELECT min(second) FROM leaf)"
        ).fetchone()
        return (row[0], row[1]) if row is not None else (None, None)

    def _refresh(self) -> None:
        # Another process may have appended since this one last looked.
        try:
            self._head, self._first = self._read_bounds()
        except self._errors as exc:
            raise self._error("read failed", exc) from exc

    # -- reads ------------------------------------------------------------

    def head(self) -> int | None:
        """The last stored second, or ``None`` when empty (read from the file)."""
        with self._lock:
            self._refresh()
            return self._head

    def first(self) -> int | None:
        """The first stored second, or ``None`` when empty (read from the file)."""
        with self._lock:
            self._refresh()
            return self._first

    def _leaf(self, second: int) -> bytes:
        first = self._first
        if first is None or second < first:
            return FILLER_LEAF
        try:
            row = self._exec(
                self._db(), "SELECT imprint FROM leaf WHERE second = ?", (second,)
            ).fetchone()
        except self._errors as exc:
            raise self._error("read failed", exc) from exc
        return FILLER_LEAF if row is None else bytes(row[0])

    def leaf(self, second: int) -> bytes:
        """The leaf imprint of ``second`` (filler for a quiet second)."""
        with self._lock:
            _check_subtree(second, 0, self._head)
            return self._leaf(second)

    def subtree_root(self, start: int, height: int) -> bytes:
        """The root of the complete aligned subtree ``[start, start + 2**height)``."""
        with self._lock:
            _check_subtree(start, height, self._head)
            if height == 0:
                return self._leaf(start)
            first = self._first
            if first is None or start + (1 << height) - 1 < first:
                return filler_root(height)
            try:
                return self._subtree_root(start, height)
            except self._errors as exc:
                raise self._error("read failed", exc) from exc

    def _node(self, start: int, height: int) -> bytes | None:
        row = self._exec(
            self._db(),
            "SELECT imprint FROM node WHERE height = ? AND idx = ?",
            (height, start >> height),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _subtree_root(self, start: int, height: int) -> bytes:
        if height >= SQLITE_MIN_STORED_HEIGHT:
            stored = self._node(start, height)
            if stored is not None:
                return stored
        end = start + (1 << height) - 1
        db = self._db()
        leaves = [
            (int(second), bytes(imprint))
            for second, imprint in self._exec(
                db,
                "SELECT second, imprint FROM leaf WHERE second BETWEEN ? AND ?"
                " ORDER BY second LIMIT ?",
                (start, end, SQLITE_RECOMPUTED_LEAVES + 1),
            )
        ]
        if len(leaves) <= SQLITE_RECOMPUTED_LEAVES:
            return sparse_subtree_root(start, height, leaves)
        # All leaves lie in the lowest subtree holding the first and the last:
        # both its halves hold a leaf, so its root is stored.
        row = self._exec(
            db,
            "SELECT second FROM leaf WHERE second BETWEEN ? AND ? ORDER BY second DESC LIMIT 1",
            (start, end),
        ).fetchone()
        low_height = (leaves[0][0] ^ int(row[0])).bit_length()
        low = (leaves[0][0] >> low_height) << low_height
        stored = self._node(low, low_height) if low_height < height else None
        if stored is None:
            raise BackendError(
                f"calendar store {self._name}: the root of [{low}, +2**{low_height}) is missing",
                code=ErrorCode.SVC_STORE,
            )
        return lift_root(stored, low, low_height, height)

    # -- writes -----------------------------------------------------------

    def _append_in_transaction(self, conn: Any, second: int, value: bytes) -> None:
        head = self._head
        if head is not None and second <= head:
            raise _not_after_head(second, head)
        nodes = completed_subtrees(self, head, second, value)
        self._exec(conn, "INSERT INTO leaf (second, imprint) VALUES (?, ?)", (second, value))
        rows = [(h, start >> h, root) for h, start, root in nodes if self._keeps(conn, start, h)]
        self._insert_nodes(conn, rows)
        self._head = second
        if self._first is None:
            self._first = second

    def _keeps(self, conn: Any, start: int, height: int) -> bool:
        """Whether the store keeps the root of a subtree just completed (leaf written).

        Kept: both halves hold a leaf and it holds more than
        :data:`SQLITE_RECOMPUTED_LEAVES` leaves.
        """
        if height < SQLITE_MIN_STORED_HEIGHT:
            return False
        end = start + (1 << height) - 1
        seconds = [
            int(r[0])
            for r in self._exec(
                conn,
                "SELECT second FROM leaf WHERE second BETWEEN ? AND ? ORDER BY second LIMIT ?",
                (start, end, SQLITE_RECOMPUTED_LEAVES + 1),
            )
        ]
        if len(seconds) <= SQLITE_RECOMPUTED_LEAVES:
            return False
        middle = start + (1 << (height - 1))
        if seconds[0] >= middle:
            return False
        row = self._exec(
            conn,
            "SELECT second FROM leaf WHERE second BETWEEN ? AND ? ORDER BY second DESC LIMIT 1",
            (start, end),
        ).fetchone()
        return int(row[0]) >= middle


class SQLiteCalendarStore(_RelationalStore):
    """A calendar store in one SQLite file (WAL journal, ``synchronous=FULL``).

    Tables: ``leaf(second, imprint)`` holds the stored seconds; ``node(height,
    idx, imprint)`` the root of the complete subtree ``[idx * 2**height,
    (idx + 1) * 2**height)`` when both of its halves hold a leaf and it holds
    more than :data:`SQLITE_RECOMPUTED_LEAVES` leaves (format version 2).
    Other roots are recomputed on read: a subtree of a few leaves from those
    leaves, and a subtree whose leaves all lie in one half from the lowest
    subtree holding them all (stored), lifted over the filler. Stored roots
    are then at most half as many as the leaves whatever the round density,
    where version 1 stored every root of height >= 2 holding a leaf (about
    ``log2(gap)`` roots per round for rounds ``gap`` seconds apart).

    Each append is one transaction, committed (and synced) before
    :meth:`append` returns. The object is safe to share between threads.
    Several processes may append (each append re-reads the head inside its
    write transaction, and :meth:`head` reads the file), but only one root
    per second is ever stored.

    ``factory`` is the :class:`sqlite3.Connection` class to connect with
    (:func:`sqlite3.connect`'s ``factory``): a hook for tests that inject
    faults around the store's statements.
    """

    __slots__ = ("_conn", "_path")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        factory: type[sqlite3.Connection] = sqlite3.Connection,
    ) -> None:
        self._path = os.fspath(path)
        self._lock = threading.RLock()
        try:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, factory=factory
            )
        except sqlite3.Error as exc:
            raise self._error("cannot open", exc) from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise BackendError(
                    f"calendar store {self._path}: WAL journal not available",
                    code=ErrorCode.SVC_STORE,
                )
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                conn.execute(statement)
            row = conn.execute("SELECT value FROM calendar_meta WHERE key = 'format'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO calendar_meta (key, value) VALUES ('format', ?)", (SQLITE_FORMAT,)
                )
            elif row[0] not in SQLITE_FORMATS_READ:
                conn.execute("ROLLBACK")
                raise BackendError(
                    f"calendar store {self._path} has format {row[0]!r}, not {SQLITE_FORMAT!r}",
                    code=ErrorCode.SVC_STORE,
                )
            elif row[0] != SQLITE_FORMAT:
                # Version 1 holds every root version 2 reads; from now on the
                # store follows version 2, which version 1 code cannot read.
                conn.execute(
                    "UPDATE calendar_meta SET value = ? WHERE key = 'format'", (SQLITE_FORMAT,)
                )
            conn.execute("COMMIT")
            self._head, self._first = self._read_bounds()
        except BaseException:
            conn.close()
            self._conn = None
            raise

    _errors = (sqlite3.Error,)

    @property
    def _name(self) -> str:
        return self._path

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise BackendError("calendar store is closed", code=ErrorCode.SVC_STORE)
        return self._conn

    def _write(self, items: Iterable[tuple[int, Imprint]]) -> None:
        with self._lock:
            conn = self._db()
            try:
                conn.execute("BEGIN IMMEDIATE")
                # Another process may have written since this one last looked.
                self._head, self._first = self._read_bounds()
                for second, imprint in items:
                    _check_append_args(second, imprint)
                    self._append_in_transaction(conn, second, imprint.value)
                conn.execute("COMMIT")
            except BaseException as exc:
                # Whatever failed, the file is the truth: roll back what is
                # open and read the bounds again (a failed COMMIT may or may
                # not have stored the second; the next append sees which).
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                with contextlib.suppress(sqlite3.Error):
                    self._head, self._first = self._read_bounds()
                if isinstance(exc, sqlite3.Error):
                    raise self._error("write failed", exc) from exc
                raise

    def append(self, second: int, imprint: Imprint) -> None:
        """Store the round root of ``second``; committed and synced on return.

        Raises :class:`~jura_trust.errors.BackendError` (SVC-07) when
        ``second`` is not after the head or SQLite fails.
        """
        _check_append_args(second, imprint)
        self._write(((second, imprint),))

    def append_many(self, items: Iterable[tuple[int, Imprint]]) -> None:
        """Append ``(second, imprint)`` pairs in order, in one transaction.

        All or nothing: on any error no pair is stored. For imports and
        tests; a live calendar appends one second at a time.
        """
        self._write(items)

    def close(self) -> None:
        """Close the database (checkpointing the WAL). Idempotent."""
        with self._lock:
            conn = self._conn
            self._conn = None
            if conn is not None:
                conn.close()

    def __enter__(self) -> SQLiteCalendarStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

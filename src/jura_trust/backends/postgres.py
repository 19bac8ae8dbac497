"""The calendar on PostgreSQL: the store, the writer lease, hand-offs between processes (layer 9).

Needs the ``postgres`` extra (psycopg 3). Everything lives in one database
given by a DSN (``postgresql://USER@HOST:PORT/DB``):

* :class:`PostgresCalendarStore`: the :class:`~jura_trust.backends.stores.CalendarStore`
  (tables ``leaf`` and ``node``, the same layout and node rule as the
  SQLite store). Every append is one transaction with
  ``synchronous_commit = on``: it returns only once the commit is durable
  (on the primary, and on synchronous standbys when the cluster names
  some).
* ``schema_version``: the schema's migrations (:data:`SCHEMA_VERSION`),
  applied by :func:`migrate` (``jura-trust store migrate``; a writable
  store migrates when it opens).
* :class:`WriterLease`: exactly one process writes the calendar. The lease
  is a row ``writer_lease(holder, token, expires)``; taking it over after
  it expired increments the *fencing token*, and every calendar write
  checks, inside its own transaction and under a row lock, that the token
  it holds is still the current one and unexpired. A deposed writer (paused,
  partitioned, or slow) therefore cannot complete a write: its transaction
  fails the check and rolls back. (Why a lease row and not an advisory
  lock: docs/architecture.md.)
* :class:`ClusterCalendar`: the :class:`~jura_trust.backends.parts.Calendar`
  of a ``jura-trust serve`` process on the database. While it holds the
  lease it is the calendar writer; otherwise it *hands off* its round roots
  (table ``handoff``) to the writer, which aggregates them, as a parent
  aggregator does its children's, into the next second's calendar leaf and
  records each hand-off's aggregation chain in the same transaction as the
  leaf. A hand-off not taken within :data:`HANDOFF_TIMEOUT` is withdrawn
  (deleted, so no writer can take it later) and the round answered with an
  error.
* :class:`PostgresPublications` and :class:`PostgresKeyStore`: the
  publications file and the signing keys shared by the processes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from jura_trust import pki
from jura_trust.backends.base import Clock, SystemClock
from jura_trust.backends.parts import (
    Anchor,
    build_publications_file,
    generate_signer,
    relative_chain,
    sign_calendar_head,
)
from jura_trust.backends.stores import _check_append_args, _RelationalStore
from jura_trust.core import calendar as cal
from jura_trust.core import tlv
from jura_trust.core.chains import AggregationChain, Metadata
from jura_trust.core.hashing import DEFAULT_ALGORITHM, HashAlgorithm, Imprint
from jura_trust.core.publication import PublicationRecord
from jura_trust.core.tree import TreeBuilder
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.publications import PublicationsFile

try:
    import psycopg
except ImportError:  # pragma: no cover - the extra is not installed
    psycopg = None  # type: ignore[assignment]

__all__ = [
    "HANDOFF_GRACE",
    "HANDOFF_KEEP_SECONDS",
    "HANDOFF_TIMEOUT",
    "KEEPER_PHASE",
    "LEASE_SECONDS",
    "MEMBERS_ACTIVE_SECONDS",
    "POLL_SECONDS",
    "SCHEMA_VERSION",
    "ClusterCalendar",
    "PostgresCalendarStore",
    "PostgresKeyStore",
    "PostgresPublications",
    "WriterLease",
    "connect",
    "default_member_name",
    "is_dsn",
    "migrate",
    "migrate_dsn",
    "read_signing_certificates",
    "schema_version",
]

#: The schema version this code writes (table ``schema_version``).
SCHEMA_VERSION: Final = 1
#: Seconds a writer lease lasts unless renewed (renewed every third of it).
LEASE_SECONDS: Final = 4.0
#: Seconds a process waits for the writer to take a hand-off before it
#: withdraws it and answers the round with an error.
HANDOFF_TIMEOUT: Final = 12.0
#: How often a waiting hand-off, and the writer for hand-offs, look (seconds).
POLL_SECONDS: Final = 0.05
#: Seconds after the start of its second the writer waits before taking the
#: hand-offs into its own round, so that processes whose rounds closed at the
#: same tick get the same second (only while other processes hand off).
HANDOFF_GRACE: Final = 0.3
#: The fraction of a second after which the writer anchors hand-offs alone
#: when it had no round of its own in that second.
KEEPER_PHASE: Final = 0.6
#: Other processes count as active this long after their last hand-off.
MEMBERS_ACTIVE_SECONDS: Final = 10.0
#: Seconds a taken hand-off row is kept (its member reads it within
#: :data:`POLL_SECONDS`); the writer deletes older ones.
HANDOFF_KEEP_SECONDS: Final = 300
#: Serialises migrations of one database (a transaction-level advisory lock).
_MIGRATION_LOCK: Final = 0x6A75726154
#: Every migration, in order: ``_MIGRATIONS[v - 1]`` makes version ``v``.
_MIGRATIONS: Final = (
    (
        "CREATE TABLE leaf (second BIGINT PRIMARY KEY, imprint BYTEA NOT NULL)",
        "CREATE TABLE node (height SMALLINT NOT NULL, idx BIGINT NOT NULL,"
        " imprint BYTEA NOT NULL, PRIMARY KEY (height, idx))",
        "CREATE TABLE writer_lease (id SMALLINT PRIMARY KEY CHECK (id = 1),"
        " holder TEXT NOT NULL, token BIGINT NOT NULL, expires TIMESTAMPTZ NOT NULL)",
        "INSERT INTO writer_lease VALUES (1, '', 0, '-infinity')",
        "CREATE TABLE handoff (id BIGSERIAL PRIMARY KEY, member TEXT NOT NULL,"
        " root BYTEA NOT NULL, level SMALLINT NOT NULL, second BIGINT, chain BYTEA,"
        " created TIMESTAMPTZ NOT NULL DEFAULT now())",
        "CREATE INDEX handoff_open ON handoff (id) WHERE second IS NULL",
        "CREATE TABLE publications_file (id SMALLINT PRIMARY KEY CHECK (id = 1),"
        " version BIGINT NOT NULL, data BYTEA NOT NULL)",
        "CREATE TABLE signing_key (role TEXT PRIMARY KEY, key_pem BYTEA NOT NULL,"
        " cert_pem BYTEA NOT NULL)",
    ),
)


def is_dsn(text: str) -> bool:
    """Whether ``text`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return text.startswith(("postgresql://", "postgres://"))


def _need_psycopg() -> None:
    if psycopg is None:
        raise BackendError(
            "a PostgreSQL store needs psycopg 3: pip install 'jura-trust[postgres]'",
            code=ErrorCode.SVC_CONFIG,
        )


def _redact(dsn: str) -> str:
    # never print a password
    head, sep, tail = dsn.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return dsn
    scheme, _, user = head.partition("//")
    return f"{scheme}//{user.split(':', 1)[0]}:***@{tail}"


def connect(
    dsn: str, connection_class: Any = None, *, read_only: bool = False, name: str = "jura-trust"
) -> Any:
    """An autocommit connection with durable commits (``synchronous_commit = on``)."""
    _need_psycopg()
    cls = connection_class if connection_class is not None else psycopg.Connection
    try:
        conn = cls.connect(dsn, autocommit=True, application_name=name, connect_timeout=5)
        if read_only:
            conn.execute("SET default_transaction_read_only = on")
        else:
            conn.execute("SET synchronous_commit = on")
    except psycopg.Error as exc:
        raise BackendError(
            f"cannot connect to {_redact(dsn)}: {exc}", code=ErrorCode.SVC_STORE
        ) from None
    return conn


def schema_version(conn: Any) -> int:
    """The database's schema version (0 for a database without jura_trust tables)."""
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row[0]:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: Any) -> tuple[int, int]:
    """Bring the schema to :data:`SCHEMA_VERSION`; return ``(before, after)``.

    Runs in one transaction under an advisory lock, so concurrent processes
    migrate once. A database of a newer version is refused (SVC-07).
    """
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
            " applied TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        before = schema_version(conn)
        if before > SCHEMA_VERSION:
            raise BackendError(
                f"the database has schema version {before}; this jura_trust knows "
                f"{SCHEMA_VERSION} at most",
                code=ErrorCode.SVC_STORE,
            )
        for version in range(before + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")
        raise
    return before, SCHEMA_VERSION


def migrate_dsn(dsn: str) -> tuple[int, int]:
    """:func:`migrate` the database ``dsn`` names (``jura-trust store migrate``)."""
    conn = connect(dsn, name="jura-trust migrate")
    try:
        return migrate(conn)
    except psycopg.Error as exc:
        raise BackendError(
            f"migrating {_redact(dsn)} failed: {exc}", code=ErrorCode.SVC_STORE
        ) from None
    finally:
        conn.close()


#: A check run inside a calendar write's transaction; raises to abort it.
Fence = Callable[[Any], None]
#: More writes in a calendar write's transaction: ``(conn, second, leaf)``.
Extra = Callable[[Any, int, bytes], None]


class PostgresCalendarStore(_RelationalStore):
    """A calendar store in PostgreSQL (see the module docstring).

    Args:
        dsn: the database.
        connection_class: the :class:`psycopg.Connection` class to connect
            with: a hook for tests that inject faults around statements.
        read_only: for a replica (extending, publications): never writes,
            never migrates, and refuses appends (SVC-05).
        fence: a check every write runs first inside its transaction (the
            writer lease's; see :class:`WriterLease`).

    Safe to share between threads (one connection, a lock); a broken
    connection is replaced on the next use. Several processes may append:
    a write locks the ``leaf`` table against other writers (readers go on)
    and re-reads the head inside its transaction.
    """

    __slots__ = ("_closed", "_conn", "_connection_class", "_dsn", "_fence", "_read_only")

    _errors = (psycopg.Error,) if psycopg is not None else ()

    def __init__(
        self,
        dsn: str,
        *,
        connection_class: Any = None,
        read_only: bool = False,
        fence: Fence | None = None,
    ) -> None:
        _need_psycopg()
        self._dsn = dsn
        self._connection_class = connection_class
        self._read_only = read_only
        self._fence = fence
        self._lock = threading.RLock()
        self._conn: Any = None
        self._closed = False
        conn = self._db()
        try:
            if read_only:
                version = schema_version(conn)
                if version != SCHEMA_VERSION:
                    raise BackendError(
                        f"calendar store {self._name}: schema version {version}, "
                        f"expected {SCHEMA_VERSION} (run `jura-trust store migrate`)",
                        code=ErrorCode.SVC_STORE,
                    )
            else:
                migrate(conn)
            self._head, self._first = self._read_bounds()
        except psycopg.Error as exc:
            self.close()
            raise self._error("cannot open", exc) from None
        except BaseException:
            self.close()
            raise

    @property
    def _name(self) -> str:
        return _redact(self._dsn)

    @property
    def dsn(self) -> str:
        """The database this store uses."""
        return self._dsn

    def _db(self) -> Any:
        if self._closed:
            raise BackendError("calendar store is closed", code=ErrorCode.SVC_STORE)
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            self._conn = None
            conn = connect(
                self._dsn,
                self._connection_class,
                read_only=self._read_only,
                name="jura-trust calendar",
            )
            self._conn = conn
        return conn

    def _exec(self, conn: Any, sql: str, params: Sequence[object] = ()) -> Any:
        return conn.execute(sql.replace("?", "%s"), params)

    def _insert_nodes(self, conn: Any, rows: list[tuple[int, int, bytes]]) -> None:
        conn.execute(
            "INSERT INTO node (height, idx, imprint)"
            " SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])",
            ([h for h, _, _ in rows], [i for _, i, _ in rows], [r for _, _, r in rows]),
        )

    def _write(self, items: Iterable[tuple[int, Imprint]], extra: Extra | None = None) -> None:
        if self._read_only:
            raise BackendError(
                f"calendar store {self._name} is read-only (a replica)",
                code=ErrorCode.SVC_REFUSED,
            )
        with self._lock:
            conn = self._db()
            try:
                conn.execute("BEGIN")
                # one writer at a time (readers go on); then the head as it is
                conn.execute("LOCK TABLE leaf IN EXCLUSIVE MODE")
                if self._fence is not None:
                    self._fence(conn)
                self._head, self._first = self._read_bounds()
                for second, imprint in items:
                    _check_append_args(second, imprint)
                    self._append_in_transaction(conn, second, imprint.value)
                    if extra is not None:
                        extra(conn, second, imprint.value)
                conn.execute("COMMIT")
            except BaseException as exc:
                # The database is the truth: roll back what is open and read
                # the bounds again (a failed COMMIT may or may not have
                # stored the second; the next append sees which).
                with contextlib.suppress(Exception):
                    if not conn.broken and not conn.closed:
                        conn.execute("ROLLBACK")
                with contextlib.suppress(Exception):
                    self._head, self._first = self._read_bounds()
                if isinstance(exc, psycopg.Error):
                    raise self._error("write failed", exc) from None
                raise

    def append(self, second: int, imprint: Imprint) -> None:
        """Store the round root of ``second``; the commit is durable on return."""
        _check_append_args(second, imprint)
        self._write(((second, imprint),))

    def append_with(self, second: int, imprint: Imprint, extra: Extra) -> None:
        """Like :meth:`append`, running ``extra`` in the same transaction."""
        _check_append_args(second, imprint)
        self._write(((second, imprint),), extra)

    def append_many(self, items: Iterable[tuple[int, Imprint]]) -> None:
        """Append ``(second, imprint)`` pairs in order, in one transaction."""
        self._write(items)

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def __enter__(self) -> PostgresCalendarStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Shared:
    """A lazily reconnecting connection with a lock (for the small shared tables)."""

    def __init__(self, dsn: str, *, read_only: bool = False, name: str = "jura-trust") -> None:
        self.dsn = dsn
        self._read_only = read_only
        self._name = name
        self._lock = threading.RLock()
        self._conn: Any = None

    @contextlib.contextmanager
    def conn(self) -> Any:
        with self._lock:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                self._conn = conn = connect(self.dsn, read_only=self._read_only, name=self._name)
            try:
                yield conn
            except psycopg.Error as exc:
                with contextlib.suppress(Exception):
                    if not conn.broken:
                        conn.execute("ROLLBACK")
                raise BackendError(
                    f"database {_redact(self.dsn)}: {exc}", code=ErrorCode.SVC_STORE
                ) from None

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()


class PostgresKeyStore:
    """Signing keys in the table ``signing_key``, created once by whichever process comes first.

    The database then holds the private keys: give key files (or an HSM
    signer) in production, and keep this for tests and small deployments.
    """

    def __init__(self, dsn: str, clock: Clock | None = None) -> None:
        self._db = _Shared(dsn, name="jura-trust keys")
        self._clock = clock or SystemClock()

    def signer(self, role: str, subject: Mapping[str, str]) -> pki.CalendarSigner:
        """The key of ``role`` (see :class:`~jura_trust.backends.parts.KeyStore`)."""
        with self._db.conn() as conn:
            row = conn.execute(
                "SELECT key_pem, cert_pem FROM signing_key WHERE role = %s", (role,)
            ).fetchone()
            if row is None:
                new = generate_signer(subject, int(self._clock.now()))
                conn.execute(
                    "INSERT INTO signing_key VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (role, new.private_key_pem(), new.certificate_pem()),
                )
                row = conn.execute(
                    "SELECT key_pem, cert_pem FROM signing_key WHERE role = %s", (role,)
                ).fetchone()
        return pki.CalendarSigner.from_pem(bytes(row[0]), bytes(row[1]))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


class PostgresPublications:
    """The publications file in the table ``publications_file`` (one row, versioned).

    A commit replaces the row only if nobody else did since this process
    read it (compare-and-set on ``version``); otherwise it fails with SVC-07
    and the caller reads again. Readable from a replica (``read_only``).
    """

    def __init__(
        self,
        dsn: str,
        publisher: pki.CalendarSigner | None,
        calendar_certificate: pki.Certificate | None,
        clock: Clock | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        self._db = _Shared(dsn, read_only=read_only, name="jura-trust publications")
        self._publisher = publisher
        self._calendar_certificate = calendar_certificate
        self._clock = clock or SystemClock()
        self._read_only = read_only
        self._version: int | None = None
        self._records: list[PublicationRecord] = []
        self._certificates: dict[bytes, pki.Certificate] = {}
        self._bytes: bytes | None = None

    def refresh(self) -> None:
        """Read the file again if another process changed it."""
        with self._db.conn() as conn:
            row = conn.execute(
                "SELECT version, data FROM publications_file WHERE id = 1"
            ).fetchone()
        if row is None or row[0] == self._version:
            return
        data = bytes(row[1])
        parsed = PublicationsFile.parse(data)
        self._records = list(parsed.publications)
        self._certificates = {r.certificate_id: r.certificate for r in parsed.certificates}
        self._bytes = data
        self._version = int(row[0])

    @property
    def records(self) -> Sequence[PublicationRecord]:
        """The publications, oldest first."""
        return self._records

    @property
    def certificate_ids(self) -> frozenset[bytes]:
        """The calendar certificates the file holds."""
        return frozenset(self._certificates)

    @property
    def file_bytes(self) -> bytes:
        """The signed file."""
        if self._bytes is None:
            self.refresh()
        if self._bytes is None:
            raise BackendError("no publications file yet", code=ErrorCode.SVC_NO_PUBLICATION)
        return self._bytes

    def commit(self, records: Sequence[PublicationRecord]) -> None:
        """Sign and store the file (compare-and-set); adopt it once committed."""
        if self._read_only or self._publisher is None:
            raise BackendError(
                "the publications file is read-only here", code=ErrorCode.SVC_REFUSED
            )
        certs = dict(self._certificates)
        if self._calendar_certificate is not None:
            cert_id = pki.certificate_id(self._calendar_certificate)
            certs[cert_id] = self._calendar_certificate
        data = build_publications_file(records, certs, self._publisher, int(self._clock.now()))
        with self._db.conn() as conn:
            if self._version is None:
                cur = conn.execute(
                    "INSERT INTO publications_file VALUES (1, 1, %s) ON CONFLICT DO NOTHING",
                    (data,),
                )
            else:
                cur = conn.execute(
                    "UPDATE publications_file SET data = %s, version = version + 1"
                    " WHERE id = 1 AND version = %s",
                    (data, self._version),
                )
        if cur.rowcount != 1:
            raise BackendError(
                "the publications file was changed by another process; read it again",
                code=ErrorCode.SVC_STORE,
            )
        self._version = 1 if self._version is None else self._version + 1
        self._certificates = certs
        self._records = sorted(records, key=lambda p: p.publication_time)
        self._bytes = data

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def read_signing_certificates(dsn: str) -> tuple[pki.Certificate, pki.Certificate]:
    """The calendar and publisher certificates stored in ``dsn`` (a replica will do).

    A process that only extends needs the trust anchor but no private key.
    Raises SVC-08 when the database holds no keys (configure key files).
    """
    db = _Shared(dsn, read_only=True, name="jura-trust keys")
    try:
        with db.conn() as conn:
            rows = dict(conn.execute("SELECT role, cert_pem FROM signing_key").fetchall())
    finally:
        db.close()
    try:
        return (
            pki.load_certificate(bytes(rows["calendar"])),
            pki.load_certificate(bytes(rows["publisher"])),
        )
    except KeyError:
        raise BackendError(
            f"{_redact(dsn)} holds no signing certificates yet", code=ErrorCode.SVC_CONFIG
        ) from None


def default_member_name() -> str:
    """This process's name in the lease and hand-offs: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class WriterLease:
    """The calendar writer lease: a row with a holder, a fencing token and an expiry.

    :meth:`try_hold` takes the lease when it is free or expired (the token
    goes up by one) or renews it when this process holds it; :meth:`fence`
    is the check every calendar write runs in its transaction. Times are
    the database's clock, so processes' clocks need not agree.
    """

    def __init__(self, dsn: str, member: str, *, seconds: float = LEASE_SECONDS) -> None:
        self._db = _Shared(dsn, name="jura-trust lease")
        self.member = member
        self.seconds = seconds
        self._token: int | None = None
        self._valid_until = 0.0

    @property
    def token(self) -> int | None:
        """The fencing token held, or ``None``."""
        return self._token

    def held(self) -> bool:
        """Whether this process believes it holds the lease (by its own clock, with a margin)."""
        return self._token is not None and time.monotonic() < self._valid_until

    def try_hold(self) -> bool:
        """Take or renew the lease; return whether this process holds it now."""
        started = time.monotonic()
        interval = f"{self.seconds} seconds"
        try:
            with self._db.conn() as conn:
                if self._token is not None:
                    row = conn.execute(
                        "UPDATE writer_lease SET expires = clock_timestamp() + %s::interval"
                        " WHERE id = 1 AND holder = %s AND token = %s"
                        " AND expires > clock_timestamp() RETURNING token",
                        (interval, self.member, self._token),
                    ).fetchone()
                else:
                    row = None
                if row is None:
                    row = conn.execute(
                        "UPDATE writer_lease SET holder = %s, token = token + 1,"
                        " expires = clock_timestamp() + %s::interval"
                        " WHERE id = 1 AND expires <= clock_timestamp() RETURNING token",
                        (self.member, interval),
                    ).fetchone()
        except BackendError:
            self._token = None
            return False
        if row is None:
            self._token = None
            return False
        self._token = int(row[0])
        # trust the lease locally for less than it lasts, counted from before the call
        self._valid_until = started + self.seconds * 0.75
        return True

    def fence(self, conn: Any) -> None:
        """Abort the calling write unless this process still holds the current, unexpired lease.

        Runs inside the write's transaction and locks the lease row, so a
        takeover waits for the write to finish, and a write after a
        takeover fails.
        """
        token = self._token
        row = (
            None
            if token is None
            else conn.execute(
                "SELECT 1 FROM writer_lease WHERE id = 1 AND holder = %s AND token = %s"
                " AND expires > clock_timestamp() FOR SHARE",
                (self.member, token),
            ).fetchone()
        )
        if row is None:
            self._token = None
            raise BackendError(
                "this process no longer holds the calendar writer lease; the round is not "
                "committed",
                code=ErrorCode.SVC_STORE,
                fencing_token=token,
            )

    def release(self) -> None:
        """Give the lease up (a clean shutdown), so another process takes it at once."""
        token, self._token = self._token, None
        if token is not None:
            with contextlib.suppress(BackendError), self._db.conn() as conn:
                conn.execute(
                    "UPDATE writer_lease SET expires = '-infinity'"
                    " WHERE id = 1 AND holder = %s AND token = %s",
                    (self.member, token),
                )
        self._db.close()


class ClusterCalendar:
    """The calendar of one of several processes on one database (see the module docstring).

    Args:
        store: the (writable) calendar store, fenced by ``lease``.
        lease: the writer lease.
        signer: the calendar key (shared by the processes) that signs heads.
        clock: the wall clock.
        algorithm: the hash algorithm of the writer's top tree.
        handoff_timeout: seconds to wait for the writer before a round is
            withdrawn and answered with an error.

    Call :meth:`start` to run the lease keeper (a daemon thread that takes
    or renews the lease and, while this process is the writer, commits the
    hand-offs of other processes every :data:`POLL_SECONDS`), and
    :meth:`stop` to end it and release the lease.
    """

    def __init__(
        self,
        store: PostgresCalendarStore,
        lease: WriterLease,
        signer: pki.CalendarSigner,
        *,
        clock: Clock | None = None,
        algorithm: HashAlgorithm = DEFAULT_ALGORITHM,
        handoff_timeout: float = HANDOFF_TIMEOUT,
    ) -> None:
        self.store = store
        self.lease = lease
        self.signer = signer
        self._clock = clock or SystemClock()
        self.algorithm = algorithm
        self.handoff_timeout = handoff_timeout
        self._write_lock = threading.Lock()
        self._handoffs = _Shared(store.dsn, name="jura-trust handoff")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sequence = 0
        self._members_seen = -MEMBERS_ACTIVE_SECONDS
        #: Counters for /metrics and tests.
        self.stats: dict[str, int] = {
            "rounds_written": 0,
            "handoffs_taken": 0,
            "handoffs_sent": 0,
            "handoffs_withdrawn": 0,
            "lease_acquired": 0,
        }

    @property
    def local(self) -> bool:
        """True while this process holds the writer lease."""
        return self.lease.held()

    def head(self) -> int | None:
        """The last second the calendar holds."""
        return self.store.head()

    def first(self) -> int | None:
        """The first second the calendar holds."""
        return self.store.first()

    def gauges(self) -> dict[str, Callable[[], float | None]]:
        """``/metrics`` gauges: the lease, its fencing token, hand-offs and rounds written."""
        out: dict[str, Callable[[], float | None]] = {
            "writer_lease_held": lambda: 1.0 if self.lease.held() else 0.0,
            "writer_lease_token": lambda: self.lease.token,
        }
        for key in self.stats:
            out[f"cluster_{key}"] = lambda key=key: self.stats[key]  # type: ignore[misc]
        return out

    # -- the lease keeper ---------------------------------------------------

    def start(self) -> None:
        """Start the lease keeper thread (idempotent)."""
        if self._thread is None:
            self.keep_lease()
            self._thread = threading.Thread(target=self._run, name="jura-trust-lease", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the keeper and release the lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.lease.release()
        self._handoffs.close()

    def keep_lease(self) -> bool:
        """Take or renew the lease once; return whether this process is the writer."""
        was = self.lease.token
        held = self.lease.try_hold()
        if held and self.lease.token != was:
            self.stats["lease_acquired"] += 1
        return held

    def _run(self) -> None:
        renew_every = self.lease.seconds / 3
        last = cleaned = time.monotonic()
        while not self._stop.wait(POLL_SECONDS):
            now = time.monotonic()
            if now - last >= renew_every or not self.lease.held():
                self.keep_lease()
                last = now
            if self.lease.held():
                with contextlib.suppress(BackendError):
                    self.commit_handoffs()
                if now - cleaned >= 10:
                    cleaned = now
                    with contextlib.suppress(BackendError), self._handoffs.conn() as conn:
                        conn.execute(
                            "DELETE FROM handoff WHERE second IS NOT NULL"
                            " AND created < now() - %s::interval",
                            (f"{HANDOFF_KEEP_SECONDS} seconds",),
                        )

    # -- writing ------------------------------------------------------------

    def _next_second(self) -> int:
        head = self.store.head()
        now = self._clock.now()
        second = int(now)
        if head is not None and second <= head:
            self._clock.sleep(head + 1 - now)
            second = max(int(self._clock.now()), head + 1)
        return second

    def _metadata(self, member: str) -> Metadata:
        self._sequence += 1
        return Metadata.build(
            member,
            sequence_number=self._sequence,
            request_time=int(self._clock.now() * 1_000_000),
        )

    def _write_round(
        self, own: tuple[Imprint, int] | None, second: int | None
    ) -> tuple[int, tuple[AggregationChain, ...]] | None:
        """Commit one calendar second holding ``own`` and every open hand-off.

        Returns ``(second, upper chains of own)``, or ``None`` when there
        was nothing to write. Runs under the fence: a deposed writer fails.
        """
        with self._write_lock:

            def extra(conn: Any, sec: int, leaf: bytes) -> None:
                # the hand-offs' chains are committed with the leaf, or not at all
                for hid, chain in pending_chains:
                    conn.execute(
                        "UPDATE handoff SET second = %s, chain = %s"
                        " WHERE id = %s AND second IS NULL",
                        (sec, chain, hid),
                    )

            if second is not None:
                target = second
            elif own is not None:
                target = self._next_second()
                if time.monotonic() - self._members_seen < MEMBERS_ACTIVE_SECONDS:
                    # the other processes closed their rounds at the same tick:
                    # give their hand-offs a moment to arrive for this second
                    delay = target + HANDOFF_GRACE - self._clock.now()
                    if delay > 0:
                        self._clock.sleep(delay)
            else:
                # the keeper: hand-offs alone, late in a second no round took
                now = self._clock.now()
                target = int(now)
                head = self.store.head()
                if now - target < KEEPER_PHASE or (head is not None and head >= target):
                    return None
            with self._handoffs.conn() as conn:
                rows = conn.execute(
                    "SELECT id, member, root, level FROM handoff WHERE second IS NULL"
                    " ORDER BY id LIMIT 4000"
                ).fetchall()
            if own is None and not rows:
                return None
            if rows:
                self._members_seen = time.monotonic()
            builder = TreeBuilder(self.algorithm)
            leaves: list[tuple[Imprint, int]] = []
            if own is not None:
                leaves.append(own)
                if rows:
                    builder.add_leaf(
                        own[0], level=own[1], metadata=self._metadata(self.lease.member)
                    )
            for _, member, root, level in rows:
                imprint = Imprint(bytes(root))
                leaves.append((imprint, int(level)))
                builder.add_leaf(imprint, level=int(level), metadata=self._metadata(str(member)))
            if rows:
                tree = builder.build()
                leaf = tree.root
                chains = [
                    relative_chain(tree.chain(i, target), leaves[i][1]) for i in range(len(leaves))
                ]
            else:
                assert own is not None
                leaf, chains = own[0], []
            offset = 1 if own is not None else 0
            pending_chains = [
                (int(row[0]), chains[offset + i].encode()) for i, row in enumerate(rows)
            ]
            self.store.append_with(target, leaf, extra)
            self.stats["rounds_written"] += 1
            self.stats["handoffs_taken"] += len(rows)
            upper = (chains[0],) if own is not None and rows else ()
            return target, upper

    def commit_handoffs(self) -> int | None:
        """As the writer: commit a second for the open hand-offs, if any (its second or None)."""
        written = self._write_round(None, None)
        return None if written is None else written[0]

    def commit(self, root: Imprint, level: int, second: int | None = None) -> Anchor:
        """Anchor ``root``: as the writer directly, otherwise by a hand-off to the writer."""
        if self.lease.held() or second is not None:
            written = self._write_round((root, level), second)
            assert written is not None
            target, upper = written
        else:
            target, upper = self._hand_off(root, level)
        self.store.head()  # read the bounds: the writer may be another process
        chain = cal.calendar_chain(self.store, target, target)
        return Anchor(target, upper, chain, sign_calendar_head(self.signer, chain))

    def _hand_off(self, root: Imprint, level: int) -> tuple[int, tuple[AggregationChain, ...]]:
        with self._handoffs.conn() as conn:
            row = conn.execute(
                "INSERT INTO handoff (member, root, level) VALUES (%s, %s, %s) RETURNING id",
                (self.lease.member, root.value, level),
            ).fetchone()
        hid = int(row[0])
        self.stats["handoffs_sent"] += 1
        deadline = time.monotonic() + self.handoff_timeout
        while True:
            time.sleep(POLL_SECONDS)
            withdrawn = False
            try:
                with self._handoffs.conn() as conn:
                    if time.monotonic() >= deadline:
                        # Withdraw it, so no writer can take it later; if the
                        # delete finds nothing, the writer took it meanwhile.
                        withdrawn = bool(
                            conn.execute(
                                "DELETE FROM handoff WHERE id = %s AND second IS NULL", (hid,)
                            ).rowcount
                        )
                    found = conn.execute(
                        "SELECT second, chain FROM handoff WHERE id = %s", (hid,)
                    ).fetchone()
            except BackendError:
                if time.monotonic() >= deadline + self.handoff_timeout:
                    raise
                continue  # the database is away: keep trying a while
            if withdrawn:
                self.stats["handoffs_withdrawn"] += 1
                raise BackendError(
                    f"no calendar writer took the round in {self.handoff_timeout:g} s; "
                    "the round is not committed",
                    code=ErrorCode.SVC_STORE,
                )
            if found is not None and found[0] is not None:
                chain = AggregationChain.from_tlv(tlv.decode(bytes(found[1])))
                return int(found[0]), (chain,)

"""PostgreSQL specifics: durable commits, the schema version, replicas, the fenced writer lease.

The store contract and fault matrix run on PostgreSQL through
``store_contract.PostgresKind`` (``test_stores.py``, ``test_store_faults.py``).
Needs ``JURA_TRUST_TEST_PG`` (:mod:`tests.pg`): fails in CI without it.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from jura_trust.backends.postgres import (
    SCHEMA_VERSION,
    ClusterCalendar,
    PostgresCalendarStore,
    PostgresKeyStore,
    PostgresPublications,
    WriterLease,
    migrate_dsn,
)
from jura_trust.core.calendar import calendar_root
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode
from tests.pg import drop_schema, new_schema_dsn


def imp(i: int) -> Imprint:
    return Imprint.hash(b"round %d" % i)


@pytest.fixture
def dsn() -> Iterator[str]:
    dsn, schema = new_schema_dsn()
    yield dsn
    drop_schema(schema)


def test_acknowledged_only_after_a_synchronous_commit(dsn: str) -> None:
    # even when the session default says otherwise, the store commits synchronously
    lax = dsn.replace("options=", "options=-csynchronous_commit%3Doff%20")
    with PostgresCalendarStore(lax) as store:
        assert store._db().execute("SHOW synchronous_commit").fetchone()[0] == "on"
        store.append(5, imp(5))
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM leaf").fetchone()[0] == 1


def test_schema_version_table_and_explicit_migrate(dsn: str) -> None:
    assert migrate_dsn(dsn) == (0, SCHEMA_VERSION)
    assert migrate_dsn(dsn) == (SCHEMA_VERSION, SCHEMA_VERSION)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 1
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(BackendError) as info:
        PostgresCalendarStore(dsn)
    assert info.value.code is ErrorCode.SVC_STORE
    assert "schema version" in info.value.message


def test_replica_store_refuses_writes_and_unmigrated_schemas(dsn: str) -> None:
    with pytest.raises(BackendError) as info:
        PostgresCalendarStore(dsn, read_only=True)
    assert "store migrate" in info.value.message
    with PostgresCalendarStore(dsn) as primary:
        primary.append(3, imp(3))
        primary.append(9, imp(9))
    with PostgresCalendarStore(dsn, read_only=True) as replica:
        assert replica.head() == 9
        assert calendar_root(replica, 9) is not None
        with pytest.raises(BackendError) as info:
            replica.append(10, imp(10))
        assert info.value.code is ErrorCode.SVC_REFUSED


def test_two_stores_on_one_database_never_give_a_second_two_roots(dsn: str) -> None:
    with PostgresCalendarStore(dsn) as a, PostgresCalendarStore(dsn) as b:
        a.append(1, imp(1))
        with pytest.raises(BackendError) as info:
            b.append(1, imp(2))
        assert info.value.code is ErrorCode.SVC_STORE
        b.append(2, imp(2))
        assert a.head() == 2
        assert a.leaf(1) == imp(1).value


def test_lost_connection_is_replaced(dsn: str) -> None:
    with PostgresCalendarStore(dsn) as store:
        store.append(1, imp(1))
        pid = store._db().info.backend_pid
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(BackendError):
            store.append(2, imp(2))  # the statement on the dead connection fails...
        store.append(3, imp(3))  # ...and the next one reconnects
        assert store.head() == 3


def test_deposed_writer_cannot_complete_a_fenced_write(dsn: str) -> None:
    migrate_dsn(dsn)
    old = WriterLease(dsn, "old", seconds=30)
    new = WriterLease(dsn, "new", seconds=30)
    assert old.try_hold()
    assert not new.try_hold()  # held and unexpired: nobody else gets it
    with PostgresCalendarStore(dsn, fence=old.fence) as deposed:
        deposed.append(1, imp(1))
        # the old writer pauses; its lease runs out; another process takes over
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("UPDATE writer_lease SET expires = clock_timestamp()")
        assert new.try_hold()
        assert new.token == old.token + 1  # type: ignore[operator]
        # the old writer still believes it holds the lease, but its write is fenced off
        with pytest.raises(BackendError) as info:
            deposed.append(2, imp(2))
        assert info.value.code is ErrorCode.SVC_STORE
        assert "lease" in info.value.message
        with PostgresCalendarStore(dsn, fence=new.fence) as current:
            current.append(2, imp(22))
            assert current.leaf(2) == imp(22).value
    old.release()
    new.release()


def test_handoff_is_anchored_by_the_writer_and_withdrawn_without_one(dsn: str) -> None:
    migrate_dsn(dsn)
    keys = PostgresKeyStore(dsn)
    signer = keys.signer("calendar", {"CN": "calendar"})
    assert keys.signer("calendar", {"CN": "other"}).certificate_id == signer.certificate_id
    stores = [PostgresCalendarStore(dsn) for _ in range(2)]
    leases = [WriterLease(dsn, name, seconds=30) for name in ("writer", "member")]
    for store, lease in zip(stores, leases, strict=True):
        object.__setattr__(store, "_fence", lease.fence)
    writer, member = (
        ClusterCalendar(s, lease, signer, handoff_timeout=1.0)
        for s, lease in zip(stores, leases, strict=True)
    )
    assert writer.keep_lease() and not member.keep_lease()
    # no writer picks the hand-off up: withdrawn, answered with an error
    with pytest.raises(BackendError) as info:
        member.commit(imp(7), 3)
    assert "not committed" in info.value.message
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM handoff").fetchone()[0] == 0
    writer.start()
    try:
        member.handoff_timeout = 10.0
        anchor = member.commit(imp(8), 3)
        assert len(anchor.upper) == 1
        out, _ = anchor.upper[0].evaluate(3)
        assert out.value == stores[0].leaf(anchor.aggregation_time)
        assert anchor.calendar_auth_record is not None
    finally:
        writer.stop()
        member.stop()
        for s in stores:
            s.close()
        keys.close()


def test_publications_file_is_compare_and_set(dsn: str) -> None:
    migrate_dsn(dsn)
    keys = PostgresKeyStore(dsn)
    publisher = keys.signer("publisher", {"CN": "publisher", "E": "p@example.invalid"})
    calendar = keys.signer("calendar", {"CN": "calendar"})
    a = PostgresPublications(dsn, publisher, calendar.certificate)
    b = PostgresPublications(dsn, publisher, calendar.certificate)
    a.refresh()
    b.refresh()
    a.commit([])
    with pytest.raises(BackendError) as info:
        b.commit([])  # b did not see a's file
    assert info.value.code is ErrorCode.SVC_STORE
    b.refresh()
    b.commit([])
    a.refresh()
    assert a.file_bytes == b.file_bytes
    for p in (a, b):
        p.close()
    keys.close()

"""One contract suite for every CalendarStore (memory, SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jura_trust.backends.stores import (
    SQLITE_FORMAT,
    CalendarStore,
    MemoryCalendarStore,
    SQLiteCalendarStore,
)
from jura_trust.core.calendar import FILLER_LEAF, calendar_chain, calendar_root
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.errors import BackendError, ErrorCode
from tests.budget import scaled
from tests.core.calendar_oracle import naive_chain, naive_leaves, naive_root
from tests.pg import drop_schema, new_schema_dsn


def imp(i: int) -> Imprint:
    return Imprint.hash(b"round %d" % i)


class Harness:
    """Opens a store of one kind and can reopen it (SQLite: from the file)."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.path = directory / f"calendar-{os.urandom(4).hex()}.sqlite"
        self.schema: str | None = None
        if kind == "postgresql":
            self.dsn, self.schema = new_schema_dsn()
        self.store: CalendarStore = self._open()

    def _open(self) -> CalendarStore:
        if self.kind == "memory":
            return MemoryCalendarStore()
        if self.kind == "postgresql":
            from jura_trust.backends.postgres import PostgresCalendarStore

            return PostgresCalendarStore(self.dsn)
        return SQLiteCalendarStore(self.path)

    def reopen(self) -> CalendarStore:
        if self.kind != "memory":
            self.store.close()
            self.store = self._open()
        return self.store

    def close(self) -> None:
        self.store.close()
        if self.schema is not None:
            drop_schema(self.schema)

    def then_reopened(self) -> Iterator[CalendarStore]:
        """The store as it is, then (lazily) after a reopen."""
        yield self.store
        yield self.reopen()


KINDS = ["memory", "sqlite", "postgresql"]


@pytest.fixture(params=KINDS)
def harness(request, tmp_path) -> Iterator[Harness]:
    h = Harness(request.param, tmp_path)
    yield h
    h.close()


@pytest.fixture(scope="module", params=KINDS)
def kind(request) -> str:
    return request.param


def test_is_a_calendar_store(harness):
    assert isinstance(harness.store, CalendarStore)


def test_empty(harness):
    store = harness.store
    assert store.head() is None
    assert store.first() is None
    with pytest.raises(ValueError):
        store.leaf(0)
    with pytest.raises(ValueError):
        store.subtree_root(0, 1)


def test_append_and_read_back_with_filler(harness):
    store = harness.store
    store.append(5, imp(5))
    store.append(6, imp(6))
    store.append(9, imp(9))
    for store in harness.then_reopened():
        assert store.head() == 9
        assert store.first() == 5
        assert store.leaf(5) == imp(5).value
        assert store.leaf(0) == FILLER_LEAF
        assert store.leaf(7) == FILLER_LEAF
        assert store.leaf(9) == imp(9).value
        with pytest.raises(ValueError):
            store.leaf(10)


@pytest.mark.parametrize("bad", [9, 3])
def test_append_only(harness, bad):
    store = harness.store
    store.append(4, imp(4))
    store.append(9, imp(9))
    root = calendar_root(store, 9)
    with pytest.raises(BackendError) as info:
        store.append(bad, imp(100))
    assert info.value.code is ErrorCode.SVC_STORE
    assert store.head() == 9
    assert calendar_root(harness.reopen(), 9) == root
    harness.store.append(10, imp(10))
    assert harness.store.head() == 10


def test_misuse_is_not_a_backend_error(harness):
    store = harness.store
    with pytest.raises(TypeError):
        store.append(1, imp(1).value)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.append(-1, imp(1))
    with pytest.raises(ValueError):
        store.append(1, Imprint(FILLER_LEAF))
    assert store.head() is None
    store.append(3, imp(3))
    with pytest.raises(ValueError, match="aligned"):
        store.subtree_root(1, 1)


def test_closed_store_refuses(harness):
    harness.store.append(1, imp(1))
    harness.store.close()
    with pytest.raises(BackendError) as info:
        harness.store.head()
    assert info.value.code is ErrorCode.SVC_STORE
    with pytest.raises(BackendError):
        harness.store.append(2, imp(2))


@settings(
    max_examples=scaled(25),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    gaps=st.lists(st.sampled_from([1, 1, 1, 2, 5, 17]), min_size=1, max_size=60),
    first=st.integers(0, 70),
    data=st.data(),
)
def test_chains_match_the_naive_oracle_and_survive_reopen(
    kind, tmp_path_factory, gaps, first, data
):
    h = Harness(kind, tmp_path_factory.mktemp("cal"))
    try:
        stored: dict[int, bytes] = {}
        t = first
        batch = data.draw(st.booleans(), label="append_many")
        items = []
        for gap in gaps:
            items.append((t, imp(t)))
            stored[t] = imp(t).value
            t += gap
        if batch:
            h.store.append_many(items)  # type: ignore[attr-defined]
        else:
            for second, leaf in items:
                h.store.append(second, leaf)
        head = h.store.head()
        assert head == max(stored)
        assert h.store.first() == first
        publication = data.draw(st.integers(max(1, first), max(1, head)), label="publication")
        if publication > head:
            return
        leaves = naive_leaves(stored, publication)
        for store in h.then_reopened():
            assert calendar_root(store, publication).value == naive_root(leaves)
            for _ in range(3):
                second = data.draw(st.integers(0, publication), label="second")
                chain = calendar_chain(store, second, publication)
                assert chain.time_from_shape() == second
                got = [("L" if x.is_left else "R", x.sibling.value) for x in chain.links]
                assert got == naive_chain(leaves, second)
    finally:
        h.close()


# -- SQLite specifics -------------------------------------------------------------


def test_sqlite_is_wal_full_sync_and_stores_no_filler(tmp_path):
    path = tmp_path / "c.sqlite"
    with SQLiteCalendarStore(path) as store:
        store.append(1000, imp(1000))
        store.append(1003, imp(1003))
        assert store._db().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM leaf").fetchone()[0] == 2
        heights = [r[0] for r in conn.execute("SELECT height FROM node")]
        assert all(h >= 2 for h in heights)  # height-1 roots are recomputed
    finally:
        conn.close()


def test_sqlite_append_many_is_all_or_nothing(tmp_path):
    with SQLiteCalendarStore(tmp_path / "c.sqlite") as store:
        store.append(1, imp(1))
        with pytest.raises(BackendError):
            store.append_many([(2, imp(2)), (3, imp(3)), (3, imp(4))])
        assert store.head() == 1
        with pytest.raises(ValueError):
            store.leaf(2)
        store.append_many([(2, imp(2)), (4, imp(4))])
        assert store.head() == 4


def test_sqlite_refuses_another_format(tmp_path):
    path = tmp_path / "c.sqlite"
    SQLiteCalendarStore(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE calendar_meta SET value = 'other' WHERE key = 'format'")
    conn.close()
    with pytest.raises(BackendError) as info:
        SQLiteCalendarStore(path)
    assert info.value.code is ErrorCode.SVC_STORE
    assert SQLITE_FORMAT in str(info.value)


def test_sqlite_sees_appends_of_another_writer(tmp_path):
    path = tmp_path / "c.sqlite"
    with SQLiteCalendarStore(path) as a, SQLiteCalendarStore(path) as b:
        a.append(1, imp(1))
        with pytest.raises(BackendError) as info:
            b.append(1, imp(2))
        assert info.value.code is ErrorCode.SVC_STORE
        b.append(2, imp(2))
        assert b.head() == 2


def test_sqlite_dense_size_is_within_target(tmp_path):
    path = tmp_path / "c.sqlite"
    n = 8192
    with SQLiteCalendarStore(path) as store:
        store.append_many((t, imp(t)) for t in range(n))
    per_leaf = path.stat().st_size / n
    assert per_leaf <= 2.5 * 32, per_leaf


def test_mixed_algorithm_leaves(harness):
    store = harness.store
    store.append(0, imp(0))
    store.append(1, Imprint.hash(b"x", HashAlgorithm.SHA2_512))
    store.append(2, imp(2))
    store.append(3, imp(3))
    leaves = naive_leaves({t: store.leaf(t) for t in range(4)}, 3)
    assert calendar_root(harness.reopen(), 3).value == naive_root(leaves)

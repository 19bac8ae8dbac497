"""SQLite calendar storage whatever the round density (format version 2).

Defect (issue 10, item 4): the store kept the root of every complete
subtree of height >= 2 holding a leaf, so sparse rounds cost 6.6x (every
10 s), 11.6x (every 100 s) and 19.6x (hourly) the 32-byte leaves per round:
roots mixing one leaf with filler were stored although a few hashes
recompute them. Now a root is stored only when both halves hold a leaf and
it holds more than SQLITE_RECOMPUTED_LEAVES leaves.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jura_trust.backends.stores import (
    SQLITE_FORMAT,
    SQLITE_RECOMPUTED_LEAVES,
    SQLiteCalendarStore,
)
from jura_trust.core.calendar import MemoryCalendar, calendar_chain, calendar_root
from jura_trust.core.hashing import Imprint
from jura_trust.errors import BackendError, ErrorCode
from tests.budget import scaled
from tests.core.calendar_oracle import naive_chain, naive_leaves, naive_root


def imp(i: int) -> Imprint:
    return Imprint.hash(b"round %d" % i)


def store_bytes(path: Path) -> int:
    size = path.stat().st_size
    for extra in ("-wal", "-shm"):
        other = Path(str(path) + extra)
        if other.exists():
            size += other.stat().st_size
    return size


def node_count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM node").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("gap", [1, 10, 100, 3600])
def test_sparse_rounds_do_not_store_recomputable_roots(tmp_path: Path, gap: int) -> None:
    path = tmp_path / "c.sqlite"
    rounds = 4096
    rng = random.Random(gap)
    start = 1_700_000_000
    with SQLiteCalendarStore(path) as store:
        store.append_many((start + i * gap, imp(i)) for i in range(rounds))
        head = store.head()
        assert head is not None
        # Chains still agree with a calendar that keeps every root.
        memory = MemoryCalendar()
        for i in range(rounds):
            memory.append(start + i * gap, imp(i))
        for _ in range(40):
            second = rng.randint(start - 5000, head)
            publication = rng.randint(max(second, 1), head)
            assert calendar_chain(store, second, publication) == calendar_chain(
                memory, second, publication
            )
        assert calendar_root(store, head) == memory.root()
    assert node_count(path) <= rounds // 2
    assert store_bytes(path) / rounds <= 2.5 * 32


@settings(
    max_examples=scaled(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    gaps=st.lists(st.sampled_from([1, 1, 2, 3, 7, 30, 64, 300]), min_size=1, max_size=30),
    first=st.integers(0, 70),
    data=st.data(),
)
def test_sparse_chains_match_the_naive_oracle(
    tmp_path_factory: pytest.TempPathFactory, gaps: list[int], first: int, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("cal") / "c.sqlite"
    stored: dict[int, bytes] = {}
    t = first
    with SQLiteCalendarStore(path) as store:
        for gap in gaps:
            store.append(t, imp(t))
            stored[t] = imp(t).value
            t += gap
        head = max(stored)
    with SQLiteCalendarStore(path) as store:
        publication = data.draw(st.integers(max(1, first), max(1, head)), label="publication")
        if publication > head:
            return
        leaves = naive_leaves(stored, publication)
        assert calendar_root(store, publication).value == naive_root(leaves)
        for _ in range(4):
            second = data.draw(st.integers(0, publication), label="second")
            chain = calendar_chain(store, second, publication)
            got = [("L" if x.is_left else "R", x.sibling.value) for x in chain.links]
            assert got == naive_chain(leaves, second)


def write_version_1(path: Path, stored: dict[int, bytes]) -> None:
    """A calendar as format version 1 wrote it: every root of height >= 2 holding a leaf."""
    memory = MemoryCalendar()
    for second in sorted(stored):
        memory.append(second, Imprint(stored[second]))
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE calendar_meta ( key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("CREATE TABLE leaf ( second INTEGER PRIMARY KEY, imprint BLOB NOT NULL)")
        conn.execute(
            "CREATE TABLE node ( height INTEGER NOT NULL, idx INTEGER NOT NULL,"
            " imprint BLOB NOT NULL, PRIMARY KEY (height, idx)) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO calendar_meta VALUES ('format', 'jura_trust.calendar.v1')")
        conn.executemany("INSERT INTO leaf VALUES (?, ?)", sorted(stored.items()))
        conn.executemany(
            "INSERT INTO node VALUES (?, ?, ?)",
            [(h, s >> h, root) for (h, s), root in memory._nodes.items() if h >= 2],
        )
    conn.close()


def test_version_1_store_is_read_and_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    stored = {t: imp(t).value for t in range(5, 2000, 37)}
    write_version_1(path, stored)
    with SQLiteCalendarStore(path) as store:
        for t in range(2000, 2600, 3):
            store.append(t, imp(t))
            stored[t] = imp(t).value
        head = store.head()
        assert head is not None
        leaves = naive_leaves(stored, head)
        assert calendar_root(store, head).value == naive_root(leaves)
        for second in (0, 5, 42, 1999, 2001, 2400, head):
            chain = calendar_chain(store, second, head)
            got = [("L" if x.is_left else "R", x.sibling.value) for x in chain.links]
            assert got == naive_chain(leaves, second)
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT value FROM calendar_meta WHERE key = 'format'").fetchone()
        assert row[0] == SQLITE_FORMAT
    finally:
        conn.close()


def test_missing_stored_root_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with SQLiteCalendarStore(path) as store:
        store.append_many((t, imp(t)) for t in range(64))
        store.append(200, imp(200))
        lifted = store.subtree_root(0, 7)  # leaves in one half: [0, 64) lifted
    assert node_count(path) > 0
    conn = sqlite3.connect(path)
    with conn:
        assert conn.execute("SELECT count(*) FROM node WHERE height = 7").fetchone()[0] == 0
        conn.execute("DELETE FROM node WHERE height = 6")
    conn.close()
    memory = MemoryCalendar()
    for t in [*range(64), 200]:
        memory.append(t, imp(t))
    assert lifted == memory.subtree_root(0, 7)
    with SQLiteCalendarStore(path) as store, pytest.raises(BackendError) as info:
        store.subtree_root(0, 7)
    assert info.value.code is ErrorCode.SVC_STORE
    assert "missing" in info.value.message


def test_recompute_threshold_is_what_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with SQLiteCalendarStore(path) as store:
        # A root is stored only with more than SQLITE_RECOMPUTED_LEAVES leaves
        # and a leaf in each half.
        store.append_many([(0, imp(0)), (1, imp(1)), (5, imp(5)), (9, imp(9)), (16, imp(16))])
    conn = sqlite3.connect(path)
    try:
        nodes = {(h, i) for h, i in conn.execute("SELECT height, idx FROM node")}
    finally:
        conn.close()
    assert SQLITE_RECOMPUTED_LEAVES == 3
    assert nodes == {(4, 0)}  # [0, 16) holds 4; [0, 4), [0, 8) hold 2 and 3: recomputed

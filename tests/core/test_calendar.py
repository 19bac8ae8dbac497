"""The calendar tree: shape, filler, chains, right-link stability, oracle."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust.core.calendar import (
    FILLER_LEAF,
    MemoryCalendar,
    calendar_chain,
    calendar_root,
    completed_subtrees,
    filler_root,
    lift_root,
    node_hash,
    right_links_consistent,
    sparse_subtree_root,
)
from jura_trust.core.chains import CalendarChain, CalendarLink, Direction
from jura_trust.core.hashing import HashAlgorithm, Imprint
from tests.budget import scaled
from tests.core.calendar_oracle import (
    ZERO_LEAF,
    naive_chain,
    naive_complete,
    naive_leaves,
    naive_root,
)

L, R = Direction.LEFT, Direction.RIGHT


def imp(i: int, alg: HashAlgorithm = HashAlgorithm.SHA2_256) -> Imprint:
    return Imprint.hash(b"round %d" % i, alg)


@st.composite
def calendars(draw, max_head=200):
    """A MemoryCalendar with a random first second, gaps and algorithms."""
    cal = MemoryCalendar()
    stored: dict[int, bytes] = {}
    t = draw(st.integers(0, 40))
    count = draw(st.integers(1, 40))
    mixed = draw(st.booleans())
    for i in range(count):
        if t > max_head:
            break
        alg = HashAlgorithm.SHA2_512 if mixed and i % 5 == 2 else HashAlgorithm.SHA2_256
        leaf = imp(t, alg)
        cal.append(t, leaf)
        stored[t] = leaf.value
        t += draw(st.sampled_from([1, 1, 1, 2, 3, 9]))
    return cal, stored


def test_filler():
    assert FILLER_LEAF == ZERO_LEAF
    assert filler_root(0) == FILLER_LEAF
    assert filler_root(1) == b"\x01" + hashlib.sha256(FILLER_LEAF * 2 + b"\xff").digest()
    assert filler_root(2) == node_hash(filler_root(1), filler_root(1))
    with pytest.raises(ValueError):
        filler_root(-1)


def test_node_hash_uses_the_right_childs_algorithm():
    a = imp(1).value
    b = imp(2, HashAlgorithm.SHA2_512).value
    assert node_hash(a, b) == b"\x05" + hashlib.sha512(a + b + b"\xff").digest()
    assert node_hash(b, a) == b"\x01" + hashlib.sha256(b + a + b"\xff").digest()


@pytest.mark.parametrize(
    ("second", "shape"),
    [(4, [L, R]), (5, [R, R]), (2, [L, R, L]), (0, [L, L, L]), (1, [R, L, L]), (3, [R, R, L])],
)
def test_spec_shapes_for_head_5(second, shape):
    cal = MemoryCalendar()
    for t in range(6):
        cal.append(t, imp(t))
    chain = calendar_chain(cal, second, 5)
    assert [link.direction for link in chain.links] == shape
    assert chain.time_from_shape() == second
    assert chain.aggregation_time == second
    assert chain.input_hash == imp(second)


@settings(max_examples=scaled(60))
@given(cal_stored=calendars(), data=st.data())
def test_chains_against_the_naive_oracle(cal_stored, data):
    cal, stored = cal_stored
    head = cal.head
    assert head is not None
    p1 = data.draw(st.integers(1, head), label="publication") if head >= 1 else None
    if p1 is None:
        return
    leaves = naive_leaves(stored, p1)
    assert calendar_root(cal, p1).value == naive_root(leaves)
    second = data.draw(st.integers(0, p1), label="second")
    chain = calendar_chain(cal, second, p1)
    assert chain.time_from_shape() == second
    assert chain.root() == calendar_root(cal, p1)
    assert [("L" if link.is_left else "R", link.sibling.value) for link in chain.links] == (
        naive_chain(leaves, second)
    )
    # Extending to the current head keeps every right link.
    later = calendar_chain(cal, second, head)
    assert later.time_from_shape() == second
    assert right_links_consistent(chain, later)
    assert later.root() == calendar_root(cal, head)


@settings(max_examples=scaled(40))
@given(cal_stored=calendars(max_head=120))
def test_stored_nodes_are_exactly_the_complete_subtrees_with_a_leaf(cal_stored):
    cal, stored = cal_stored
    head = cal.head
    leaves = naive_leaves(stored, head)
    for height in range(head.bit_length() + 1):
        size = 1 << height
        for start in range(0, head + 2 - size, size):
            assert cal.subtree_root(start, height) == naive_complete(leaves, start, size)
    expected = {
        (h, s)
        for h in range(1, head.bit_length() + 1)
        for s in range(0, head + 2 - (1 << h), 1 << h)
        if any(s <= t < s + (1 << h) for t in stored)
    }
    assert set(cal._nodes) == expected


def test_left_links_change_on_extension_right_links_do_not():
    cal = MemoryCalendar()
    for t in range(1, 8):
        cal.append(t, imp(t))
    old = calendar_chain(cal, 1, 6)
    new = calendar_chain(cal, 1, 7)
    assert right_links_consistent(old, new)
    old_left = [x.sibling for x in old.links if x.is_left]
    new_left = [x.sibling for x in new.links if x.is_left]
    assert old_left != new_left
    k = next(i for i, x in enumerate(new.links) if not x.is_left)
    links = list(new.links)
    links[k] = CalendarLink(R, imp(99))
    tampered = CalendarChain(
        publication_time=new.publication_time,
        input_hash=new.input_hash,
        links=tuple(links),
        aggregation_time_field=1,
    )
    assert not right_links_consistent(old, tampered)


def test_filler_before_the_first_second_costs_no_storage():
    cal = MemoryCalendar()
    start = 3_000_000_000  # far from 0: the filler part is ~2**31 seconds
    for t in range(start, start + 5):
        cal.append(t, imp(t))
    assert len(cal) == 5
    assert len(cal._nodes) < 40
    chain = calendar_chain(cal, 12345, start + 4)
    assert chain.time_from_shape() == 12345
    assert chain.input_hash.value == FILLER_LEAF
    assert chain.root() == cal.root()
    mine = calendar_chain(cal, start + 2, start + 4)
    assert mine.root() == cal.root()
    assert mine.time_from_shape() == start + 2
    assert cal.chain(start + 2) == mine


def test_completed_subtrees_after_a_gap():
    cal = MemoryCalendar()
    cal.append(0, imp(0))
    # Appending 6 completes [0,1], [0..3] around the old head (filler gap 1..5)
    # and nothing at 6 itself (7 is odd-aligned).
    made = completed_subtrees(cal, 0, 6, imp(6).value)
    assert [(h, s) for h, s, _ in made] == [(1, 0), (2, 0)]
    made = completed_subtrees(cal, 0, 7, imp(7).value)
    assert [(h, s) for h, s, _ in made] == [(1, 0), (2, 0), (1, 6), (2, 4), (3, 0)]


def test_misuse():
    cal = MemoryCalendar()
    with pytest.raises(ValueError, match="empty"):
        cal.root()
    with pytest.raises(ValueError):
        cal.leaf(0)
    cal.append(3, imp(3))
    for bad in (3, 2):
        with pytest.raises(ValueError, match="not after the head"):
            cal.append(bad, imp(bad))
    with pytest.raises(ValueError, match="filler"):
        cal.append(9, Imprint(FILLER_LEAF))
    with pytest.raises(TypeError):
        cal.append(9, imp(9).value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="past the head"):
        cal.leaf(4)
    with pytest.raises(ValueError, match="aligned"):
        cal.subtree_root(1, 1)
    with pytest.raises(ValueError, match="past the head"):
        cal.subtree_root(0, 3)
    with pytest.raises(ValueError, match="after the publication"):
        calendar_chain(cal, 3, 2)
    with pytest.raises(ValueError, match="one second"):
        calendar_chain(cal, 0, 0)
    with pytest.raises(ValueError):
        calendar_chain(cal, -1, 3)
    with pytest.raises(ValueError):
        calendar_chain(cal, 0, 4)
    assert cal.leaf(1) == FILLER_LEAF
    assert cal.head == 3
    assert cal.first == 3


# -- recomputing roots from few leaves (what the SQLite store does not keep) ------------


@settings(max_examples=scaled(40))
@given(
    height=st.integers(0, 7),
    block=st.integers(0, 5),
    picks=st.sets(st.integers(0, 127), max_size=6),
    mixed=st.booleans(),
)
def test_sparse_subtree_root_matches_the_naive_oracle(height, block, picks, mixed):
    size = 1 << height
    start = block * size
    seconds = sorted({start + p % size for p in picks})
    alg = HashAlgorithm.SHA2_512 if mixed else HashAlgorithm.SHA2_256
    stored = {t: imp(t, alg if t % 2 else HashAlgorithm.SHA2_256).value for t in seconds}
    leaves = naive_leaves(stored, start + size - 1)
    expected = naive_complete(leaves, start, size)
    assert sparse_subtree_root(start, height, sorted(stored.items())) == expected
    if len(seconds) == 1:
        t = seconds[0]
        assert lift_root(stored[t], t, 0, height) == expected
    # A stored lower root lifted over filler gives the same root.
    if seconds and height > 0:
        low_height = (seconds[0] ^ seconds[-1]).bit_length()
        low = seconds[0] >> low_height << low_height
        low_root = naive_complete(leaves, low, 1 << low_height)
        assert lift_root(low_root, low, low_height, height) == expected


def test_sparse_subtree_root_misuse():
    with pytest.raises(ValueError, match="aligned"):
        sparse_subtree_root(3, 2, [])
    with pytest.raises(ValueError, match="increasing"):
        sparse_subtree_root(0, 2, [(2, FILLER_LEAF), (1, FILLER_LEAF)])
    with pytest.raises(ValueError, match="increasing"):
        sparse_subtree_root(0, 2, [(4, FILLER_LEAF)])
    with pytest.raises(ValueError, match="heights"):
        lift_root(FILLER_LEAF, 0, 3, 2)
    with pytest.raises(ValueError, match="aligned"):
        lift_root(FILLER_LEAF, 1, 1, 2)
    assert sparse_subtree_root(8, 3, []) == filler_root(3)

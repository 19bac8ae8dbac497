"""Round tree builder: shape, levels, metadata leaves, chains, fast encoding."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jura_trust.core.tree as tree_module
from jura_trust.core import tlv
from jura_trust.core.chains import (
    AggregationChain,
    AggregationLink,
    Direction,
    Metadata,
    aggregation_shape_index,
    evaluate_aggregation_links,
)
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.tree import Tree, TreeBuilder, leaf_node_hash, link_header
from tests.budget import scaled

SHA256 = HashAlgorithm.SHA2_256


def imp(i: int, alg: HashAlgorithm = SHA256) -> Imprint:
    return Imprint.hash(i.to_bytes(4, "big"), alg)


# -- naive reference model ------------------------------------------------------


class _Node:
    def __init__(self, value: bytes, level: int, start: int) -> None:
        self.value = value
        self.level = level
        self.start = start  # the level a verifier has reached at this node
        self.parent: _Node | None = None
        self.is_left = False
        self.sibling: _Node | None = None


def naive_tree(alg, leaves):
    """Binary-counter stack over node objects; returns (root, leaf nodes)."""
    name = alg.hashlib_name

    def join(left: _Node, right: _Node) -> _Node:
        level = max(left.level, right.level) + 1
        digest = hashlib.new(name, left.value + right.value + bytes([level])).digest()
        node = _Node(bytes([alg.value]) + digest, level, level)
        left.parent = right.parent = node
        left.is_left, right.is_left = True, False
        left.sibling, right.sibling = right, left
        return node

    slots: list[_Node | None] = []
    leaf_nodes = []
    for value, level, meta in leaves:
        if meta is None:
            node = _Node(value, level, 0)
        else:
            data = value + meta.value + bytes([level + 1])
            node = _Node(
                bytes([alg.value]) + hashlib.new(name, data).digest(), level + 1, level + 1
            )
        leaf_nodes.append(node)
        i = 0
        while i < len(slots) and slots[i] is not None:
            node = join(slots[i], node)
            slots[i] = None
            i += 1
        if i == len(slots):
            slots.append(None)
        slots[i] = node
    acc = None
    for node in slots:  # smallest first
        if node is not None:
            acc = node if acc is None else join(node, acc)
    return acc, leaf_nodes


def naive_links(leaf, meta, level):
    links = []
    if meta is not None:
        links.append(AggregationLink(Direction.LEFT, level_correction=level, metadata=meta))
    node = leaf
    while node.parent is not None:
        links.append(
            AggregationLink(
                Direction.LEFT if node.is_left else Direction.RIGHT,
                level_correction=node.parent.level - node.start - 1,
                sibling=Imprint(node.sibling.value),
            )
        )
        node = node.parent
    return tuple(links)


# -- strategies -----------------------------------------------------------------

_META = [Metadata.build(f"client-{i}", sequence_number=i) for i in range(4)]


@st.composite
def leaf_specs(draw, max_size=300):
    n = draw(st.integers(1, max_size))
    levels = draw(st.sampled_from(["zero", "random"]))
    meta_mode = draw(st.sampled_from(["none", "all", "some"]))
    odd_alg = draw(st.booleans())
    specs = []
    for i in range(n):
        level = draw(st.integers(0, 3)) if levels == "random" else 0
        if meta_mode == "all" or (meta_mode == "some" and draw(st.booleans())):
            meta = _META[i % len(_META)]
        else:
            meta = None
        alg = HashAlgorithm.SHA2_512 if odd_alg and i % 7 == 3 else SHA256
        specs.append((imp(i, alg), level, meta))
    return specs


def build(specs, alg=SHA256) -> Tree:
    b = TreeBuilder(alg)
    for i, (leaf, level, meta) in enumerate(specs):
        assert b.add_leaf(leaf, level=level, metadata=meta) == i
    return b.build()


# -- properties -------------------------------------------------------------------


@settings(max_examples=scaled(60))
@given(
    specs=leaf_specs(),
    alg=st.sampled_from([SHA256, HashAlgorithm.SHA2_512, HashAlgorithm.SHA3_256]),
)
def test_every_chain_reaches_the_root_and_matches_the_naive_model(specs, alg):
    tree = build(specs, alg)
    root, leaf_nodes = naive_tree(alg, [(i.value, lv, m) for i, lv, m in specs])
    assert tree.root.value == root.value
    assert tree.root_level == root.level
    assert tree.leaf_count == len(specs)
    all_encoded = tree.all_encoded_links()
    assert len(all_encoded) == len(specs)
    for i, (leaf, level, meta) in enumerate(specs):
        links = tree.links(i)
        assert links == naive_links(leaf_nodes[i], meta, level)
        assert tree.shape_index(i) == aggregation_shape_index(links)
        encoded = b"".join(link.encode() for link in links)
        assert tree.encoded_links(i) == encoded
        assert all_encoded[i] == encoded
        if not links:
            assert len(specs) == 1
            assert meta is None
            assert tree.root == leaf
            continue
        out, out_level = evaluate_aggregation_links(alg, leaf.value, links)
        assert out == tree.root.value
        assert out_level == tree.root_level
        # A submitted level h is encoded as a first-link correction >= h.
        assert links[0].level_correction >= level


@settings(max_examples=scaled(25))
@given(specs=leaf_specs(max_size=120), bits=st.integers(1, 3))
def test_block_wise_encoding_agrees_with_per_leaf_encoding(specs, bits):
    saved = tree_module._BLOCK_BITS
    tree_module._BLOCK_BITS = bits  # small blocks, so small trees use several
    try:
        tree = build(specs)
        encoded = tree.all_encoded_links()
    finally:
        tree_module._BLOCK_BITS = saved
    assert encoded == [tree.encoded_links(i) for i in range(len(specs))]


@settings(max_examples=scaled(20))
@given(n=st.integers(2, 200), data=st.data())
def test_changing_any_leaf_changes_the_root(n, data):
    leaves = [imp(i) for i in range(n)]
    i = data.draw(st.integers(0, n - 1))
    b1, b2 = TreeBuilder(), TreeBuilder()
    b1.add_leaves(leaves)
    b2.add_leaves([*leaves[:i], imp(n + 1000), *leaves[i + 1 :]])
    assert b1.build().root != b2.build().root


# -- examples -------------------------------------------------------------------


def _sha(data: bytes) -> bytes:
    return b"\x01" + hashlib.sha256(data).digest()


def test_two_leaves():
    a, b = imp(1), imp(2)
    builder = TreeBuilder()
    builder.add_leaves([a, b])
    tree = builder.build()
    assert tree.root.value == _sha(a.value + b.value + b"\x01")
    assert tree.root_level == 1
    assert tree.links(0) == (AggregationLink(Direction.LEFT, sibling=b),)
    assert tree.links(1) == (AggregationLink(Direction.RIGHT, sibling=a),)
    assert tree.shape_index(0) == 0b11
    assert tree.shape_index(1) == 0b10


def test_three_leaves_fold_older_subtree_left_and_correct_the_level():
    a, b, c = imp(1), imp(2), imp(3)
    builder = TreeBuilder()
    builder.add_leaves([a, b, c])
    tree = builder.build()
    ab = _sha(a.value + b.value + b"\x01")
    assert tree.root.value == _sha(ab + c.value + b"\x02")
    # Leaf 2 joins a level-1 node: its single link corrects the level by 1.
    assert tree.links(2) == (
        AggregationLink(Direction.RIGHT, level_correction=1, sibling=Imprint(ab)),
    )


def test_metadata_leaf_joins_imprint_left_and_metadata_right():
    meta = Metadata.build("alice", machine_id="m1", sequence_number=7, request_time=10**15)
    doc = imp(5)
    builder = TreeBuilder()
    builder.add_leaf(doc, level=2, metadata=meta)
    tree = builder.build()
    expected = _sha(doc.value + meta.value + b"\x03")
    assert tree.root.value == expected
    assert tree.root.value == leaf_node_hash(SHA256, doc, 2, meta)
    assert tree.root_level == 3
    (link,) = tree.links(0)
    assert link == AggregationLink(Direction.LEFT, level_correction=2, metadata=meta)
    assert tree.encoded_links(0) == link.encode() == tree.all_encoded_links()[0]
    assert evaluate_aggregation_links(SHA256, doc.value, tree.links(0)) == (expected, 3)


def test_single_plain_leaf_has_an_empty_path_and_no_ksi_chain():
    doc = imp(9)
    builder = TreeBuilder()
    builder.add_leaf(doc, level=4)
    tree = builder.build()
    assert tree.root == doc
    assert tree.root_level == 4
    assert tree.links(0) == ()
    assert tree.encoded_links(0) == b""
    assert tree.all_encoded_links() == [b""]
    assert tree.shape_index(0) == 1
    with pytest.raises(ValueError, match="empty path"):
        tree.chain(0, 1_700_000_000)


def test_chain_round_trips_through_tlv_and_carries_the_index_prefix():
    builder = TreeBuilder()
    for i in range(5):
        builder.add_leaf(imp(i), metadata=Metadata.build(f"c{i}"))
    tree = builder.build()
    chain = tree.chain(3, 1_700_000_000, chain_index_prefix=(11, 6))
    assert chain.chain_index == (11, 6, tree.shape_index(3))
    assert chain.input_hash == imp(3)
    parsed = AggregationChain.from_tlv(tlv.decode(chain.encode()))
    assert parsed == chain
    assert parsed.evaluate() == (tree.root, tree.root_level)
    assert parsed.shape_index == tree.shape_index(3)


def test_link_header_matches_the_link_encoder():
    sib = imp(1, HashAlgorithm.SHA2_512)
    for direction in Direction:
        for correction in (0, 1, 200, 255):
            link = AggregationLink(direction, level_correction=correction, sibling=sib)
            assert link_header(direction, correction, len(sib)) + sib.value == link.encode()


def test_add_leaves_equals_add_leaf():
    leaves = [imp(i) for i in range(37)]
    a, b = TreeBuilder(), TreeBuilder()
    assert a.add_leaves(leaves) == range(37)
    for leaf in leaves:
        b.add_leaf(leaf)
    assert a.build().root == b.build().root
    assert len(a) == 37


def test_too_deep_tree_is_refused():
    builder = TreeBuilder()
    builder.add_leaf(imp(1), level=254, metadata=Metadata.build("x"))  # node level 255
    builder.add_leaf(imp(2))
    with pytest.raises(ValueError, match="too deep"):
        builder.build()
    deep = TreeBuilder()
    deep.add_leaf(imp(1), level=255)
    assert deep.build().root_level == 255  # alone it is fine
    deep.add_leaf(imp(2))
    with pytest.raises(ValueError, match="too deep"):
        deep.build()


def test_misuse():
    builder = TreeBuilder()
    with pytest.raises(ValueError, match="at least one leaf"):
        builder.build()
    with pytest.raises(TypeError):
        builder.add_leaf(imp(1).value)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        builder.add_leaves([imp(1), b"raw"])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        builder.add_leaf(imp(1), level=-1)
    with pytest.raises(ValueError):
        builder.add_leaf(imp(1), level=255, metadata=Metadata.build("x"))
    with pytest.raises(TypeError):
        TreeBuilder("SHA-256")  # type: ignore[arg-type]
    builder.add_leaf(imp(1))
    tree = builder.build()
    with pytest.raises(IndexError):
        tree.links(1)
    with pytest.raises(TypeError):
        tree.links(True)


@pytest.mark.parametrize("level", [0, 3])
@pytest.mark.parametrize("all_metadata", [True, False])
def test_long_metadata_needs_a_tlv16_link(level, all_metadata):
    big = Metadata.build("c" * 300, machine_id="m" * 40)
    builder = TreeBuilder()
    builder.add_leaf(imp(1), level=level, metadata=big)
    builder.add_leaf(imp(2), metadata=Metadata.build("small") if all_metadata else None)
    tree = builder.build()
    for i in range(2):
        links = tree.links(i)
        expected = b"".join(link.encode() for link in links)
        assert tree.encoded_links(i) == tree.all_encoded_links()[i] == expected
        assert evaluate_aggregation_links(SHA256, tree.leaf(i).value, links) == (
            tree.root.value,
            tree.root_level,
        )
    assert tree.encoded_links(0)[0] & 0x80  # TLV16 header


@pytest.mark.parametrize(
    "late",
    [
        (0, _META[1]),  # the usual shape again: the nodes made on add are kept
        (2, _META[1]),  # a level: the nodes are made when the tree is built
        (0, None),  # no metadata
        (0, Metadata.build("c" * 300)),  # a metadata link with a TLV16 header
    ],
    ids=["usual", "level", "no-metadata", "long-metadata"],
)
def test_leaf_nodes_made_on_add_agree_with_a_builder_built_again(late):
    """Leaves of the usual shape are hashed as they are added; a later leaf may not be usual."""
    specs = [(imp(i), 0, _META[i % len(_META)]) for i in range(9)]
    builder = TreeBuilder()
    for leaf, level, meta in specs:
        builder.add_leaf(leaf, level=level, metadata=meta)
    first = builder.build()
    level, meta = late
    specs.append((imp(99), level, meta))
    builder.add_leaf(imp(99), level=level, metadata=meta)
    second = builder.build()
    for tree, leaves in ((first, specs[:-1]), (second, specs)):
        root, leaf_nodes = naive_tree(SHA256, [(i.value, lv, m) for i, lv, m in leaves])
        assert (tree.root.value, tree.root_level) == (root.value, root.level)
        for i, (_, lv, m) in enumerate(leaves):
            assert tree.links(i) == naive_links(leaf_nodes[i], m, lv)
            assert tree.all_encoded_links()[i] == b"".join(x.encode() for x in tree.links(i))

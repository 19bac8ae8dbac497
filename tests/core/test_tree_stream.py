"""Streamed leaf chains (Tree.iter_encoded_links): the kept chains, byte for byte, one block at a time."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jura_trust.core.tree as tree_module
from jura_trust.core.chains import Metadata
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.tree import TreeBuilder
from tests.budget import scaled


def make_tree(n: int, metadata: bool, level: int = 0) -> tree_module.Tree:
    builder = TreeBuilder()
    for i in range(n):
        meta = Metadata.build(f"client-{i % 3}") if metadata and i % 2 == 0 else None
        builder.add_leaf(Imprint.hash(i.to_bytes(4, "big")), level=level, metadata=meta)
    return builder.build()


@settings(max_examples=scaled(30), deadline=None)
@given(
    n=st.integers(1, 150),
    metadata=st.booleans(),
    level=st.integers(0, 3),
    bits=st.integers(1, 4),
)
def test_streamed_chains_are_the_kept_chains(n: int, metadata: bool, level: int, bits: int) -> None:
    saved = tree_module._BLOCK_BITS
    tree_module._BLOCK_BITS = bits  # small blocks, so small trees use several
    try:
        tree = make_tree(n, metadata, level)
        streamed = list(tree.iter_encoded_links())
        kept = tree.all_encoded_links()
    finally:
        tree_module._BLOCK_BITS = saved
    assert streamed == kept == [tree.encoded_links(i) for i in range(n)]


def test_streamed_chains_are_made_block_by_block(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whole-round memory came from keeping every chain of the round at once
    # (0.75 GB for 10**6 leaves); the stream makes a block only when reached.
    monkeypatch.setattr(tree_module, "_BLOCK_BITS", 2)
    tree = make_tree(40, metadata=False)
    made: list[tuple[int, int, int]] = []
    real = tree_module.Tree._suffixes

    def spy(self: tree_module.Tree, k: int, lo: int, hi: int, parent: list[bytes]) -> list[bytes]:
        made.append((k, lo, hi))
        return real(self, k, lo, hi, parent)

    monkeypatch.setattr(tree_module.Tree, "_suffixes", spy)
    stream = tree.iter_encoded_links()
    first = list(itertools.islice(stream, 4))
    leaf_rows = [m for m in made if m[0] == 0]
    assert leaf_rows == [(0, 0, 4)]  # only the first block of leaves so far
    rest = list(stream)
    assert first + rest == [tree.encoded_links(i) for i in range(40)]
    assert [m for m in made if m[0] == 0][-1] == (0, 36, 40)


def test_streamed_single_leaf_and_other_algorithms() -> None:
    builder = TreeBuilder(HashAlgorithm.SHA2_512)
    builder.add_leaf(Imprint.hash(b"x"), metadata=Metadata.build("c"))
    tree = builder.build()
    assert list(tree.iter_encoded_links()) == [tree.encoded_links(0)]
    plain = TreeBuilder()
    plain.add_leaf(Imprint.hash(b"x"))
    assert list(plain.build().iter_encoded_links()) == [b""]

"""A naive calendar model (test oracle): the whole tree, built recursively.

Written straight from spec/ksi-format.md section 5 and independent of
jura_trust.core.calendar: hashing uses hashlib by name, the shape is the
recursive "left subtree complete, size = highest power of two <= r" rule.
"""

from __future__ import annotations

import hashlib

ZERO_LEAF = b"\x01" + bytes(32)
_NAMES = {0x00: "sha1", 0x01: "sha256", 0x04: "sha384", 0x05: "sha512", 0x08: "sha3_256"}


def naive_node(left: bytes, right: bytes) -> bytes:
    alg = right[0]
    return bytes([alg]) + hashlib.new(_NAMES[alg], left + right + b"\xff").digest()


def _top_power(r: int) -> int:
    p = 1
    while p * 2 <= r:
        p *= 2
    return p


def naive_leaves(stored: dict[int, bytes], head: int) -> list[bytes]:
    return [stored.get(t, ZERO_LEAF) for t in range(head + 1)]


def naive_complete(leaves: list[bytes], lo: int, size: int) -> bytes:
    if size == 1:
        return leaves[lo]
    half = size // 2
    return naive_node(naive_complete(leaves, lo, half), naive_complete(leaves, lo + half, half))


def naive_root(leaves: list[bytes], lo: int = 0, r: int | None = None) -> bytes:
    if r is None:
        r = len(leaves) - 1
    if r == 0:
        return leaves[lo]
    h = _top_power(r)
    return naive_node(naive_complete(leaves, lo, h), naive_root(leaves, lo + h, r - h))


def naive_chain(leaves: list[bytes], t: int) -> list[tuple[str, bytes]]:
    """Links leaf first as ("L" | "R", sibling), for the tree over all of ``leaves``."""

    def path(lo: int, r: int, complete: bool) -> list[tuple[str, bytes]]:
        if r == 0:
            return []
        h = (r + 1) // 2 if complete else _top_power(r)
        left_size = h
        if complete:
            right = naive_complete(leaves, lo + left_size, left_size)
        else:
            right = naive_root(leaves, lo + h, r - h)
        if t < lo + left_size:
            return [*path(lo, left_size - 1, True), ("L", right)]
        left = naive_complete(leaves, lo, left_size)
        return [*path(lo + h, r - h, complete), ("R", left)]

    return path(0, len(leaves) - 1, False)

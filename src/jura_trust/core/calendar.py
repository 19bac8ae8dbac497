"""The KSI calendar tree: one leaf per second since 1970, root and chains.

CONSENSUS-CRITICAL: the calendar's shape and node hashing decide every
calendar root (the published hashes) and every calendar chain a signature
carries. A change here breaks the link between issued signatures and the
publications. The module is pure: no I/O, no clock, no global state.

Shape (spec/ksi-format.md section 5.2): the calendar at head ``P`` is a
binary tree over the seconds ``0..P``. A node covering ``r + 1`` seconds
(``r > 0``) has a *complete* left subtree of ``2**k`` seconds, ``2**k`` the
highest power of two ``<= r``, and the remaining ``r + 1 - 2**k`` seconds on
the right. Every left subtree is therefore a complete subtree aligned on
its size, ``[start, start + 2**k)`` with ``start % 2**k == 0``; those never
change once complete, which is why stores keep their roots.

Node hash (spec 5.1): ``H(left || right || 0xFF)`` where ``H`` is the
algorithm of the *right* child's imprint, and the result is that
algorithm's imprint.

Filler: seconds without a round (all seconds before the calendar started,
and quiet seconds later) hold :data:`FILLER_LEAF`, the all-zero SHA-256
imprint, which no hash chain can produce. A complete subtree of filler has
the root :func:`filler_root` (of its height), so filler costs no storage.

The algorithms here read nodes through a :class:`NodeSource`; a store
provides the leaves and the roots of complete subtrees. A chain needs
``O(log P)`` reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final, Protocol

import attrs

from jura_trust.core.chains import CALENDAR_LEVEL, CalendarChain, CalendarLink, Direction
from jura_trust.core.hashing import IMPRINT_SIZES, HashAlgorithm, Imprint

__all__ = [
    "FILLER_LEAF",
    "MAX_HEIGHT",
    "MemoryCalendar",
    "NodeSource",
    "calendar_chain",
    "calendar_root",
    "completed_subtrees",
    "filler_root",
    "lift_root",
    "node_hash",
    "right_links_consistent",
    "sparse_subtree_root",
]

#: The leaf of a second without a round: the all-zero SHA-256 imprint.
FILLER_LEAF: Final = bytes((HashAlgorithm.SHA2_256.value,)) + bytes(32)

#: The highest complete-subtree height the calendar handles (2**62 seconds).
MAX_HEIGHT: Final = 62

_LEVEL_BYTE: Final = bytes((CALENDAR_LEVEL,))


def _filler_roots() -> tuple[bytes, ...]:
    roots = [FILLER_LEAF]
    for _ in range(MAX_HEIGHT):
        x = roots[-1]
        roots.append(x[:1] + hashlib.sha256(x + x + _LEVEL_BYTE).digest())
    return tuple(roots)


#: ``_FILLER_ROOTS[h]``: the root of a complete filler subtree of height h.
_FILLER_ROOTS: Final = _filler_roots()


def filler_root(height: int) -> bytes:
    """The root imprint of a complete subtree of ``2**height`` filler leaves."""
    if not 0 <= height <= MAX_HEIGHT:
        raise ValueError(f"subtree height must be 0..{MAX_HEIGHT}")
    return _FILLER_ROOTS[height]


def node_hash(left: bytes, right: bytes) -> bytes:
    """A calendar node: ``H(left || right || 0xFF)``, ``H`` from ``right``'s id.

    ``left`` and ``right`` are full imprints; the result is an imprint of
    the right child's algorithm.
    """
    alg_id = right[0]
    if alg_id == HashAlgorithm.SHA2_256.value:
        return right[:1] + hashlib.sha256(left + right + _LEVEL_BYTE).digest()
    return right[:1] + HashAlgorithm.from_id(alg_id).digest(left + right + _LEVEL_BYTE)


class NodeSource(Protocol):
    """Where the calendar algorithms read nodes from (a store, or memory).

    Both methods return raw imprint bytes and raise :class:`ValueError`
    for seconds after the source's head.
    """

    def leaf(self, second: int) -> bytes:
        """The leaf of ``second`` (:data:`FILLER_LEAF` for a quiet second)."""
        ...

    def subtree_root(self, start: int, height: int) -> bytes:
        """The root of the complete subtree ``[start, start + 2**height)``.

        ``start`` is a multiple of ``2**height``. Height 0 is a leaf.
        """
        ...


def lift_root(root: bytes, start: int, height: int, to_height: int) -> bytes:
    """The root of the aligned subtree of ``2**to_height`` seconds around another, filler elsewhere.

    ``root`` is the root of the complete subtree ``[start, start + 2**height)``;
    every other second of the enclosing aligned subtree of height
    ``to_height`` is filler. One node hash per height in between.
    """
    if not 0 <= height <= to_height <= MAX_HEIGHT:
        raise ValueError(f"heights must satisfy 0 <= {height} <= {to_height} <= {MAX_HEIGHT}")
    if start < 0 or start & ((1 << height) - 1):
        raise ValueError(f"subtree start {start} is not aligned to 2**{height}")
    x = root
    for h in range(height, to_height):
        filler = _FILLER_ROOTS[h]
        x = node_hash(filler, x) if start >> h & 1 else node_hash(x, filler)  # right or left child
    return x


def sparse_subtree_root(start: int, height: int, leaves: Sequence[tuple[int, bytes]]) -> bytes:
    """The root of the complete subtree ``[start, start + 2**height)`` from its few leaves.

    ``leaves`` holds ``(second, imprint)`` for every non-filler second of the
    subtree, in increasing seconds; all others are filler. Costs about
    ``height`` node hashes per leaf: what a store recomputes instead of
    storing the nodes that mix a few leaves with filler.
    """
    if not 0 <= height <= MAX_HEIGHT or start < 0 or start & ((1 << height) - 1):
        raise ValueError(f"not an aligned subtree: [{start}, +2**{height})")
    end = start + (1 << height)
    seconds = [second for second, _ in leaves]
    if any(not start <= t < end for t in seconds) or seconds != sorted(set(seconds)):
        raise ValueError("leaves must be distinct seconds of the subtree, in increasing order")
    return _sparse(start, height, leaves, 0, len(leaves))


def _sparse(start: int, height: int, leaves: Sequence[tuple[int, bytes]], i: int, j: int) -> bytes:
    """The root of ``[start, +2**height)`` whose only leaves are ``leaves[i:j]``."""
    if i == j:
        return _FILLER_ROOTS[height]
    first = leaves[i][0]
    if j - i == 1:
        return lift_root(leaves[i][1], first, 0, height)
    # The lowest subtree holding them all splits them at its middle.
    split = (first ^ leaves[j - 1][0]).bit_length()
    low = (first >> split) << split
    mid = low + (1 << (split - 1))
    k = i
    while leaves[k][0] < mid:
        k += 1
    left = _sparse(low, split - 1, leaves, i, k)
    right = _sparse(mid, split - 1, leaves, k, j)
    return lift_root(node_hash(left, right), low, split, height)


def _check_second(value: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int")
    if value < 0:
        raise ValueError(f"{what} must not be negative")


def _spine_root(source: NodeSource, lo: int, r: int) -> bytes:
    """The root of the calendar-shaped node covering ``lo..lo+r``.

    Its left subtrees are complete (the set bits of ``r``, largest first);
    the last second stands alone. ``popcount(r) + 1`` reads.
    """
    peaks: list[bytes] = []
    while r > 0:
        k = r.bit_length() - 1
        peaks.append(source.subtree_root(lo, k))
        lo += 1 << k
        r -= 1 << k
    x = source.leaf(lo)
    for peak in reversed(peaks):
        x = node_hash(peak, x)
    return x


def calendar_root(source: NodeSource, head: int) -> Imprint:
    """The calendar root over the seconds ``0..head`` (the published hash)."""
    _check_second(head, "head")
    return Imprint(_spine_root(source, 0, head))


def calendar_chain(
    source: NodeSource, aggregation_time: int, publication_time: int
) -> CalendarChain:
    """The calendar chain from second ``aggregation_time`` to the root at ``publication_time``.

    Links are leaf first. A right link's sibling is the root of an older,
    complete subtree; a left link's sibling summarises newer seconds (the
    first left link from the root side covers the incomplete right part of
    the tree, later ones are complete subtrees). The chain's aggregation
    time field is set. Needs ``publication_time >= 1`` (a one-second
    calendar has no links) and ``aggregation_time <= publication_time``.

    The input hash is the leaf of ``aggregation_time``; for a quiet second
    that is the filler leaf, a valid chain that no signature can use.
    """
    _check_second(aggregation_time, "aggregation time")
    _check_second(publication_time, "publication time")
    if aggregation_time > publication_time:
        raise ValueError("aggregation time is after the publication time")
    if publication_time == 0:
        raise ValueError("a calendar of one second has no chain (KSI needs a link)")
    t = aggregation_time
    root_first: list[CalendarLink] = []
    lo = 0
    r = publication_time
    while r > 0:
        k = r.bit_length() - 1
        half = 1 << k
        if t < lo + half:
            # The running hash is the left child: the sibling is the newer part.
            root_first.append(
                CalendarLink(Direction.LEFT, Imprint(_spine_root(source, lo + half, r - half)))
            )
            # Inside the complete subtree [lo, lo + half): plain binary descent.
            for j in range(k - 1, -1, -1):
                size = 1 << j
                if t < lo + size:
                    sib = source.subtree_root(lo + size, j)
                    root_first.append(CalendarLink(Direction.LEFT, Imprint(sib)))
                else:
                    sib = source.subtree_root(lo, j)
                    root_first.append(CalendarLink(Direction.RIGHT, Imprint(sib)))
                    lo += size
            break
        root_first.append(CalendarLink(Direction.RIGHT, Imprint(source.subtree_root(lo, k))))
        lo += half
        r -= half
    root_first.reverse()
    return CalendarChain(
        publication_time=publication_time,
        input_hash=Imprint(source.leaf(aggregation_time)),
        links=tuple(root_first),
        aggregation_time_field=aggregation_time,
    )


def right_links_consistent(old_chain: CalendarChain, new_chain: CalendarChain) -> bool:
    """True if the right-link siblings of both chains are identical (spec 5.3).

    Same imprints, same count, same order; left links are skipped. This is
    what extending a signature to a later publication must preserve
    (otherwise CAL-04).
    """
    return old_chain.right_siblings() == new_chain.right_siblings()


def _subtree_end(start: int, height: int) -> int:
    return start + (1 << height) - 1


def completed_subtrees(
    source: NodeSource, head: int | None, second: int, leaf: bytes
) -> list[tuple[int, int, bytes]]:
    """The subtree roots a store must keep when ``leaf`` is appended at ``second``.

    ``head`` is the last second stored so far (``None`` for an empty
    calendar); the seconds between ``head`` and ``second`` become filler.
    Returns ``(height, start, root)`` for every complete aligned subtree of
    height >= 1 that holds at least one stored (non-filler) leaf and is
    completed by this append, smallest first. Subtrees of filler only are
    not returned (their roots are :func:`filler_root`). ``source`` answers
    for the calendar *before* the append.
    """
    prev = -1 if head is None else head
    _check_second(second, "second")
    if second <= prev:
        raise ValueError(f"second {second} is not after the head {prev}")
    if not leaf or IMPRINT_SIZES.get(leaf[0]) != len(leaf):
        raise ValueError("leaf is not an imprint")
    made: dict[tuple[int, int], bytes] = {}

    def get(start: int, height: int) -> bytes:
        found = made.get((height, start))
        if found is not None:
            return found
        end = _subtree_end(start, height)
        if end <= prev:
            return source.subtree_root(start, height)
        if start > prev and end < second:
            return _FILLER_ROOTS[height]
        if height == 0 and start == second:
            return leaf
        raise AssertionError("subtree not available")  # pragma: no cover

    out: list[tuple[int, int, bytes]] = []

    def make(start: int, height: int) -> None:
        half = 1 << (height - 1)
        root = node_hash(get(start, height - 1), get(start + half, height - 1))
        made[(height, start)] = root
        out.append((height, start, root))

    if prev >= 0:
        # Subtrees around the old head that the filler gap completes.
        height = 1
        while True:
            start = (prev >> height) << height
            end = _subtree_end(start, height)
            if end >= second:
                break
            if end > prev:
                make(start, height)
            height += 1
    # Subtrees ending exactly at the new second.
    height = 1
    while (second + 1) & ((1 << height) - 1) == 0:
        make(second + 1 - (1 << height), height)
        height += 1
    return out


@attrs.define(slots=True, eq=False)
class MemoryCalendar:
    """An append-only calendar held in memory; also a :class:`NodeSource`.

    Leaves are appended in increasing seconds from any first second; the
    seconds before the first and between appended ones are filler. A second
    is never rewritten: appending at or before the head raises
    :class:`ValueError`. The roots of complete subtrees holding at least one
    stored leaf are kept as they complete, so every chain is ``O(log n)``.

    This is a mutable container, not a value.

    >>> cal = MemoryCalendar()
    >>> cal.append(5, Imprint.hash(b"round 5"))
    >>> calendar_chain(cal, 5, 5).time_from_shape()
    5
    """

    _leaves: dict[int, bytes] = attrs.field(factory=dict, init=False)
    _nodes: dict[tuple[int, int], bytes] = attrs.field(factory=dict, init=False)
    _first: int | None = attrs.field(default=None, init=False)
    _head: int | None = attrs.field(default=None, init=False)

    @property
    def head(self) -> int | None:
        """The last appended second, or ``None`` when empty."""
        return self._head

    @property
    def first(self) -> int | None:
        """The first appended second, or ``None`` when empty."""
        return self._first

    def __len__(self) -> int:
        """The number of stored (non-filler) leaves."""
        return len(self._leaves)

    def append(self, second: int, imprint: Imprint) -> None:
        """Store the root of the round of ``second``.

        Raises :class:`ValueError` if ``second`` is not after the head or the
        imprint is the filler leaf.
        """
        if not isinstance(imprint, Imprint):
            raise TypeError("imprint must be an Imprint")
        if imprint.value == FILLER_LEAF:
            raise ValueError("the filler imprint cannot be appended")
        nodes = completed_subtrees(self, self._head, second, imprint.value)
        self._leaves[second] = imprint.value
        for height, start, root in nodes:
            self._nodes[(height, start)] = root
        if self._first is None:
            self._first = second
        self._head = second

    def _check_range(self, start: int, height: int) -> None:
        _check_second(start, "start")
        if not 0 <= height <= MAX_HEIGHT:
            raise ValueError(f"subtree height must be 0..{MAX_HEIGHT}")
        if start & ((1 << height) - 1):
            raise ValueError(f"subtree start {start} is not aligned to 2**{height}")
        if self._head is None or _subtree_end(start, height) > self._head:
            raise ValueError(f"subtree [{start}, +2**{height}) reaches past the head")

    def leaf(self, second: int) -> bytes:
        """The leaf of ``second`` (filler for a quiet second)."""
        self._check_range(second, 0)
        return self._leaves.get(second, FILLER_LEAF)

    def subtree_root(self, start: int, height: int) -> bytes:
        """The root of the complete subtree ``[start, start + 2**height)``."""
        self._check_range(start, height)
        if height == 0:
            return self._leaves.get(start, FILLER_LEAF)
        return self._nodes.get((height, start), _FILLER_ROOTS[height])

    def root(self, head: int | None = None) -> Imprint:
        """The calendar root at ``head`` (default: the current head)."""
        if head is None:
            head = self._head
        if head is None:
            raise ValueError("the calendar is empty")
        return calendar_root(self, head)

    def chain(self, second: int, publication_time: int | None = None) -> CalendarChain:
        """The chain from ``second`` to ``publication_time`` (default: the head)."""
        if publication_time is None:
            publication_time = self._head
        if publication_time is None:
            raise ValueError("the calendar is empty")
        return calendar_chain(self, second, publication_time)

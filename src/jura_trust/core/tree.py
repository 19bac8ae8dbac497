"""Round trees: many leaves, one root, and a hash chain from each leaf to it.

CONSENSUS-CRITICAL: the node hashing, the level arithmetic and the shape of
the tree decide the aggregation root and every per-leaf chain a signature
carries. A change here makes newly issued chains disagree with the roots
already handed to the calendar. The module is pure: no I/O, no clock, no
global state.

The same builder serves two callers:

* the aggregator: one tree per round, each client request a leaf carrying
  the client's identity as metadata;
* QR batch seals: the leaves are document hashes, without metadata.

Shape (spec/ksi-format.md section 4.5): leaves enter a binary-counter stack
in which slot ``i`` holds a complete subtree of ``2**i`` leaves; a new
subtree joining an occupied slot becomes the *right* child of the older one
and the result carries upward. When the tree is closed the slots are folded
from the smallest to the largest, the older (larger) subtree always being
the *left* child. The implementation pairs neighbours level by level and
carries an odd last node up unchanged, which gives the same tree.

Levels: a node's level is ``max(left.level, right.level) + 1`` and the
node's hash is ``A(left || right || byte(level))`` with ``A`` the tree's
algorithm and ``left``/``right`` full imprints. A link's level correction is
``parent.level - child.level - 1``; the first link of a plain leaf counts
from level 0 (where a verifier starts), so it absorbs the leaf's own level,
which is how a submitted level ``h`` is encoded (a correction ``>= h``).

Leaves with metadata: the leaf node is ``A(imprint || metadata.value ||
byte(h + 1))``, so the document imprint is the left child and the metadata
its right sibling. The leaf's chain starts with a *left* link whose sibling
is the metadata and whose level correction is ``h``.

Single leaf: the root is the leaf node itself. With metadata its chain is
the one metadata link. Without metadata its path is empty: a valid proof
for a batch seal (the seal *is* the document hash), but no valid KSI
aggregation chain, since KSI requires at least one link. An aggregator must
therefore attach metadata to every request (it always knows the client), so
every chain it issues has at least one link; :meth:`Tree.chain` refuses to
build a chain of zero links.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat
from typing import Final

import attrs

from jura_trust.core import tlv
from jura_trust.core.chains import (
    MAX_LEVEL,
    AggregationChain,
    AggregationLink,
    Direction,
    Metadata,
)
from jura_trust.core.hashing import DEFAULT_ALGORITHM, HashAlgorithm, Imprint, hash_constructor

__all__ = ["Tree", "TreeBuilder", "leaf_node_hash", "link_header"]

#: ``_LEVEL_BYTES[i] == bytes((i,))``: the level byte appended to node input.
_LEVEL_BYTES: Final[tuple[bytes, ...]] = tuple(bytes((i,)) for i in range(MAX_LEVEL + 1))

#: ``_LEFT_LINK_HEADERS[n]``: the TLV8 header of a left link with an n-byte value.
_LEFT_LINK_HEADERS: Final[tuple[bytes, ...]] = tuple(
    bytes((Direction.LEFT, n)) for n in range(tlv.MAX_TLV8_LENGTH + 1)
)

#: Rows below this many from the leaves are processed one block at a time.
_BLOCK_BITS: Final = 10

_HashCtor = Callable[[bytes], "hashlib._Hash"]


def link_header(direction: Direction, level_correction: int, sibling_length: int) -> bytes:
    """The bytes of an aggregation link TLV that precede its sibling imprint.

    ``link_header(d, c, len(s)) + s`` is the encoded link with direction
    ``d``, level correction ``c`` (omitted when 0, as KSI writers do) and
    sibling imprint ``s``; it equals ``AggregationLink(d, c, Imprint(s)).encode()``.
    """
    if not 0 <= level_correction <= MAX_LEVEL:
        raise ValueError("level correction out of range")
    if not 0 < sibling_length <= tlv.MAX_TLV8_LENGTH:
        raise ValueError("sibling length out of range")
    body = b""
    if level_correction:
        body = tlv.encode(0x01, tlv.encode_uint(level_correction))
    body += tlv.encode(0x02, bytes(sibling_length))
    return tlv.encode(int(direction), body)[:-sibling_length]


def leaf_node_hash(
    algorithm: HashAlgorithm, imprint: Imprint, level: int, metadata: Metadata
) -> bytes:
    """The imprint of a leaf joined with its metadata at ``level + 1``.

    ``A(imprint || metadata.value || byte(level + 1))``: the document imprint
    is the left child and the metadata the right one.
    """
    if not 0 <= level < MAX_LEVEL:
        raise ValueError(f"a leaf with metadata needs level 0..{MAX_LEVEL - 1}")
    data = imprint.value + metadata.value + _LEVEL_BYTES[level + 1]
    return bytes((algorithm.value,)) + hash_constructor(algorithm)(data).digest()


class _Headers:
    """Link headers by direction, level correction and sibling length."""

    __slots__ = ("_cache", "left", "right")

    def __init__(self, sibling_length: int) -> None:
        self._cache: dict[tuple[int, int, int], bytes] = {}
        #: Headers of left links for the tree's own imprints, by correction.
        self.left = [link_header(Direction.LEFT, c, sibling_length) for c in range(MAX_LEVEL + 1)]
        #: Headers of right links for the tree's own imprints, by correction.
        self.right = [link_header(Direction.RIGHT, c, sibling_length) for c in range(MAX_LEVEL + 1)]

    def get(self, left: bool, correction: int, length: int) -> bytes:
        key = (left, correction, length)
        h = self._cache.get(key)
        if h is None:
            d = Direction.LEFT if left else Direction.RIGHT
            h = self._cache[key] = link_header(d, correction, length)
        return h


def _metadata_link(metadata: Metadata, level: int) -> bytes:
    """The encoded left link with ``metadata`` as sibling and correction ``level``."""
    body = metadata.encode()
    if level:
        body = b"\x01\x01" + _LEVEL_BYTES[level] + body
    if len(body) <= tlv.MAX_TLV8_LENGTH:
        return bytes((Direction.LEFT, len(body))) + body
    return tlv.encode(int(Direction.LEFT), body)


def _check_level(level: int) -> None:
    if level > MAX_LEVEL:
        raise ValueError(
            f"tree too deep: a node would reach level {level}, above {MAX_LEVEL}; "
            "use fewer leaves or lower leaf levels"
        )


@attrs.frozen(slots=True, eq=False, repr=False)
class Tree:
    """A built round tree: its root and every leaf's path to it.

    Immutable. Build one with :class:`TreeBuilder`. Leaf indices are the
    values :meth:`TreeBuilder.add_leaf` returned.

    Internally the tree is a list of node rows: row 0 holds the leaf nodes,
    row ``k + 1`` the parents of row ``k``'s pairs ``(2j, 2j + 1)``; an odd
    last node of a row is carried to the next row unchanged.
    """

    algorithm: HashAlgorithm
    _inputs: list[bytes]
    _metadata: list[Metadata | None]
    _meta_links: list[bytes] | None
    _rows: list[list[bytes]]
    _levels: list[list[int]]
    #: Per row: the level a leaf's chain has reached when it arrives at the
    #: node (the node's level, except for a leaf without metadata, which a
    #: verifier starts at 0 even when carried up unchanged).
    _starts: list[list[int]]
    #: Per row ``k`` (below the top): the constant level correction shared
    #: by every pair except the last, or -1 when the row is irregular.
    _regular: list[int]
    _headers: _Headers

    @property
    def leaf_count(self) -> int:
        """The number of leaves."""
        return len(self._inputs)

    @property
    def root(self) -> Imprint:
        """The root imprint (the aggregation root of the round)."""
        return Imprint(self._rows[-1][0])

    @property
    def root_level(self) -> int:
        """The root's level.

        Every non-empty leaf chain evaluated from level 0 ends at this level.
        For a single leaf without metadata (an empty path) it is the leaf's
        own level.
        """
        return self._levels[-1][0]

    def leaf(self, index: int) -> Imprint:
        """The imprint leaf ``index`` was added with."""
        return Imprint(self._inputs[self._check(index)])

    def _check(self, index: int) -> int:
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError("leaf index must be an int")
        if not 0 <= index < len(self._inputs):
            raise IndexError(f"leaf index {index} out of range 0..{len(self._inputs) - 1}")
        return index

    def _path(self, index: int) -> list[tuple[bool, int, bytes]]:
        """``(is_left, level_correction, sibling)`` per tree step, leaf first."""
        rows = self._rows
        levels = self._levels
        out: list[tuple[bool, int, bytes]] = []
        i = index
        for k in range(len(rows) - 1):
            row = rows[k]
            m = len(row)
            if i == m - 1 and m & 1:
                i >>= 1  # carried up unchanged: no link at this row
                continue
            correction = levels[k + 1][i >> 1] - self._starts[k][i] - 1
            out.append((not i & 1, correction, row[i ^ 1]))
            i >>= 1
        return out

    def links(self, index: int) -> tuple[AggregationLink, ...]:
        """Leaf ``index``'s links, leaf first, as :class:`AggregationLink` values.

        Evaluated from level 0 over the leaf's imprint they give
        :attr:`root` at :attr:`root_level`. Empty for the only leaf of a
        one-leaf tree without metadata.
        """
        self._check(index)
        out: list[AggregationLink] = []
        meta = self._metadata[index]
        if meta is not None:
            out.append(
                AggregationLink(
                    Direction.LEFT, level_correction=self._starts[0][index] - 1, metadata=meta
                )
            )
        for is_left, correction, sibling in self._path(index):
            out.append(
                AggregationLink(
                    Direction.LEFT if is_left else Direction.RIGHT,
                    level_correction=correction,
                    sibling=Imprint(sibling),
                )
            )
        return tuple(out)

    def encoded_links(self, index: int) -> bytes:
        """Leaf ``index``'s links as concatenated link TLVs (leaf first).

        Byte-identical to ``b"".join(link.encode() for link in links(index))``.
        """
        self._check(index)
        get = self._headers.get
        parts = [get(is_left, c, len(s)) + s for is_left, c, s in self._path(index)]
        if self._meta_links is not None:
            parts.insert(0, self._meta_links[index])
        return b"".join(parts)

    def shape_index(self, index: int) -> int:
        """The chain-index value of leaf ``index``'s chain (spec 4.3)."""
        self._check(index)
        bits = [is_left for is_left, _, _ in self._path(index)]
        if self._metadata[index] is not None:
            bits.insert(0, True)
        value = 1
        for is_left in reversed(bits):
            value = (value << 1) | is_left
        return value

    def shape_indices(self) -> list[int]:
        """Every leaf's :meth:`shape_index`, in leaf order, in one pass.

        Computed from the root down: a node's shape is its parent's with one
        more bit (1 for a left link) below it, or its parent's unchanged when
        the node is carried up without a link; a leaf's metadata link adds a
        last 1 bit. About one operation per node instead of one walk up the
        tree per leaf.
        """
        rows = self._rows
        shape = [1]
        for k in range(len(rows) - 2, -1, -1):
            m = len(rows[k])
            pairs = m >> 1
            above = shape[:pairs]
            row = [0] * m
            row[0 : 2 * pairs : 2] = [(p << 1) | 1 for p in above]
            row[1 : 2 * pairs : 2] = [p << 1 for p in above]
            if m & 1:
                row[m - 1] = shape[pairs]
            shape = row
        metadata = self._metadata
        if self._meta_links is not None:
            shape = [
                (v << 1) | 1 if meta is not None else v
                for v, meta in zip(shape, metadata, strict=True)
            ]
        return shape

    def chain(
        self,
        index: int,
        aggregation_time: int,
        chain_index_prefix: Sequence[int] = (),
    ) -> AggregationChain:
        """Leaf ``index``'s aggregation chain.

        ``chain_index_prefix`` holds the chain indices of the chains above
        this tree (the parent aggregators'); this chain's own shape index is
        appended. Raises :class:`ValueError` when the path is empty (the
        single leaf of a tree without metadata): KSI chains need a link.
        """
        links = self.links(index)
        if not links:
            raise ValueError(
                "a one-leaf tree without metadata has an empty path, which is not a KSI "
                "aggregation chain; attach metadata to the leaf"
            )
        if aggregation_time < 0:
            raise ValueError("aggregation time must not be negative")
        return AggregationChain(
            aggregation_time=aggregation_time,
            chain_index=(*chain_index_prefix, self.shape_index(index)),
            input_hash=Imprint(self._inputs[index]),
            algorithm=self.algorithm,
            links=links,
        )

    def _heads(self, k: int, lo: int, hi: int) -> list[bytes]:
        """Link bytes of row ``k``'s nodes ``lo..hi-1`` to their parents.

        ``lo`` is even. A carried node has no link (``b""``). In row 0 a
        leaf's metadata link, if any, comes first.
        """
        row = self._rows[k]
        m = len(row)
        paired = min(hi, m & ~1)
        c = self._regular[k]
        heads: list[bytes] = [b""] * (hi - lo)
        # Pairs before the row's last one share one correction when regular.
        r1 = max(lo, min(paired, m - (m & 1) - 2)) if c >= 0 else lo
        if r1 > lo:
            hl = self._headers.left[c]
            hr = self._headers.right[c]
            heads[0 : r1 - lo : 2] = [hl + s for s in row[lo + 1 : r1 : 2]]
            heads[1 : r1 - lo : 2] = [hr + s for s in row[lo:r1:2]]
        if paired > r1:
            get = self._headers.get
            starts = self._starts[k]
            parents = self._levels[k + 1]
            for i in range(r1, paired):
                sib = row[i ^ 1]
                heads[i - lo] = get(not i & 1, parents[i >> 1] - starts[i] - 1, len(sib)) + sib
        if k == 0 and self._meta_links is not None:
            heads = [a + b for a, b in zip(self._meta_links[lo:hi], heads, strict=True)]
        return heads

    def _suffixes(self, k: int, lo: int, hi: int, parent: list[bytes]) -> list[bytes]:
        """Encoded paths from row ``k``'s nodes ``lo..hi-1`` to the root.

        ``parent`` holds the paths of their parents, row ``k + 1`` nodes
        ``lo // 2`` onwards.
        """
        heads = self._heads(k, lo, hi)
        out: list[bytes] = [b""] * (hi - lo)
        out[0::2] = [h + t for h, t in zip(heads[0::2], parent, strict=False)]
        out[1::2] = [h + t for h, t in zip(heads[1::2], parent, strict=False)]
        return out

    def all_encoded_links(self) -> list[bytes]:
        """Every leaf's :meth:`encoded_links`, in leaf order, computed at once.

        ``list(self.iter_encoded_links())``: every chain is kept, about
        ``35 * depth`` bytes per leaf (0.75 GB for 10**6 leaves). A round that
        hands each chain on as it comes should use :meth:`iter_encoded_links`.
        """
        return list(self.iter_encoded_links())

    def iter_encoded_links(self) -> Iterator[bytes]:
        """Every leaf's :meth:`encoded_links`, in leaf order, one block at a time.

        The fast path for a whole round. Each node's link bytes are made
        once and a node's path is its link followed by its parent's path,
        computed from the root down. The paths of the nodes
        :data:`_BLOCK_BITS` rows above the leaves (one per block of
        ``2**_BLOCK_BITS`` leaves) are made first and shared; below them the
        work goes block by block, and a block's chains are made only when
        the iteration reaches it. The chains already handed out are not
        kept: a consumer that encodes or sends each chain and drops it
        needs memory for one block of chains, not for the whole round.
        """
        rows = self._rows
        top = len(rows) - 1
        b = min(_BLOCK_BITS, top)
        suffix: list[bytes] = [b""]
        for k in range(top - 1, b - 1, -1):
            suffix = self._suffixes(k, 0, len(rows[k]), suffix)
        if b == 0:
            if self._meta_links is not None:
                yield from [a + t for a, t in zip(self._meta_links, suffix, strict=True)]
            else:
                yield from suffix
            return
        sizes = [len(r) for r in rows]
        for j, block_root in enumerate(suffix):
            part = [block_root]
            for k in range(b - 1, -1, -1):
                lo = j << (b - k)
                part = self._suffixes(k, lo, min(lo + (1 << (b - k)), sizes[k]), part)
            yield from part


class TreeBuilder:
    """Collects the leaves of one round tree, then builds it.

    >>> b = TreeBuilder()
    >>> b.add_leaf(Imprint.hash(b"a"))
    0
    >>> b.add_leaf(Imprint.hash(b"b"))
    1
    >>> tree = b.build()
    >>> tree.root_level, len(tree.links(0))
    (1, 1)

    A builder is a mutable collector (not a value); :meth:`build` can be
    called again after more leaves were added and returns a new tree.

    While every leaf is an aggregator's usual one (level 0 with metadata),
    each leaf's node and metadata link are computed as it is added, so that
    :meth:`build` only joins the tree: an aggregator adds its requests as
    they arrive and builds when its round closes.
    """

    __slots__ = (
        "_algorithm",
        "_any_metadata",
        "_ctor",
        "_imprint_size",
        "_inputs",
        "_levels",
        "_meta_links",
        "_metadata",
        "_odd_sizes",
        "_prefix",
        "_row0",
    )

    def __init__(self, algorithm: HashAlgorithm = DEFAULT_ALGORITHM) -> None:
        if not isinstance(algorithm, HashAlgorithm):
            raise TypeError("algorithm must be a HashAlgorithm")
        self._algorithm = algorithm
        self._ctor = hash_constructor(algorithm)
        self._imprint_size = algorithm.imprint_size
        self._inputs: list[bytes] = []
        self._levels: list[int] = []
        self._metadata: list[Metadata | None] = []
        self._any_metadata = False
        self._odd_sizes = False
        self._prefix = bytes((algorithm.value,))
        #: Each leaf's node and metadata link, while every leaf is level 0
        #: with metadata (``None`` from the first leaf that is not).
        self._row0: list[bytes] | None = []
        self._meta_links: list[bytes] | None = []

    @property
    def algorithm(self) -> HashAlgorithm:
        """The tree's hash algorithm (every internal node uses it)."""
        return self._algorithm

    def __len__(self) -> int:
        return len(self._inputs)

    def add_leaf(
        self, imprint: Imprint, *, level: int = 0, metadata: Metadata | None = None
    ) -> int:
        """Add a leaf and return its index (0, 1, 2, ... in order of addition).

        ``level`` is the leaf's input level (the height of a client's local
        tree). With ``metadata`` the leaf node is the join of the imprint
        (left) and the metadata (right) at ``level + 1``. The imprint may
        use any algorithm; the tree's nodes use :attr:`algorithm`.
        """
        if not isinstance(imprint, Imprint):
            raise TypeError("leaf must be an Imprint")
        if not isinstance(level, int) or isinstance(level, bool):
            raise TypeError("level must be an int")
        if metadata is not None:
            if not isinstance(metadata, Metadata):
                raise TypeError("metadata must be a Metadata")
            if not 0 <= level < MAX_LEVEL:
                raise ValueError(f"a leaf with metadata needs level 0..{MAX_LEVEL - 1}")
            self._any_metadata = True
        elif not 0 <= level <= MAX_LEVEL:
            raise ValueError(f"leaf level must be 0..{MAX_LEVEL}")
        value = imprint.value
        if len(value) != self._imprint_size:
            self._odd_sizes = True
        row0, links = self._row0, self._meta_links
        if row0 is not None and links is not None:
            raw = metadata.encode() if metadata is not None and not level else b""
            if metadata is not None and 0 < len(raw) <= tlv.MAX_TLV8_LENGTH:
                # the leaf node now, not when the round closes (see build)
                node = self._ctor(value + metadata.value + _LEVEL_BYTES[1]).digest()
                row0.append(self._prefix + node)
                links.append(_LEFT_LINK_HEADERS[len(raw)] + raw)
            else:
                self._row0 = self._meta_links = None
        self._inputs.append(value)
        self._levels.append(level)
        self._metadata.append(metadata)
        return len(self._inputs) - 1

    def add_leaves(self, imprints: Iterable[Imprint]) -> range:
        """Add many level-0 leaves without metadata; return their indices.

        Equivalent to calling :meth:`add_leaf` for each, but cheaper.
        """
        items = list(imprints)
        if not all(map(isinstance, items, repeat(Imprint))):
            raise TypeError("leaves must be Imprints")
        values = [imp.value for imp in items]
        start = len(self._inputs)
        if values:
            self._row0 = self._meta_links = None
        size = self._imprint_size
        if any(len(v) != size for v in values):
            self._odd_sizes = True
        self._inputs.extend(values)
        self._levels.extend([0] * len(values))
        self._metadata.extend([None] * len(values))
        return range(start, len(self._inputs))

    def build(self) -> Tree:
        """Build the tree over the leaves added so far.

        Raises :class:`ValueError` when there are no leaves or when a node's
        level would pass 255.
        """
        n = len(self._inputs)
        if n == 0:
            raise ValueError("a tree needs at least one leaf")
        alg = self._algorithm
        ctor = self._ctor
        prefix = bytes((alg.value,))
        lb = _LEVEL_BYTES
        inputs = list(self._inputs)
        metadata = list(self._metadata)
        levels0 = list(self._levels)
        row0 = list(inputs)
        meta_links: list[bytes] | None = None
        if self._row0 is not None and self._meta_links is not None:
            # Every leaf level 0 with metadata, each node made when it was added.
            row0 = list(self._row0)
            meta_links = list(self._meta_links)
            levels0 = [1] * n
            starts0 = levels0
        elif self._any_metadata:
            if not any(levels0) and all(m is not None for m in metadata):
                # The aggregator's usual round: every leaf level 0 with metadata.
                lb1 = lb[1]
                values = [m.value for m in metadata if m is not None]
                row0 = [
                    prefix + ctor(a + v + lb1).digest() for a, v in zip(inputs, values, strict=True)
                ]
                raws = [m.encode() for m in metadata if m is not None]
                if max(map(len, raws)) <= tlv.MAX_TLV8_LENGTH:
                    heads = _LEFT_LINK_HEADERS
                    meta_links = [heads[len(r)] + r for r in raws]
                else:
                    meta_links = [_metadata_link(m, 0) for m in metadata if m is not None]
                levels0 = [1] * n
                starts0 = levels0
            else:
                starts0 = [0] * n
                meta_links = [b""] * n
                for i, meta in enumerate(metadata):
                    if meta is None:
                        continue
                    h = levels0[i]
                    row0[i] = prefix + ctor(inputs[i] + meta.value + lb[h + 1]).digest()
                    levels0[i] = h + 1
                    starts0[i] = h + 1
                    meta_links[i] = _metadata_link(meta, h)
        elif any(levels0):
            starts0 = [0] * n
        else:
            starts0 = levels0
        # Rows of equal-sized sibling imprints allow the constant-header path.
        uniform_sizes = not self._odd_sizes or (
            self._any_metadata and all(m is not None for m in metadata)
        )
        rows = [row0]
        levels = [levels0]
        all_starts = [starts0]
        regular: list[int] = []
        row = row0
        lv = levels0
        starts = starts0
        while len(row) > 1:
            m = len(row)
            q = (m >> 1) * 2 - 2
            u = lv[0]
            s = starts[0]
            is_regular = (
                (q == 0 or lv[:q].count(u) == q)
                and (starts is lv or q == 0 or starts[:q].count(s) == q)
                and (uniform_sizes or len(rows) > 1)
            )
            if is_regular:
                v = u + 1
                if q:
                    _check_level(v)
                    lv_v = lb[v]
                    new_row = [
                        prefix + ctor(a + b + lv_v).digest()
                        for a, b in zip(row[0:q:2], row[1:q:2], strict=True)
                    ]
                else:
                    new_row = []
                new_lv = [v] * (q >> 1)
                regular.append(u - s)
            else:
                new_lv = [max(a, b) + 1 for a, b in zip(lv[0:q:2], lv[1:q:2], strict=True)]
                if new_lv:
                    _check_level(max(new_lv))
                new_row = [
                    prefix + ctor(a + b + lb[c]).digest()
                    for a, b, c in zip(row[0:q:2], row[1:q:2], new_lv, strict=True)
                ]
                regular.append(-1)
            # The last pair may join the carried remainder: always general.
            v = max(lv[q], lv[q + 1]) + 1
            _check_level(v)
            new_row.append(prefix + ctor(row[q] + row[q + 1] + lb[v]).digest())
            new_lv.append(v)
            new_starts = new_lv
            if m & 1:
                new_row.append(row[m - 1])
                new_lv.append(lv[m - 1])
                if starts[m - 1] != lv[m - 1]:
                    new_starts = [*new_lv[:-1], starts[m - 1]]
            rows.append(new_row)
            levels.append(new_lv)
            all_starts.append(new_starts)
            row = new_row
            lv = new_lv
            starts = new_starts
        return Tree(
            algorithm=alg,
            inputs=inputs,
            metadata=metadata,
            meta_links=meta_links,
            rows=rows,
            levels=levels,
            starts=all_starts,
            regular=regular,
            headers=_Headers(alg.imprint_size),
        )

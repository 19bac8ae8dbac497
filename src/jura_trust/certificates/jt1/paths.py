"""JT1 hash paths: from a leaf to its page root or seal, and from a page root to the seal."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from jura_trust.certificates.jt1._common import (
    _CORRECTION_MASK,
    _RIGHT_FLAG,
    MAX_PATH_LINKS,
    SEAL_ALGORITHM,
    _malformed,
)
from jura_trust.core.chains import AggregationLink, Direction, evaluate_aggregation_links
from jura_trust.core.hashing import Imprint

# -- hash path ---------------------------------------------------------------------


@attrs.frozen(slots=True)
class PathLink:
    """One step of a hash path from a leaf to its seal.

    Attributes:
        sibling_left: whether the sibling is the LEFT child (the running
            hash is the right one).
        level_correction: the link's level correction (0..127).
        sibling: the sibling digest (the seal algorithm's size).
    """

    sibling_left: bool
    level_correction: int
    sibling: bytes

    def to_aggregation_link(self) -> AggregationLink:
        """The equivalent aggregation-chain link (SHA-256 sibling imprint)."""
        return AggregationLink(
            Direction.RIGHT if self.sibling_left else Direction.LEFT,
            level_correction=self.level_correction,
            sibling=Imprint.of(SEAL_ALGORITHM, self.sibling),
        )

    @classmethod
    def from_aggregation_link(cls, link: AggregationLink) -> PathLink:
        """Convert a tree link; only SHA-256 sibling imprints qualify."""
        sibling = link.sibling
        if sibling is None or sibling.algorithm is not SEAL_ALGORITHM:
            raise ValueError("a JT1 path link needs a SHA-256 sibling imprint")
        if link.level_correction > _CORRECTION_MASK:
            raise ValueError("level correction too large for a JT1 path")
        return cls(link.direction is Direction.RIGHT, link.level_correction, sibling.digest)


def encode_path(links: Sequence[PathLink]) -> bytes:
    """The compact path bytes: per link a flags byte and the sibling digest."""
    out = bytearray()
    for link in links:
        out.append((_RIGHT_FLAG if link.sibling_left else 0) | link.level_correction)
        out += link.sibling
    return bytes(out)


def decode_path(data: bytes) -> tuple[PathLink, ...]:
    """Parse compact path bytes.

    Raises:
        CertificateError: ``CRT-04`` for a length that is not a whole number
            of links or more than :data:`MAX_PATH_LINKS` links.
    """
    if not isinstance(data, bytes):
        raise _malformed("JT1 path is not a byte string")
    step = 1 + SEAL_ALGORITHM.digest_size
    if len(data) % step or len(data) // step > MAX_PATH_LINKS:
        raise _malformed(f"JT1 path of {len(data)} bytes is not 0..{MAX_PATH_LINKS} links")
    return tuple(
        PathLink(bool(data[i] & _RIGHT_FLAG), data[i] & _CORRECTION_MASK, data[i + 1 : i + step])
        for i in range(0, len(data), step)
    )


def path_root(leaf: Imprint, links: Sequence[PathLink]) -> Imprint:
    """The seal a leaf and its path lead to (the leaf itself for no links)."""
    value, _ = evaluate_aggregation_links(
        SEAL_ALGORITHM, leaf.value, [link.to_aggregation_link() for link in links], 0
    )
    return Imprint(value)

"""Byte-level mutations for the differential and fuzz tests (one shared recipe)."""

from __future__ import annotations

from hypothesis import strategies as st


def mutate(data: st.DataObject, raw: bytes, *, rounds: int = 4) -> bytes:
    """``raw`` after 1 to ``rounds`` random flips, sets, cuts, insertions and deletions."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, rounds))):
        kind = data.draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and out:
            out[pos] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and out:
            del out[pos : pos + data.draw(st.integers(1, 8))]
    return bytes(out)

"""The fast automatic mask choice is exactly segno's (jura_trust._qrmask, via jura_trust.qr)."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
import segno
from segno import consts, encoder

from jura_trust import _qrmask, qr
from jura_trust.certificates.base45 import b45encode

LEVELS = "LMQH"


def segno_make(text: str, error: str, mask: int | None) -> Any:
    """segno with the options jura_trust.qr uses."""
    return segno.make(
        text, error=error, mode=qr.qr_mode(text), micro=False, boost_error=False, mask=mask
    )


def evaluated(matrix: Any, version: int) -> list[bytearray]:
    """A finished symbol as segno scores it: format/version areas and dark module light."""
    rows = [bytearray(row) for row in matrix]
    for r, c in _clear_cells(version):
        rows[r][c] = 0
    return rows


def _clear_cells(version: int) -> list[tuple[int, int]]:
    size = 4 * version + 17
    cells = [(i, 8) for i in range(9) if i != 6] + [(8, j) for j in range(9) if j != 6]
    cells += [(8, size - 1 - i) for i in range(8)] + [(size - 1 - i, 8) for i in range(8)]
    if version >= 7:
        for i in range(6):
            for k in range(3):
                cells += [(i, size - 11 + k), (size - 11 + k, i)]
    return cells


# -- layout facts ---------------------------------------------------------------------------


def test_alignment_centers_match_the_standard_table() -> None:
    assert _qrmask.alignment_centers(1) == ()
    for version in range(2, 41):
        assert _qrmask.alignment_centers(version) == tuple(consts.ALIGNMENT_POS[version - 2])
    for bad in (0, 41):
        with pytest.raises(ValueError, match="version"):
            _qrmask.alignment_centers(bad)


def test_function_map_matches_segno_encoding_region() -> None:
    for version in range(1, 41):
        size = 4 * version + 17
        function = encoder.make_matrix(size, size)
        encoder.add_finder_patterns(function, size, size)
        encoder.add_alignment_patterns(function, size, size)
        function[-8][8] = 1
        expected = tuple(bytes(int(m <= 1) for m in row) for row in function)
        assert _qrmask.function_map(version) == expected, version


def test_format_bits_match_the_standard_table() -> None:
    offsets = {"M": 0x00, "L": 0x08, "H": 0x10, "Q": 0x18}
    for level, offset in offsets.items():
        for mask in range(8):
            assert _qrmask.format_bits(level, mask) == consts.FORMAT_INFO[offset + mask]
    assert _qrmask.format_bits("m", 0) == 0b101010000010010


# -- penalty scores -------------------------------------------------------------------------

#: Finder-like runs: alone, overlapping by 4 and by 6, with light areas around.
PLANTS = [
    b"\1\0\1\1\1\0\1",
    b"\1\0\1\1\1\0\1\1\1\0\1",
    b"\1\0\1\1\1\0\1\0\1\1\1\0\1",
    b"\0\0\0\0\1\0\1\1\1\0\1\1\1\0\1\0\0\0\0",
    b"\0\0\0\0\1\0\1\1\1\0\1\0\1\1\1\0\1\0\0\0\0",
]


def random_matrix(rng: random.Random, size: int) -> list[bytearray]:
    dark = rng.random()
    rows = [bytearray(int(rng.random() < dark) for _ in range(size)) for _ in range(size)]
    for _ in range(rng.randrange(8)):
        plant = rng.choice(PLANTS)
        r, c = rng.randrange(size), rng.randrange(-3, size)
        vertical = rng.random() < 0.5
        for k, module in enumerate(plant):
            i, j = (r + k, c) if vertical else (r, c + k)
            if 0 <= i < size and 0 <= j < size:
                rows[i][j] = module
    return rows


@pytest.mark.parametrize("seed", range(4))
def test_penalty_equals_segno_on_random_matrices(seed: int, long_run: bool) -> None:
    rng = random.Random(seed)
    for _ in range(2000 if long_run else 400):
        size = rng.choice([7, 8, 12, 21, 25, 29, 45])
        rows = random_matrix(rng, size)
        assert _qrmask.penalty(rows) == encoder.evaluate_mask(rows, size, size), rows


def test_n3_overlap_and_edges_count_as_segno_does() -> None:
    size = 21
    rows = [bytearray([1, 0] * 10 + [1]) for _ in range(size)]
    # A pattern at 4 with 4 light modules before it, counted; the one
    # overlapping it at 8 has 4 light after it but is skipped (segno resumes
    # the scan 7 modules after a counted pattern).
    rows[3][:] = bytes(4) + b"\1\0\1\1\1\0\1\1\1\0\1" + bytes(6)
    # Patterns touching the start and the end of a row count (outside is light).
    rows[9][:] = b"\1\0\1\1\1\0\1" + bytes(7) + b"\1\0\1\1\1\0\1"
    assert encoder.mask_scores(rows, size, size)[2] == 3 * 40
    assert _qrmask.penalty(rows) == encoder.evaluate_mask(rows, size, size)
    # The same overlap scanned from the other end: both patterns are counted
    # once the first one is not (no light area before it).
    rows[3][:] = bytes(3) + b"\1\1\0\1\1\1\0\1\1\1\0\1" + bytes(6)
    assert encoder.mask_scores(rows, size, size)[2] == 3 * 40
    assert _qrmask.penalty(rows) == encoder.evaluate_mask(rows, size, size)


def test_n4_at_an_exact_boundary() -> None:
    # 250 of 625 modules dark is exactly 40 %: k = 2 steps of 5 % from 50 %.
    rows = [bytearray([1] * 25) if r < 10 else bytearray(25) for r in range(25)]
    assert encoder.mask_scores(rows, 25, 25)[3] == 20
    assert _qrmask.penalty(rows) == encoder.evaluate_mask(rows, 25, 25)


def test_penalty_rejects_bad_matrices() -> None:
    with pytest.raises(_qrmask.LayoutError):
        _qrmask.penalty([bytearray(5)] * 5)
    with pytest.raises(_qrmask.LayoutError):
        _qrmask.penalty([bytearray(8)] * 7)
    with pytest.raises(_qrmask.LayoutError):
        _qrmask.penalty([bytearray([2] * 8)] * 8)


# -- symbols --------------------------------------------------------------------------------


def random_text(rng: random.Random, level: str) -> str:
    """A Base45 JT1-like text, a low-entropy one, or a byte-mode text, up to about version 25."""
    kind = rng.random()
    if kind < 0.55:
        return "JT1:" + b45encode(
            rng.randbytes(rng.randrange(1, {"L": 1200, "M": 960}.get(level, 640)))
        )
    if kind < 0.65:
        return "JT1:" + rng.choice("0A-") * rng.randrange(1, 700)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 éüß€{}"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 500)))


@pytest.mark.parametrize("seed", range(6))
def test_automatic_mask_is_segno_choice(seed: int, long_run: bool) -> None:
    rng = random.Random(1000 + seed)
    versions: set[int] = set()
    masks: set[int] = set()
    done = 0
    while done < (500 if long_run else 50):
        level = rng.choice(LEVELS)
        text = random_text(rng, level)
        try:
            auto = segno_make(text, level, None)
        except segno.DataOverflowError:
            continue
        if auto.version > 25:
            continue
        symbol = qr.encode_qr(text, error=level, fallback=())  # type: ignore[arg-type]
        assert (symbol.version, symbol.error, symbol.mask) == (auto.version, level, auto.mask)
        assert symbol.matrix == tuple(bytes(row) for row in auto.matrix)
        versions.add(auto.version)
        masks.add(auto.mask)
        done += 1
    assert len(versions) >= 15
    assert len(masks) >= 6


@pytest.mark.parametrize("version", [1, 2, 6, 7, 14, 19, 25, 32, 40])
def test_each_mask_scores_and_remasks_as_segno(version: int) -> None:
    rng = random.Random(version)
    level = LEVELS[version % 4]
    cap = consts.SYMBOL_CAPACITY[version][encoder.normalize_errorlevel(level)]
    text = "JT1:" + b45encode(rng.randbytes(max(1, cap // 8 * 2 // 3 - 30)))
    zero = segno.make(text, error=level, version=version, boost_error=False, mask=0)
    assert zero.version == version
    scores = _qrmask.mask_penalties(zero.matrix, version, level)
    for mask in range(8):
        fixed = segno.make(text, error=level, version=version, boost_error=False, mask=mask)
        size = 4 * version + 17
        assert scores[mask] == encoder.evaluate_mask(evaluated(fixed.matrix, version), size, size)
        again = segno.make(text, error=level, version=version, boost_error=False, mask=0)
        _qrmask.remask(again.matrix, version, level, mask)
        assert tuple(again.matrix) == tuple(fixed.matrix), mask
    auto = segno.make(text, error=level, version=version, boost_error=False)
    assert _qrmask.best_mask(zero.matrix, version, level) == auto.mask


def test_layout_checks() -> None:
    three = segno_make("JT1:ABC", "Q", 3)
    with pytest.raises(_qrmask.LayoutError, match="format"):
        _qrmask.best_mask(three.matrix, 1, "Q")  # not a mask-0 symbol
    zero = segno_make("JT1:ABC", "Q", 0)
    with pytest.raises(_qrmask.LayoutError, match="bytearray"):
        _qrmask.best_mask(zero.matrix, 2, "Q")
    with pytest.raises(_qrmask.LayoutError, match="bytearray"):
        _qrmask.best_mask([bytes(row) for row in zero.matrix], 1, "Q")
    with pytest.raises(_qrmask.LayoutError, match="level"):
        _qrmask.best_mask(zero.matrix, 1, "X")
    broken = [bytearray(row) for row in zero.matrix]
    broken[6][10] ^= 1
    with pytest.raises(_qrmask.LayoutError, match="timing"):
        _qrmask.best_mask(broken, 1, "Q")


# -- the encoder does not use segno's own evaluation -----------------------------------------

TEXT = "JT1:" + b45encode(bytes(range(200)))


def test_encoding_and_png_need_no_segno(monkeypatch: pytest.MonkeyPatch) -> None:
    auto = segno_make(TEXT, "Q", None)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("segno.make called")

    monkeypatch.setattr(segno, "make", boom)
    symbol = qr.encode_qr(TEXT)
    png = symbol.png()
    assert qr.qr_fit(TEXT).version == symbol.version
    monkeypatch.undo()
    assert symbol.mask == auto.mask != 0
    assert symbol.matrix == tuple(bytes(row) for row in auto.matrix)
    out = io.BytesIO()
    auto.save(out, kind="png", scale=qr.DEFAULT_SCALE, border=qr.DEFAULT_BORDER)
    assert png == out.getvalue()


def test_fixed_mask_and_fit_do_not_evaluate(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> Any:
        raise AssertionError("mask evaluation for a fixed mask")

    monkeypatch.setattr(_qrmask, "best_mask", boom)
    assert qr.encode_qr(TEXT, mask=5).mask == 5
    assert qr.encode_qr(TEXT, mask=0).mask == 0
    assert qr.qr_fit(TEXT).version == qr.encode_qr(TEXT, mask=0).version

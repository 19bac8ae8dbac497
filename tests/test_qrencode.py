"""The fast QR encoder and PNG writer give segno's symbols and segno's pixels (jura_trust._qrencode).

segno is the oracle: every symbol is compared module for module with the
one ``segno.make`` makes with the options jura_trust.qr uses, and every PNG
with segno's PNG, as bytes and as decoded pixel arrays.
"""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from segno import consts

from jura_trust import _qrencode, qr
from jura_trust.certificates.base45 import b45encode
from tests.budget import scaled

LEVELS = "LMQH"
_SEGNO_LEVEL = {"L": consts.ERROR_LEVEL_L, "M": consts.ERROR_LEVEL_M,
                "Q": consts.ERROR_LEVEL_Q, "H": consts.ERROR_LEVEL_H}  # fmt: skip


def segno_make(text: str, level: str, mask: int | None, version: int | None = None) -> Any:
    return segno.make(
        text,
        error=level.lower(),
        version=version,
        mode=qr.qr_mode(text),
        micro=False,
        boost_error=False,
        mask=mask,
    )


def segno_png(code: Any, scale: int, border: int) -> bytes:
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def pixels(png: bytes) -> tuple[str, tuple[int, int], bytes]:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.mode, image.size, image.convert("L").tobytes()


def same_as_segno(text: str, level: str, mask: int | None) -> _qrencode.Symbol | None:
    try:
        reference = segno_make(text, level, mask)
    except segno.DataOverflowError:
        with pytest.raises(_qrencode.DataOverflowError):
            _qrencode.encode(text, level, qr.qr_mode(text), mask)
        return None
    symbol = _qrencode.encode(text, level, qr.qr_mode(text), mask)
    assert (symbol.version, symbol.error, symbol.mask) == (reference.version, level, reference.mask)
    assert symbol.matrix == tuple(bytes(row) for row in reference.matrix)
    assert _qrencode.version_for(text, level, qr.qr_mode(text)) == reference.version
    return symbol


def random_text(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return "JT1:" + b45encode(rng.randbytes(rng.randrange(0, 1000)))
    if kind < 0.6:
        return "JT1:" + rng.choice("0A-") * rng.randrange(0, 800)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 éüß€{}アイウ"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 600)))


@pytest.mark.parametrize("seed", range(4))
def test_symbols_are_segnos(seed: int, long_run: bool) -> None:
    rng = random.Random(seed)
    versions: set[int] = set()
    for _ in range(400 if long_run else 60):
        level = rng.choice(LEVELS)
        symbol = same_as_segno(random_text(rng), level, rng.choice([None, None, *range(8)]))
        if symbol is not None:
            versions.add(symbol.version)
    assert len(versions) >= 15


@pytest.mark.parametrize("version", [1, 2, 6, 7, 9, 10, 14, 19, 26, 27, 32, 40])
@pytest.mark.parametrize("level", LEVELS)
def test_every_layout_matches_segno(version: int, level: str) -> None:
    # Near the capacity of the version, with data in every block.
    capacity = consts.SYMBOL_CAPACITY[version][_SEGNO_LEVEL[level]]
    chars = (capacity - 4 - 13) // 11 * 2
    rng = random.Random(version * 4 + LEVELS.index(level))
    text = "".join(rng.choice(_qrencode.ALPHANUMERIC_CHARS) for _ in range(chars))
    symbol = same_as_segno(text, level, None)
    assert symbol is not None
    assert symbol.version == version


def test_block_table_is_table_9() -> None:
    for version in range(1, 41):
        for level in LEVELS:
            degree, b1, d1, b2, d2 = _qrencode._BLOCKS[version - 1][LEVELS.index(level)]
            blocks = [(b.num_blocks, b.num_total, b.num_data)
                      for b in consts.ECC[version][_SEGNO_LEVEL[level]]]  # fmt: skip
            assert blocks == [(b1, d1 + degree, d1)] + ([(b2, d2 + degree, d2)] if b2 else [])
            assert 8 * (b1 * d1 + b2 * d2) == consts.SYMBOL_CAPACITY[version][_SEGNO_LEVEL[level]]


def test_stream_ending_on_a_codeword_boundary_is_padded_as_segno_does() -> None:
    # segno adds a whole zero codeword when the terminated stream is already
    # on a boundary (version 1, alphanumeric: every length that gets there).
    found = 0
    for n in range(1, 120):
        bits = 4 + 9 + 11 * (n // 2) + 6 * (n % 2)
        for level in LEVELS:
            capacity = 8 * _qrencode._data_codewords(1, level)
            if bits + min(capacity - bits, 4) > capacity or bits > capacity:
                continue
            if (bits + min(capacity - bits, 4)) % 8 == 0:
                found += 1
                assert same_as_segno("A" * n, level, 0) is not None
    assert found >= 3


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "déjà vu",  # ISO-8859-1
        "アイウエオ",  # Shift JIS
        "€ 100",  # UTF-8
        "x" * 2953,  # byte capacity of 40-L
        "A" * 4296,  # alphanumeric capacity of 40-L
    ],
)
def test_byte_and_alphanumeric_edges(text: str) -> None:
    for level in LEVELS:
        same_as_segno(text, level, None)


def test_too_large_for_every_version() -> None:
    with pytest.raises(_qrencode.DataOverflowError):
        _qrencode.encode("A" * 4297, "L", "alphanumeric", None)
    with pytest.raises(_qrencode.DataOverflowError):
        _qrencode.version_for("x" * 2954, "L", "byte")


@settings(max_examples=scaled(25), deadline=None)
@given(
    st.binary(min_size=0, max_size=400),
    st.sampled_from(LEVELS),
    st.sampled_from([None, 0, 5]),
    st.integers(1, 6),
    st.integers(0, 5),
)
def test_png_pixels_are_segnos(
    payload: bytes, level: str, mask: int | None, scale: int, border: int
) -> None:
    text = "JT1:" + b45encode(payload)
    symbol = same_as_segno(text, level, mask)
    assert symbol is not None
    reference = segno_png(segno_make(text, level, mask), scale, border)
    mine = _qrencode.png(symbol.matrix, scale, border)
    assert pixels(mine) == pixels(reference)
    assert mine == reference  # same rows, filters and compression: the same file


def test_png_rejects_bad_scale_and_border() -> None:
    matrix = _qrencode.encode("JT1:ABC", "Q", "alphanumeric", None).matrix
    for scale, border in ((0, 4), (-1, 4), (4, -1), (4, 1.5)):
        with pytest.raises(ValueError, match=r"scale|border"):
            _qrencode.png(matrix, scale, border)  # type: ignore[arg-type]


def test_svg_and_terminal_draw_the_same_symbol() -> None:
    text = "JT1:" + b45encode(bytes(range(150)))
    symbol = qr.encode_qr(text)
    reference = segno_make(text, "Q", None)
    assert symbol.mask == reference.mask
    out = io.BytesIO()
    reference.save(out, kind="svg", scale=4, border=4, xmldecl=False)
    assert symbol.svg() == out.getvalue().decode("utf-8")
    text_out = io.StringIO()
    reference.terminal(out=text_out, border=2)
    assert symbol.terminal(border=2) == text_out.getvalue()


_SEGNO_MODE = {"numeric": consts.MODE_NUMERIC, "alphanumeric": consts.MODE_ALPHANUMERIC,
               "byte": consts.MODE_BYTE}  # fmt: skip


def random_link(rng: random.Random) -> str:
    base = rng.choice(["https://qr.jura.ch/", "HTTPS://QR.JURA.CH/", "http://x/", "https://é.ch/"])
    return base + "#" + "".join(rng.choice("0123456789") for _ in range(rng.randrange(6, 2500)))


@pytest.mark.parametrize("seed", range(3))
def test_mixed_segment_symbols_are_segnos(seed: int, long_run: bool) -> None:
    """Link texts (URL in byte/alphanumeric mode, digits in numeric mode): segno's symbols."""
    rng = random.Random(seed)
    versions: set[int] = set()
    for _ in range(200 if long_run else 25):
        text = random_link(rng)
        segments = qr.qr_segments(text)
        assert segments[-1][1] == "numeric"
        assert "".join(part for part, _ in segments) == text
        level = rng.choice(LEVELS)
        mask = rng.choice([None, None, *range(8)])
        pinned = rng.choice([None, None, 40])
        content = [(part, _SEGNO_MODE[mode]) for part, mode in segments]
        try:
            reference = segno.make(content, error=level.lower(), version=pinned, mask=mask,
                                   micro=False, boost_error=False)  # fmt: skip
        except segno.DataOverflowError:
            with pytest.raises(_qrencode.DataOverflowError):
                _qrencode.encode_segments(segments, level, mask, version=pinned)
            continue
        symbol = _qrencode.encode_segments(segments, level, mask, version=pinned)
        assert (symbol.version, symbol.mask) == (reference.version, reference.mask)
        assert symbol.matrix == tuple(bytes(row) for row in reference.matrix)
        if pinned is None:
            assert _qrencode.version_for_segments(segments, level) == reference.version
        versions.add(symbol.version)
    assert len(versions) >= 8


@pytest.mark.parametrize("digits", ["", "7", "12", "123", "1234", "9" * 7089, "9" * 7090])
def test_numeric_mode_edges_match_segno(digits: str) -> None:
    for level in LEVELS:
        try:
            reference = segno.make(digits or "0", error=level.lower(), mode="numeric",
                                   micro=False, boost_error=False)  # fmt: skip
        except segno.DataOverflowError:
            with pytest.raises(_qrencode.DataOverflowError):
                _qrencode.encode(digits or "0", level, "numeric", None)
            continue
        symbol = _qrencode.encode(digits or "0", level, "numeric", None)
        assert symbol.matrix == tuple(bytes(row) for row in reference.matrix)


def test_pinned_version_is_segnos_and_too_small_a_pin_overflows() -> None:
    text = "JT1:" + b45encode(bytes(range(100)))
    smallest = _qrencode.version_for(text, "Q", "alphanumeric")
    for version in (smallest, smallest + 1, 40):
        reference = segno.make(text, error="q", version=version, mode="alphanumeric",
                               micro=False, boost_error=False)  # fmt: skip
        symbol = _qrencode.encode(text, "Q", "alphanumeric", None, version=version)
        assert symbol.version == version
        assert symbol.matrix == tuple(bytes(row) for row in reference.matrix)
    with pytest.raises(_qrencode.DataOverflowError):
        _qrencode.encode(text, "Q", "alphanumeric", None, version=smallest - 1)


def test_png_with_dpi_carries_its_density() -> None:
    matrix = _qrencode.encode("JT1:ABC", "Q", "alphanumeric", None).matrix
    plain = _qrencode.png(matrix, 4, 4)
    dense = _qrencode.png(matrix, 4, 4, dpi=300)
    assert b"pHYs" not in plain
    assert b"pHYs" in dense
    image = Image.open(io.BytesIO(dense))
    assert tuple(round(v) for v in image.info["dpi"]) == (300, 300)
    assert pixels(dense) == pixels(plain)
    with pytest.raises(ValueError, match="dpi"):
        _qrencode.png(matrix, 4, 4, dpi=0)

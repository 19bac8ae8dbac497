from __future__ import annotations

import builtins
import io
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from jura_trust.certificates.base45 import b45encode
from jura_trust.certificates.envelope import encode_envelope
from jura_trust.errors import CertificateError, ErrorCode, FormatError, JuraError
from jura_trust.qr import (
    QrFit,
    encode_qr,
    qr_fit,
    qr_mode,
    qr_version,
    read_qr,
    render_png,
    render_svg,
    render_terminal,
)
from tests.budget import scaled
from tests.vectors import dcc_path


@settings(max_examples=scaled(15), deadline=None)
@given(st.binary(min_size=1, max_size=300), st.sampled_from(["m", "q"]))
def test_png_round_trip_through_zxing(payload: bytes, error: str) -> None:
    text = "JT1:" + b45encode(payload)
    assert qr_mode(text) == "alphanumeric"
    decoded = read_qr(render_png(text, error=error))  # type: ignore[arg-type]
    assert decoded == [text]


def test_read_accepts_path_bytes_and_pil(tmp_path: os.PathLike[str]) -> None:
    text = encode_envelope(b"\x00\x01 hello")
    png = render_png(text)
    path = os.path.join(tmp_path, "code.png")
    with open(path, "wb") as handle:
        handle.write(png)
    assert read_qr(path) == [text]
    assert read_qr(png) == [text]
    assert read_qr(Image.open(io.BytesIO(png))) == [text]
    assert read_qr(Image.new("RGB", (50, 50), "white")) == []


def test_read_errors() -> None:
    with pytest.raises(FormatError) as info:
        read_qr(b"not a png")
    assert info.value.code is ErrorCode.FMT_STRUCTURE
    with pytest.raises(FormatError) as info:
        read_qr("/nonexistent/code.png")
    assert info.value.code is ErrorCode.FMT_IO
    with pytest.raises(TypeError):
        read_qr(42)  # type: ignore[arg-type]


def test_version_and_ecc_defaults() -> None:
    # 300 bytes -> 450 Base45 chars + prefix = 454 chars: version 16 at Q, 13 at M
    text = "HC1:" + b45encode(bytes(range(256)) + b"\xff" * 44)
    assert len(text) == 454
    assert qr_version(text) == 16
    assert qr_version(text, "m") == 13
    # byte mode for text outside the alphanumeric set needs a larger code
    assert qr_mode(text.lower()) == "byte"
    assert qr_version(text.lower()) > 16


def test_too_large() -> None:
    with pytest.raises(CertificateError) as info:
        qr_version("A" * 3000, "q")
    assert info.value.code is ErrorCode.CRT_TOO_LARGE


def test_svg_and_terminal() -> None:
    svg = render_svg("JT1:ABC")
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    terminal = render_terminal("JT1:ABC", border=1)
    lines = terminal.splitlines()
    assert len(lines) == 21 + 2  # version 1 plus the border on each side


@pytest.mark.parametrize(
    ("png", "json_file", "aztec"),
    [
        ("DE/2DCode/png/1.png", "DE/2DCode/raw/1.json", False),
        ("SG/png/1.png", "SG/2DCode/raw/1.json", False),
        ("IE/png/1_aztec.png", "IE/2DCode/Raw/1.json", True),
        ("CH/png/1.png", "CH/2DCode/raw/1.json", False),
    ],
)
def test_dcc_pngs(png: str, json_file: str, aztec: bool) -> None:
    prefix = json.loads(dcc_path(json_file).read_text(encoding="utf-8"))["PREFIX"]
    assert read_qr(dcc_path(png), aztec=aztec) == [prefix]
    if aztec:
        assert read_qr(dcc_path(png)) == []  # QR only by default


def test_missing_extra_message(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "zxingcpp":
            raise ImportError("no zxingcpp", name="zxingcpp")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(JuraError) as info:
        read_qr(b"")
    assert "jura-trust[qr-read]" in info.value.message


# -- ECC fallback and masks -----------------------------------------------------------------

#: Alphanumeric capacity at version 40: Q 2420, M 3391, L 4296 characters.
BEYOND_Q = "JT1:" + "A" * 2417
BEYOND_M = "JT1:" + "A" * 3388


def test_ecc_fallback_to_m_then_l() -> None:
    assert qr_fit("JT1:" + "A" * 2416) == QrFit(error="Q", version=40)
    assert qr_fit(BEYOND_Q) == QrFit(error="M", version=34)
    assert qr_fit(BEYOND_M) == QrFit(error="L", version=36)
    assert qr_fit(BEYOND_Q, fallback=("l",)).error == "L"
    symbol = encode_qr(BEYOND_Q, mask=0)
    assert (symbol.error, symbol.version, symbol.mask) == ("M", 34, 0)
    assert qr_fit("JT1:ABC", error="h") == QrFit(error="H", version=1)


def test_ecc_fallback_can_be_disabled() -> None:
    for fn in (qr_fit, render_png, render_svg, render_terminal):
        with pytest.raises(CertificateError) as info:
            fn(BEYOND_Q, fallback=())  # type: ignore[operator]
        assert info.value.code is ErrorCode.CRT_TOO_LARGE
    with pytest.raises(CertificateError) as info:
        qr_version(BEYOND_Q, "q")  # qr_version never falls back
    assert info.value.code is ErrorCode.CRT_TOO_LARGE
    with pytest.raises(CertificateError) as info:
        qr_fit("JT1:" + "A" * 4293)
    assert info.value.code is ErrorCode.CRT_TOO_LARGE
    assert "Q/M/L" in info.value.message


def test_bad_levels_and_masks() -> None:
    with pytest.raises(ValueError, match="level"):
        qr_fit("JT1:A", fallback=("x",))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        qr_fit("JT1:A", fallback="ml")  # type: ignore[arg-type]
    for mask in (-1, 8, True, 1.0):
        with pytest.raises(ValueError, match="mask"):
            encode_qr("JT1:A", mask=mask)  # type: ignore[arg-type]


def test_fallback_render_reads_back() -> None:
    text = BEYOND_Q[:-300] + b45encode(os.urandom(200))
    assert qr_fit(text).error == "M"
    assert read_qr(render_png(text, mask=2)) == [text]


@pytest.mark.parametrize("mask", [None, *range(8)])
def test_every_mask_reads_back(mask: int | None) -> None:
    text = "JT1:" + b45encode(bytes(range(256)) + b"\xff" * 44)
    symbol = encode_qr(text, mask=mask)
    if mask is not None:
        assert symbol.mask == mask
    assert read_qr(symbol.png()) == [text]
    assert read_qr(render_png(text, mask=mask)) == [text]
    assert symbol.svg().startswith("<svg")

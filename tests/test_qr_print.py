"""Print-ready codes: SVG in millimetres, PNG with its density, minimum module, pinned versions."""

from __future__ import annotations

import io
import re
import xml.dom.minidom

import pytest
from PIL import Image

from jura_trust import qr
from jura_trust.certificates.base45 import b45encode
from jura_trust.errors import CertificateError, ErrorCode

TEXT = "JT1:" + b45encode(bytes(range(200)))


def matrix_from_path(d: str, size: int, border: int) -> tuple[bytes, ...]:
    grid = [bytearray(size) for _ in range(size)]
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", d):
        for c in range(int(x) - border, int(x) - border + int(w)):
            grid[int(y) - border][c] = 1
    return tuple(bytes(row) for row in grid)


def test_print_svg_is_in_millimetres_with_a_viewbox_and_a_white_background() -> None:
    symbol = qr.encode_qr(TEXT)
    svg = symbol.print_svg(module_mm=0.5, border=4)
    root = xml.dom.minidom.parseString(svg).documentElement
    side = symbol.size + 8
    assert root.getAttribute("width") == root.getAttribute("height") == f"{side * 0.5:g}mm"
    assert root.getAttribute("viewBox") == f"0 0 {side} {side}"
    background = root.getElementsByTagName("rect")[0]
    assert background.getAttribute("fill") == "#fff"
    assert background.getAttribute("width") == str(side)
    path = root.getElementsByTagName("path")[0]
    assert matrix_from_path(path.getAttribute("d"), symbol.size, 4) == symbol.matrix


@pytest.mark.parametrize("module_mm", [0.329, 0.2, 0.0, -1.0, float("nan")])
def test_modules_below_a_third_of_a_millimetre_are_refused(module_mm: float) -> None:
    symbol = qr.encode_qr(TEXT)
    for draw in (symbol.print_svg, symbol.print_png):
        with pytest.raises(CertificateError) as info:
            draw(module_mm=module_mm)
        assert info.value.code is ErrorCode.CRT_PRINT_SIZE


@pytest.mark.parametrize(
    ("module_mm", "dpi", "scale"),
    [
        (0.5, 300, 6),
        (0.33, 300, 4),
        (0.33, 72, 1),
        (0.33, 100, 2),
        (1.0, 600, 24),
        (0.5, 254, 5),
        (0.4, 600, 10),
    ],
)
def test_print_png_has_its_dpi_and_whole_pixel_modules_never_below_the_minimum(
    module_mm: float, dpi: int, scale: int
) -> None:
    symbol = qr.encode_qr(TEXT)
    image = Image.open(io.BytesIO(symbol.print_png(module_mm=module_mm, dpi=dpi)))
    assert tuple(round(v) for v in image.info["dpi"]) == (dpi, dpi)
    assert image.size[0] == (symbol.size + 8) * scale
    assert scale * 25.4 / dpi >= module_mm - 0.001


def test_pinned_version_prints_every_code_at_the_same_size() -> None:
    texts = ["JT1:" + b45encode(bytes(n)) for n in (10, 100, 300)]
    largest = max(qr.qr_fit(t).version for t in texts)
    symbols = [qr.encode_qr(t, version=largest) for t in texts]
    assert {s.version for s in symbols} == {largest}
    assert len({s.print_svg() for s in symbols}) == 3
    assert len({s.print_svg().split(">", 1)[0] for s in symbols}) == 1  # same size
    assert [qr.read_qr(s.png()) for s in symbols] == [[t] for t in texts]


def test_text_larger_than_the_pinned_version_is_refused() -> None:
    with pytest.raises(CertificateError) as info:
        qr.encode_qr(TEXT, version=qr.qr_fit(TEXT).version - 1, fallback=())
    assert info.value.code is ErrorCode.CRT_PRINT_SIZE
    with pytest.raises(ValueError, match="version"):
        qr.encode_qr(TEXT, version=41)

"""Printed-and-photographed codes, simulated: render, downscale, blur, JPEG, rotate, decode.

Shared by ``tests/test_qr_robustness.py`` (a modest sample, in CI) and
``bench/bench_qr_robustness.py`` (a larger one, with the rates at 2 pixels
per module).
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageFilter

from jura_trust import qr

#: Pixels per module of the sharp rendering the degraded images start from.
SOURCE_SCALE = 12

Degradation = Callable[[Image.Image, int], Image.Image]


def rendered(text: str, px_per_module: int) -> Image.Image:
    """The code of ``text`` drawn sharp, then downscaled to ``px_per_module`` (grey edges)."""
    symbol = qr.encode_qr(text)
    sharp = Image.open(io.BytesIO(symbol.png(scale=SOURCE_SCALE, border=4))).convert("L")
    side = (symbol.size + 8) * px_per_module
    return sharp.resize((side, side), Image.Resampling.BOX)


def _blur(image: Image.Image, px: int) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius=px / 3))


def _jpeg(image: Image.Image, _px: int, quality: int = 35) -> Image.Image:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    out.seek(0)
    return Image.open(out).convert("L")


def _rotate(image: Image.Image, _px: int, degrees: float = 7.0) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def _all(image: Image.Image, px: int) -> Image.Image:
    return _jpeg(_blur(_rotate(image, px, 4.0), px), px, 50)


#: The degradations, by name: each takes the image and its pixels per module.
DEGRADATIONS: dict[str, Degradation] = {
    "downscaled": lambda image, _px: image,
    "blurred": _blur,
    "jpeg": _jpeg,
    "rotated": _rotate,
    "rotated+blurred+jpeg": _all,
}


def decodes(text: str, px_per_module: int, degradation: str) -> bool:
    """Whether zxing-cpp reads back exactly ``text`` after the degradation."""
    image = DEGRADATIONS[degradation](rendered(text, px_per_module), px_per_module)
    return qr.read_qr(image) == [text]

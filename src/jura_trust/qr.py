"""Render QR codes (segno) and read them from images (zxing-cpp, optional).

Layer 8. Rendering uses ECC level Q by default (about 25 % of the code may be
damaged), never boosts the level (so a text's version is predictable), and
uses alphanumeric mode for texts in the QR alphanumeric set (all Base45
payloads with their ``JT1:``/``HC1:`` prefix), byte mode otherwise.

Reading needs the optional extra: ``pip install jura-trust[qr-read]``
(zxing-cpp and pillow), imported only when :func:`read_qr` is called. Only
QR codes are looked for (and optionally Aztec), which avoids spurious 1-D
barcode hits and is several times faster than scanning every format.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any, Literal

import segno

from jura_trust.errors import CertificateError, ErrorCode, FormatError, JuraError

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "DEFAULT_BORDER",
    "DEFAULT_ERROR",
    "DEFAULT_SCALE",
    "MAX_IMAGE_BYTES",
    "ErrorLevel",
    "qr_mode",
    "qr_version",
    "read_qr",
    "render_png",
    "render_svg",
    "render_terminal",
]

#: An error-correction level: L (7 %), M (15 %), Q (25 %), H (30 %).
ErrorLevel = Literal["l", "m", "q", "h", "L", "M", "Q", "H"]

#: The default error-correction level, as the EU DCC recommends.
DEFAULT_ERROR: ErrorLevel = "q"
#: Pixels per module in PNG and SVG output.
DEFAULT_SCALE = 4
#: Quiet zone in modules (ISO/IEC 18004 asks for at least 4).
DEFAULT_BORDER = 4
#: Largest encoded image accepted by :func:`read_qr`, in bytes.
MAX_IMAGE_BYTES = 32 * 1024 * 1024

_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def qr_mode(text: str) -> str:
    """The QR mode used for ``text``: ``"alphanumeric"`` or ``"byte"``."""
    return "alphanumeric" if text and set(text) <= _ALPHANUMERIC else "byte"


def _make(text: str, error: ErrorLevel) -> Any:
    if not isinstance(text, str):
        raise TypeError(f"QR text must be str, not {type(text).__name__}")
    if error.lower() not in ("l", "m", "q", "h"):
        raise ValueError(f"unknown error-correction level {error!r}")
    try:
        return segno.make(text, error=error, mode=qr_mode(text), micro=False, boost_error=False)
    except segno.DataOverflowError as exc:
        raise CertificateError(
            f"{len(text)} characters do not fit any QR version at level {error.upper()}",
            code=ErrorCode.CRT_TOO_LARGE,
            length=len(text),
        ) from exc


def qr_version(text: str, error: ErrorLevel = DEFAULT_ERROR) -> int:
    """The smallest QR version (1 to 40) that holds ``text`` at ``error``.

    Raises:
        CertificateError: ``CRT-15`` if no version can hold it.
    """
    return int(_make(text, error).version)


def render_png(
    text: str,
    *,
    error: ErrorLevel = DEFAULT_ERROR,
    scale: int = DEFAULT_SCALE,
    border: int = DEFAULT_BORDER,
) -> bytes:
    """Render ``text`` as a black-on-white PNG image.

    Raises:
        CertificateError: ``CRT-15`` if the text does not fit a QR code.
    """
    out = io.BytesIO()
    _make(text, error).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def render_svg(
    text: str,
    *,
    error: ErrorLevel = DEFAULT_ERROR,
    scale: int = DEFAULT_SCALE,
    border: int = DEFAULT_BORDER,
) -> str:
    """Render ``text`` as a standalone SVG document.

    Raises:
        CertificateError: ``CRT-15`` if the text does not fit a QR code.
    """
    out = io.BytesIO()
    _make(text, error).save(out, kind="svg", scale=scale, border=border, xmldecl=False)
    return out.getvalue().decode("utf-8")


def render_terminal(
    text: str, *, error: ErrorLevel = DEFAULT_ERROR, border: int = DEFAULT_BORDER
) -> str:
    """Render ``text`` as terminal text (ANSI colours, two characters per module).

    Raises:
        CertificateError: ``CRT-15`` if the text does not fit a QR code.
    """
    out = io.StringIO()
    _make(text, error).terminal(out=out, border=border)
    return out.getvalue()


def _load_reader() -> tuple[Any, Any]:
    try:
        import zxingcpp  # noqa: PLC0415
        from PIL import Image  # noqa: PLC0415
    except ImportError as exc:
        raise JuraError(
            "reading QR codes needs the optional extra: pip install jura-trust[qr-read]",
            code=ErrorCode.SVC_CONFIG,
            missing=exc.name,
        ) from exc
    return zxingcpp, Image


def read_qr(image: str | os.PathLike[str] | bytes | Image, *, aztec: bool = False) -> list[str]:
    """Read every QR code in an image; return their texts (possibly none).

    Args:
        image: a file path, encoded image bytes (PNG, JPEG, ...), or a PIL
            image.
        aztec: also look for Aztec codes (the EU DCC allowed them).

    Raises:
        FormatError: ``FMT-19`` if the file cannot be read, ``FMT-10`` if the
            data is not a decodable image.
        JuraError: ``SVC-08`` if zxing-cpp or pillow is not installed.
    """
    zxingcpp, pil_image = _load_reader()
    if isinstance(image, (str, os.PathLike)):
        try:
            with open(image, "rb") as handle:
                data = handle.read(MAX_IMAGE_BYTES + 1)
        except OSError as exc:
            raise FormatError(f"cannot read image file: {exc}", code=ErrorCode.FMT_IO) from exc
        picture = _open_image(pil_image, data)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        picture = _open_image(pil_image, bytes(image))
    elif isinstance(image, pil_image.Image):
        picture = image
    else:
        raise TypeError(f"cannot read a QR code from {type(image).__name__}")
    formats: tuple[Any, ...] = (zxingcpp.BarcodeFormat.QRCode,)
    if aztec:
        formats += (zxingcpp.BarcodeFormat.Aztec,)
    if picture.mode not in ("L", "RGB", "RGBA"):
        picture = picture.convert("RGB")
    return [str(barcode.text) for barcode in zxingcpp.read_barcodes(picture, formats=formats)]


def _open_image(pil_image: Any, data: bytes) -> Any:
    if len(data) > MAX_IMAGE_BYTES:
        raise FormatError(
            f"image exceeds {MAX_IMAGE_BYTES} bytes",
            code=ErrorCode.FMT_LIMIT,
            limit=MAX_IMAGE_BYTES,
        )
    try:
        picture = pil_image.open(io.BytesIO(data))
        picture.load()
    except Exception as exc:  # pillow raises many types on bad or hostile images
        raise FormatError(f"not a readable image: {exc}", code=ErrorCode.FMT_STRUCTURE) from exc
    return picture

"""Render QR codes and read them from images (zxing-cpp, optional).

Layer 8. Rendering uses ECC level Q by default (about 25 % of the code may be
damaged), never boosts the level (so a text's version is predictable), and
uses alphanumeric mode for texts in the QR alphanumeric set (all Base45
payloads with their ``JT1:``/``HC1:`` prefix), byte mode otherwise.

ECC fallback: when the text does not fit any version at the requested
level, rendering tries the levels of ``fallback`` in order (by default M,
then L) and uses the first that fits; :func:`encode_qr` and :func:`qr_fit`
say which level was used. Pass ``fallback=()`` to fail with ``CRT-15``
instead.

Mask: ISO/IEC 18004 has the encoder try all eight data masks and keep the
one with the lowest penalty score (``mask=None``, the default); a fixed
``mask=0..7`` skips the evaluation.

Encoding and PNG: :mod:`jura_trust._qrencode` encodes the symbol and writes
the PNG on whole byte strings and integers (segno does both module by
module, about 8 ms for a version 19 code); :mod:`jura_trust._qrmask` makes
the mask choice. The symbols, the mask choice and the PNG bytes are the ones
segno produces with the same options (the tests compare with segno for many
texts). SVG and terminal output are drawn by segno from the same symbol
(same version, level and mask). See ``docs/qr.md`` and
``docs/performance.md`` for the measurements.

Reading needs the optional extra: ``pip install jura-trust[qr-read]``
(zxing-cpp and pillow), imported only when :func:`read_qr` is called. Only
QR codes are looked for (and optionally Aztec), which avoids spurious 1-D
barcode hits and is several times faster than scanning every format.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import segno

from jura_trust import _qrencode
from jura_trust.errors import CertificateError, ErrorCode, FormatError, JuraError

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "DEFAULT_BORDER",
    "DEFAULT_ERROR",
    "DEFAULT_FALLBACK",
    "DEFAULT_MASK",
    "DEFAULT_SCALE",
    "MAX_IMAGE_BYTES",
    "ErrorLevel",
    "QrFit",
    "QrSymbol",
    "encode_qr",
    "qr_fit",
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
#: Levels tried in order when a text does not fit at the requested level.
DEFAULT_FALLBACK: tuple[ErrorLevel, ...] = ("m", "l")
#: The default data mask: ``None`` = chosen by the ISO/IEC 18004 penalty
#: evaluation of all eight masks.
DEFAULT_MASK: int | None = None
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


def _level(error: object) -> str:
    if not isinstance(error, str) or error.lower() not in ("l", "m", "q", "h"):
        raise ValueError(f"unknown error-correction level {error!r}")
    return error.lower()


def _check_mask(mask: object) -> int | None:
    if mask is None:
        return None
    if isinstance(mask, bool) or not isinstance(mask, int) or not 0 <= mask <= 7:
        raise ValueError(f"mask must be None (automatic) or 0 to 7, not {mask!r}")
    return mask


def _levels(error: ErrorLevel, fallback: Sequence[ErrorLevel]) -> list[str]:
    if isinstance(fallback, str):
        raise TypeError("fallback must be a sequence of levels, such as ('m', 'l')")
    return [_level(error), *(_level(level) for level in fallback)]


def _too_large(text: str, levels: list[str]) -> CertificateError:
    tried = "/".join(level.upper() for level in levels)
    return CertificateError(
        f"{len(text)} characters do not fit any QR version at level {tried}",
        code=ErrorCode.CRT_TOO_LARGE,
        length=len(text),
    )


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"QR text must be str, not {type(text).__name__}")
    return text


def _make(
    text: str,
    error: ErrorLevel,
    fallback: Sequence[ErrorLevel] = (),
    mask: int | None = DEFAULT_MASK,
) -> _qrencode.Symbol:
    text = _check_text(text)
    levels = _levels(error, fallback)
    mask = _check_mask(mask)
    mode = qr_mode(text)
    for level in levels:
        try:
            return _qrencode.encode(text, level.upper(), mode, mask)
        except _qrencode.DataOverflowError:
            continue
    raise _too_large(text, levels)


def _fit(text: str, error: ErrorLevel, fallback: Sequence[ErrorLevel]) -> QrFit:
    text = _check_text(text)
    levels = _levels(error, fallback)
    mode = qr_mode(text)
    for level in levels:
        try:
            return QrFit(level.upper(), _qrencode.version_for(text, level.upper(), mode))
        except _qrencode.DataOverflowError:
            continue
    raise _too_large(text, levels)


@attrs.frozen(slots=True)
class QrFit:
    """Where a text fits: the error-correction level used and the version.

    Attributes:
        error: the level, upper case (``"Q"``, ``"M"``, ``"L"``, ``"H"``).
        version: the QR version, 1 to 40.
    """

    error: str
    version: int


@attrs.frozen(slots=True)
class QrSymbol:
    """An encoded QR code, ready to be written in several formats.

    Encoding (and the mask evaluation) happens once, in :func:`encode_qr`;
    :meth:`png`, :meth:`svg` and :meth:`terminal` only draw it.

    Attributes:
        text: the encoded text.
        version: the QR version, 1 to 40.
        error: the error-correction level used, upper case.
        mask: the data mask used, 0 to 7.
    """

    text: str = attrs.field(repr=False)
    version: int
    error: str
    mask: int
    _code: _qrencode.Symbol = attrs.field(repr=False, eq=False, alias="code")

    @property
    def matrix(self) -> tuple[bytes, ...]:
        """The modules row by row, one byte each (1 = dark), quiet zone excluded."""
        return self._code.matrix

    def png(self, *, scale: int = DEFAULT_SCALE, border: int = DEFAULT_BORDER) -> bytes:
        """The code as a black-on-white PNG image (greyscale, 1 bit per pixel).

        Raises:
            ValueError: for a scale below 1 or a negative border.
        """
        return _qrencode.png(self._code.matrix, scale, border)

    def _segno(self) -> Any:
        """The same symbol as a segno code (same version, level and mask)."""
        return segno.make(
            self.text,
            error=self.error.lower(),
            version=self.version,
            mode=qr_mode(self.text),
            mask=self.mask,
            micro=False,
            boost_error=False,
        )

    def svg(self, *, scale: int = DEFAULT_SCALE, border: int = DEFAULT_BORDER) -> str:
        """The code as a standalone SVG document."""
        out = io.BytesIO()
        self._segno().save(out, kind="svg", scale=scale, border=border, xmldecl=False)
        return out.getvalue().decode("utf-8")

    def terminal(self, *, border: int = DEFAULT_BORDER) -> str:
        """The code as terminal text (ANSI colours, two characters per module)."""
        out = io.StringIO()
        self._segno().terminal(out=out, border=border)
        return out.getvalue()


def encode_qr(
    text: str,
    *,
    error: ErrorLevel = DEFAULT_ERROR,
    fallback: Sequence[ErrorLevel] = DEFAULT_FALLBACK,
    mask: int | None = DEFAULT_MASK,
) -> QrSymbol:
    """Encode ``text`` as a QR code at ``error``, or the first ``fallback`` level that fits.

    Args:
        text: the text (alphanumeric mode when it allows, else byte mode).
        error: the preferred error-correction level.
        fallback: levels tried in order when ``text`` does not fit at
            ``error`` (``()``: none).
        mask: the data mask 0 to 7, or ``None`` for the ISO/IEC 18004
            automatic choice.

    Raises:
        CertificateError: ``CRT-15`` if no level tried can hold the text.
        ValueError: for an unknown level or a mask outside 0 to 7.
    """
    code = _make(text, error, fallback, mask)
    return QrSymbol(text=text, version=code.version, error=code.error, mask=code.mask, code=code)


def qr_fit(
    text: str,
    *,
    error: ErrorLevel = DEFAULT_ERROR,
    fallback: Sequence[ErrorLevel] = DEFAULT_FALLBACK,
) -> QrFit:
    """The level and version :func:`encode_qr` would use (counted, nothing encoded).

    Raises:
        CertificateError: ``CRT-15`` if no level tried can hold the text.
    """
    return _fit(text, error, fallback)


def qr_version(text: str, error: ErrorLevel = DEFAULT_ERROR) -> int:
    """The smallest QR version (1 to 40) that holds ``text`` at ``error`` (no fallback).

    Raises:
        CertificateError: ``CRT-15`` if no version can hold it.
    """
    return _fit(text, error, ()).version


def render_png(
    text: str,
    *,
    error: ErrorLevel = DEFAULT_ERROR,
    scale: int = DEFAULT_SCALE,
    border: int = DEFAULT_BORDER,
    fallback: Sequence[ErrorLevel] = DEFAULT_FALLBACK,
    mask: int | None = DEFAULT_MASK,
) -> bytes:
    """Render ``text`` as a black-on-white PNG image (see :func:`encode_qr`).

    Raises:
        CertificateError: ``CRT-15`` if the text does not fit a QR code.
    """
    return encode_qr(text, error=error, fallback=fallback, mask=mask).png(
        scale=scale, border=border
    )


def render_svg(
    text: str,
    *,
    error: ErrorLevel = DEFAULT_ERROR,
    scale: int = DEFAULT_SCALE,
    border: int = DEFAULT_BORDER,
    fallback: Sequence[ErrorLevel] = DEFAULT_FALLBACK,
    mask: int | None = DEFAULT_MASK,
) -> str:
    """Render ``text`` as a standalone SVG document (see :func:`encode_qr`).

    Raises:
        CertificateError: ``CRT-15`` if the text does not fit a QR code.
    """
    return encode_qr(text, error=error, fallback=fallback, mask=mask).svg(
        scale=scale, border=border
    )


def render_terminal(
    text: str,
    *,
    error: ErrorLevel = DEFAULT_ERROR,
    border: int = DEFAULT_BORDER,
    fallback: Sequence[ErrorLevel] = DEFAULT_FALLBACK,
    mask: int | None = DEFAULT_MASK,
) -> str:
    """Render ``text`` as terminal text (ANSI colours, two characters per module).

    Raises:
        CertificateError: ``CRT-15`` if the text does not fit a QR code.
    """
    return encode_qr(text, error=error, fallback=fallback, mask=mask).terminal(border=border)


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

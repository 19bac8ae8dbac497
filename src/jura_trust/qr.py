"""Render QR codes and read them from images (zxing-cpp, optional).

Layer 8. Rendering uses ECC level Q by default (about 25 % of the code may be
damaged), never boosts the level (so a text's version is predictable), and
uses alphanumeric mode for texts in the QR alphanumeric set (all Base45
payloads with their ``JT1:``/``HC1:`` prefix), byte mode otherwise. A text
that ends in ``#`` and a run of digits (a link certificate,
:mod:`jura_trust.certificates.link`) is split into segments: the URL in
byte mode (or alphanumeric mode for an upper-case URL, then ``#`` in byte
mode, whichever is shorter), the digits in numeric mode (:func:`qr_segments`).

Print sizes: :meth:`QrSymbol.print_svg` draws the code in millimetres (a
``viewBox`` in modules, a white background) and :meth:`QrSymbol.print_png`
writes a PNG whose ``pHYs`` chunk gives its density, both refusing modules
smaller than :data:`MIN_MODULE_MM` (``CRT-22``). ``version=`` pins the QR
version so that every code of a batch prints at the same size.

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
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import segno
import segno.consts

from jura_trust import _qrencode
from jura_trust.errors import CertificateError, ErrorCode, FormatError, JuraError

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "DEFAULT_BORDER",
    "DEFAULT_DPI",
    "DEFAULT_ERROR",
    "DEFAULT_FALLBACK",
    "DEFAULT_MASK",
    "DEFAULT_MODULE_MM",
    "DEFAULT_SCALE",
    "MAX_IMAGE_BYTES",
    "MIN_MODULE_MM",
    "ErrorLevel",
    "QrFit",
    "QrSymbol",
    "check_module_mm",
    "encode_qr",
    "qr_fit",
    "qr_mode",
    "qr_segments",
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

#: The smallest printed module (mm) accepted: below it, measured
#: print-and-scan decoding drops.
MIN_MODULE_MM = 0.33
#: The default printed module size (mm): a compact certificate (version
#: 14 to 19) is then 25 to 50 mm wide with its quiet zone.
DEFAULT_MODULE_MM = 0.5
#: The default density of printable PNGs (pixels per inch).
DEFAULT_DPI = 300

_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
#: The shortest run of digits after ``#`` worth a numeric segment of its own
#: (from 6 digits the numeric segment costs less than the digits in byte mode
#: at every version).
_MIN_NUMERIC_RUN = 6


def qr_mode(text: str) -> str:
    """The QR mode used for ``text`` as one segment: ``"alphanumeric"`` or ``"byte"``.

    (A link text is several segments, see :func:`qr_segments`.)
    """
    return "alphanumeric" if text and set(text) <= _ALPHANUMERIC else "byte"


def qr_segments(text: str) -> tuple[tuple[str, str], ...]:
    """The segments ``(text, mode)`` :func:`encode_qr` writes for ``text``.

    One segment in :func:`qr_mode`, except for a text ending in ``#`` and at
    least 6 digits (a link certificate): then the part up to ``#`` in byte
    mode, or in alphanumeric mode followed by ``#`` in byte mode when it is
    all upper-case and that is shorter, and the digits in numeric mode.
    """
    head, sep, digits = text.rpartition("#")
    if (
        not sep
        or len(digits) < _MIN_NUMERIC_RUN
        or not (digits.isascii() and digits.isdigit())
        or qr_mode(text) == "alphanumeric"
    ):
        return ((text, qr_mode(text)),)
    numeric = (digits, "numeric")
    plain = ((head + sep, "byte"), numeric)
    if not head or qr_mode(head) != "alphanumeric":
        return plain
    split = ((head, "alphanumeric"), (sep, "byte"), numeric)
    return split if _bits(split) < _bits(plain) else plain


def _bits(segments: tuple[tuple[str, str], ...]) -> int:
    """Data bits of ``segments`` at versions 10 to 26 (a stable tie-breaker)."""
    return _qrencode.segment_bits(segments, 10)


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


def _check_version(version: object) -> int | None:
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 40:
        raise ValueError(f"a QR version is 1 to 40 (or None), not {version!r}")
    return version


def _too_large_for(text: str, version: int, levels: list[str]) -> CertificateError:
    tried = "/".join(level.upper() for level in levels)
    return CertificateError(
        f"{len(text)} characters do not fit QR version {version} at level {tried}",
        code=ErrorCode.CRT_PRINT_SIZE,
        length=len(text),
        version=version,
    )


def _make(
    text: str,
    error: ErrorLevel,
    fallback: Sequence[ErrorLevel] = (),
    mask: int | None = DEFAULT_MASK,
    version: int | None = None,
) -> _qrencode.Symbol:
    text = _check_text(text)
    levels = _levels(error, fallback)
    mask = _check_mask(mask)
    version = _check_version(version)
    segments = qr_segments(text)
    for level in levels:
        try:
            return _qrencode.encode_segments(segments, level.upper(), mask, version=version)
        except _qrencode.DataOverflowError:
            continue
    raise _too_large(text, levels) if version is None else _too_large_for(text, version, levels)


def _fit(
    text: str, error: ErrorLevel, fallback: Sequence[ErrorLevel], version: int | None = None
) -> QrFit:
    text = _check_text(text)
    levels = _levels(error, fallback)
    version = _check_version(version)
    segments = qr_segments(text)
    for level in levels:
        try:
            found = _qrencode.version_for_segments(segments, level.upper(), version=version)
        except _qrencode.DataOverflowError:
            continue
        return QrFit(level.upper(), found)
    raise _too_large(text, levels) if version is None else _too_large_for(text, version, levels)


def check_module_mm(module_mm: float) -> float:
    """Check a printed module size (mm): at least :data:`MIN_MODULE_MM`.

    Raises:
        CertificateError: ``CRT-22`` for a smaller (or non-finite) size.
    """
    if isinstance(module_mm, bool) or not isinstance(module_mm, (int, float)):
        raise TypeError(f"module size must be a number of millimetres, not {module_mm!r}")
    if not MIN_MODULE_MM <= float(module_mm) < 100:
        raise CertificateError(
            f"a printed module of {module_mm} mm is outside {MIN_MODULE_MM} to 100 mm "
            f"(below {MIN_MODULE_MM} mm, printed codes stop decoding reliably)",
            code=ErrorCode.CRT_PRINT_SIZE,
            module_mm=module_mm,
        )
    return float(module_mm)


def print_scale(module_mm: float, dpi: int) -> int:
    """Whole pixels per module at ``dpi`` for modules of at least ``module_mm``.

    Rounded up (a module is never printed smaller than asked), with a
    micrometre of tolerance so that 0.5 mm at 254 dpi stays 5 pixels.

    Raises:
        CertificateError: ``CRT-22`` for a size below :data:`MIN_MODULE_MM`.
        ValueError: for a density below 1.
    """
    module_mm = check_module_mm(module_mm)
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
        raise ValueError(f"dpi must be a positive integer, not {dpi!r}")
    return max(1, math.ceil((module_mm - 0.001) * dpi / 25.4))


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

    @property
    def size(self) -> int:
        """Modules per side, quiet zone excluded."""
        return len(self._code.matrix)

    def png(
        self, *, scale: int = DEFAULT_SCALE, border: int = DEFAULT_BORDER, dpi: int | None = None
    ) -> bytes:
        """The code as a black-on-white PNG image (greyscale, 1 bit per pixel).

        ``dpi`` adds the pixel density (a ``pHYs`` chunk).

        Raises:
            ValueError: for a scale below 1, a negative border or a bad density.
        """
        return _qrencode.png(self._code.matrix, scale, border, dpi=dpi)

    def print_png(
        self,
        *,
        module_mm: float = DEFAULT_MODULE_MM,
        dpi: int = DEFAULT_DPI,
        border: int = DEFAULT_BORDER,
    ) -> bytes:
        """A PNG that prints at 100 % with modules of at least ``module_mm`` (whole pixels).

        Raises:
            CertificateError: ``CRT-22`` for modules below :data:`MIN_MODULE_MM`.
        """
        return self.png(scale=print_scale(module_mm, dpi), border=border, dpi=dpi)

    def print_svg(
        self, *, module_mm: float = DEFAULT_MODULE_MM, border: int = DEFAULT_BORDER
    ) -> str:
        """The code as an SVG document in millimetres, on a white background.

        The ``viewBox`` counts modules (quiet zone included); ``width`` and
        ``height`` are in ``mm``, so printing at 100 % gives modules of
        ``module_mm``.

        Raises:
            CertificateError: ``CRT-22`` for modules below :data:`MIN_MODULE_MM`.
        """
        module_mm = check_module_mm(module_mm)
        if isinstance(border, bool) or not isinstance(border, int) or border < 0:
            raise ValueError(f"border must be a non-negative integer, not {border!r}")
        side = self.size + 2 * border
        mm = _mm(side * module_mm)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{mm}mm" height="{mm}mm" '
            f'viewBox="0 0 {side} {side}" shape-rendering="crispEdges">'
            f'<rect width="{side}" height="{side}" fill="#fff"/>'
            f'<path fill="#000" d="{module_path(self._code.matrix, border, border)}"/></svg>'
        )

    def _segno(self) -> Any:
        """The same symbol as a segno code (same version, level and mask)."""
        segments = qr_segments(self.text)
        content: Any = self.text
        mode: str | None = qr_mode(self.text)
        if len(segments) > 1:
            content = [(part, _SEGNO_MODES[part_mode]) for part, part_mode in segments]
            mode = None
        return segno.make(
            content,
            error=self.error.lower(),
            version=self.version,
            mode=mode,
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


def _mm(value: float) -> str:
    """A length in millimetres, to the micrometre, without trailing zeros."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def module_path(matrix: Sequence[bytes], x: int, y: int) -> str:
    """SVG path data of the dark modules (one unit per module), runs joined, from (x, y)."""
    parts: list[str] = []
    for r, row in enumerate(matrix):
        c = 0
        size = len(row)
        while c < size:
            if row[c]:
                start = c
                while c < size and row[c]:
                    c += 1
                parts.append(f"M{x + start} {y + r}h{c - start}v1h-{c - start}z")
            else:
                c += 1
    return "".join(parts)


_SEGNO_MODES = {
    "numeric": segno.consts.MODE_NUMERIC,
    "alphanumeric": segno.consts.MODE_ALPHANUMERIC,
    "byte": segno.consts.MODE_BYTE,
}


def encode_qr(
    text: str,
    *,
    error: ErrorLevel = DEFAULT_ERROR,
    fallback: Sequence[ErrorLevel] = DEFAULT_FALLBACK,
    mask: int | None = DEFAULT_MASK,
    version: int | None = None,
) -> QrSymbol:
    """Encode ``text`` as a QR code at ``error``, or the first ``fallback`` level that fits.

    Args:
        text: the text (segments as :func:`qr_segments` says).
        error: the preferred error-correction level.
        fallback: levels tried in order when ``text`` does not fit at
            ``error`` (``()``: none).
        mask: the data mask 0 to 7, or ``None`` for the ISO/IEC 18004
            automatic choice.
        version: pin the QR version 1 to 40 (``None``: the smallest that
            holds the text), so that codes print at the same size.

    Raises:
        CertificateError: ``CRT-15`` if no level tried can hold the text,
            ``CRT-22`` if it does not fit the pinned version.
        ValueError: for an unknown level, a mask outside 0 to 7 or a
            version outside 1 to 40.
    """
    code = _make(text, error, fallback, mask, version)
    return QrSymbol(text=text, version=code.version, error=code.error, mask=code.mask, code=code)


def qr_fit(
    text: str,
    *,
    error: ErrorLevel = DEFAULT_ERROR,
    fallback: Sequence[ErrorLevel] = DEFAULT_FALLBACK,
    version: int | None = None,
) -> QrFit:
    """The level and version :func:`encode_qr` would use (counted, nothing encoded).

    Raises:
        CertificateError: ``CRT-15`` if no level tried can hold the text,
            ``CRT-22`` if it does not fit the pinned ``version``.
    """
    return _fit(text, error, fallback, version)


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

"""Printable labels: the QR code beside what it proves, in the reader's language.

The summary repeats in clear what the QR code holds (document type, the
issuer's name from the trust list, dates, subject fields) so that a reader
without a phone sees the same facts; the QR code is what proves them. A
one-line instruction tells residents how to check it ("Scannez ce code avec
l'appareil photo de votre téléphone" for a link certificate).

Texts come from the package's data file ``data/labels.json``: per language
(``fr``, ``de``, ``en``) the words of the label and how dates are written,
and per document type (the debt-register extract first) its title and its
field labels in order; fields a description does not name follow under
their own names. Times are shown in Europe/Zurich (:mod:`zoneinfo`; on a
machine without time zone data install ``tzdata``, part of the ``print``
extra), dates written out ("12 avril 1980").

The layout (:func:`layout_label`, in millimetres) is drawn three ways from
the same :class:`Label`: SVG (:func:`label_svg`, millimetre ``width`` and
``height``, a ``viewBox`` in millimetres, white background), PNG
(:func:`label_png`, with its density; needs pillow and a TrueType font) and
PDF (:mod:`jura_trust.certificates.stamp`). The QR code keeps its module
size exactly (at least :data:`~jura_trust.qr.MIN_MODULE_MM`).
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from importlib import resources
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

import attrs

from jura_trust.certificates.jt1 import Certificate, DecodedCertificate
from jura_trust.errors import ErrorCode, JuraError
from jura_trust.qr import (
    DEFAULT_BORDER,
    DEFAULT_DPI,
    DEFAULT_ERROR,
    DEFAULT_FALLBACK,
    DEFAULT_MASK,
    DEFAULT_MODULE_MM,
    ErrorLevel,
    QrSymbol,
    check_module_mm,
    encode_qr,
    module_path,
    print_scale,
)

__all__ = [
    "LANGUAGES",
    "TIME_ZONE",
    "Label",
    "LabelLine",
    "Language",
    "describe_fields",
    "format_date",
    "format_datetime",
    "label_language",
    "label_png",
    "label_svg",
    "label_texts",
    "layout_label",
    "render_label_svg",
]

#: A label language.
Language = Literal["fr", "de", "en"]
#: The languages labels are written in.
LANGUAGES: tuple[Language, ...] = ("fr", "de", "en")
#: Where label times are shown.
TIME_ZONE = "Europe/Zurich"

_MARGIN = 4.0
_GAP = 3.0
_TITLE_SIZE = 4.0
_TEXT_SIZE = 3.0
_NOTE_SIZE = 2.8
_LEADING = 1.45
#: Average advance of a character, in font sizes: a generous estimate for
#: DejaVu Sans (the widest of the fonts the label names; Helvetica is
#: narrower). SVG text cannot be measured here, so the column is sized by it
#: and longer values are cut with an ellipsis.
_CHAR_WIDTH = 0.60
_BOLD_CHAR_WIDTH = 0.68
_MAX_TEXT_WIDTH = 110.0
#: TrueType fonts tried for PNG labels (Debian's fonts-dejavu-core, fonts-liberation).
_FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
_BOLD_FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
)


@functools.cache
def _data() -> Mapping[str, Any]:
    text = (
        resources.files("jura_trust.certificates")
        .joinpath("data/labels.json")
        .read_text(encoding="utf-8")
    )
    data: Mapping[str, Any] = json.loads(text)
    return data


def label_language(language: str | None) -> Language:
    """The label language for a document language tag (``de-CH`` gives ``de``; else ``fr``)."""
    primary = (language or "").split("-", 1)[0].lower()
    for known in LANGUAGES:
        if primary == known:
            return known
    return "fr"


def label_texts(lang: Language) -> Mapping[str, Any]:
    """The words of a label in ``lang`` (from ``data/labels.json``).

    Raises:
        ValueError: for a language other than ``fr``, ``de``, ``en``.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"labels are written in {', '.join(LANGUAGES)}, not {lang!r}")
    texts: Mapping[str, Any] = _data()["texts"][lang]
    return texts


def _zone() -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    try:
        return ZoneInfo(TIME_ZONE)
    except ZoneInfoNotFoundError:
        raise JuraError(
            f"no time zone data for {TIME_ZONE}: pip install tzdata (or jura-trust[print])",
            code=ErrorCode.SVC_CONFIG,
            missing="tzdata",
        ) from None


def format_date(value: date, lang: Language) -> str:
    """A date written out for people: ``12 avril 1980``, ``12. April 1980``, ``12 April 1980``."""
    texts = label_texts(lang)
    return str(texts["date"]).format(
        day=value.day, month=texts["months"][value.month - 1], year=value.year
    )


def format_datetime(value: datetime, lang: Language) -> str:
    """An aware time in Europe/Zurich, written out: ``3 mars 2024, 14 h 05``.

    Raises:
        ValueError: for a naive datetime.
        JuraError: ``SVC-08`` if this machine has no time zone data.
    """
    if value.tzinfo is None:
        raise ValueError("a label time must be timezone-aware")
    local = value.astimezone(_zone())
    texts = label_texts(lang)
    return str(texts["datetime"]).format(
        date=format_date(local.date(), lang), hour=local.hour, minute=local.minute
    )


def _value_text(value: object, kind: str, lang: Language) -> str:
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return str(label_texts(lang)["yes" if value else "no"])
    if kind == "date" and isinstance(value, str):
        try:
            return format_date(date.fromisoformat(value), lang)
        except ValueError:
            return value
    return str(value)


def describe_fields(
    document_type: str, fields: Mapping[str, object], lang: Language
) -> tuple[str, list[tuple[str, str]]]:
    """The title and the ``(label, value)`` lines of a document's fields in ``lang``.

    Fields come in the order the document type's description gives, then
    the fields it does not name (under their own names, in name order).
    """
    description = _data()["document_types"].get(document_type)
    if description is None:
        return document_type, [(name, _value_text(v, "text", lang)) for name, v in fields.items()]
    lines: list[tuple[str, str]] = []
    named = set()
    for spec in description["fields"]:
        name = spec["name"]
        named.add(name)
        if name in fields:
            lines.append(
                (spec["label"][lang], _value_text(fields[name], spec.get("kind", ""), lang))
            )
    lines.extend(
        (name, _value_text(value, "text", lang))
        for name, value in sorted(fields.items())
        if name not in named
    )
    return str(description["title"][lang]), lines


@attrs.frozen(slots=True)
class LabelLine:
    """One line of label text.

    Attributes:
        x: left edge (mm from the label's left).
        y: baseline (mm from the label's top).
        size: font size (mm).
        text: the text.
        bold: bold type.
        colour: ``"#000"`` or a grey for the instruction.
    """

    x: float
    y: float
    size: float
    text: str
    bold: bool = False
    colour: str = "#000"


@attrs.frozen(slots=True)
class Label:
    """A laid-out label, in millimetres (origin top left).

    Attributes:
        width: label width (mm).
        height: label height (mm).
        symbol: the QR code.
        qr_x: left edge of the code's quiet zone (mm).
        qr_y: top edge of the code's quiet zone (mm).
        module_mm: module size (mm).
        border: quiet zone (modules).
        lines: the text lines.
        lang: the label's language.
        title: the document's title (for ``aria-label`` and PDF).
    """

    width: float
    height: float
    symbol: QrSymbol = attrs.field(repr=False)
    qr_x: float
    qr_y: float
    module_mm: float
    border: int
    lines: tuple[LabelLine, ...] = attrs.field(repr=False)
    lang: Language
    title: str

    @property
    def qr_side(self) -> float:
        """Side of the code with its quiet zone (mm)."""
        return (self.symbol.size + 2 * self.border) * self.module_mm


def _clip(text: str, size: float, width: float, *, bold: bool = False) -> str:
    most = max(4, int(width / (size * (_BOLD_CHAR_WIDTH if bold else _CHAR_WIDTH)) + 1e-6))
    return text if len(text) <= most else text[: most - 1] + "\u2026"


def layout_label(
    certificate: Certificate | DecodedCertificate,
    *,
    issuer_name: str | None = None,
    lang: Language = "fr",
    link_base: str | None = None,
    self_contained: bool = False,
    module_mm: float = DEFAULT_MODULE_MM,
    border: int = DEFAULT_BORDER,
    error: ErrorLevel = DEFAULT_ERROR,
    fallback: Sequence[ErrorLevel] = DEFAULT_FALLBACK,
    mask: int | None = DEFAULT_MASK,
    version: int | None = None,
    symbol: QrSymbol | None = None,
) -> Label:
    """Lay out the label of ``certificate`` (see the module docs).

    Args:
        certificate: the issued certificate, or a decoded one (then
            ``symbol`` is required: the code of its text).
        issuer_name: the issuer's name from the trust list (else its id).
        lang: ``"fr"`` (default), ``"de"`` or ``"en"``.
        link_base: the verification page's URL: the code is then a link
            certificate (any phone camera opens it).
        self_contained: embed the seal record.
        module_mm: printed module size (at least 0.33 mm).
        border: quiet zone in modules.
        error: ECC level (as :func:`jura_trust.qr.encode_qr`).
        fallback: as :func:`jura_trust.qr.encode_qr`.
        mask: as :func:`jura_trust.qr.encode_qr`.
        version: pin the QR version (same size for a whole batch).
        symbol: the code already encoded (then ``link_base``,
            ``self_contained``, ``error``, ``fallback``, ``mask`` and
            ``version`` are not used).

    Raises:
        CertificateError: ``CRT-22`` for modules below 0.33 mm or a text
            larger than the pinned version, ``CRT-15`` for a text no QR code
            holds, ``CRT-01`` for a bad ``link_base``.
        ValueError: for an unknown language.
        TypeError: for a decoded certificate without ``symbol``.
    """
    module_mm = check_module_mm(module_mm)
    texts = label_texts(lang)
    if symbol is None:
        if not isinstance(certificate, Certificate):
            raise TypeError("a decoded certificate's label needs the symbol of its text")
        text = (
            certificate.link(link_base, self_contained=self_contained)
            if link_base is not None
            else certificate.text(self_contained=self_contained)
        )
        symbol = encode_qr(text, error=error, fallback=fallback, mask=mask, version=version)
    link = symbol.text[:8].lower().startswith(("http://", "https://"))
    payload = certificate.payload
    title, field_lines = describe_fields(payload.document_type, payload.fields, lang)
    issuer = issuer_name or payload.issuer_id
    rows: list[tuple[str, str]] = [
        (str(texts["issuer"]), issuer),
        (str(texts["issued"]), format_datetime(payload.issued_at, lang)),
    ]
    if payload.valid_until is not None:
        rows.append((str(texts["valid_until"]), format_datetime(payload.valid_until, lang)))
    rows.extend(field_lines)
    note = str(texts["scan_link" if link else "scan_plain"])
    side = (symbol.size + 2 * border) * module_mm
    x = _MARGIN + side + _GAP
    # the title and the instruction are never cut (they come from the data
    # file); field lines longer than the widest column are
    wanted = max((len(k) + len(v) + 2) * _TEXT_SIZE * _CHAR_WIDTH for k, v in rows)
    fixed = max(
        len(title) * _TITLE_SIZE * _BOLD_CHAR_WIDTH, len(note) * _NOTE_SIZE * _BOLD_CHAR_WIDTH
    )
    column = max(min(wanted, _MAX_TEXT_WIDTH), fixed)
    title_line = _clip(title, _TITLE_SIZE, column, bold=True)
    lines = [LabelLine(x, _MARGIN + _TITLE_SIZE, _TITLE_SIZE, title_line, bold=True)]
    y = _MARGIN + _TITLE_SIZE + _TEXT_SIZE * 0.6
    colon = "\u00a0: " if lang == "fr" else ": "  # French puts a space before the colon
    for key, value in rows:
        y += _TEXT_SIZE * _LEADING
        lines.append(LabelLine(x, y, _TEXT_SIZE, _clip(f"{key}{colon}{value}", _TEXT_SIZE, column)))
    y += _NOTE_SIZE * _LEADING * 1.4
    lines.append(
        LabelLine(x, y, _NOTE_SIZE, _clip(note, _NOTE_SIZE, column, bold=True), True, "#333")
    )
    height = max(side, y + _NOTE_SIZE * 0.6 - _MARGIN) + 2 * _MARGIN
    return Label(
        width=round(x + column + _MARGIN, 3),
        height=round(height, 3),
        symbol=symbol,
        qr_x=_MARGIN,
        qr_y=_MARGIN,
        module_mm=module_mm,
        border=border,
        lines=tuple(lines),
        lang=lang,
        title=title,
    )


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def label_svg(label: Label) -> str:
    """The label as an SVG document: ``width``/``height`` in mm, ``viewBox`` in mm, white."""
    w, h = _num(label.width), _num(label.height)
    m = label.module_mm
    ox = label.qr_x + label.border * m
    oy = label.qr_y + label.border * m
    rows = []
    for line in label.lines:
        weight = ' font-weight="bold"' if line.bold else ""
        fill = "" if line.colour == "#000" else f' fill="{line.colour}"'
        rows.append(
            f'<text x="{_num(line.x)}" y="{_num(line.y)}" font-size="{_num(line.size)}"'
            f"{weight}{fill}>{escape(line.text)}</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" '
        f'viewBox="0 0 {w} {h}" lang="{label.lang}" role="img" aria-label={quoteattr(label.title)}>'
        f'<rect width="{w}" height="{h}" fill="#fff"/>'
        f'<g transform="translate({_num(ox)} {_num(oy)}) scale({_num(m)})" '
        f'shape-rendering="crispEdges"><path fill="#000" '
        f'd="{module_path(label.symbol.matrix, 0, 0)}"/></g>'
        '<g font-family="DejaVu Sans, Helvetica, Arial, sans-serif" fill="#000">'
        + "".join(rows)
        + "</g></svg>"
    )


def _font(bold: bool, size_px: int, font_path: str | None) -> Any:
    from PIL import ImageFont  # noqa: PLC0415

    candidates = [font_path] if font_path else []
    candidates += list(_BOLD_FONT_PATHS if bold else _FONT_PATHS)
    if bold and not font_path:
        candidates += list(_FONT_PATHS)
    for path in candidates:
        if path and os.path.exists(path):
            return ImageFont.truetype(path, size_px)
    raise JuraError(
        "a PNG label needs a TrueType font with accents: install Debian's fonts-dejavu-core "
        "or pass a font file",
        code=ErrorCode.SVC_CONFIG,
        missing="font",
    )


def label_png(label: Label, *, dpi: int = DEFAULT_DPI, font: str | None = None) -> bytes:
    """The label as a PNG (greyscale) at ``dpi``, with its density recorded.

    Each module is a whole number of pixels, at least the label's module
    size (rounded up when ``dpi`` does not divide it), so the code never
    prints smaller than asked.

    Raises:
        JuraError: ``SVC-08`` without pillow (``pip install jura-trust[print]``)
            or without a TrueType font.
        ValueError: for a density below 1.
    """
    try:
        from PIL import Image, ImageDraw  # noqa: PLC0415
    except ImportError as exc:
        raise JuraError(
            "PNG labels need the optional extra: pip install jura-trust[print]",
            code=ErrorCode.SVC_CONFIG,
            missing=exc.name,
        ) from exc
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
        raise ValueError(f"dpi must be a positive integer, not {dpi!r}")
    per_mm = dpi / 25.4
    scale = print_scale(label.module_mm, dpi)  # whole pixels, never below the module size
    qr_px = (label.symbol.size + 2 * label.border) * scale
    shift = max(0, qr_px - round(label.qr_side * per_mm))  # the text moves right of the code
    width = round(label.width * per_mm) + shift
    height = max(round(label.height * per_mm), round((label.qr_y + _MARGIN) * per_mm) + qr_px)
    placed = []
    for line in label.lines:
        font_ = _font(line.bold, max(6, round(line.size * per_mm)), font)
        x = round(line.x * per_mm) + shift
        placed.append((line, font_, x))
        # the canvas grows when the font is wider than the layout's estimate: never cut text
        width = max(width, x + math.ceil(font_.getlength(line.text)) + round(_MARGIN * per_mm))
    image = Image.new("L", (width, height), 255)
    code = Image.open(io.BytesIO(label.symbol.png(scale=scale, border=label.border)))
    image.paste(code.convert("L"), (round(label.qr_x * per_mm), round(label.qr_y * per_mm)))
    draw = ImageDraw.Draw(image)
    for line, font_, x in placed:
        grey = int(line.colour.lstrip("#")[0], 16) * 17
        draw.text((x, round(line.y * per_mm)), line.text, font=font_, fill=grey, anchor="ls")
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi), optimize=True)
    return out.getvalue()


def render_label_svg(
    certificate: Certificate,
    *,
    issuer_name: str | None = None,
    self_contained: bool = False,
    error: ErrorLevel = DEFAULT_ERROR,
    fallback: Sequence[ErrorLevel] = DEFAULT_FALLBACK,
    mask: int | None = DEFAULT_MASK,
    lang: Language = "fr",
    link_base: str | None = None,
    module_mm: float = DEFAULT_MODULE_MM,
    version: int | None = None,
) -> str:
    """An SVG label: the certificate's QR code and a readable summary (see :func:`layout_label`).

    Raises:
        CertificateError: as :func:`layout_label`.
    """
    return label_svg(
        layout_label(
            certificate,
            issuer_name=issuer_name,
            lang=lang,
            link_base=link_base,
            self_contained=self_contained,
            module_mm=module_mm,
            error=error,
            fallback=fallback,
            mask=mask,
            version=version,
        )
    )

"""Stamp a certificate's label onto an existing PDF (``jura-trust qr stamp``).

The debt-register office produces its extracts as PDFs; this module draws
the label of :mod:`jura_trust.certificates.label` on one of their pages, as
vector graphics: the QR code as filled rectangles (one per run of dark
modules, exactly ``module_mm`` each), the text in the standard PDF fonts
Helvetica and Helvetica-Bold (WinAnsiEncoding: French and German letters;
a character outside Windows-1252 prints as ``?``), on a white background.
Nothing else of the document changes; the other pages are copied as they
are.

It needs the optional extra ``pip install jura-trust[print]`` (pypdf, a
pure-Python, BSD-licensed, maintained PDF library; see
``docs/architecture.md`` for the choice).

Positions are in millimetres from the top-left corner of the page's visible
area (its crop box) to the top-left corner of the label; by default the
label goes to the bottom-right corner, 10 mm from both edges. A label that
does not fit the page there is refused (``CRT-22``), never cut.
"""

from __future__ import annotations

import io
from typing import Any

from jura_trust.certificates.label import Label
from jura_trust.errors import CertificateError, ErrorCode, FormatError, JuraError

__all__ = ["DEFAULT_EDGE_MM", "stamp_pdf"]

#: Distance of a label placed by default from the page's right and bottom edges (mm).
DEFAULT_EDGE_MM = 10.0

_PT_PER_MM = 72 / 25.4


def _load_pypdf() -> Any:
    try:
        import pypdf  # noqa: PLC0415
    except ImportError as exc:
        raise JuraError(
            "stamping PDFs needs the optional extra: pip install jura-trust[print]",
            code=ErrorCode.SVC_CONFIG,
            missing=exc.name,
        ) from exc
    return pypdf


def _pdf_string(text: str) -> bytes:
    data = text.encode("cp1252", errors="replace")
    return b"(" + data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _n(value: float) -> bytes:
    return f"{value:.4f}".rstrip("0").rstrip(".").encode("ascii")


def label_content(label: Label) -> bytes:
    """The PDF content stream of ``label`` on a page of its own size (points, origin bottom left).

    Fonts ``/F1`` (Helvetica) and ``/F2`` (Helvetica-Bold) must be in the
    page's resources.
    """
    k = _PT_PER_MM
    height = label.height * k
    out = [b"q", b"1 g", b"0 0 " + _n(label.width * k) + b" " + _n(height) + b" re f", b"0 g"]
    m = label.module_mm * k
    x0 = (label.qr_x + label.border * label.module_mm) * k
    y0 = height - (label.qr_y + label.border * label.module_mm) * k
    for r, row in enumerate(label.symbol.matrix):
        c = 0
        size = len(row)
        while c < size:
            if row[c]:
                start = c
                while c < size and row[c]:
                    c += 1
                out.append(
                    b" ".join(
                        (_n(x0 + start * m), _n(y0 - (r + 1) * m), _n((c - start) * m), _n(m))
                    )
                    + b" re"
                )
            else:
                c += 1
    out.append(b"f")
    for line in label.lines:
        grey = int(line.colour.lstrip("#")[0], 16) / 15
        font = b"/F2" if line.bold else b"/F1"
        out.append(
            b"BT "
            + _n(grey)
            + b" g "
            + font
            + b" "
            + _n(line.size * k)
            + b" Tf "
            + _n(line.x * k)
            + b" "
            + _n(height - line.y * k)
            + b" Td "
            + _pdf_string(line.text)
            + b" Tj ET"
        )
    out.append(b"Q")
    return b"\n".join(out) + b"\n"


def _stamp_page(pypdf: Any, label: Label) -> Any:
    from pypdf.generic import (  # noqa: PLC0415
        DictionaryObject,
        NameObject,
        StreamObject,
    )

    def font(name: str) -> Any:
        return DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject(name),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )

    page = pypdf.PageObject.create_blank_page(
        width=label.width * _PT_PER_MM, height=label.height * _PT_PER_MM
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {
            NameObject("/Font"): DictionaryObject(
                {NameObject("/F1"): font("/Helvetica"), NameObject("/F2"): font("/Helvetica-Bold")}
            )
        }
    )
    content = StreamObject()
    content.set_data(label_content(label))
    page.replace_contents(content)
    return page


def stamp_pdf(
    pdf: bytes,
    label: Label,
    *,
    page: int = 1,
    at: tuple[float, float] | None = None,
) -> bytes:
    """``pdf`` with ``label`` drawn on page ``page`` (1 = first) at ``at`` (mm, top left).

    Args:
        pdf: the document.
        label: the laid-out label.
        page: the page number, from 1.
        at: ``(x, y)`` in mm from the top-left corner of the page's visible
            area to the label's top-left corner; ``None`` for the bottom-right
            corner, :data:`DEFAULT_EDGE_MM` from the edges.

    Raises:
        FormatError: ``FMT-10`` for a file pypdf cannot read or an encrypted
            PDF.
        CertificateError: ``CRT-22`` for a page that does not exist or a
            label that does not fit the page at that place.
        JuraError: ``SVC-08`` without pypdf (``pip install jura-trust[print]``).
    """
    pypdf = _load_pypdf()
    try:
        reader = pypdf.PdfReader(io.BytesIO(pdf), strict=False)
        if reader.is_encrypted:
            raise FormatError("the PDF is encrypted", code=ErrorCode.FMT_STRUCTURE)
        count = len(reader.pages)
        writer = pypdf.PdfWriter(clone_from=reader)
    except JuraError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        raise FormatError(f"not a readable PDF: {exc}", code=ErrorCode.FMT_STRUCTURE) from exc
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= count:
        raise CertificateError(
            f"page {page} does not exist (the PDF has {count})",
            code=ErrorCode.CRT_PRINT_SIZE,
            pages=count,
        )
    target = writer.pages[page - 1]
    if target.rotation % 360:
        target.transfer_rotation_to_content()
    box = target.cropbox
    page_w = float(box.width) / _PT_PER_MM
    page_h = float(box.height) / _PT_PER_MM
    if at is None:
        at = (page_w - DEFAULT_EDGE_MM - label.width, page_h - DEFAULT_EDGE_MM - label.height)
    x, y = at
    if not (
        x >= 0 and y >= 0 and x + label.width <= page_w + 1e-6 and y + label.height <= page_h + 1e-6
    ):
        raise CertificateError(
            f"a label of {label.width:.1f} x {label.height:.1f} mm does not fit a page of "
            f"{page_w:.1f} x {page_h:.1f} mm at ({x:g}, {y:g}) mm",
            code=ErrorCode.CRT_PRINT_SIZE,
        )
    left = float(box.left) + x * _PT_PER_MM
    bottom = float(box.top) - (y + label.height) * _PT_PER_MM
    target.merge_transformed_page(
        _stamp_page(pypdf, label), pypdf.Transformation().translate(left, bottom)
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()

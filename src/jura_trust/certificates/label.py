"""A printable label: the QR code beside a human-readable summary (SVG).

The summary repeats what the QR code holds in clear (document type,
issuer, dates, subject fields) so a reader without a scanner sees the same
facts; the QR code is what proves them. The QR part comes from
:func:`jura_trust.qr.render_svg` (ECC Q by default, 4-module quiet zone,
fixed module size), nested unscaled so printing at 100 % keeps every module
the same size.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from jura_trust.certificates.jt1 import Certificate
from jura_trust.qr import DEFAULT_ERROR, DEFAULT_FALLBACK, DEFAULT_MASK, ErrorLevel, render_svg

__all__ = ["LABEL_SCALE", "render_label_svg"]

#: Pixels (SVG user units) per QR module on a label.
LABEL_SCALE = 3

_LINE = 16
_MARGIN = 16
_TEXT_WIDTH = 420
_MAX_VALUE_CHARS = 60


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "\u2026"


def render_label_svg(
    certificate: Certificate,
    *,
    issuer_name: str | None = None,
    self_contained: bool = False,
    error: ErrorLevel = DEFAULT_ERROR,
    scale: int = LABEL_SCALE,
    fallback: Sequence[ErrorLevel] = DEFAULT_FALLBACK,
    mask: int | None = DEFAULT_MASK,
) -> str:
    """An SVG label: the certificate's QR code and a readable summary.

    ``error``, ``fallback`` and ``mask`` are as in :func:`jura_trust.qr.encode_qr`.

    Raises:
        CertificateError: ``CRT-15`` if the text does not fit a QR code.
    """
    qr_svg = render_svg(
        certificate.text(self_contained=self_contained),
        error=error,
        scale=scale,
        fallback=fallback,
        mask=mask,
    )
    head, _, rest = qr_svg.partition("<svg")
    del head
    width_attr = rest.split('width="', 1)[1].split('"', 1)[0]
    height_attr = rest.split('height="', 1)[1].split('"', 1)[0]
    qr_size = max(int(float(width_attr)), int(float(height_attr)))
    nested = f'<svg x="{_MARGIN}" y="{_MARGIN}"' + rest
    payload = certificate.payload
    lines: list[tuple[str, str]] = [
        ("Document", payload.document_type),
        ("Issuer", f"{issuer_name} ({payload.issuer_id})" if issuer_name else payload.issuer_id),
        ("Issued", payload.issued_at.strftime("%Y-%m-%d %H:%M UTC")),
    ]
    if payload.valid_until is not None:
        lines.append(("Valid until", payload.valid_until.strftime("%Y-%m-%d %H:%M UTC")))
    lines.extend(
        (name, "" if value is None else str(value)) for name, value in payload.fields.items()
    )
    x = 2 * _MARGIN + qr_size
    text_rows = []
    for row, (name, value) in enumerate(lines):
        y = _MARGIN + _LINE * (row + 1)
        text_rows.append(
            f'<text x="{x}" y="{y}"><tspan font-weight="bold">{escape(_clip(name))}:</tspan> '
            f"{escape(_clip(value))}</text>"
        )
    footer_y = _MARGIN + _LINE * (len(lines) + 2)
    text_rows.append(
        f'<text x="{x}" y="{footer_y}" font-size="10" fill="#555">'
        "Scan and verify: jura-trust qr verify</text>"
    )
    width = x + _TEXT_WIDTH
    height = max(qr_size, _LINE * (len(lines) + 3)) + 2 * _MARGIN
    title = quoteattr(f"{payload.document_type} certificate")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label={title}>'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f"{nested}"
        '<g font-family="sans-serif" font-size="13" fill="#000">'
        + "".join(text_rows)
        + "</g></svg>"
    )

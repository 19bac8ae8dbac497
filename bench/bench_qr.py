"""JT1 QR certificates: sizes (QR version at ECC Q) and issue/render/verify timings.

Reports, for a 10-field debt-register extract:

* the QR version at ECC Q (and characters) of a compact certificate from
  batches of 1, 64, 1,000 and 10,000 documents (target: <= 20), beside the
  single-level layout of envelope version 1 for comparison;
* the self-contained certificate: characters with and without the preset
  dictionary, the ECC level chosen (Q, else M, else L) and the version, for
  a fresh calendar, a calendar with sparse rounds for a while, and a
  simulated calendar busy every second for a year (size only);
* issue + render: per batch (issue, all texts, all PNGs) and per document
  with the seal's COSE + KSI cost amortised; the render with the automatic
  mask (ISO/IEC 18004 evaluation) and with a fixed mask (target <= 30 ms);
* the mask choice for Base45 texts of versions 14, 19 and 25 at ECC Q:
  encode and PNG with segno's own evaluation (``segno_auto``, what
  ``mask=None`` cost before jura_trust._qrmask), with jura_trust's
  (``auto``, same mask and matrix) and with a fixed mask;
* verify from text, with a cold and a warm seal cache (target <= 2 ms).

Timings are medians in milliseconds and ratios against floors measured
in the same run: one SHA-256 + one ES256 verify (the least any verifier of
a signed hash must do), and for rendering, ``zlib.compress`` at level 9 of
the raw (filtered) image of the batch-1000 certificate's PNG (the least a
PNG writer with segno's compression must do). ``*_segno_path`` is the
render as jura_trust did it before ``jura_trust._qrencode`` (segno encodes
with mask 0 and writes the PNG), for before/after in one run; the new PNG
is asserted byte-identical to it. ``issue_and_render_whole_batch_1000``
issues 1,000 certificates and renders every one (target: at most 8 ms per
certificate).

``--robustness N`` also renders N certificates with the automatic mask and
with fixed masks and counts zxing-cpp reads after blur, rotation, scaling
and noise (slow: about a minute for N = 100).

    python bench/bench_qr.py [--quick] [--json] [--robustness N]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import statistics
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import segno
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from jura_trust import _qrmask, qr
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.certificates.base45 import b45encode
from jura_trust.certificates.jt1 import (
    MAX_BATCH_SIZE,
    ZDICT_V2,
    Batch,
    Certificate,
    Document,
    SealCache,
    issue_batch,
    verify_certificate,
)
from jura_trust.certificates.registry import MemorySealRegistry
from jura_trust.certificates.trustlist import Issuer, IssuerKey, TrustList, key_id
from jura_trust.core.calendar import filler_root
from jura_trust.core.hashing import Imprint
from jura_trust.errors import CertificateError

T0 = 1_710_000_000
NOW = datetime.fromtimestamp(T0, UTC)
FIXED_MASK = 0

#: A realistic 10-field extract (short values, as printed on the PDF).
FIELDS: dict[str, Any] = {
    "nom": "Muster",
    "prenom": "Hans",
    "naissance": "1980-04-12",
    "npa": "2800",
    "localite": "Delémont",
    "extrait": "2024-000123",
    "statut": "aucune poursuite",
    "poursuites": 0,
    "actes": 0,
    "office": "OP Delémont",
}


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def version_or_none(text: str, level: qr.ErrorLevel) -> int | None:
    try:
        return qr.qr_version(text, level)
    except CertificateError:
        return None


def text_of_version(version: int, seed: int = 0) -> str:
    """A JT1-like Base45 text (random payload) of exactly ``version`` at ECC Q."""
    rng = random.Random(seed)
    size = 8
    while True:
        text = "JT1:" + b45encode(rng.randbytes(size))
        found = qr.qr_version(text)
        if found == version:
            return text
        assert found < version, "stepped over a version"
        size += 8


def segno_auto(text: str) -> Any:
    """segno's own automatic mask choice, with the options jura_trust.qr uses."""
    return segno.make(
        text, error="q", mode=qr.qr_mode(text), micro=False, boost_error=False, mask=None
    )


def png_of(code: Any) -> bytes:
    out = io.BytesIO()
    code.save(out, kind="png", scale=qr.DEFAULT_SCALE, border=qr.DEFAULT_BORDER)
    return out.getvalue()


def segno_path_png(text: str) -> bytes:
    """The render as jura_trust.qr did it before jura_trust._qrencode (for before/after).

    segno encodes with mask 0, jura_trust._qrmask chooses and applies the
    mask, segno writes the PNG.
    """
    code = segno.make(
        text, error="q", mode=qr.qr_mode(text), micro=False, boost_error=False, mask=0
    )
    best = _qrmask.best_mask(code.matrix, code.version, code.error.upper())
    if best:
        code.mask = best
        _qrmask.remask(code.matrix, code.version, code.error.upper(), best)
    return png_of(code)


def raw_image(png: bytes) -> bytes:
    """The filtered scanlines of a PNG written by jura_trust.qr (its one IDAT chunk)."""
    length = int.from_bytes(png[33:37], "big")
    assert png[37:41] == b"IDAT"
    return zlib.decompress(png[41 : 41 + length])


def mask_choice_timings(repeat: int) -> dict[str, float]:
    t: dict[str, float] = {}
    for version in (14, 19, 25):
        text = text_of_version(version)
        symbol = qr.encode_qr(text)
        reference = segno_auto(text)
        assert symbol.mask == reference.mask, "not segno's mask"
        assert symbol.png() == png_of(reference), "not segno's symbol"
        few = max(5, repeat // 4)
        v = f"v{version}"
        t[f"encode_{v}_segno_auto_mask"] = median_ms(lambda x=text: segno_auto(x), few)
        t[f"encode_{v}_auto_mask"] = median_ms(lambda x=text: qr.encode_qr(x), repeat)
        t[f"encode_{v}_fixed_mask"] = median_ms(
            lambda x=text: qr.encode_qr(x, mask=FIXED_MASK), repeat
        )
        t[f"render_png_{v}_segno_auto_mask"] = median_ms(lambda x=text: png_of(segno_auto(x)), few)
        t[f"render_png_{v}_auto_mask"] = median_ms(lambda x=text: qr.render_png(x), repeat)
        t[f"render_png_{v}_fixed_mask"] = median_ms(
            lambda x=text: qr.render_png(x, mask=FIXED_MASK), repeat
        )
    return t


def docs(n: int) -> list[Document]:
    return [
        Document(
            "debt-register-extract",
            {**FIELDS, "extrait": f"2024-{i:06d}"},
            valid_until=NOW + timedelta(days=90),
        )
        for i in range(n)
    ]


class Issuing:
    """An issuer key, a KSI backend and a trust list naming the key."""

    def __init__(self, ksi: EmbeddedBackend) -> None:
        self.ksi = ksi
        self.key = ec.generate_private_key(ec.SECP256R1())
        public = self.key.public_key()
        self.trust = TrustList(
            issued_at=NOW - timedelta(days=400),
            next_update=NOW + timedelta(days=365),
            issuers=[
                Issuer(
                    "CH-JU-OP",
                    "Office des poursuites du Jura",
                    [
                        IssuerKey(
                            key_id(public),
                            public,
                            NOW - timedelta(days=400),
                            NOW + timedelta(days=700),
                        )
                    ],
                    ["debt-register-extract"],
                )
            ],
        )

    def issue(self, documents: list[Document], **kw: Any) -> Batch:
        return issue_batch(
            documents,
            issuer_id="CH-JU-OP",
            private_key=self.key,
            ksi=self.ksi,
            issued_at=NOW,
            **kw,
        )


def plain_text(cert: Certificate, *, self_contained: bool) -> str:
    """The same envelope compressed without the preset dictionary."""
    data = cert.envelope_cbor(self_contained=self_contained)
    return "JT1:" + b45encode(zlib.compress(data, 9))


def self_contained_sizes(cert: Certificate) -> dict[str, Any]:
    text = cert.text(self_contained=True)
    plain = plain_text(cert, self_contained=True)
    fit = qr.qr_fit(text)
    return {
        "chars": len(text),
        "chars_without_dictionary": len(plain),
        "ksi_signature_bytes": len(cert.seal.ksi_signature),
        "error_level": fit.error,
        "version": fit.version,
        "version_q": version_or_none(text, "q"),
        "version_q_without_dictionary": version_or_none(plain, "q"),
    }


def busy_calendar_text(cert: Certificate, below_height: int) -> tuple[str, str]:
    """Texts as if the calendar had a round every second for 2**below_height s.

    The filler roots below that height in the KSI signature are replaced by
    random digests of the same length (sizes only: not a valid signature).
    """
    rng = random.Random(below_height)
    data = cert.envelope_cbor(self_contained=True)
    for h in range(below_height):
        root = filler_root(h)
        data = data.replace(root, root[:1] + rng.randbytes(32))
    primed = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, ZDICT_V2)
    with_dict = primed.compress(data) + primed.flush()
    plain = zlib.compress(data, 9)
    best = with_dict if len(with_dict) < len(plain) else plain
    return "JT1:" + b45encode(best), "JT1:" + b45encode(plain)


def sizes_report(quick: bool) -> dict[str, Any]:
    fresh = Issuing(EmbeddedBackend(clock=ManualClock(T0)))
    out: dict[str, Any] = {}
    compact: dict[int, Any] = {}
    batches: dict[int, Batch] = {}
    for n in (1, 64, 1000, 10000):
        documents = docs(n)
        batch = batches[n] = fresh.issue(documents)
        cert = batch.certificates[n // 2]
        text = cert.text()
        single = fresh.issue(documents, page_size=MAX_BATCH_SIZE)
        v1_text = single.certificates[len(single) // 2].text()
        compact[n] = {
            "chars": len(text),
            "version_q": version_or_none(text, "q"),
            "path_links": len(cert.path),
            "page_path_links": len(cert.page_path),
            "pages": len(batch.pages),
            "single_level_chars": len(v1_text),
            "single_level_version_q": version_or_none(v1_text, "q"),
            "single_level_batch": len(single),
        }
    out["compact_by_batch_size"] = compact
    cert = batches[1000].certificates[500]
    contained: dict[str, Any] = {"fresh_calendar": self_contained_sizes(cert)}
    # A calendar with a few rounds a day before the batch (quiet seconds are filler).
    days = 30 if quick else 365
    clock = ManualClock(T0 - days * 86400)
    aged = Issuing(EmbeddedBackend(clock=clock))
    for d in range(days):
        for r in range(4):
            clock.set(T0 - days * 86400 + d * 86400 + r * 21600 + 1234)
            aged.ksi.sign(Imprint.hash(f"{d}/{r}".encode()))
    clock.set(T0)
    aged_cert = aged.issue(docs(1000)).certificates[500]
    contained[f"calendar_4_rounds_a_day_for_{days}_days"] = self_contained_sizes(aged_cert)
    busy, busy_plain = busy_calendar_text(cert, 25)
    busy_fit = qr.qr_fit(busy)
    contained["calendar_busy_every_second_for_a_year_simulated"] = {
        "chars": len(busy),
        "chars_without_dictionary": len(busy_plain),
        "error_level": busy_fit.error,
        "version": busy_fit.version,
        "version_q": version_or_none(busy, "q"),
    }
    out["self_contained_batch_1000"] = contained
    return out


def timings_report(repeat: int) -> dict[str, float]:
    issuing = Issuing(EmbeddedBackend(clock=ManualClock(T0)))
    pub = issuing.ksi.trusted_publications_file()
    key = issuing.key
    t: dict[str, float] = {}

    message = b"x" * 200
    sig = key.sign(message, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()

    def floor() -> None:
        hashlib.sha256(message).digest()
        public.verify(sig, message, ec.ECDSA(hashes.SHA256()))

    t["floor_sha256_es256_verify"] = median_ms(floor, repeat * 5)

    few = max(3, repeat // 40)
    for n in (1, 64, 1000):
        documents = docs(n)
        t[f"issue_batch_{n}"] = median_ms(lambda d=documents: issuing.issue(d), few)
    big = issuing.issue(docs(1000))
    cert = big.certificates[500]
    text = cert.text()
    t["text_per_document"] = median_ms(cert.text, repeat)
    t["render_png_auto_mask"] = median_ms(lambda: qr.render_png(text), repeat)
    png = qr.render_png(text)
    assert png == segno_path_png(text), "not the PNG segno wrote"
    raw = raw_image(png)
    t["floor_zlib9_raw_image"] = median_ms(lambda: zlib.compress(raw, 9), repeat)
    t["render_png_auto_mask_segno_path"] = median_ms(lambda: segno_path_png(text), repeat // 2)
    t["render_png_fixed_mask"] = median_ms(lambda: qr.render_png(text, mask=FIXED_MASK), repeat)
    per_doc_issue = t["issue_batch_1000"] / 1000 + t["text_per_document"]
    t["issue_and_render_per_document_auto_mask_batch_1000"] = (
        per_doc_issue + t["render_png_auto_mask"]
    )
    t["issue_and_render_per_document_fixed_mask_batch_1000"] = (
        per_doc_issue + t["render_png_fixed_mask"]
    )
    t["issue_and_render_per_batch_auto_mask_batch_1000_computed"] = (
        t["issue_and_render_per_document_auto_mask_batch_1000"] * 1000
    )
    t["issue_and_render_per_batch_fixed_mask_batch_1000_computed"] = (
        t["issue_and_render_per_document_fixed_mask_batch_1000"] * 1000
    )
    batch_64 = docs(64)

    def whole_batch(mask: int | None) -> None:
        b = issuing.issue(batch_64)
        for c in b.certificates:
            qr.render_png(c.text(), mask=mask)

    t["issue_and_render_whole_batch_64_auto_mask"] = median_ms(lambda: whole_batch(None), 2)
    batch_1000 = docs(1000)

    def whole_batch_1000() -> None:
        b = issuing.issue(batch_1000)
        for c in b.certificates:
            qr.render_png(c.text())

    t["issue_and_render_whole_batch_1000_per_certificate"] = (
        median_ms(whole_batch_1000, 1 if repeat < 100 else 3) / 1000
    )
    t["issue_and_render_whole_batch_64_fixed_mask"] = median_ms(lambda: whole_batch(FIXED_MASK), 2)
    single = docs(1)

    def single_doc(mask: int | None) -> None:
        qr.render_png(issuing.issue(single).certificates[0].text(), mask=mask)

    t["issue_and_render_batch_of_1_auto_mask"] = median_ms(lambda: single_doc(None), repeat // 4)
    t["issue_and_render_batch_of_1_fixed_mask"] = median_ms(
        lambda: single_doc(FIXED_MASK), repeat // 4
    )

    t.update(mask_choice_timings(repeat))

    seals = MemorySealRegistry(dict(big.registry_records()))
    contained = cert.text(self_contained=True)
    at = NOW + timedelta(days=1)
    warm = SealCache()

    def verify(text_: str, cache: SealCache | None) -> None:
        r = verify_certificate(
            text_,
            trust_list=issuing.trust,
            at=at,
            seals=seals,
            publications_file=pub,
            seal_cache=cache,
        )
        assert r.ok, r.message

    t["verify_compact_from_text_cold"] = median_ms(lambda: verify(text, None), repeat)
    t["verify_compact_from_text_warm_cache"] = median_ms(lambda: verify(text, warm), repeat)
    t["verify_self_contained_from_text_cold"] = median_ms(lambda: verify(contained, None), repeat)
    t["verify_self_contained_from_text_warm_cache"] = median_ms(
        lambda: verify(contained, warm), repeat
    )
    others = [c.text() for c in big.certificates[:200]]

    def verify_many() -> None:
        cache = SealCache()
        for other in others:
            verify(other, cache)

    t["verify_200_of_one_batch_per_certificate"] = median_ms(verify_many, 3) / len(others)
    return t


def robustness_report(n: int) -> dict[str, Any]:
    """zxing-cpp reads after distortions, automatic mask versus fixed masks."""
    import zxingcpp  # noqa: PLC0415
    from PIL import Image, ImageFilter  # noqa: PLC0415

    issuing = Issuing(EmbeddedBackend(clock=ManualClock(T0)))
    texts = [c.text() for c in issuing.issue(docs(max(n, 33))).certificates[:n]]
    # (blur radius px, rotation degrees, scale, noise blend), PNG at 3 px/module.
    conditions = [
        (0.8, 13, 1.0, 0.0),
        (0.8, 30, 0.75, 0.0),
        (1.3, 0, 1.0, 0.0),
        (1.5, 0, 1.0, 0.0),
        (1.55, 0, 1.0, 0.0),
        (1.0, 0, 0.8, 0.0),
        (1.05, 13, 0.85, 0.0),
        (0.8, 13, 1.0, 0.3),
        (0.8, 13, 1.0, 0.35),
    ]
    masks: list[int | None] = [None, 0, 3, 6]

    def distort(
        image: Any, blur: float, angle: float, scale: float, noise: float, seed: int
    ) -> Any:
        im = image.convert("L")
        if scale != 1:
            im = im.resize((int(im.width * scale), int(im.height * scale)), Image.BILINEAR)
        if angle:
            im = im.rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=255)
        im = im.filter(ImageFilter.GaussianBlur(blur))
        if noise:
            rng = random.Random(seed)
            grain = Image.frombytes("L", im.size, rng.randbytes(im.width * im.height))
            im = Image.blend(im, grain, noise)
        return im

    counts = {str(m): {str(c): 0 for c in conditions} for m in masks}
    chosen: list[int] = []
    for i, text in enumerate(texts):
        for mask in masks:
            symbol = qr.encode_qr(text, mask=mask)
            if mask is None:
                chosen.append(symbol.mask)
            image = Image.open(io.BytesIO(symbol.png(scale=3)))
            for cond in conditions:
                found = zxingcpp.read_barcodes(
                    distort(image, *cond, seed=i), formats=zxingcpp.BarcodeFormat.QRCode
                )
                counts[str(mask)][str(cond)] += any(b.text == text for b in found)
    totals = {m: sum(c.values()) for m, c in counts.items()}
    return {
        "certificates": n,
        "conditions": "(blur, rotation, scale, noise)",
        "reads": counts,
        "totals": totals,
        "auto_mask_chosen": {str(k): chosen.count(k) for k in range(8)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--robustness", type=int, default=0, metavar="N")
    args = parser.parse_args()
    repeat = 20 if args.quick else 200

    sizes = sizes_report(args.quick)
    timings = timings_report(repeat)
    floor_ms = timings["floor_sha256_es256_verify"]
    ratios = {k: v / floor_ms for k, v in timings.items() if not k.startswith("floor")}
    zlib_floor = timings["floor_zlib9_raw_image"]
    render_ratios = {
        k: v / zlib_floor
        for k, v in timings.items()
        if ("render" in k and "computed" not in k) or k.startswith("encode")
    }
    report: dict[str, Any] = {
        "sizes": sizes,
        "timings_ms": timings,
        "ratios_x_floor": ratios,
        "render_ratios_x_zlib_floor": render_ratios,
        "repeat": repeat,
        "cpu_count": os.cpu_count(),
    }
    if args.robustness:
        report["robustness"] = robustness_report(args.robustness)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("compact 10-field certificate, QR version at ECC Q (target <= 20):")
    for n, c in sizes["compact_by_batch_size"].items():
        print(
            f"  batch {n:>6}: {c['chars']:4d} chars, version {c['version_q']}"
            f" ({c['path_links']} + {c['page_path_links']} links, {c['pages']} pages);"
            f" single-level layout: {c['single_level_chars']} chars, version"
            f" {c['single_level_version_q']} (batch {c['single_level_batch']})"
        )
    print("self-contained (batch 1000):")
    for name, s in sizes["self_contained_batch_1000"].items():
        print(
            f"  {name}: {s['chars']} chars ({s['chars_without_dictionary']} without the"
            f" dictionary), version {s['version']} at ECC {s['error_level']}"
        )
    print("timings (x floor: SHA-256 + ES256 verify; x zlib: zlib level 9 of the raw v19 image)")
    for name, value in timings.items():
        ratio = ratios.get(name)
        extra = f"  ({ratio:9.1f}x floor)" if ratio is not None else ""
        zratio = render_ratios.get(name)
        extra += f"  ({zratio:7.1f}x zlib)" if zratio is not None else ""
        print(f"{name:<58} {value:10.3f} ms{extra}")
    if args.robustness:
        rob = report["robustness"]
        print(f"zxing-cpp reads of {rob['certificates']} certificates {rob['conditions']}:")
        for mask, row in rob["reads"].items():
            print(f"  mask {mask:>4}: {list(row.values())} total {rob['totals'][mask]}")


if __name__ == "__main__":
    main()

"""JT1 QR certificates: sizes (QR version at ECC Q) and issue/verify timings.

Reports, for a 10-field debt-register extract:

* the QR version at ECC Q of a compact certificate from a batch of 1,000
  (target: <= 20) and of a self-contained one (and the level it needs);
* the largest batch whose compact certificates still fit version 20-Q;
* time to issue + render (PNG) one certificate (target <= 30 ms), and to
  verify one from its text (target <= 2 ms), as milliseconds and as ratios
  against a floor measured in the same run: one SHA-256 + one ES256 verify
  (the least any verifier of a signed hash must do).

    python bench/bench_qr.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from jura_trust import qr
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.certificates.jt1 import Document, issue_batch, verify_certificate
from jura_trust.certificates.registry import MemorySealRegistry
from jura_trust.certificates.trustlist import Issuer, IssuerKey, TrustList, key_id
from jura_trust.errors import CertificateError

T0 = 1_710_000_000
NOW = datetime.fromtimestamp(T0, UTC)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    repeat = 20 if args.quick else 200

    ksi = EmbeddedBackend(clock=ManualClock(T0))
    key = ec.generate_private_key(ec.SECP256R1())
    trust = TrustList(
        issued_at=NOW - timedelta(days=1),
        next_update=NOW + timedelta(days=365),
        issuers=[
            Issuer(
                "CH-JU-OP",
                "Office des poursuites du Jura",
                [
                    IssuerKey(
                        key_id(key.public_key()), key.public_key(), NOW, NOW + timedelta(days=700)
                    )
                ],
                ["debt-register-extract"],
            )
        ],
    )
    pub = ksi.trusted_publications_file()

    def docs(n: int) -> list[Document]:
        return [
            Document(
                "debt-register-extract",
                {**FIELDS, "extrait": f"2024-{i:06d}"},
                valid_until=NOW + timedelta(days=90),
            )
            for i in range(n)
        ]

    def issue(n: int) -> Any:
        return issue_batch(docs(n), issuer_id="CH-JU-OP", private_key=key, ksi=ksi, issued_at=NOW)

    sizes: dict[str, Any] = {}
    big = issue(1000)
    compact = big.certificates[500].text()
    contained = big.certificates[500].text(self_contained=True)
    sizes["compact_1000"] = {
        "chars": len(compact),
        "payload_bytes": len(big.certificates[500].payload_bytes),
        "path_links": len(big.certificates[500].path),
        "version_q": version_or_none(compact, "q"),
        "version_m": version_or_none(compact, "m"),
    }
    sizes["self_contained_1000"] = {
        "chars": len(contained),
        "seal_record_bytes": len(big.seal.encode()),
        "ksi_signature_bytes": len(big.seal.ksi_signature),
        "version_q": version_or_none(contained, "q"),
        "version_m": version_or_none(contained, "m"),
        "version_l": version_or_none(contained, "l"),
    }
    by_batch = {}
    largest_v20 = 0
    for exp in range(11):
        n = 1 << exp
        text = issue(n).certificates[0].text()
        v = version_or_none(text, "q")
        by_batch[n] = v
        if v is not None and v <= 20:
            largest_v20 = n
    sizes["version_q_by_batch_size"] = by_batch
    sizes["largest_power_of_two_batch_within_v20_q"] = largest_v20

    # Timings.
    single_docs = docs(1)

    def issue_render() -> None:
        b = issue_batch(single_docs, issuer_id="CH-JU-OP", private_key=key, ksi=ksi, issued_at=NOW)
        qr.render_png(b.certificates[0].text())

    def issue_only() -> None:
        issue_batch(single_docs, issuer_id="CH-JU-OP", private_key=key, ksi=ksi, issued_at=NOW)

    seals = MemorySealRegistry({big.seal.seal_id: big.seal.encode()})
    at = NOW + timedelta(days=1)

    def verify_compact() -> None:
        r = verify_certificate(compact, trust_list=trust, at=at, seals=seals, publications_file=pub)
        assert r.valid, r.reason

    def verify_contained() -> None:
        r = verify_certificate(contained, trust_list=trust, at=at, publications_file=pub)
        assert r.valid, r.reason

    message = b"x" * 200
    sig = key.sign(message, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()

    def floor() -> None:
        hashlib.sha256(message).digest()
        public.verify(sig, message, ec.ECDSA(hashes.SHA256()))

    floor_ms = median_ms(floor, repeat * 5)
    timings = {
        "floor_sha256_es256_verify_ms": floor_ms,
        "issue_and_render_ms": median_ms(issue_render, repeat),
        "issue_only_ms": median_ms(issue_only, repeat),
        "render_png_ms": median_ms(lambda: qr.render_png(compact), repeat),
        "verify_compact_from_text_ms": median_ms(verify_compact, repeat),
        "verify_self_contained_from_text_ms": median_ms(verify_contained, repeat),
    }
    ratios = {
        k.replace("_ms", "_x_floor"): v / floor_ms for k, v in timings.items() if "floor" not in k
    }
    report = {"sizes": sizes, "timings_ms": timings, "ratios": ratios, "repeat": repeat}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    c, s = sizes["compact_1000"], sizes["self_contained_1000"]
    print(
        f"compact, batch 1000: {c['chars']} chars, {c['path_links']} path links, "
        f"version {c['version_q']} at Q (target <= 20), {c['version_m']} at M"
    )
    print(
        f"self-contained:      {s['chars']} chars (KSI signature {s['ksi_signature_bytes']} B), "
        f"version Q={s['version_q']} M={s['version_m']} L={s['version_l']}"
    )
    print(f"version at Q by batch size: {by_batch}")
    print(f"largest power-of-two batch within version 20-Q: {largest_v20}")
    for name, value in timings.items():
        ratio = ratios.get(name.replace("_ms", "_x_floor"))
        extra = f"  ({ratio:.1f}x floor)" if ratio is not None else ""
        print(f"{name:<38} {value:8.3f} ms{extra}")


if __name__ == "__main__":
    main()

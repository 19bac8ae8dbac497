"""The residents' page: its weight, and its API's latency against the CLI's verifier.

Builds a service home (trust list, certificates, a receipt; the same set-up
as the page's tests), starts ``jura-trust serve`` on it, then measures in the
same run:

* the floor: the same receipt verified in process by the trust module's
  ``Verifier`` under the home's trust (the code path of ``jura-trust verify``
  without its process start), per verification;
* ``POST /api/v1/verify`` over HTTP on loopback (one connection per request,
  as a browser without keep-alive would), per request;
* ``jura-trust verify --json`` as a subprocess (what a resident with a
  terminal runs), per run;
* ``POST /api/v1/verify-qr`` and ``/api/v1/verify-qr-image`` for a certificate.

It also reports the page's weight: HTML, script and style sheet as served,
and the vendored QR decoder, loaded only when the browser has no
BarcodeDetector and the camera is used.

Usage: python bench/bench_page.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.service.page_setup import build  # noqa: E402
from tests.service.server import ServerProcess  # noqa: E402

from jura_trust.backends.memory import EmbeddedBackend  # noqa: E402
from jura_trust.core.hashing import Imprint  # noqa: E402
from jura_trust.core.signature import Signature  # noqa: E402
from jura_trust.trust import TrustConfig, Verifier  # noqa: E402


def post(url: str, body: bytes, content_type: str = "application/json") -> bytes:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=30) as resp:
        return resp.read()


def timed(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    n = 30 if args.quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        setup = build(base)
        document, receipt = setup["documents"]["doc"], setup["receipts"]["sha256"]
        imprint = Imprint.hash(document)
        signature = Signature.from_bytes(receipt)
        with EmbeddedBackend(setup["home"], create=False) as backend:
            verifier = Verifier(TrustConfig.from_backend(backend))
            assert verifier.verify(signature, document_hash=imprint).ok
            floor = timed(n, lambda: verifier.verify(signature, document_hash=imprint))
        cli = [
            sys.executable, "-m", "jura_trust.cli", "verify", str(base / "sha256.ksig"),
            "--document", str(base / "doc.txt"), "--home", str(setup["home"]), "--json",
        ]  # fmt: skip
        cli_time = timed(3 if args.quick else 10, lambda: subprocess.run(cli, check=True,
                         capture_output=True))  # fmt: skip
        body = json.dumps(
            {
                "signature": base64.b64encode(receipt).decode(),
                "document_hash": "SHA-256:" + hashlib.sha256(document).hexdigest(),
            }
        ).encode()
        text = json.dumps({"text": setup["certificates"][0]}).encode()
        png = (base / "out" / "cert-0000.png").read_bytes()
        with ServerProcess(setup["home"], *setup["serve_args"], config=setup["config"]) as srv:
            assert json.loads(post(srv.url + "/api/v1/verify", body))["valid"]
            api = timed(n, lambda: post(srv.url + "/api/v1/verify", body))
            assert json.loads(post(srv.url + "/api/v1/verify-qr", text))["valid"]
            qr = timed(n, lambda: post(srv.url + "/api/v1/verify-qr", text))
            image_url = srv.url + "/api/v1/verify-qr-image"
            assert json.loads(post(image_url, png, "image/png"))["valid"]
            image = timed(max(10, n // 10), lambda: post(image_url, png, "image/png"))
            weights = {}
            for path in ("/", "/static/page.js", "/static/page.css", "/static/jsQR.js"):
                with urllib.request.urlopen(srv.url + path, timeout=30) as resp:
                    weights[path] = len(resp.read())
    first_load = weights["/"] + weights["/static/page.js"] + weights["/static/page.css"]
    report = {
        "verifications": n,
        "floor_in_process_verify_ms": round(floor * 1000, 3),
        "api_verify_ms": round(api * 1000, 3),
        "api_verify_vs_floor": round(api / floor, 2),
        "cli_verify_subprocess_ms": round(cli_time * 1000, 1),
        "api_verify_vs_cli_subprocess": round(api / cli_time, 4),
        "api_verify_qr_ms": round(qr * 1000, 3),
        "api_verify_qr_image_ms": round(image * 1000, 3),
        "page_bytes": weights,
        "page_first_load_bytes": first_load,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    main()

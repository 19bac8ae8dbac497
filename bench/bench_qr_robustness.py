"""How printed codes survive a phone camera: decode rates at 3 and 2 pixels per module.

Issues a batch, renders compact and link certificates sharp, downscales them
to 3 and 2 pixels per module and degrades them (blur, JPEG, rotation, all
three), then decodes with zxing-cpp (tests/qr_degrade.py). The test suite
asks 100 % at 3 px per module on a small sample; this reports both rates
on a larger one.

    python bench/bench_qr_robustness.py [--count N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.certificates.test_jt1 import issue
from tests.qr_degrade import DEGRADATIONS, decodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50, help="certificates per form")
    parser.add_argument("--quick", action="store_true", help="10 certificates per form")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    count = 10 if args.quick else args.count
    batch = issue(count + 40)
    certs = batch.certificates[-count:]
    forms = {
        "compact": [c.text() for c in certs],
        "link": [c.link("https://qr.jura.ch/") for c in certs],
    }
    started = time.perf_counter()
    rates: dict[str, float] = {}
    for px in (3, 2):
        for form, texts in forms.items():
            for name in DEGRADATIONS:
                ok = sum(decodes(text, px, name) for text in texts)
                rates[f"{px}px {form} {name}"] = ok / len(texts)
    if args.json:
        print(json.dumps({"count": count, "rates": rates}, indent=2))
    else:
        for key, rate in rates.items():
            print(f"{key:<40} {100 * rate:6.1f} %")
        print(f"({count} certificates per form, {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()

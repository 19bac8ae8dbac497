"""Printed codes survive a phone camera: downscaled to 3 px per module, blurred, JPEG, rotated.

Every compact and link certificate of the sample must decode after every
degradation at 3 pixels per module (100 %). The rates at 2 pixels per
module, and a larger sample, are in ``bench/bench_qr_robustness.py``
(JURA_TRUST_LONG=1 runs the larger sample here too).
"""

from __future__ import annotations

import pytest

from tests.budget import LONG
from tests.certificates.test_jt1 import issue
from tests.qr_degrade import DEGRADATIONS, decodes

SAMPLE = 40 if LONG else 4


@pytest.fixture(scope="module")
def texts() -> dict[str, list[str]]:
    small = issue(1)  # the smallest codes: a batch of one
    large = issue(SAMPLE + 40)  # pages: longer paths
    certs = [small.certificates[0], *large.certificates[-SAMPLE:]]
    return {
        "compact": [c.text() for c in certs],
        "link": [c.link("https://qr.jura.ch/") for c in certs],
    }


@pytest.mark.parametrize("degradation", sorted(DEGRADATIONS))
@pytest.mark.parametrize("form", ["compact", "link"])
def test_codes_decode_at_three_pixels_per_module(
    texts: dict[str, list[str]], form: str, degradation: str
) -> None:
    failed = [t for t in texts[form] if not decodes(t, 3, degradation)]
    assert failed == [], f"{len(failed)} of {len(texts[form])} {form} codes unread"

"""The service benchmark's bounded run (CI): it runs and reports; numbers are not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "bench_service.py"


def test_quick_benchmark_runs_and_reports():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["signatures_per_s"] > 0
    assert report["rounds"] > 0
    assert report["server_rss_mib"] > 0
    assert report["floor_round_signatures_per_s"] > 0
    assert 0 < report["latency_p50_s"] <= report["latency_p99_s"]

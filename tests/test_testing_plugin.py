"""Issue 11 item 3: the pytest plugin's documented example runs; the clock moves only when said."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import jura_trust.testing
from jura_trust.backends.base import ManualClock
from jura_trust.core.hashing import Imprint


def _documented_example() -> str:
    doc = jura_trust.testing.__doc__ or ""
    block = doc.split("Example (runs as written; tests/test_testing_plugin.py runs it)::", 1)[1]
    return textwrap.dedent(block)


def _run_pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_user_suite.py"
    test_file.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_plugin_documented_example_runs_as_written(tmp_path):
    proc = _run_pytest(tmp_path, _documented_example())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_plugin_signing_moves_the_clock_only_as_documented(tmp_path):
    source = textwrap.dedent(
        """
        import pytest
        from jura_trust import Imprint

        def test_second_round_moves_the_clock(ksi_backend, ksi_clock):
            start = ksi_clock.now()
            ksi_backend.sign(Imprint.hash(b"a"))
            assert ksi_clock.now() == start          # first round: the clock stays
            ksi_backend.sign(Imprint.hash(b"b"))
            assert ksi_clock.now() == start + 1      # same second taken: moved, as documented

        @pytest.mark.ksi_frozen_clock
        def test_frozen_clock_refuses_to_move(ksi_backend, ksi_clock):
            ksi_backend.sign(Imprint.hash(b"a"))
            with pytest.raises(RuntimeError, match="advance"):
                ksi_backend.sign(Imprint.hash(b"b"))
            ksi_clock.advance(1)
            ksi_backend.sign(Imprint.hash(b"b"))
        """
    )
    proc = _run_pytest(tmp_path, source)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_manual_clock_without_sleep_advances_raises():
    clock = ManualClock(100, sleep_advances=False)
    with pytest.raises(RuntimeError):
        clock.sleep(1)
    assert clock.now() == 100


def test_plugin_ksi_service_fixture_is_a_real_service(ksi_service):
    with ksi_service.client() as client:
        sig = client.sign(Imprint.hash(b"integration"))
    assert sig.document_hash == Imprint.hash(b"integration")
    assert ksi_service.tcp_url.startswith("ksi+tcp://127.0.0.1:")

"""docs/operations.md stays true: the systemd unit verifies, the configurations load."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jura_trust.service.config import load_config

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ROOT / "docs" / "operations.md"
UNIT = ROOT / "docs" / "systemd" / "jura-trust.service"


def blocks(kind: str) -> list[str]:
    text = OPERATIONS.read_text(encoding="utf-8")
    return re.findall(rf"^```{kind}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_the_unit_in_the_docs_is_the_unit_file() -> None:
    assert blocks("ini") == [UNIT.read_text(encoding="utf-8")]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    # the unit's ExecStart must exist for verify: point it at this jura-trust
    exe = Path(sys.executable).with_name("jura-trust")
    unit = tmp_path / "jura-trust.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace("/opt/jura-trust/bin/jura-trust", str(exe))
    )
    done = subprocess.run(
        [tool, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    # verify exits 0 on some problems (an unknown value is "ignored"): no output at all
    assert done.returncode == 0, done.stderr
    complaints = [line for line in done.stderr.splitlines() if "jura-trust.service" in line]
    assert complaints == [], done.stderr


def test_the_configurations_in_the_docs_load(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("JT_KEY_DEPARTMENT_A", "secret-a")
    monkeypatch.setenv("JT_PARENT_KEY", "secret-p")
    monkeypatch.setenv("JT_KEY_CLERK", "secret-c")
    central, child = blocks("toml")
    path = tmp_path / "central.toml"
    path.write_text(central)
    config = load_config(path, home=tmp_path)
    assert config.store_engine == "postgresql"
    assert config.store_dsn == "postgresql://jura@db.canton.example:5432/jura"
    path = tmp_path / "child.toml"
    path.write_text(child)
    config = load_config(path, home=tmp_path)
    assert config.parents == (
        "http://central-1.canton.example:8080/aggregator",
        "http://central-2.canton.example:8080/aggregator",
    )
    assert config.parent_login is not None and config.parent_login.key == b"secret-p"

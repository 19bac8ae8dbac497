"""The documentation stays true: every error code is documented, examples run."""

from __future__ import annotations

import re
from pathlib import Path

from jura_trust import EmbeddedBackend, ManualClock
from jura_trust.errors import ErrorCode
from jura_trust.testing import START_TIME

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ERRORS_MD = DOCS / "errors.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(
        r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL
    )


def test_every_error_code_is_in_errors_md():
    text = ERRORS_MD.read_text(encoding="utf-8")
    missing = [c.value for c in ErrorCode if not re.search(rf"\b{c.value}\b", text)]
    assert missing == []


def test_quickstart_has_the_expected_examples():
    blocks = python_blocks(DOCS / "quickstart.md")
    assert len(blocks) == 2
    assert "sign_bytes" in blocks[0]
    assert "def test_receipt(ksi_backend, ksi_clock)" in blocks[1]


def test_quickstart_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = python_blocks(DOCS / "quickstart.md")[0]
    namespace: dict[str, object] = {}
    exec(compile(block, "quickstart.md", "exec"), namespace)
    assert namespace["result"].ok  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == []  # the example is in memory


def test_quickstart_pytest_example_runs_with_real_fixtures():
    block = python_blocks(DOCS / "quickstart.md")[1]
    namespace: dict[str, object] = {}
    exec(compile(block, "quickstart.md", "exec"), namespace)
    clock = ManualClock(START_TIME)  # what the ksi_clock fixture gives
    with EmbeddedBackend(clock=clock) as backend:  # what ksi_backend gives
        namespace["test_receipt"](backend, clock)  # type: ignore[operator]
        # the head (the signing second) was published, an hour after it was signed
        assert backend.latest_publication().publication_time == START_TIME
        assert clock.now() == START_TIME + 3600


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (block,) = python_blocks(ROOT / "README.md")
    namespace: dict[str, object] = {"document_bytes": b"a document"}
    exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "state-dir" / "publications.bin").is_file()
    namespace["backend"].close()  # type: ignore[attr-defined]

"""Issue 10 item 2 / issue 11 item 8: a command loads only what it runs.

The structure is held here (which modules a process loads), not a time: the
time is bench/bench_cli_startup.py's, as a ratio against ``python -c pass``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.vectors import ksi_path

SIG = ksi_path("signatures/valid/ok-sig-2014-04-30.1.ksig")

#: Never loaded by ``verify --policy internal``: the service, QR, image
#: reading, CMS, X.509 path validation, the HTTP client, SQLite, the backends.
FORBIDDEN_FOR_VERIFY = (
    "aiohttp",
    "segno",
    "zxingcpp",
    "PIL",
    "asn1crypto",
    "cryptography",
    "http.client",
    "sqlite3",
    "jura_trust.pki",
    "jura_trust.backends.memory",
    "jura_trust.backends.ksi_http",
    "jura_trust.certificates",
    "jura_trust.qr",
    "jura_trust.service",
    "jura_trust.api",
)


def _loaded_by(argv: list[str], tmp_path: Path) -> tuple[int, set[str]]:
    script = textwrap.dedent(
        f"""
        import json, sys
        from jura_trust.cli import main
        status = main({argv!r})
        sys.stdout.flush()
        sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
        sys.exit(status)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return proc.returncode, set(json.loads(line.removeprefix("MODULES ")))


def _offending(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


def test_verify_internal_loads_no_service_qr_pki_http_or_backends(tmp_path):
    doc = tmp_path / "document.txt"
    doc.write_bytes(b"another document")
    status, modules = _loaded_by(
        ["verify", str(SIG), "--document", str(doc), "--policy", "internal"], tmp_path
    )
    assert status == 1  # the document differs: proven FAIL, and the command really ran
    assert "jura_trust.verify.policies" in modules
    assert _offending(modules, FORBIDDEN_FOR_VERIFY) == []


def test_cli_package_import_registers_nothing_heavy(tmp_path):
    script = "import sys, json; import jura_trust.cli; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    modules = set(json.loads(out))
    assert (
        _offending(modules, (*FORBIDDEN_FOR_VERIFY, "jura_trust.verify", "jura_trust.trust")) == []
    )


def test_inspect_loads_no_verification_or_backend(tmp_path):
    status, modules = _loaded_by(["inspect", str(SIG)], tmp_path)
    assert status == 0
    assert _offending(modules, (*FORBIDDEN_FOR_VERIFY, "jura_trust.trust")) == []


def test_qr_commands_are_not_loaded_by_ksi_commands_and_vice_versa(tmp_path):
    _, modules = _loaded_by(["inspect", str(SIG)], tmp_path)
    assert "jura_trust.cli.qr" not in modules
    assert "jura_trust.cli.trustlist" not in modules
    status, modules = _loaded_by(["trustlist", "keygen", "-o", str(tmp_path / "k.pem")], tmp_path)
    assert status == 0
    assert "jura_trust.cli.ksi" not in modules
    assert "jura_trust.backends.memory" not in modules


def test_verify_internal_loads_no_publications_file_or_shutil(tmp_path):
    # Issue 10 item 2: what a verification without a publications file never
    # uses is not imported (the publications file module; shutil, with bz2 and
    # lzma, for argparse's terminal width).
    doc = tmp_path / "document.txt"
    doc.write_bytes(b"another document")
    status, modules = _loaded_by(
        ["verify", str(SIG), "--document", str(doc), "--policy", "internal"], tmp_path
    )
    assert status == 1
    assert _offending(modules, ("jura_trust.publications", "shutil", "bz2", "lzma")) == []

"""Issue 10 item 2 / issue 11 item 8: a command loads only what it runs.

The structure is held here (which modules a process loads), not a time: the
time is bench/bench_cli_startup.py's, as a ratio against ``python -c pass``.
"""

from __future__ import annotations

import ast
import importlib.util
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


# -- attrs on the verification path -------------------------------------------------------
# Issue 10 item 2: importing attrs costs more than twice a bare interpreter's
# start-up, so the values a verification builds are jura_trust._value.Value
# subclasses (docs/architecture.md, "Values on the verification path").

#: The verification kernel and the trust configuration: attrs nowhere in them.
VERIFY_MODULES = (
    "jura_trust.trust",
    "jura_trust.verify",
    "jura_trust.verify.engine",
    "jura_trust.verify.policies",
    "jura_trust.verify.result",
    "jura_trust.verify.rules",
)


def _attrs_imports(module: str, *, top_level_only: bool) -> list[int]:
    """Lines where ``module``'s source imports attr or attrs."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    lines = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n.split(".")[0] in ("attr", "attrs") for n in names):
            lines.append(node.lineno)
    return lines


def _verify_internal_process(tmp_path: Path) -> tuple[int, set[str], set[str]]:
    """Run ``verify --policy internal``: status, modules loaded, modules that imported attrs."""
    doc = tmp_path / "document.txt"
    doc.write_bytes(b"another document")
    argv = ["verify", str(SIG), "--document", str(doc), "--policy", "internal"]
    script = textwrap.dedent(
        f"""
        import builtins, json, sys
        importers = set()
        real_import = builtins.__import__

        def watching(name, globals=None, *args, **kwargs):
            if name.split(".")[0] in ("attr", "attrs") and globals is not None:
                importers.add(globals.get("__name__") or "?")
            return real_import(name, globals, *args, **kwargs)

        builtins.__import__ = watching
        from jura_trust.cli import main
        status = main({argv!r})
        sys.stdout.flush()
        outside = sorted(m for m in importers if m.split(".")[0] not in ("attr", "attrs"))
        sys.stderr.write("\\nMODULES " + json.dumps([sorted(sys.modules), outside]) + "\\n")
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
    modules, importers = json.loads(line.removeprefix("MODULES "))
    return proc.returncode, set(modules), set(importers)


def test_verification_kernel_and_trust_import_no_attrs():
    found = {m: _attrs_imports(m, top_level_only=False) for m in VERIFY_MODULES}
    assert {m: lines for m, lines in found.items() if lines} == {}


def test_verify_path_outside_core_imports_no_attrs_at_module_level(tmp_path):
    # Every jura_trust module the verify command loads, found by running it.
    # core/ is converted to Value on its own branch; jura_trust._value imports
    # attrs only inside evolve(), for attrs instances.
    status, modules, _ = _verify_internal_process(tmp_path)
    assert status == 1
    ours = sorted(
        m for m in modules if m.startswith("jura_trust") and not m.startswith("jura_trust.core")
    )
    assert set(VERIFY_MODULES) <= set(ours)
    found = {m: _attrs_imports(m, top_level_only=True) for m in ours}
    assert {m: lines for m, lines in found.items() if lines} == {}


def test_verify_internal_loads_no_attrs(tmp_path):
    """The whole ``verify --policy internal`` process imports neither attr nor attrs.

    Until every module of jura_trust.core is a Value (its own branch), the
    only modules allowed to import attrs are the core modules whose source
    still does; once none does, the process must load no attrs module at all.
    """
    status, modules, importers = _verify_internal_process(tmp_path)
    assert status == 1
    core = sorted(m for m in modules if m.startswith("jura_trust.core"))
    pending = {m for m in core if _attrs_imports(m, top_level_only=True)}
    assert importers <= pending
    if not pending:
        assert _offending(modules, ("attr", "attrs")) == []

"""aiohttp stays inside jura_trust.service; the ksi_http client needs only the stdlib."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "jura_trust"


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_aiohttp_only_in_the_service_package():
    for path in SRC.rglob("*.py"):
        if "service" in path.relative_to(SRC).parts or path.name in ("aio.py", "testing.py"):
            continue  # and the asyncio client (the 'aio' extra), imported on use
        assert "aiohttp" not in imported_roots(path), path


def test_ksi_http_uses_only_the_stdlib_and_jura_trust():
    roots = imported_roots(SRC / "backends" / "ksi_http.py")
    third_party = {r for r in roots if r not in sys.stdlib_module_names and r != "jura_trust"}
    assert third_party <= {"attrs"}, third_party  # attrs is a core dependency

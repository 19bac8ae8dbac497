"""The module layering of DESIGN.md section 2: no module imports from a higher layer."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "jura_trust"

LAYERS = {
    "errors": 0,
    "_timefmt": 0,
    "core": 1,
    "core.hashing": 1,
    "core.tlv": 2,
    "core.chains": 2,
    "core.tree": 3,
    "core.calendar": 3,
    "core.publication": 4,
    "core.signature": 4,
    "core._sigparse": 4,
    "pki": 5,
    "publications": 6,
    "pdu": 6,
    "verify": 7,
    "certificates": 8,
    "qr": 8,
    "trust": 8,
    "_qrmask": 8,
    "_files": 8,
    "_qrencode": 8,
    "backends": 9,
    "backends.ksi_http": 9,
    "backends.home": 9,
    "service": 10,
    "cli": 10,
    "cli_qr": 10,
    "testing": 10,
    "api": 10,
    "_demo": 10,
}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return LAYERS[key]
    return None


def modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        yield name, path


@pytest.mark.parametrize(("name", "path"), list(modules()), ids=str)
def test_no_upward_imports(name, path):
    if name == "":
        return  # the package root re-exports the high-level API
    mine = layer_of(name)
    assert mine is not None, f"{name} has no layer: add it to LAYERS"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "jura_trust":
                targets = [f"{a.name}" for a in node.names]
            elif node.module.startswith("jura_trust."):
                base = node.module.removeprefix("jura_trust.")
                targets = [
                    base if layer_of(base) is not None else f"{base}.{a.name}" for a in node.names
                ]
        elif isinstance(node, ast.Import):
            targets = [
                a.name.removeprefix("jura_trust.")
                for a in node.names
                if a.name.startswith("jura_trust.")
            ]
        for target in targets:
            theirs = layer_of(target)
            assert theirs is not None, f"{name} imports unknown module {target}"
            assert theirs <= mine, f"{name} (layer {mine}) imports {target} (layer {theirs})"


def test_core_has_no_io_or_clock():
    forbidden = {"os", "time", "datetime", "socket", "sqlite3", "random", "secrets", "pathlib"}
    for path in (SRC / "core").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            assert not forbidden & set(names), f"core/{path.name} imports {forbidden & set(names)}"

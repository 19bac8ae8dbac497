"""The module layering of DESIGN.md section 2.

No module imports from a higher layer; within a layer, a module imports
another top-level module of the same layer only where SAME_LAYER declares
it; the service never imports the CLI; verification never imports backends
or the service. Imports inside functions (lazy ones) count too.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "jura_trust"

LAYERS = {
    "errors": 0,
    "_timefmt": 0,
    "_value": 0,
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
    "aio": 10,
    "testing": 10,
    "api": 10,
    "_demo": 10,
}


#: Same-layer imports allowed between top-level groups (``group -> groups``).
#: Anything else within one layer is refused: add a line here, with a reason.
SAME_LAYER: dict[str, set[str]] = {
    # the CLI runs the service (serve), the demo and saves through the API
    "cli": {"service", "_demo", "api"},
    # the demo is the high-level API in action
    "_demo": {"api"},
    # fixtures start the real service on loopback and use the asyncio client
    "testing": {"service", "aio", "api"},
    # the asyncio client wraps the embedded backend and reuses the TCP framing
    "aio": {"service"},
    "service": set(),
    "api": set(),
}


def group_of(module: str) -> str:
    """The top-level group of a module (``cli.ksi`` -> ``cli``; ``core.tlv`` -> ``core``)."""
    return module.split(".", 1)[0]


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


def imported(path: Path) -> list[str]:
    """Every jura_trust module ``path`` imports (relative to the package), lazily or not."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
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
        found.extend(targets)
    return found


@pytest.mark.parametrize(("name", "path"), list(modules()), ids=str)
def test_no_upward_imports(name, path):
    if name == "":
        return  # the package root re-exports the high-level API
    mine = layer_of(name)
    assert mine is not None, f"{name} has no layer: add it to LAYERS"
    for target in imported(path):
        theirs = layer_of(target)
        assert theirs is not None, f"{name} imports unknown module {target}"
        assert theirs <= mine, f"{name} (layer {mine}) imports {target} (layer {theirs})"


@pytest.mark.parametrize(("name", "path"), list(modules()), ids=str)
def test_imports_within_a_layer_only_where_declared(name, path):
    if name == "" or layer_of(name) != 10:
        return
    mine = group_of(name)
    for target in imported(path):
        theirs = group_of(target)
        if theirs == mine or layer_of(target) != 10:
            continue
        assert theirs in SAME_LAYER.get(mine, set()), (
            f"{name} imports {target} of its own layer: declare it in SAME_LAYER"
        )


def _importers(group: str) -> list[tuple[str, str]]:
    return [
        (name, target)
        for name, path in modules()
        if group_of(name) == group
        for target in imported(path)
    ]


def test_the_service_never_imports_the_cli():
    bad = [(n, t) for n, t in _importers("service") if group_of(t) == "cli"]
    assert not bad, bad


def test_verification_never_imports_backends_or_the_service():
    verification = [*_importers("verify"), *_importers("trust"), *_importers("certificates")]
    bad = [(n, t) for n, t in verification if group_of(t) in ("backends", "service", "cli")]
    assert not bad, bad


def test_the_strict_checker_sees_lazy_imports(tmp_path):
    # The rules above would be empty promises if imports inside functions escaped them.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n    from jura_trust.cli import main\n    import jura_trust.service\n"
    )
    assert imported(sample) == ["cli", "service"]


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

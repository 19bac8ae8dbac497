"""The one loader for external test vectors (see tests/vectors/PROVENANCE.md)."""

from __future__ import annotations

from pathlib import Path

VECTORS = Path(__file__).parent / "vectors"
KSI = VECTORS / "ksi"
DCC = VECTORS / "dcc"


def ksi_path(relative: str) -> Path:
    """Path of a KSI vector, relative to tests/vectors/ksi/."""
    path = KSI / relative
    if not path.is_file():
        raise FileNotFoundError(f"missing KSI vector {relative}")
    return path


def ksi_bytes(relative: str) -> bytes:
    """Bytes of a KSI vector, relative to tests/vectors/ksi/."""
    return ksi_path(relative).read_bytes()


def dcc_path(relative: str) -> Path:
    """Path of a DCC vector, relative to tests/vectors/dcc/."""
    path = DCC / relative
    if not path.is_file():
        raise FileNotFoundError(f"missing DCC vector {relative}")
    return path

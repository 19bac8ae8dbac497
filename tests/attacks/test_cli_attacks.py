"""Attacks on the command line's trust assembly and document handling.

``verify`` without ``--document`` compares the file beside SIG; a planted
FIFO, directory or dangling symlink there must not turn into a quiet
"document NOT COMPARED" OK. Flag combinations must never make ``verify``
trust something it did not check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs
import pytest

from jura_trust import cli, pki
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend

T0 = 1_700_000_000


@attrs.frozen
class Run:
    rc: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, object]:
        loaded = json.loads(self.out)
        assert isinstance(loaded, dict)
        return loaded


@pytest.fixture
def run(monkeypatch, capsys, tmp_path):  # type: ignore[no-untyped-def]
    clock = ManualClock(T0)
    monkeypatch.delenv(cli.HOME_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(
        cli, "EmbeddedBackend", lambda home, **kw: EmbeddedBackend(home, clock=clock, **kw)
    )

    def _run(*argv: object) -> Run:
        capsys.readouterr()
        rc = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Run(rc, out, err)

    return _run


@pytest.fixture
def signed(run, tmp_path: Path) -> tuple[Path, Path, Path]:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"the original report")
    r = run("sign", doc, "--home", home)
    assert r.rc == 0, r.err
    return home, doc, Path(f"{doc}.ksig")


def test_document_beside_sig_is_compared(run, signed) -> None:  # type: ignore[no-untyped-def]
    home, doc, sig = signed
    ok = run("verify", sig, "--home", home, "--json")
    assert ok.rc == 0, ok.out
    assert ok.json["document_checked"] is True
    doc.write_bytes(b"an altered report")
    bad = run("verify", sig, "--home", home, "--json")
    assert bad.rc == 1
    assert bad.json["code"] == "GEN-01"


@pytest.mark.parametrize("kind", ["fifo", "directory", "dangling-symlink"])
def test_attack_document_beside_sig_replaced_by_non_regular_file(  # type: ignore[no-untyped-def]
    run, signed, tmp_path: Path, kind: str
) -> None:
    """The altered document is swapped for a FIFO, a directory or a dangling
    symlink: verify must refuse to read it (typed error), never say OK with
    "document NOT COMPARED".
    """
    home, doc, sig = signed
    doc.unlink()
    if kind == "fifo":
        os.mkfifo(doc)
    elif kind == "directory":
        doc.mkdir()
    else:
        doc.symlink_to(tmp_path / "gone")
    r = run("verify", sig, "--home", home, "--json")
    assert r.rc == 3, r.out
    assert r.json["outcome"] is None
    error = r.json["error"]
    assert isinstance(error, dict)
    assert error["code"] == ("FMT-19" if kind == "dangling-symlink" else "FMT-20")


def test_no_document_beside_sig_says_not_compared(run, signed) -> None:  # type: ignore[no-untyped-def]
    home, doc, sig = signed
    doc.unlink()
    r = run("verify", sig, "--home", home, "--json")
    assert r.rc == 0
    assert r.json["document_checked"] is False
    human = run("verify", sig, "--home", home)
    assert "NOT COMPARED" in human.out


def test_explicit_publications_file_never_falls_back_to_home_trust(  # type: ignore[no-untyped-def]
    run, signed, tmp_path: Path
) -> None:
    """An explicit file that fails its check is an error, not the home's file."""
    home, _doc, sig = signed
    with EmbeddedBackend(home, clock=ManualClock(T0), create=False) as backend:
        data = bytearray(backend.publications_file_bytes)
    data[20] ^= 1  # inside the signed part: the CMS signature breaks
    forged = tmp_path / "pub.bin"
    forged.write_bytes(bytes(data))
    r = run("verify", sig, "--home", home, "--publications-file", forged, "--json")
    assert r.rc in (3, 4), r.out
    assert r.json["outcome"] is None


def test_cert_constraint_without_anchor_keeps_the_users_constraint(  # type: ignore[no-untyped-def]
    run, signed, tmp_path: Path
) -> None:
    """--publications-file with --cert-constraint but no anchor: the home's
    publisher certificate is the anchor, but the user's constraint is kept."""
    home, _doc, sig = signed
    with EmbeddedBackend(home, clock=ManualClock(T0), create=False) as backend:
        data = backend.publications_file_bytes
    pub = tmp_path / "pub.bin"
    pub.write_bytes(data)
    r = run(
        "verify", sig, "--home", home, "--publications-file", pub,
        "--cert-constraint", "E=someone-else@example.org", "--json",
    )  # fmt: skip
    assert r.rc == 4, r.out
    error = r.json["error"]
    assert isinstance(error, dict)
    assert error["code"] == "PKI-04"


def test_trust_anchor_without_file_is_a_usage_error(  # type: ignore[no-untyped-def]
    run, signed, tmp_path: Path
) -> None:
    home, _doc, sig = signed
    with EmbeddedBackend(home, clock=ManualClock(T0), create=False) as backend:
        pem = pki.certificate_pem(backend.publisher_certificate)  # type: ignore[arg-type]
    anchor = tmp_path / "anchor.pem"
    anchor.write_bytes(pem)
    r = run("verify", sig, "--home", home, "--trust-anchor", anchor, "--json")
    assert r.rc == 64, r.out

"""Files jura_trust writes and reads (issue 9, items 9 and 10).

Writes go through one helper (``jura_trust._files.write_atomic``): a private
temporary file in the target's directory, fsync, rename. A planted
``FILE.tmp`` symlink (the name the old code wrote through) must never be
followed. Reads of documents and signatures refuse anything but a regular
file (FMT-20) instead of blocking on a FIFO or reading /dev/zero forever.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jura_trust import _files, cli
from jura_trust.api import hash_file, load_signature
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.certificates.registry import DirectorySealRegistry, FileSealRegistry
from jura_trust.core.hashing import Imprint
from jura_trust.errors import ErrorCode, FormatError

T0 = 1_700_000_000
PRECIOUS = b"the attacker wants this overwritten\n"
#: A bound on each subprocess, so a blocking read fails the test instead of hanging it.
TIMEOUT = 60


@pytest.fixture
def run(monkeypatch, capsys):
    clock = ManualClock(T0)
    monkeypatch.setattr(
        cli, "EmbeddedBackend", lambda home, **kw: EmbeddedBackend(home, clock=clock, **kw)
    )

    def _run(*argv: object) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return rc, out, err

    return _run


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(PRECIOUS)
    return victim


def _no_temporaries(directory: Path) -> None:
    assert not [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# -- item 9: planted temporary-file symlinks ---------------------------------------------


def test_sign_does_not_follow_planted_tmp_symlink(run, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"to be signed")
    victim = _victim(tmp_path)
    planted = tmp_path / "doc.txt.ksig.tmp"
    planted.symlink_to(victim)
    rc, _, err = run("sign", doc, "--home", tmp_path / "home")
    assert rc == 0, err
    assert victim.read_bytes() == PRECIOUS
    assert planted.is_symlink()  # left alone, not written through
    sig = load_signature(tmp_path / "doc.txt.ksig")
    assert sig.document_hash == Imprint.hash(b"to be signed")
    assert stat.S_ISREG(os.lstat(tmp_path / "doc.txt.ksig").st_mode)


def test_sign_replaces_a_symlink_at_the_target_instead_of_writing_through_it(run, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"to be signed")
    victim = _victim(tmp_path)
    (tmp_path / "doc.txt.ksig").symlink_to(victim)
    assert run("sign", doc, "--home", tmp_path / "home")[0] == 64  # exists: needs --force
    assert victim.read_bytes() == PRECIOUS
    assert run("sign", doc, "--home", tmp_path / "home", "--force")[0] == 0
    assert victim.read_bytes() == PRECIOUS
    assert not (tmp_path / "doc.txt.ksig").is_symlink()


def test_extend_does_not_follow_planted_tmp_symlink(run, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"to be extended")
    home = tmp_path / "home"
    assert run("sign", doc, "--home", home)[0] == 0
    assert run("publish", "--home", home)[0] == 0
    victim = _victim(tmp_path)
    (tmp_path / "doc.txt.ksig.tmp").symlink_to(victim)
    rc, _, err = run("extend", tmp_path / "doc.txt.ksig", "--home", home)
    assert rc == 0, err
    assert victim.read_bytes() == PRECIOUS
    assert load_signature(tmp_path / "doc.txt.ksig").is_extended


def test_backend_home_writes_do_not_follow_planted_tmp_symlinks(tmp_path):
    """Keys, certificates and publications.bin: the old `.tmp` names are ignored."""
    home = tmp_path / "home"
    home.mkdir()
    names = [
        "calendar-key.pem",
        "calendar-cert.pem",
        "publisher-key.pem",
        "publisher-cert.pem",
        "publications.bin",
    ]
    victims = {}
    for name in names:
        victim = tmp_path / f"victim-{name}"
        victim.write_bytes(PRECIOUS)
        victims[name] = victim
        (home / f"{Path(name).stem}{Path(name).suffix}.tmp").symlink_to(victim)
    clock = ManualClock(T0)
    with EmbeddedBackend(home, clock=clock) as backend:
        backend.sign(Imprint.hash(b"x"))
        backend.publish()
    for victim in victims.values():
        assert victim.read_bytes() == PRECIOUS
    for name in names:
        assert stat.S_ISREG(os.lstat(home / name).st_mode)
    assert stat.S_IMODE(os.stat(home / "calendar-key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home / "publisher-key.pem").st_mode) == 0o600


def test_seal_registries_do_not_follow_planted_tmp_symlinks(tmp_path):
    victim = _victim(tmp_path)
    directory = DirectorySealRegistry(tmp_path / "seals")
    seal_id = bytes(range(16))
    target = directory._file(seal_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.with_suffix(".cbor.tmp").symlink_to(victim)
    directory.put(seal_id, b"record")
    assert directory.get(seal_id) == b"record"
    single = tmp_path / "seals.cbor"
    (tmp_path / "seals.cbor.tmp").symlink_to(victim)
    FileSealRegistry.write(single, {seal_id: b"record"})
    assert FileSealRegistry(single).get(seal_id) == b"record"
    assert victim.read_bytes() == PRECIOUS


def test_write_atomic_leaves_no_temporary_and_sets_the_mode(tmp_path):
    target = tmp_path / "f.bin"
    _files.write_atomic(target, b"one")
    _files.write_atomic(target, b"two", _files.PRIVATE_MODE)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    _no_temporaries(tmp_path)
    with pytest.raises(OSError):
        _files.write_atomic(tmp_path / "missing-dir" / "f.bin", b"x")
    (tmp_path / "is-a-dir").mkdir()
    with pytest.raises(OSError):
        _files.write_atomic(tmp_path / "is-a-dir", b"x")
    _no_temporaries(tmp_path)


# -- item 10: FIFOs and devices -----------------------------------------------------------


def _jura_trust(*argv: object, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: PLW1510 - the exit status is asserted
        [sys.executable, "-m", "jura_trust.cli", *map(str, argv)],
        capture_output=True,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        timeout=TIMEOUT,
    )


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_sign_refuses_a_fifo_instead_of_blocking(tmp_path, fifo):
    r = _jura_trust("sign", fifo, "--home", tmp_path / "home")
    assert r.returncode == 3, r.stderr
    assert b"[FMT-20]" in r.stderr
    assert b"FIFO" in r.stderr
    assert not (tmp_path / "pipe.ksig").exists()


def test_sign_refuses_dev_zero_instead_of_reading_forever(tmp_path):
    r = _jura_trust("sign", "/dev/zero", "-o", tmp_path / "z.ksig", "--home", tmp_path / "home")
    assert r.returncode == 3, r.stderr
    assert b"[FMT-20]" in r.stderr
    assert not (tmp_path / "z.ksig").exists()


def test_verify_refuses_a_fifo_or_a_device_as_signature_or_document(tmp_path, fifo):
    assert _jura_trust("verify", fifo, "--home", tmp_path / "h").returncode == 3
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"doc")
    home = tmp_path / "home"
    assert _jura_trust("sign", doc, "--home", home).returncode == 0
    r = _jura_trust("verify", f"{doc}.ksig", "--document", "/dev/zero", "--home", home)
    assert r.returncode == 3
    assert b"[FMT-20]" in r.stderr


def test_hash_file_and_load_signature_refuse_non_regular_files(tmp_path, fifo):
    for path in (fifo, Path("/dev/zero"), tmp_path):
        with pytest.raises(FormatError) as info:
            hash_file(path)
        assert info.value.code is ErrorCode.FMT_NOT_REGULAR
        with pytest.raises(FormatError) as info:
            load_signature(path)
        assert info.value.code is ErrorCode.FMT_NOT_REGULAR
    # a symlink to a regular file is still a regular file
    real = tmp_path / "real.txt"
    real.write_bytes(b"abc")
    (tmp_path / "link.txt").symlink_to(real)
    assert hash_file(tmp_path / "link.txt") == Imprint.hash(b"abc")


def test_sign_reads_standard_input_only_when_asked(run, tmp_path):
    home = tmp_path / "home"
    data = b"streamed document\n"
    r = _jura_trust("sign", "-", "-o", tmp_path / "stdin.ksig", "--home", home, stdin=data)
    assert r.returncode == 0, r.stderr
    sig = load_signature(tmp_path / "stdin.ksig")
    assert sig.document_hash == Imprint.hash(data)
    ok = _jura_trust(
        "verify", tmp_path / "stdin.ksig", "--document", "-", "--policy", "key", "--home", home,
        stdin=data,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # without a destination, or twice, or --output with several files: usage errors
    assert run("sign", "-", "--home", home)[0] == 64
    assert run("sign", "-", "-", "-o", tmp_path / "x.ksig", "--home", home)[0] == 64
    two = [tmp_path / "a", tmp_path / "b"]
    for p in two:
        p.write_bytes(b"x")
    assert run("sign", *two, "-o", tmp_path / "x.ksig", "--home", home)[0] == 64

"""Issue 15 item 4: a home, config file or key file other users could change is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jura_trust import _files
from jura_trust.backends.home import check_config_file, check_home, check_secret_file
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.service.config import load_config, parse_login_file
from tests.service.server import ServerProcess


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def unsafe(fn: object) -> BackendError:
    with pytest.raises(BackendError) as info:
        fn()  # type: ignore[operator]
    assert info.value.code is ErrorCode.SVC_UNSAFE_FILE
    return info.value


def test_world_writable_home_refused(tmp_path: Path):
    home = private_dir(tmp_path / "home")
    assert check_home(home) == []
    home.chmod(0o777)
    error = unsafe(lambda: check_home(home))
    assert "writable by other users" in error.message
    assert check_home(home, allow_unsafe=True)  # returned as warnings
    home.chmod(0o770)  # group-writable too
    unsafe(lambda: check_home(home))
    # a writable directory above the home (not sticky) lets others swap it
    home.chmod(0o700)
    tmp_path.chmod(0o777)
    try:
        unsafe(lambda: check_home(home))
        tmp_path.chmod(0o1777)  # sticky, as /tmp: fine above a home
        assert check_home(home) == []
    finally:
        tmp_path.chmod(0o700)


def test_world_writable_home_refused_by_serve(tmp_path: Path):
    home = private_dir(tmp_path / "home")
    home.chmod(0o777)
    srv = ServerProcess(home)
    with pytest.raises(RuntimeError) as info:
        srv.start()
    assert "SVC-12" in str(info.value)
    assert srv.proc is not None and srv.proc.wait(10) == 4
    srv.stop()
    with ServerProcess(home, "--allow-unsafe-home") as accepted:
        assert accepted.url
    assert any("UNSAFE" in line and "writable" in line for line in accepted.lines)


def test_group_readable_config_with_keys_refused(tmp_path: Path):
    config = tmp_path / "service.toml"
    config.write_text('[[login]]\nname = "a"\nkey = "secret"\n')
    config.chmod(0o640)
    error = unsafe(lambda: load_config(config, home=tmp_path))
    assert "readable by other users" in error.message
    config.chmod(0o604)
    unsafe(lambda: load_config(config, home=tmp_path))
    assert load_config(config, home=tmp_path, allow_unsafe=True).allow_unsafe_home
    config.chmod(0o600)
    assert load_config(config, home=tmp_path).login("a") is not None
    # without keys in it, others may read it, but never write it
    keyless = tmp_path / "keyless.toml"
    keyless.write_text('[server]\nround_ms = 1000\n[[login]]\nname = "a"\nkey_env = "X_JT"\n')
    keyless.chmod(0o644)
    assert check_config_file(keyless, holds_keys=False) == []
    keyless.chmod(0o666)
    unsafe(lambda: check_config_file(keyless, holds_keys=False))


def test_group_readable_login_key_file_refused(tmp_path: Path):
    key = tmp_path / "canton.key"
    key.write_bytes(b"secret\n")
    key.chmod(0o644)
    unsafe(lambda: parse_login_file(f"canton:{key}"))
    key.chmod(0o600)
    assert parse_login_file(f"canton:{key}").key == b"secret"


def test_symlinked_key_file_refused(tmp_path: Path):
    home = private_dir(tmp_path / "home")
    with EmbeddedBackend(home):  # creates the keys, 0600
        pass
    key = home / "calendar-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert check_home(home) == []
    elsewhere = private_dir(tmp_path / "elsewhere") / "planted-key.pem"
    elsewhere.write_bytes(key.read_bytes())
    elsewhere.chmod(0o600)
    key.unlink()
    key.symlink_to(elsewhere)
    error = unsafe(lambda: check_home(home))
    assert "symbolic link" in error.message
    srv = ServerProcess(home)
    with pytest.raises(RuntimeError) as info:
        srv.start()
    assert "SVC-12" in str(info.value)
    srv.stop()
    # a configured key file may be a link (outside a home), but not readable by others
    assert check_secret_file(key, "calendar key") == []
    elsewhere.chmod(0o640)
    unsafe(lambda: check_secret_file(key, "calendar key"))


def test_key_readable_by_others_in_home_refused(tmp_path: Path):
    home = private_dir(tmp_path / "home")
    with EmbeddedBackend(home):
        pass
    (home / "publisher-key.pem").chmod(0o644)
    error = unsafe(lambda: check_home(home))
    assert "holds a key" in error.message


def test_writes_in_a_home_never_follow_symlinks(tmp_path: Path):
    home = private_dir(tmp_path / "home")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"untouched")
    link = home / "publications.bin"
    link.symlink_to(victim)
    _files.write_atomic(link, b"new", _files.PRIVATE_MODE)
    assert victim.read_bytes() == b"untouched"  # the link was replaced, not followed
    assert not link.is_symlink()
    assert link.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(link).st_mode) == 0o600

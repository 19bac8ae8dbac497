"""Service configuration: TOML, overrides, validation, publication schedules."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from jura_trust._value import evolve
from jura_trust.errors import BackendError, ErrorCode
from jura_trust.service.config import (
    DEFAULT_BURST,
    DEFAULT_LISTEN,
    Schedule,
    ServiceConfig,
    load_config,
    parse_listen,
    parse_login,
)


def test_defaults_listen_on_loopback(tmp_path: Path):
    config = load_config(None, home=tmp_path)
    assert config.listen == DEFAULT_LISTEN == ("127.0.0.1", 8080)
    assert config.round_ms == 1000
    assert str(config.schedule) == "monthly:15"
    assert config.calendar_store_path == tmp_path / "calendar.sqlite"
    with pytest.raises(BackendError) as info:
        config.check_ready()
    assert info.value.code is ErrorCode.SVC_CONFIG


def test_full_file_and_overrides(tmp_path: Path):
    (tmp_path / "service.toml").write_text(
        """
[server]
listen = "[::1]:9000"
home = "state"
round_ms = 1500
max_level = 10

[publisher]
schedule = "every 10m"
email = "pub@example.org"

[store]
path = "db/calendar.sqlite"

[limits]
rate = 50

[[login]]
name = "anon"
key = "anon"

[[login]]
name = "bulk"
key = "k:with:colons"
rate = 1000
burst = 5000
"""
    )
    (tmp_path / "service.toml").chmod(0o600)
    config = load_config(tmp_path / "service.toml", home=tmp_path / "ignored")
    assert config.listen == ("::1", 9000)
    assert config.home == tmp_path / "state"
    assert config.calendar_store_path == tmp_path / "db" / "calendar.sqlite"
    assert config.schedule == Schedule("interval", interval=600)
    anon, bulk = config.logins
    assert (anon.rate, anon.burst) == (50, DEFAULT_BURST)
    assert (bulk.key, bulk.rate, bulk.burst) == (b"k:with:colons", 1000, 5000)
    over = config.with_overrides(
        listen="127.0.0.1:0", round_ms=2000, logins=["anon:new", "x:y"], schedule="off"
    )
    assert over.listen == ("127.0.0.1", 0)
    assert over.round_ms == 2000
    assert [(login.name, login.key) for login in over.logins] == [
        ("bulk", b"k:with:colons"),
        ("anon", b"new"),
        ("x", b"y"),
    ]
    over.check_ready()


@pytest.mark.parametrize(
    "text",
    [
        "[server]\nround_ms = 0\n",
        "[server]\nround_ms = 999\n",
        "[server]\nround_ms = 'fast'\n",
        "[server]\nmax_request_bytes = 99999999\n",
        "[server]\nmax_level = 250\n",
        "[server]\nunknown = 1\n",
        "[nonsense]\n",
        "[store]\nengine = 'postgres'\n",
        "[calendar]\nkey = 'only-a-key.pem'\n",
        "[publisher]\nschedule = 'sometimes'\n",
        "[[login]]\nname = 'a b'\nkey = 'k'\n",
        "[[login]]\nname = 'a'\nkey = ''\n",
        "[[login]]\nname = 'a'\nkey = 'k'\nrate = -1\n",
        "[[login]]\nname = 'a'\nkey = 'k'\n[[login]]\nname = 'a'\nkey = 'j'\n",
        "not toml at all [",
    ],
)
def test_bad_files_are_refused(tmp_path: Path, text: str):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(BackendError) as info:
        load_config(path, home=tmp_path)
    assert info.value.code is ErrorCode.SVC_CONFIG


def test_listen_and_login_parsing():
    assert parse_listen("0.0.0.0:1") == ("0.0.0.0", 1)
    for bad in ("nohost", ":80", "h:99999", "h:x"):
        with pytest.raises(BackendError):
            parse_listen(bad)
    assert parse_login("a:b:c").key == b"b:c"
    with pytest.raises(BackendError, match="NAME:KEY") as info:
        parse_login("secret-without-name")
    assert "secret" not in info.value.message


def test_monthly_schedule_is_the_15th_at_midnight_utc():
    s = Schedule.parse("monthly")
    t = calendar.timegm((2024, 3, 15, 0, 0, 0))
    assert s.next_after(t - 1) == t
    assert s.next_after(t) == calendar.timegm((2024, 4, 15, 0, 0, 0))
    assert s.last_at_or_before(t) == t
    assert s.last_at_or_before(t - 1) == calendar.timegm((2024, 2, 15, 0, 0, 0))
    dec = calendar.timegm((2024, 12, 20, 0, 0, 0))
    assert s.next_after(dec) == calendar.timegm((2025, 1, 15, 0, 0, 0))
    assert Schedule.parse("monthly:1").next_after(dec) == calendar.timegm((2025, 1, 1, 0, 0, 0))
    assert Schedule.parse("off").next_after(dec) is None


def test_interval_schedules():
    s = Schedule.parse("every 2s")
    assert s.next_after(11) == 12
    assert s.next_after(12) == 14
    assert s.last_at_or_before(13) == 12
    assert Schedule.parse("daily").next_after(5) == 86_400
    assert Schedule.parse("every 3h").interval == 3 * 3600


def test_config_values_are_checked_in_code_too(tmp_path: Path):
    with pytest.raises(BackendError):
        ServiceConfig(home=tmp_path, round_ms=MAX + 1)


@pytest.mark.parametrize("round_ms", [1, 100, 999])
def test_sub_second_round_option_that_merged_silently_is_refused(tmp_path: Path, round_ms: int):
    """Issue 10 item 3: ``round_ms`` below 1000 was accepted but, under load, merged
    into one round per calendar second; the option now says what the service does."""
    with pytest.raises(BackendError) as info:
        ServiceConfig(home=tmp_path, round_ms=round_ms)
    assert info.value.code is ErrorCode.SVC_CONFIG
    assert "1000..60000" in info.value.message


MAX = 60_000


def test_login_keys_from_files_and_the_environment(tmp_path: Path, monkeypatch):
    key_file = tmp_path / "canton.key"
    key_file.write_bytes(b"from-a-file\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("JT_KEY_OF_BOB", "from-the-env")
    config_file = tmp_path / "c.toml"
    config_file.write_text(
        '[[login]]\nname = "canton"\nkey_file = "canton.key"\n'
        '[[login]]\nname = "bob"\nkey_env = "JT_KEY_OF_BOB"\n'
    )
    config_file.chmod(0o600)
    config = load_config(config_file, home=tmp_path)
    assert config.login("canton").key == b"from-a-file"  # type: ignore[union-attr]
    assert config.login("bob").key == b"from-the-env"  # type: ignore[union-attr]
    over = ServiceConfig(home=tmp_path).with_overrides(
        login_files=[f"carol:{key_file}"], login_envs=["dave:JT_KEY_OF_BOB"]
    )
    assert over.login("carol").key == b"from-a-file"  # type: ignore[union-attr]
    assert over.login("dave").key == b"from-the-env"  # type: ignore[union-attr]
    for bad in (
        lambda: ServiceConfig(home=tmp_path).with_overrides(login_envs=["eve:JT_UNSET_VAR_X"]),
        lambda: ServiceConfig(home=tmp_path).with_overrides(login_files=["eve:/nonexistent"]),
    ):
        with pytest.raises(BackendError) as info:
            bad()
        assert info.value.code is ErrorCode.SVC_CONFIG
    config_file.write_text('[[login]]\nname = "x"\nkey = "a"\nkey_env = "JT_KEY_OF_BOB"\n')
    with pytest.raises(BackendError):
        load_config(config_file, home=tmp_path)


def test_configuration_announces_small_real_values(tmp_path: Path):
    config = ServiceConfig(home=tmp_path, max_level=32, round_ms=1000)
    assert config.announced_max_level == 17
    assert config.aggregation_period_ms == 1000
    assert ServiceConfig(home=tmp_path, round_ms=1500).aggregation_period_ms == 1500
    assert ServiceConfig(home=tmp_path, max_level=4).announced_max_level == 4
    login = parse_login("a:b")
    assert 1 <= login.announced_max_requests(1000) <= 1024
    slow = evolve(login, rate=2.0, burst=5)
    assert slow.announced_max_requests(1000) == 2
    tcp = load_config(None, home=tmp_path).with_overrides(tcp_listen="127.0.0.1:0")
    assert tcp.tcp_listen == ("127.0.0.1", 0)

"""Configuration of the PostgreSQL and child-aggregator deployments (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jura_trust.errors import BackendError, ErrorCode
from jura_trust.service.config import ServiceConfig, load_config

DSN = "postgresql://jura@db.example:5432/jura"


def test_store_option_takes_a_dsn_or_a_file(tmp_path: Path) -> None:
    base = ServiceConfig(home=tmp_path)
    pg = base.with_overrides(store=DSN)
    assert (pg.store_engine, pg.store_dsn) == ("postgresql", DSN)
    sqlite = pg.with_overrides(store=str(tmp_path / "c.sqlite"))
    assert (sqlite.store_engine, sqlite.store_dsn) == ("sqlite", None)
    assert sqlite.calendar_store_path == tmp_path / "c.sqlite"
    replica = base.with_overrides(read_store=DSN)
    assert (replica.store_engine, replica.read_dsn, replica.store_dsn) == ("postgresql", DSN, None)


def test_parent_credentials_leave_the_url(tmp_path: Path) -> None:
    config = ServiceConfig(home=tmp_path).with_overrides(
        parents=["http://dept:s3cret@central-1:8080/aggregator", "http://central-2:8080/aggregator"]
    )
    assert config.parents == (
        "http://central-1:8080/aggregator",
        "http://central-2:8080/aggregator",
    )
    assert config.parent_login is not None
    assert (config.parent_login.name, config.parent_login.key) == ("dept", b"s3cret")
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[store]\ndsn = "sqlite:///x"\n', "postgresql://"),
        ('[store]\nengine = "postgresql"\n', "needs [store] dsn"),
        ('[store]\nengine = "oracle"\n', "not available"),
        ('[parent]\nurls = ["http://p/aggregator"]\n', "login"),
        (
            '[store]\ndsn = "postgresql://a@b/c"\n[parent]\nurls = ["http://p/aggregator"]\n'
            'login = "x"\nkey = "y"\n',
            "keeps no calendar store",
        ),
        ('[parent]\nurls = ["ftp://p/"]\nlogin = "x"\nkey = "y"\n', "not an http"),
        ("[parent]\nurls = []\n", "non-empty list"),
    ],
)
def test_bad_deployment_configuration_is_refused_with_svc_08(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "service.toml"
    path.write_text(toml)
    with pytest.raises(BackendError) as info:
        load_config(path, home=tmp_path)
    assert info.value.code is ErrorCode.SVC_CONFIG
    assert message in info.value.message


def test_store_table_in_toml(tmp_path: Path) -> None:
    path = tmp_path / "service.toml"
    path.write_text(f'[store]\ndsn = "{DSN}"\nread_dsn = "{DSN}"\nmember = "node-a"\n')
    config = load_config(path, home=tmp_path)
    assert (config.store_engine, config.store_dsn, config.read_dsn) == ("postgresql", DSN, DSN)
    assert config.member == "node-a"
    assert DSN not in repr(config)  # a DSN may carry a password

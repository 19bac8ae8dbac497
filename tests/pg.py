"""The PostgreSQL the tests run against: a DSN from ``JURA_TRUST_TEST_PG``.

CI starts a throwaway cluster with ``.ci/start-postgres.sh`` and exports its
DSN. Without the variable a test that needs PostgreSQL *fails* in CI
(``CI`` set) and is skipped only on a developer's machine, saying how to
start one::

    eval "$(.ci/start-postgres.sh start)"
    .venv/bin/python -m pytest -q tests/backends
    .ci/start-postgres.sh stop "$JURA_TRUST_PG_DIR"

Each test gets its own schema (``search_path`` in the DSN), so tests run in
parallel on one database and leave nothing behind.
"""

from __future__ import annotations

import os
import urllib.parse
import uuid

import pytest

ENV = "JURA_TRUST_TEST_PG"


def base_dsn() -> str:
    """The test cluster's DSN; fails in CI and skips elsewhere when it is not set."""
    dsn = os.environ.get(ENV)
    if dsn:
        return dsn
    if os.environ.get("CI"):
        pytest.fail(f"{ENV} is not set in CI: .ci/run must start PostgreSQL")
    pytest.skip(
        f"PostgreSQL test (CI unset and {ENV} not set; start one with "
        '`eval "$(.ci/start-postgres.sh start)"`)'
    )


def with_schema(dsn: str, schema: str) -> str:
    """``dsn`` with ``search_path`` set to ``schema``."""
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}options={urllib.parse.quote(f'-csearch_path={schema}')}"


def new_schema_dsn() -> tuple[str, str]:
    """A DSN whose objects live in a new, empty schema: ``(dsn, schema)``."""
    import psycopg

    base = base_dsn()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return with_schema(base, schema), schema


def drop_schema(schema: str) -> None:
    """Drop a schema made by :func:`new_schema_dsn` (and everything in it)."""
    import psycopg

    with psycopg.connect(base_dsn(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

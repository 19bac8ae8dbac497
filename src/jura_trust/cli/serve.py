"""``serve`` (the local KSI service) and ``demo``."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from jura_trust.cli import _common as c

__all__ = ["register"]


def _cmd_serve(args: argparse.Namespace) -> int:
    from jura_trust.service.command import run  # noqa: PLC0415 - aiohttp only when serving

    return run(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from jura_trust import _demo  # noqa: PLC0415 - only the demo needs it

    home = Path(args.home) if args.home else None
    if home is None:
        with tempfile.TemporaryDirectory(prefix="jura-trust-demo-") as tmp:
            return _demo.run(Path(tmp))
    return _demo.run(home)


def _cmd_store_migrate(args: argparse.Namespace) -> int:
    dsn = args.store
    if dsn is None and args.config is not None:
        from jura_trust.service.config import load_config  # noqa: PLC0415 - 'service' extra

        dsn = load_config(args.config, home=c.default_home()).store_dsn
    if dsn is None or not dsn.startswith(("postgresql://", "postgres://")):
        raise c.UsageError("store migrate needs --store postgresql://... (or [store] dsn)")
    from jura_trust.backends.postgres import migrate_dsn  # noqa: PLC0415 - the 'postgres' extra

    before, after = migrate_dsn(dsn)
    if args.json:
        c.print_json({"schema_version_before": before, "schema_version": after})
    elif before == after:
        print(f"schema version {after}: up to date")
    else:
        print(f"schema version {before} -> {after}")
    return 0


def register(sub: Any) -> None:
    """Add ``serve`` and ``demo`` to the ``jura-trust`` subparsers."""
    from jura_trust.service.command import add_arguments  # noqa: PLC0415

    p = sub.add_parser("demo", help="sign and verify a sample document end to end")
    c.add_home(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("serve", help="run the local KSI service (aggregator, extender, publisher)")
    add_arguments(p)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("store", help="calendar store maintenance (PostgreSQL)")
    store_sub = p.add_subparsers(dest="store_command", required=True)
    q = store_sub.add_parser(
        "migrate", help="create or upgrade the PostgreSQL schema (serve also does it)"
    )
    q.add_argument("--store", metavar="DSN", help="postgresql://USER@HOST:PORT/DB")
    q.add_argument("--config", metavar="FILE", help="take [store] dsn from this TOML file")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_cmd_store_migrate)

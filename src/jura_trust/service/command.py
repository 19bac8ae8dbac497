"""The options of ``jura-trust serve`` and ``python -m jura_trust.service``.

Importable without the ``service`` extra: :func:`run` says which extra to
install when aiohttp is missing. The command line registers these options
(``jura_trust.cli.serve``); the service never imports the command line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from jura_trust.backends.home import HOME_ENV, default_home
from jura_trust.errors import ErrorCode, JuraError

__all__ = ["MISSING_EXTRA", "add_arguments", "run"]

#: The message when aiohttp is not installed.
MISSING_EXTRA = "the local service needs the 'service' extra: pip install 'jura-trust[service]'"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the service's options to ``p``."""
    p.add_argument("--config", metavar="FILE", help="TOML configuration (docs/service.md)")
    p.add_argument("--listen", metavar="HOST:PORT", help="default 127.0.0.1:8080 (port 0: any)")
    p.add_argument(
        "--round-ms", type=int, metavar="N", help="round length in ms, 1000..60000 (default 1000)"
    )
    p.add_argument(
        "--tcp-listen",
        metavar="HOST:PORT",
        help="also serve raw PDUs over TCP (ksi+tcp://) on HOST:PORT (port 0: any)",
    )
    p.add_argument(
        "--login",
        action="append",
        default=[],
        metavar="NAME:KEY",
        help="a client login and its HMAC key (repeatable; the key shows in ps: "
        "prefer --login-file or --login-env)",
    )
    p.add_argument(
        "--login-file",
        action="append",
        default=[],
        metavar="NAME:PATH",
        help="a client login whose HMAC key is the content of PATH (repeatable)",
    )
    p.add_argument(
        "--login-env",
        action="append",
        default=[],
        metavar="NAME:VARIABLE",
        help="a client login whose HMAC key is in the environment variable (repeatable)",
    )
    p.add_argument(
        "--publish-schedule",
        metavar="SPEC",
        help="monthly[:DAY] (default monthly:15), daily, every N(s|m|h|d), off",
    )
    p.add_argument(
        "--store",
        metavar="DSN|FILE",
        help="the calendar store: postgresql://USER@HOST:PORT/DB (several serve processes "
        "share it, one calendar writer) or an SQLite file (default HOME/calendar.sqlite)",
    )
    p.add_argument(
        "--read-store",
        metavar="DSN",
        help="a PostgreSQL read replica to extend from (alone: only extend and serve "
        "the publications file)",
    )
    p.add_argument(
        "--parent",
        action="append",
        default=[],
        metavar="URL",
        help="run as a child aggregator of this KSI aggregator (repeatable: failover "
        "in order); credentials in the URL (http://LOGIN:KEY@host/...) or --parent-login",
    )
    p.add_argument(
        "--parent-login",
        metavar="NAME:PATH",
        help="the login at the parents and the file holding its HMAC key",
    )
    page = p.add_argument_group("the residents' page (GET /) and its API (docs/residents.md)")
    page.add_argument("--qr-trust-list", metavar="FILE", help="signed JT1 trust list")
    page.add_argument(
        "--qr-trust-root",
        action="append",
        default=[],
        metavar="PEM",
        help="a root public key of the trust list (repeatable)",
    )
    page.add_argument("--qr-seals", metavar="DIR|FILE|URL", help="JT1 seal registry")
    page.add_argument("--qr-revocations", metavar="FILE", help="signed JT1 revocation list")
    page.add_argument("--no-page", action="store_true", help="do not serve the page and its API")
    p.add_argument(
        "--allow-unsafe-home",
        action="store_true",
        help="start although other users can write the home or a config file, or read "
        "a file holding keys (logged as a warning; refused otherwise, SVC-12)",
    )
    p.add_argument(
        "--home",
        help=f"state directory (default: ${HOME_ENV} or ~/.local/share/jura-trust)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the service the options describe (until interrupted); 0 on a clean stop.

    Raises :class:`~jura_trust.errors.JuraError` (SVC-08) naming the extra
    to install when aiohttp is missing.
    """
    try:
        import aiohttp  # noqa: F401, PLC0415 - the optional 'service' extra
    except ModuleNotFoundError:
        raise JuraError(MISSING_EXTRA, code=ErrorCode.SVC_CONFIG) from None
    from jura_trust.service.app import serve  # noqa: PLC0415
    from jura_trust.service.config import load_config  # noqa: PLC0415

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    home = Path(args.home) if args.home else default_home()
    unsafe = bool(args.allow_unsafe_home)
    config = load_config(args.config, home=home, allow_unsafe=unsafe).with_overrides(
        home=args.home,
        listen=args.listen,
        round_ms=args.round_ms,
        logins=args.login,
        login_files=args.login_file,
        login_envs=args.login_env,
        schedule=args.publish_schedule,
        tcp_listen=args.tcp_listen,
        allow_unsafe_home=unsafe or None,
        qr_trust_list=args.qr_trust_list,
        qr_trust_roots=args.qr_trust_root,
        qr_seals=args.qr_seals,
        qr_revocations=args.qr_revocations,
        no_page=args.no_page,
        store=args.store,
        read_store=args.read_store,
        parents=args.parent,
        parent_login=args.parent_login,
    )
    serve(config)
    return 0

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


def register(sub: Any) -> None:
    """Add ``serve`` and ``demo`` to the ``jura-trust`` subparsers."""
    from jura_trust.service.command import add_arguments  # noqa: PLC0415

    p = sub.add_parser("demo", help="sign and verify a sample document end to end")
    c.add_home(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("serve", help="run the local KSI service (aggregator, extender, publisher)")
    add_arguments(p)
    p.set_defaults(func=_cmd_serve)

"""The ``jura-trust`` command: one module per command group.

* :mod:`~jura_trust.cli.ksi`: ``sign``, ``verify``, ``extend``, ``inspect``,
  ``publication``, ``publish``;
* :mod:`~jura_trust.cli.serve`: ``serve``, ``demo``;
* :mod:`~jura_trust.cli.qr`: ``qr issue``, ``qr verify``;
* :mod:`~jura_trust.cli.trustlist`: ``trustlist keygen|build|revoke|inspect``;
* :mod:`~jura_trust.cli.trust`: ``trust pin|show`` (the client configuration);
* :mod:`~jura_trust.cli._common`: exit statuses, error output, file input,
  time formats, the trust flags and :func:`trust_from_args`.

:func:`main` imports only the module of the command it runs, so a command
starts without loading what others need. Every command's ``--json``
output is described by a JSON Schema in ``jura_trust/schemas``
(docs/cli.md).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from jura_trust.cli._common import (
    EXIT_INTERNAL,
    HOME_ENV,
    KEY_ENV,
    Parser,
    UsageError,
    default_home,
    run,
    trust_from_args,
)

__all__ = [
    "EXIT_INTERNAL",
    "HOME_ENV",
    "KEY_ENV",
    "UsageError",
    "build_parser",
    "default_home",
    "main",
    "trust_from_args",
]

#: Which module registers each top-level command (in the order of ``--help``).
COMMANDS = {
    "demo": "serve",
    "sign": "ksi",
    "verify": "ksi",
    "extend": "ksi",
    "inspect": "ksi",
    "publication": "ksi",
    "publish": "ksi",
    "serve": "serve",
    "store": "serve",
    "qr": "qr",
    "trustlist": "trustlist",
    "trust": "trust",
}


class _Version(argparse.Action):
    """``--version``: the installed distribution's version (read only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kw: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            text = version("jura-trust")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            text = "unknown (not installed)"
        sys.stdout.write(f"jura-trust {text}\n")
        parser.exit(0)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests).

    With ``command`` (a top-level command name), only its module is
    imported and registered; otherwise every command is.
    """
    parser = Parser(
        prog="jura-trust",
        description="Keyless (KSI) signatures: sign, extend, verify and inspect receipts; "
        "signed QR certificates.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    everything = list(dict.fromkeys(COMMANDS.values()))
    modules = [COMMANDS[command]] if command in COMMANDS else everything
    for name in modules:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The top-level command in ``argv`` (the first word not starting with ``-``)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (see :func:`_common.run`)."""
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_of(words)).parse_args(words)
    return run(args.func, args)


def __getattr__(name: str) -> Any:
    # The embedded backend's class, imported on first use: tests replace
    # ``jura_trust.cli.EmbeddedBackend`` to give every command a manual clock.
    if name == "EmbeddedBackend":
        from jura_trust.backends.memory import EmbeddedBackend  # noqa: PLC0415

        return EmbeddedBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The ``jura-trust`` command (a package: one module per command group)."""

from jura_trust.cli.ksi import (
    EXIT_INTERNAL,
    HOME_ENV,
    KEY_ENV,
    UsageError,
    build_parser,
    default_home,
    main,
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

"""``python -m jura_trust.service [OPTIONS]``: the same as ``jura-trust serve [OPTIONS]``.

It never imports the command line; without the ``service`` extra it says
which extra to install (exit 4).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from jura_trust.errors import JuraError
from jura_trust.service.command import add_arguments, run

#: Exit status for a configuration or service error (as ``jura-trust serve``).
EXIT_ERROR = 4


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the service; print an error once, by its code."""
    parser = argparse.ArgumentParser(
        prog="python -m jura_trust.service", description="the local KSI service"
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except JuraError as exc:
        print(f"jura_trust.service: error [{exc.code.value}]: {exc.message}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())

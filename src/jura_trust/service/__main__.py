"""``python -m jura_trust.service [OPTIONS]``: the same as ``jura-trust serve [OPTIONS]``."""

from __future__ import annotations

import sys

from jura_trust.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))

"""``python -m jura_trust.cli``: the same as ``jura-trust``."""

import sys

from jura_trust.cli import main

sys.exit(main())

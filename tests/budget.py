"""How much the randomised tests do: bounded in CI, long with JURA_TRUST_LONG=1.

Every explicit hypothesis ``max_examples`` goes through :func:`scaled`, so the
long run really is longer (25 times the examples), not only the tests that
use the profile's default.
"""

import os

LONG = os.environ.get("JURA_TRUST_LONG") == "1"
#: How many times more examples the long run draws.
LONG_FACTOR = 25


def scaled(examples: int) -> int:
    """``examples`` in CI; ``LONG_FACTOR`` times as many in the long run."""
    return examples * LONG_FACTOR if LONG else examples

"""Test configuration: hypothesis profiles and the bounded-vs-long switch.

CI runs every test, bounded. ``JURA_TRUST_LONG=1`` runs the long versions
(more hypothesis examples, bigger fuzz and load runs); nothing is skipped
either way.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

LONG = os.environ.get("JURA_TRUST_LONG") == "1"

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    deadline=None,
    max_examples=5000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("long" if LONG else "default")


@pytest.fixture
def long_run() -> bool:
    """True when the long (non-CI) versions of slow tests are asked for."""
    return LONG

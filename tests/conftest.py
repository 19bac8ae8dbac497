"""Test configuration: hypothesis profiles and the bounded-vs-long switch.

CI runs every test, bounded. ``JURA_TRUST_LONG=1`` runs the long versions
(more hypothesis examples, bigger fuzz and load runs); nothing is skipped
either way.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from jura_trust.verify import _express
from tests.budget import LONG

# Every express-lane answer in the suite (and in the CLI processes it starts)
# is checked against the rule engine on the spot (jura_trust/verify/_express.py).
os.environ.setdefault("JURA_TRUST_EXPRESS_CHECK", "1")
_express.CHECK = os.environ["JURA_TRUST_EXPRESS_CHECK"] not in ("", "0")

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


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test may touch the user's real jura-trust state directory."""
    home = tmp_path_factory.mktemp("jura-home")
    monkeypatch.setenv("JURA_TRUST_HOME", str(home / "jura-trust"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    # nor read the user's client configuration (jura-trust trust pin)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    monkeypatch.delenv("JURA_TRUST_CONFIG", raising=False)

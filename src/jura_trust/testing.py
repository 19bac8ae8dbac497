"""pytest plugin: an embedded KSI backend with a controllable clock.

Installed with jura_trust (entry point ``pytest11``), so any test suite can
ask for these fixtures:

* ``ksi_clock``: a :class:`~jura_trust.backends.base.ManualClock` at
  2023-11-14T22:13:20Z; move it with ``ksi_clock.advance(seconds)``.
* ``ksi_backend``: an in-memory
  :class:`~jura_trust.backends.memory.EmbeddedBackend` on that clock.

Example::

    def test_receipt(ksi_backend, ksi_clock):
        sig = ksi_backend.sign(Imprint.hash(b"document"))
        ksi_clock.advance(3600)
        ksi_backend.publish()
        extended = ksi_backend.extend(sig)
        assert verify(extended, document=b"document", backend=ksi_backend).ok
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from jura_trust.backends.base import ManualClock
    from jura_trust.backends.memory import EmbeddedBackend

__all__ = ["START_TIME", "ksi_backend", "ksi_clock"]

#: Where ``ksi_clock`` starts (Unix seconds).
START_TIME = 1_700_000_000


@pytest.fixture
def ksi_clock() -> ManualClock:
    """A manual clock; ``advance()`` it to move time."""
    from jura_trust.backends.base import ManualClock  # noqa: PLC0415 - keep plugin import light

    return ManualClock(START_TIME)


@pytest.fixture
def ksi_backend(ksi_clock: ManualClock) -> Iterator[EmbeddedBackend]:
    """An in-memory embedded KSI backend driven by ``ksi_clock``."""
    from jura_trust.backends.memory import EmbeddedBackend  # noqa: PLC0415

    backend = EmbeddedBackend(clock=ksi_clock)
    try:
        yield backend
    finally:
        backend.close()

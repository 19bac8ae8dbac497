"""pytest plugin: an embedded KSI backend with a controllable clock, and a real service.

Installed with jura_trust (entry point ``pytest11``), so any test suite can
ask for these fixtures; ``pip install 'jura-trust[test]'`` is all the
embedded fixtures need (``ksi_service`` also needs the ``service`` extra):

* ``ksi_clock``: a :class:`~jura_trust.backends.base.ManualClock` at
  2023-11-14T22:13:20Z; move it with ``ksi_clock.advance(seconds)``.
  A calendar second holds one round, so signing again in a second that
  already has a round moves this clock one second forward (the backend
  "waits" for the next second). To forbid that, mark the test
  ``@pytest.mark.ksi_frozen_clock``: the clock then raises instead of
  moving, and the test advances it itself.
* ``ksi_backend``: an in-memory
  :class:`~jura_trust.backends.memory.EmbeddedBackend` on that clock.
* ``ksi_service``: a real local service (``python -m jura_trust.service``)
  on 127.0.0.1 with a free port, one login, 100 ms rounds and a publication
  every 2 seconds, for integration tests over HTTP and ``ksi+tcp://``
  (:class:`LocalService`: URLs, login, key, a ready
  :class:`~jura_trust.backends.ksi_http.KsiHttpBackend`). Real time.

Example (runs as written; tests/test_testing_plugin.py runs it)::

    from jura_trust import Imprint, verify

    def test_receipt(ksi_backend, ksi_clock):
        sig = ksi_backend.sign(Imprint.hash(b"document"))
        ksi_clock.advance(3600)
        ksi_backend.publish()
        extended = ksi_backend.extend(sig)
        assert verify(extended, document=b"document", backend=ksi_backend).ok
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from jura_trust.backends.base import ManualClock
    from jura_trust.backends.ksi_http import KsiHttpBackend
    from jura_trust.backends.memory import EmbeddedBackend

__all__ = ["START_TIME", "LocalService", "ksi_backend", "ksi_clock", "ksi_service"]

#: Where ``ksi_clock`` starts (Unix seconds).
START_TIME = 1_700_000_000


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's marker."""
    config.addinivalue_line(
        "markers", "ksi_frozen_clock: ksi_clock raises instead of moving when code waits on it"
    )


@pytest.fixture
def ksi_clock(request: pytest.FixtureRequest) -> ManualClock:
    """A manual clock; ``advance()`` it to move time (see the module docstring)."""
    from jura_trust.backends.base import ManualClock  # noqa: PLC0415 - keep plugin import light

    frozen = request.node.get_closest_marker("ksi_frozen_clock") is not None
    return ManualClock(START_TIME, sleep_advances=not frozen)


@pytest.fixture
def ksi_backend(ksi_clock: ManualClock) -> Iterator[EmbeddedBackend]:
    """An in-memory embedded KSI backend driven by ``ksi_clock``."""
    from jura_trust.backends.memory import EmbeddedBackend  # noqa: PLC0415

    backend = EmbeddedBackend(clock=ksi_clock)
    try:
        yield backend
    finally:
        backend.close()


class LocalService:
    """``python -m jura_trust.service`` on 127.0.0.1 (free ports, HTTP and TCP).

    Attributes: ``home``, ``url`` (``http://127.0.0.1:PORT``), ``tcp_url``
    (``ksi+tcp://127.0.0.1:PORT``), ``login`` and ``key``.
    """

    login = "test"
    key = "test-key"

    def __init__(self, home: Path, *args: str) -> None:
        self.home = Path(home)
        self.args = list(args)
        self.url = ""
        self.tcp_url = ""
        self.lines: list[str] = []
        self._proc: subprocess.Popen[str] | None = None

    @property
    def aggregator(self) -> str:
        """The aggregator URL (HTTP)."""
        return self.url + "/aggregator"

    @property
    def extender(self) -> str:
        """The extender URL (HTTP)."""
        return self.url + "/extender"

    @property
    def publications(self) -> str:
        """The publications file URL."""
        return self.url + "/publications.bin"

    def publisher_certificate(self) -> bytes:
        """The PEM certificate that signs the publications file (``/publisher.pem``)."""
        return (self.home / "publisher-cert.pem").read_bytes()

    def client(self) -> KsiHttpBackend:
        """A ``ksi_http`` client with the login and the publisher certificate as trust."""
        from jura_trust import pki  # noqa: PLC0415
        from jura_trust.backends.ksi_http import KsiHttpBackend  # noqa: PLC0415
        from jura_trust.backends.memory import PUBLISHER_EMAIL  # noqa: PLC0415

        return KsiHttpBackend(
            self.aggregator,
            self.extender,
            self.publications,
            login=self.login,
            key=self.key,
            trust_anchors=[pki.load_certificate(self.publisher_certificate())],
            cert_constraints={"E": PUBLISHER_EMAIL},
        )

    def start(self, timeout: float = 30.0) -> LocalService:
        """Start the service and wait until it listens (RuntimeError otherwise)."""
        cmd = [
            sys.executable, "-m", "jura_trust.service", "--home", str(self.home),
            "--listen", "127.0.0.1:0", "--tcp-listen", "127.0.0.1:0",
            "--login", f"{self.login}:{self.key}", *self.args,
        ]  # fmt: skip
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(self._proc, lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("the service exited:\n" + "".join(self.lines))
            if "listening on ksi+tcp://" in line:
                self.tcp_url = line.split("listening on ", 1)[1].split()[0]
            elif "listening on http://" in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
            if self.url and self.tcp_url:
                return self
        self.stop()
        raise RuntimeError("the service did not start:\n" + "".join(self.lines))

    def _pump(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                self.lines.append(line)
                lines.put(line)
        lines.put(None)

    def stop(self) -> None:
        """Stop the service (SIGTERM, then SIGKILL after 15 s)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@pytest.fixture
def ksi_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    """A real local KSI service on loopback (needs the ``service`` extra)."""
    pytest.importorskip("aiohttp", reason="ksi_service needs jura-trust[service]")
    home = tmp_path_factory.mktemp("ksi-service")
    with LocalService(home, "--round-ms", "1000", "--publish-schedule", "every 2s") as service:
        yield service

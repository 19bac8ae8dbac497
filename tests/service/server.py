"""Start the real service as a subprocess on 127.0.0.1 with a free port."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

LOGIN, KEY = "alice", "alice-secret"
PUBLISHER_EMAIL = "publications@jura-trust.invalid"


class ServerProcess:
    """``python -m jura_trust.service`` on 127.0.0.1:0; the port is read from its output."""

    def __init__(self, home: Path, *args: str, config: Path | None = None) -> None:
        self.home = home
        self.args = list(args)
        self.config = config
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.tcp_url = ""
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()

    def start(self, timeout: float = 20.0) -> ServerProcess:
        cmd = [sys.executable, "-m", "jura_trust.service", "--home", str(self.home)]
        cmd += ["--listen", "127.0.0.1:0", "--login", f"{LOGIN}:{KEY}", *self.args]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self._queue = queue.Queue()
        self._pump_thread = threading.Thread(
            target=self._pump, args=(self.proc, self._queue), daemon=True
        )
        self._pump_thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("the server exited:\n" + "".join(self.lines))
            if "listening on ksi+tcp://" in line:
                self.tcp_url = line.split("listening on ", 1)[1].split()[0]
            if "listening on http://" in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                return self
        self.kill()
        raise RuntimeError("the server did not start:\n" + "".join(self.lines))

    def _pump(self, proc: subprocess.Popen[str], q: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                self.lines.append(line)
                q.put(line)
        q.put(None)

    def wait_for_line(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r}:\n" + "".join(self.lines))

    @property
    def aggregator(self) -> str:
        return self.url + "/aggregator"

    @property
    def extender(self) -> str:
        return self.url + "/extender"

    @property
    def publications(self) -> str:
        return self.url + "/publications.bin"

    def kill(self) -> None:
        """SIGKILL: no cleanup at all."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._join()

    def _join(self) -> None:
        thread = getattr(self, "_pump_thread", None)
        if thread is not None:
            thread.join(timeout=10)

    def stop(self) -> int:
        """SIGTERM and wait (graceful: open rounds are closed first)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._join()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

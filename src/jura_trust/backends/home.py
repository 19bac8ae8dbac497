"""Locks on a home (state directory) shared by processes (layer 9).

A home holds one calendar, its keys and its publications file. Several
processes may use it; two lock files in it say who may write what, both
taken with :func:`fcntl.flock` (released by the kernel when a process dies,
so a crash never leaves a stale lock):

``service.lock``
    ``jura-trust serve`` holds it **exclusively** for as long as it runs
    (:func:`lock_for_service`). Every other writer (``sign``, ``publish``,
    an :class:`~jura_trust.backends.memory.EmbeddedBackend` opened to write)
    holds it **shared** (:func:`lock_for_writer`), so a writer is refused
    (``SVC-11``, naming the lock) while a service holds the home, and a
    service is refused while a writer works in it. Readers (``verify``,
    ``publication``) take no lock: every file is replaced atomically and
    the SQLite calendar has its own readers' isolation.

``state.lock``
    :class:`StateLock`, taken **exclusively and blocking** around every
    change of state by every writer of the home: creating the keys and the
    publications file on first use, closing a round (choosing the second,
    appending the leaf, signing the head), publishing. Concurrent processes
    therefore create the keys once and take consecutive seconds instead of
    failing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from jura_trust.errors import BackendError, ErrorCode

__all__ = [
    "HOME_ENV",
    "SERVICE_LOCK",
    "STATE_LOCK",
    "HomeLock",
    "StateLock",
    "default_home",
    "lock_for_service",
    "lock_for_writer",
]

#: The lock file a running service holds exclusively (writers hold it shared).
SERVICE_LOCK: Final = "service.lock"
#: The lock file every writer holds while it changes the home's state.
STATE_LOCK: Final = "state.lock"


def _open_lock_file(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, flags, 0o600)
    except OSError as exc:
        raise BackendError(
            f"cannot open the lock file {path}: {exc.strerror or exc}",
            code=ErrorCode.SVC_STORE,
            lock=str(path),
        ) from None


class HomeLock:
    """A held ``flock`` on one lock file of a home; :meth:`release` (or ``with``) frees it."""

    __slots__ = ("_fd", "exclusive", "path")

    def __init__(self, path: Path, fd: int, *, exclusive: bool) -> None:
        #: The lock file.
        self.path = path
        #: True for an exclusive hold (a service), False for a shared one.
        self.exclusive = exclusive
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        """True until :meth:`release`."""
        return self._fd is not None

    def release(self) -> None:
        """Free the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> HomeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(home: Path, *, exclusive: bool) -> HomeLock | None:
    path = home / SERVICE_LOCK
    fd = _open_lock_file(path)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return HomeLock(path, fd, exclusive=exclusive)


def lock_for_service(home: str | os.PathLike[str]) -> HomeLock:
    """Hold ``home`` exclusively for a service.

    Raises :class:`~jura_trust.errors.BackendError` ``SVC-11`` when another
    service, or a command writing the home, holds its ``service.lock``.
    """
    directory = Path(home)
    held = _try_lock(directory, exclusive=True)
    if held is None:
        lock = directory / SERVICE_LOCK
        raise BackendError(
            f"another service is running on {directory}, or a command is writing it "
            f"(the lock {lock} is held)",
            code=ErrorCode.SVC_HOME_LOCKED,
            lock=str(lock),
        )
    return held


def lock_for_writer(home: str | os.PathLike[str]) -> HomeLock:
    """Hold ``home`` shared, as one of possibly many writers that are not a service.

    Raises :class:`~jura_trust.errors.BackendError` ``SVC-11`` when a
    service holds the home: its requests must go through the service.
    """
    directory = Path(home)
    held = _try_lock(directory, exclusive=False)
    if held is None:
        lock = directory / SERVICE_LOCK
        raise BackendError(
            f"{directory} is held by a running jura-trust service (the lock {lock}): "
            "send requests to the service, or stop it first",
            code=ErrorCode.SVC_HOME_LOCKED,
            lock=str(lock),
        )
    return held


class StateLock:
    """The home's ``state.lock``: exclusive, blocking, re-entrant within one object.

    Serialises every change of a home's state across processes (and, with
    the internal thread lock, across the threads sharing this object). The
    lock file is opened on first use and kept open until :meth:`close`.
    """

    __slots__ = ("_depth", "_fd", "_mutex", "path")

    def __init__(self, home: str | os.PathLike[str]) -> None:
        #: The lock file.
        self.path = Path(home) / STATE_LOCK
        self._mutex = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the ``with`` block (waits for other holders)."""
        with self._mutex:
            if self._depth == 0:
                if self._fd is None:
                    self._fd = _open_lock_file(self.path)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (the lock must not be held)."""
        with self._mutex:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)


#: Environment variable naming the embedded backend's state directory.
HOME_ENV = "JURA_TRUST_HOME"


def default_home() -> Path:
    """The state directory: ``$JURA_TRUST_HOME`` or ``$XDG_DATA_HOME/jura-trust``.

    ``~/.local/share/jura-trust`` without either variable; the command line
    and the service (``python -m jura_trust.service``) share this default.
    """
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "jura-trust"

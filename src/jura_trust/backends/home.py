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

A home is trusted only when nobody else can plant files in it
(:func:`check_home`, as OpenSSH's ``StrictModes``): the home and every
directory above it belong to the user or root and are not writable by group
or others (a sticky directory such as ``/tmp`` is fine above it); the files
the service reads there are regular files, not symbolic links, that nobody
else can write; key files are readable by their owner only.
:func:`check_secret_file` and :func:`check_config_file` apply the same rules
to files named in a configuration.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
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
    "check_config_file",
    "check_home",
    "check_secret_file",
    "default_home",
    "lock_for_service",
    "lock_for_writer",
]

#: The lock file a running service holds exclusively (writers hold it shared).
SERVICE_LOCK: Final = "service.lock"
#: The lock file every writer holds while it changes the home's state.
STATE_LOCK: Final = "state.lock"
#: Files of a home that hold private keys (readable by their owner only).
_SECRET_FILES: Final = ("calendar-key.pem", "publisher-key.pem")
#: Other files of a home the service reads or writes.
_HOME_FILES: Final = (
    "calendar-cert.pem",
    "publisher-cert.pem",
    "publications.bin",
    "calendar.sqlite",
    "calendar.sqlite-wal",
    "calendar.sqlite-shm",
    SERVICE_LOCK,
    STATE_LOCK,
)


def _owner_ok(st: os.stat_result) -> bool:
    return st.st_uid in (os.getuid(), 0)


def _directory_problem(path: Path, st: os.stat_result, *, sticky_ok: bool) -> str | None:
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if not _owner_ok(st):
        return f"{path} belongs to user {st.st_uid}, not to this user or root"
    if st.st_mode & 0o022 and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        return f"{path} is writable by other users (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _ancestor_problems(directory: Path) -> list[str]:
    """Problems of the directories above ``directory`` (resolved), up to ``/``."""
    problems: list[str] = []
    for parent in directory.parents:
        try:
            st = os.stat(parent)
        except OSError:
            continue
        problem = _directory_problem(parent, st, sticky_ok=True)
        if problem is not None:
            problems.append(problem)
    return problems


def _file_problem(path: Path, *, secret: bool, follow: bool = False) -> str | None:
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{path} cannot be checked: {exc.strerror or exc}"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link (a home's files are never followed)"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    if not _owner_ok(st):
        return f"{path} belongs to user {st.st_uid}, not to this user or root"
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        return f"{path} is writable by other users (mode {mode:04o})"
    if secret and mode & 0o077:
        return f"{path} holds a key and is readable by other users (mode {mode:04o}; use 0600)"
    return None


def _verdict(problems: list[str], what: str, allow_unsafe: bool) -> list[str]:
    if problems and not allow_unsafe:
        raise BackendError(
            f"{what} is not safe: " + "; ".join(problems) + " (fix the owner and mode, "
            "or start with --allow-unsafe-home to accept the risk)",
            code=ErrorCode.SVC_UNSAFE_FILE,
            problems=problems,
        )
    return problems


def check_home(home: str | os.PathLike[str], *, allow_unsafe: bool = False) -> list[str]:
    """Refuse a home other users could plant keys or files in.

    Checks the home (resolved) and the directories above it, and the files
    of :data:`_SECRET_FILES` and :data:`_HOME_FILES` that exist. Raises
    :class:`~jura_trust.errors.BackendError` ``SVC-12`` listing the
    problems, or, with ``allow_unsafe``, returns them (for a warning). A
    home that does not exist yet is checked through its nearest existing
    ancestor.
    """
    directory = Path(home).absolute()
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    real = existing.resolve()
    problems = _ancestor_problems(real)
    if existing == directory:
        st = os.stat(real)
        problem = _directory_problem(real, st, sticky_ok=False)
        if problem is not None:
            problems.append(problem)
        for name in _SECRET_FILES:
            problem = _file_problem(real / name, secret=True)
            if problem is not None:
                problems.append(problem)
        for name in _HOME_FILES:
            problem = _file_problem(real / name, secret=False)
            if problem is not None:
                problems.append(problem)
    else:
        problem = _directory_problem(real, os.stat(real), sticky_ok=True)
        if problem is not None:
            problems.append(problem)
    return _verdict(problems, f"the home {directory}", allow_unsafe)


def check_secret_file(
    path: str | os.PathLike[str], what: str, *, allow_unsafe: bool = False
) -> list[str]:
    """Refuse a key file other users can read or write (``SVC-12``; see :func:`check_home`).

    The file may be a symbolic link (its target is checked) outside a home.
    """
    file = Path(path).absolute()
    problems = _ancestor_problems(file.resolve())
    problem = _file_problem(file, secret=True, follow=True)
    if problem is not None:
        problems.append(problem)
    return _verdict(problems, f"the {what} {file}", allow_unsafe)


def check_config_file(
    path: str | os.PathLike[str], *, holds_keys: bool, allow_unsafe: bool = False
) -> list[str]:
    """Refuse a configuration file others can write, or read when it ``holds_keys`` (``SVC-12``)."""
    file = Path(path).absolute()
    problems = _ancestor_problems(file.resolve())
    problem = _file_problem(file, secret=holds_keys, follow=True)
    if problem is not None:
        problems.append(problem)
    return _verdict(problems, f"the configuration file {file}", allow_unsafe)


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

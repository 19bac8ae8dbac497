"""Safe file writes and reads: the one place jura_trust touches files it owns (layer 8).

* :func:`write_atomic` writes a file so that readers see the old content or
  the new, never a mix, and never through a planted name: the data goes to
  a private temporary file created in the target's directory
  (:func:`tempfile.mkstemp`: ``O_CREAT | O_EXCL``, a random name, mode
  ``0600``), is flushed and ``fsync``-ed, gets its final mode, and replaces
  the target with :func:`os.replace`; the directory is then ``fsync``-ed so
  the rename itself survives a crash. A symlink at the target is replaced,
  not followed.
* :func:`open_regular` and :func:`read_regular` open a path only if it is a
  regular file (a symlink to one is fine): a FIFO, a device such as
  ``/dev/zero``, a socket or a directory is refused with ``FMT-20`` at once
  instead of blocking or reading forever. The check is made on the opened
  descriptor (``fstat``), so the path cannot be swapped between the check
  and the read; the open itself does not block on a FIFO (``O_NONBLOCK``).

Certificates (layer 8), backends (9), the API and the command line (10)
use these; nothing below them does file I/O.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO, Final

from jura_trust.errors import ErrorCode, FormatError

__all__ = ["PRIVATE_MODE", "PUBLIC_MODE", "open_regular", "read_regular", "write_atomic"]

#: Mode of files anyone may read (signatures, certificates, publications).
PUBLIC_MODE: Final = 0o644
#: Mode of secrets (private keys).
PRIVATE_MODE: Final = 0o600


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # some platforms cannot open a directory; the rename is still atomic
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = PUBLIC_MODE) -> Path:
    """Replace ``path`` with ``data`` atomically and durably; return the path.

    The temporary file is private to this call (``mkstemp`` in the same
    directory), so a planted ``path.tmp`` or symlink is never written
    through. Raises :class:`OSError` when the directory is not writable or
    the disk fails; no temporary file is left behind.
    """
    target = Path(path)
    parent = target.parent
    import tempfile  # noqa: PLC0415 - only writers need it (start-up of read-only commands)

    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(parent)
    return target


def _not_regular(path: str | os.PathLike[str], mode: int) -> FormatError:
    kind = (
        "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a directory"
        if stat.S_ISDIR(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    return FormatError(
        f"{os.fspath(path)} is {kind}: only regular files are read (use - for standard input)",
        code=ErrorCode.FMT_NOT_REGULAR,
        path=os.fspath(path),
    )


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for reading (binary).

    Raises :class:`~jura_trust.errors.FormatError` ``FMT-20`` for anything
    but a regular file and ``FMT-19`` when it cannot be opened.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FormatError(
            f"cannot read {os.fspath(path)}: {exc.strerror or exc}", code=ErrorCode.FMT_IO
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], *, limit: int | None = None) -> bytes:
    """The bytes of a regular file (``FMT-20``/``FMT-19`` as :func:`open_regular`).

    With ``limit``, a longer file raises ``FMT-09``.
    """
    with open_regular(path) as handle:
        try:
            data = handle.read() if limit is None else handle.read(limit + 1)
        except OSError as exc:
            raise FormatError(
                f"cannot read {os.fspath(path)}: {exc.strerror or exc}", code=ErrorCode.FMT_IO
            ) from None
    if limit is not None and len(data) > limit:
        raise FormatError(
            f"{os.fspath(path)} is larger than {limit} bytes", code=ErrorCode.FMT_LIMIT
        )
    return data

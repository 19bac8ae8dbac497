"""Seal registries: where a verifier finds the seal record of a compact JT1 code.

A compact JT1 certificate carries its batch seal *by reference*: a short
seal id (:data:`SEAL_ID_LENGTH` bytes of the seal imprint's digest). A
registry maps that id to the encoded seal record (see
:mod:`jura_trust.certificates.jt1`). Batches with a page level also have
one page record per page, kept under an id of the same length derived
from the seal id and the page index
(:func:`~jura_trust.certificates.jt1.page_record_id`); to a registry both
are just records. Registries return raw bytes; the verifier decodes them
and compares the full seal imprint with the root it computed, so a
registry is never trusted: a wrong or hostile record gives a coded
failure, never a wrong "valid".

Three implementations:

* :class:`DirectorySealRegistry`: one file ``{seal-id-hex}.cbor`` per seal.
* :class:`FileSealRegistry`: one CBOR file holding many seals
  (``{"version": 1, "seals": {seal id: record}}``).
* :class:`HttpSealRegistry`: ``GET {base}/{seal-id-hex}.cbor`` with the
  standard library (timeouts, a size limit, http and https only).

Errors: ``CRT-04`` malformed seal id or registry file, ``CRT-15`` a record
or file over the size limit, ``FMT-19`` a file that cannot be read,
``SVC-01``/``SVC-02``/``SVC-04`` an HTTP registry that is down, slow or
answers with an error. A seal that is simply absent is ``None``, not an
error: the verifier reports it as ``CRT-14``.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from jura_trust._files import write_atomic
from jura_trust.certificates._cbor import dumps_canonical, loads_strict
from jura_trust.errors import BackendError, CertificateError, ErrorCode, FormatError

__all__ = [
    "DEFAULT_HTTP_TIMEOUT",
    "MAX_REGISTRY_FILE_SIZE",
    "MAX_SEAL_RECORD_SIZE",
    "REGISTRY_FILE_VERSION",
    "SEAL_ID_LENGTH",
    "DirectorySealRegistry",
    "FileSealRegistry",
    "HttpSealRegistry",
    "MemorySealRegistry",
    "SealRegistry",
    "open_registry",
    "seal_id_hex",
]

#: Length of a seal id in bytes (the first bytes of the seal imprint's digest).
SEAL_ID_LENGTH = 16
#: The largest encoded seal record a registry hands out, in bytes.
MAX_SEAL_RECORD_SIZE = 64 * 1024
#: The largest registry file :class:`FileSealRegistry` reads, in bytes.
MAX_REGISTRY_FILE_SIZE = 256 * 1024 * 1024
#: The version of the :class:`FileSealRegistry` file format.
REGISTRY_FILE_VERSION = 1
#: Seconds an HTTP registry may take to connect and to answer.
DEFAULT_HTTP_TIMEOUT = 5.0


def seal_id_hex(seal_id: bytes) -> str:
    """The seal id as lower-case hex, after checking its length.

    Raises:
        CertificateError: ``CRT-04`` if it is not :data:`SEAL_ID_LENGTH` bytes.
    """
    if not isinstance(seal_id, bytes) or len(seal_id) != SEAL_ID_LENGTH:
        raise CertificateError(
            f"a seal id is {SEAL_ID_LENGTH} bytes", code=ErrorCode.CRT_BAD_STRUCTURE
        )
    return seal_id.hex()


def _check_record_size(data: bytes, where: str) -> bytes:
    if len(data) > MAX_SEAL_RECORD_SIZE:
        raise CertificateError(
            f"seal record from {where} exceeds {MAX_SEAL_RECORD_SIZE} bytes",
            code=ErrorCode.CRT_TOO_LARGE,
            limit=MAX_SEAL_RECORD_SIZE,
        )
    return data


@runtime_checkable
class SealRegistry(Protocol):
    """Looks seal records up by seal id."""

    def get(self, seal_id: bytes) -> bytes | None:
        """The encoded seal record with this id, or ``None`` if unknown."""
        ...


class MemorySealRegistry:
    """A registry held in a dict (tests, and issuers that verify their own codes)."""

    __slots__ = ("_records",)

    def __init__(self, records: Mapping[bytes, bytes] | None = None) -> None:
        self._records: dict[bytes, bytes] = {}
        for seal_id, data in (records or {}).items():
            self.put(seal_id, data)

    def put(self, seal_id: bytes, record: bytes) -> None:
        """Store ``record`` under ``seal_id``."""
        seal_id_hex(seal_id)
        self._records[seal_id] = _check_record_size(bytes(record), "memory")

    def get(self, seal_id: bytes) -> bytes | None:
        """The record with this id, or ``None``."""
        seal_id_hex(seal_id)
        return self._records.get(seal_id)

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every ``(seal id, record)`` pair."""
        return self._records.items()


class DirectorySealRegistry:
    """A folder with one ``{seal-id-hex}.cbor`` file per seal record."""

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        #: The folder.
        self.path = Path(path)

    def _file(self, seal_id: bytes) -> Path:
        return self.path / f"{seal_id_hex(seal_id)}.cbor"

    def get(self, seal_id: bytes) -> bytes | None:
        """The record with this id, or ``None`` if there is no such file.

        Raises:
            FormatError: ``FMT-19`` if the file exists but cannot be read.
            CertificateError: ``CRT-15`` for an over-large file.
        """
        path = self._file(seal_id)
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_SEAL_RECORD_SIZE + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FormatError(f"cannot read {path}: {exc}", code=ErrorCode.FMT_IO) from exc
        return _check_record_size(data, str(path))

    def put(self, seal_id: bytes, record: bytes) -> Path:
        """Write ``record`` (atomically) and return the file's path."""
        path = self._file(seal_id)
        _check_record_size(bytes(record), "caller")
        self.path.mkdir(parents=True, exist_ok=True)
        return write_atomic(path, bytes(record))


class FileSealRegistry:
    """One CBOR file holding many seal records.

    Format (canonical CBOR): ``{"version": 1, "seals": {bstr seal id: bstr
    record}}``. The file is read once, lazily, and kept in memory.
    """

    __slots__ = ("_records", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        #: The registry file.
        self.path = Path(path)
        self._records: dict[bytes, bytes] | None = None

    @staticmethod
    def encode(records: Mapping[bytes, bytes]) -> bytes:
        """The file content for ``records`` (seal id -> encoded record)."""
        for seal_id, data in records.items():
            seal_id_hex(seal_id)
            _check_record_size(data, "caller")
        return dumps_canonical({"version": REGISTRY_FILE_VERSION, "seals": dict(records)})

    @classmethod
    def write(cls, path: str | os.PathLike[str], records: Mapping[bytes, bytes]) -> None:
        """Write a registry file holding ``records`` (atomically)."""
        write_atomic(path, cls.encode(records))

    @staticmethod
    def decode(data: bytes) -> dict[bytes, bytes]:
        """Parse registry file content.

        Raises:
            CertificateError: ``CRT-04`` if malformed, ``CRT-15`` if too large.
        """
        if len(data) > MAX_REGISTRY_FILE_SIZE:
            raise CertificateError(
                f"seal registry file exceeds {MAX_REGISTRY_FILE_SIZE} bytes",
                code=ErrorCode.CRT_TOO_LARGE,
            )
        top: Any = loads_strict(data, "seal registry file")
        if not isinstance(top, Mapping) or top.get("version") != REGISTRY_FILE_VERSION:
            raise CertificateError(
                "not a version 1 seal registry file", code=ErrorCode.CRT_BAD_STRUCTURE
            )
        seals = top.get("seals")
        if not isinstance(seals, Mapping):
            raise CertificateError(
                "seal registry file has no seals map", code=ErrorCode.CRT_BAD_STRUCTURE
            )
        out: dict[bytes, bytes] = {}
        for seal_id, record in seals.items():
            if not isinstance(record, bytes):
                raise CertificateError(
                    "a seal record in the registry file is not a byte string",
                    code=ErrorCode.CRT_BAD_STRUCTURE,
                )
            seal_id_hex(seal_id)
            out[seal_id] = _check_record_size(record, "registry file")
        return out

    def _load(self) -> dict[bytes, bytes]:
        if self._records is None:
            try:
                with open(self.path, "rb") as handle:
                    data = handle.read(MAX_REGISTRY_FILE_SIZE + 1)
            except OSError as exc:
                raise FormatError(f"cannot read {self.path}: {exc}", code=ErrorCode.FMT_IO) from exc
            self._records = self.decode(data)
        return self._records

    def get(self, seal_id: bytes) -> bytes | None:
        """The record with this id, or ``None``.

        Raises:
            FormatError: ``FMT-19`` if the file cannot be read.
            CertificateError: ``CRT-04``/``CRT-15`` for a bad file.
        """
        seal_id_hex(seal_id)
        return self._load().get(seal_id)


class HttpSealRegistry:
    """A registry served over HTTP(S): ``GET {base}/{seal-id-hex}.cbor``.

    A 404 (or 410) answer means "no such seal" (``None``). Only ``http``
    and ``https`` base URLs are accepted, redirects are not followed to
    other schemes (urllib's default), and at most
    :data:`MAX_SEAL_RECORD_SIZE` bytes are read.
    """

    __slots__ = ("base_url", "timeout")

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_HTTP_TIMEOUT) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"seal registry URL must be http(s)://host/...: {base_url!r}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        #: The base URL, without a trailing slash.
        self.base_url = base_url.rstrip("/")
        #: Connect and read timeout in seconds.
        self.timeout = timeout

    def url_for(self, seal_id: bytes) -> str:
        """The URL of a seal record."""
        return f"{self.base_url}/{seal_id_hex(seal_id)}.cbor"

    def get(self, seal_id: bytes) -> bytes | None:
        """Fetch the record with this id; ``None`` on 404 or 410.

        Raises:
            BackendError: ``SVC-01`` unreachable, ``SVC-02`` timed out,
                ``SVC-04`` any other HTTP error status.
            CertificateError: ``CRT-15`` if the body exceeds the size limit.
        """
        url = self.url_for(seal_id)
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            url, headers={"Accept": "application/cbor"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                data: bytes = response.read(MAX_SEAL_RECORD_SIZE + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (404, 410):
                return None
            raise BackendError(
                f"seal registry answered HTTP {exc.code} for {url}",
                code=ErrorCode.SVC_BAD_RESPONSE,
                status=exc.code,
            ) from None
        except TimeoutError as exc:
            raise BackendError(
                f"seal registry timed out: {url}", code=ErrorCode.SVC_TIMEOUT
            ) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise BackendError(
                    f"seal registry timed out: {url}", code=ErrorCode.SVC_TIMEOUT
                ) from exc
            raise BackendError(
                f"seal registry unreachable: {exc.reason}", code=ErrorCode.SVC_UNAVAILABLE
            ) from exc
        except OSError as exc:
            raise BackendError(
                f"seal registry unreachable: {exc}", code=ErrorCode.SVC_UNAVAILABLE
            ) from exc
        return _check_record_size(data, url)


def open_registry(location: str | os.PathLike[str]) -> SealRegistry:
    """A registry for a location: an ``http(s)://`` URL, a folder or a file.

    Raises:
        FormatError: ``FMT-19`` if a local path does not exist.
    """
    text = os.fspath(location)
    if text.startswith(("http://", "https://")):
        return HttpSealRegistry(text)
    path = Path(text)
    if path.is_dir():
        return DirectorySealRegistry(path)
    if path.is_file():
        return FileSealRegistry(path)
    raise FormatError(
        f"seal registry {text!r} is neither a folder, a file nor a URL", code=ErrorCode.FMT_IO
    )

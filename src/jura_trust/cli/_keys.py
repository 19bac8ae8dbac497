"""Keys, JSON files, times and output files of ``qr`` and ``trustlist`` (private)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jura_trust import _files
from jura_trust._timefmt import parse_time
from jura_trust.errors import ErrorCode, FormatError

if TYPE_CHECKING:
    from jura_trust.certificates.cose import PrivateKey, PublicKey

__all__ = [
    "MAX_INPUT_FILE",
    "json_file",
    "positive_int",
    "private_key",
    "public_key",
    "read",
    "required_time",
    "time",
    "write",
]

#: The largest input file ``qr`` and ``trustlist`` read.
MAX_INPUT_FILE = 64 * 1024 * 1024


def read(path: str | os.PathLike[str], what: str) -> bytes:
    """A regular file's bytes (FMT-19, FMT-20, FMT-09 above :data:`MAX_INPUT_FILE`)."""
    try:
        return _files.read_regular(path, limit=MAX_INPUT_FILE)
    except FormatError as exc:
        raise FormatError(f"{what}: {exc.message}", code=exc.code) from None


def write(path: Path, data: bytes | str, mode: int = _files.PUBLIC_MODE) -> None:
    """Write a file atomically, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _files.write_atomic(path, data.encode("utf-8") if isinstance(data, str) else data, mode)


def time(text: str | None) -> datetime | None:
    """An optional time option as an aware datetime."""
    return None if text is None else datetime.fromtimestamp(parse_time(text), UTC)


def required_time(text: object) -> datetime:
    """A time from a JSON spec (Unix seconds or ISO 8601 with an offset)."""
    if not isinstance(text, (str, int)):
        raise FormatError(f"missing or bad time {text!r}", code=ErrorCode.FMT_BAD_TIME)
    return datetime.fromtimestamp(parse_time(str(text)), UTC)


def private_key(path: str) -> PrivateKey:
    """An unencrypted PEM private key (EC, Ed25519 or RSA)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: PLC0415

    data = read(path, "key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise FormatError(
            f"{path} is not an unencrypted PEM private key: {exc}",
            code=ErrorCode.FMT_BAD_CERTIFICATE,
        ) from None
    if not isinstance(
        key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey)
    ):
        raise FormatError(f"unsupported key type in {path}", code=ErrorCode.FMT_BAD_CERTIFICATE)
    return key


def public_key(path: str) -> PublicKey:
    """A public key from a PEM public key, a PEM certificate or a PEM private key."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: PLC0415

    data = read(path, "key")
    key: Any
    try:
        if b"CERTIFICATE" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        elif b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise FormatError(
            f"{path} holds no usable public key: {exc}", code=ErrorCode.FMT_BAD_CERTIFICATE
        ) from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)):
        raise FormatError(f"unsupported key type in {path}", code=ErrorCode.FMT_BAD_CERTIFICATE)
    return key


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def json_file(path: str) -> Any:
    """A JSON file's value (FMT-10 when it is not JSON)."""
    try:
        return json.loads(read(path, "JSON file"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path} is not JSON: {exc}", code=ErrorCode.FMT_STRUCTURE) from None

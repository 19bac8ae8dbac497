"""Strict CBOR decoding shared by the certificate modules (private)."""

from __future__ import annotations

import io
from typing import Any

import cbor2

from jura_trust.errors import CertificateError, ErrorCode

#: Deepest CBOR nesting accepted in certificate material.
MAX_CBOR_DEPTH = 32


def loads_strict(data: bytes, what: str) -> Any:
    """Decode exactly one CBOR item; reject trailing bytes and duplicate keys.

    Every failure (cbor2's own errors and anything its tag decoders raise)
    becomes a ``CRT-04`` :class:`CertificateError`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CertificateError(f"{what} is not a byte string", code=ErrorCode.CRT_BAD_STRUCTURE)
    stream = io.BytesIO(bytes(data))
    try:
        decoder = cbor2.CBORDecoder(stream, max_depth=MAX_CBOR_DEPTH, allow_duplicate_keys=False)
        value = decoder.decode()
    except Exception as exc:  # cbor2 and its tag decoders raise many types
        raise CertificateError(
            f"{what} is not valid CBOR: {exc}", code=ErrorCode.CRT_BAD_STRUCTURE
        ) from exc
    if stream.tell() != len(data):
        raise CertificateError(
            f"{what} has {len(data) - stream.tell()} trailing bytes after the CBOR item",
            code=ErrorCode.CRT_BAD_STRUCTURE,
        )
    return value


def dumps_canonical(value: Any) -> bytes:
    """Encode with cbor2's canonical (deterministic) rules."""
    return bytes(cbor2.dumps(value, canonical=True))

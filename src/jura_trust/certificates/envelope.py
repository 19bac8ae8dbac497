"""The text envelope of QR certificates: prefix + Base45(zlib(bytes)).

``JT1:`` is jura_trust's own context prefix; the EU DCC uses the same
construction with ``HC1:`` (see :mod:`jura_trust.certificates.dcc`). The
envelope knows nothing of what the bytes mean: the JT1 payload and seal
are defined on top of it.

Decoding is strict and bounded, in this order:

1. the text is at most :data:`MAX_TEXT_LENGTH` characters (``CRT-15``);
2. it starts with the expected prefix, compared exactly (``CRT-01``);
3. the rest is strict Base45 (``CRT-02``), never stripped of spaces;
4. that is one complete zlib stream (RFC 1950, header and Adler-32 checked),
   with nothing after it, inflating to at most :data:`MAX_PAYLOAD_SIZE`
   bytes (``CRT-03``; the inflater stops at the limit, so a zlib bomb costs
   no more memory than the limit).
"""

from __future__ import annotations

import zlib

from jura_trust.certificates.base45 import b45decode, b45encode
from jura_trust.errors import CertificateError, ErrorCode

__all__ = [
    "JT1_PREFIX",
    "MAX_PAYLOAD_SIZE",
    "MAX_TEXT_LENGTH",
    "compress",
    "decode_envelope",
    "decompress",
    "encode_envelope",
    "strip_prefix",
]

#: The context prefix of jura_trust QR certificates (QR alphanumeric-safe).
JT1_PREFIX = "JT1:"

#: The longest envelope text accepted: the alphanumeric capacity of the
#: largest QR code (version 40, ECC L).
MAX_TEXT_LENGTH = 4296

#: The largest decompressed payload accepted, in bytes. Real payloads are
#: below 2 KiB; this bounds what a hostile zlib stream can make us allocate.
MAX_PAYLOAD_SIZE = 64 * 1024

_ZLIB_LEVEL = 9


def compress(data: bytes) -> bytes:
    """zlib-compress (RFC 1950) at the highest level."""
    return zlib.compress(bytes(data), _ZLIB_LEVEL)


def decompress(data: bytes, *, max_size: int = MAX_PAYLOAD_SIZE) -> bytes:
    """Inflate one complete zlib stream of at most ``max_size`` bytes.

    Raises:
        CertificateError: ``CRT-03`` if the bytes are not one complete zlib
            stream (bad header, bad checksum, truncated, trailing bytes) or
            inflate to more than ``max_size`` bytes.
    """
    inflater = zlib.decompressobj(wbits=15)
    try:
        out = inflater.decompress(bytes(data), max_size)
        if inflater.unconsumed_tail:
            raise CertificateError(
                f"compressed payload inflates to more than {max_size} bytes",
                code=ErrorCode.CRT_BAD_COMPRESSION,
                limit=max_size,
            )
        out += inflater.flush()
    except zlib.error as exc:
        raise CertificateError(
            f"payload is not a valid zlib stream: {exc}", code=ErrorCode.CRT_BAD_COMPRESSION
        ) from exc
    if len(out) > max_size:
        raise CertificateError(
            f"compressed payload inflates to more than {max_size} bytes",
            code=ErrorCode.CRT_BAD_COMPRESSION,
            limit=max_size,
        )
    if not inflater.eof:
        raise CertificateError("zlib stream is truncated", code=ErrorCode.CRT_BAD_COMPRESSION)
    if inflater.unused_data:
        raise CertificateError(
            f"{len(inflater.unused_data)} bytes follow the zlib stream",
            code=ErrorCode.CRT_BAD_COMPRESSION,
        )
    return out


def encode_envelope(payload: bytes, *, prefix: str = JT1_PREFIX) -> str:
    """Wrap payload bytes as ``prefix + Base45(zlib(payload))``.

    Raises:
        CertificateError: ``CRT-15`` if the payload is larger than
            :data:`MAX_PAYLOAD_SIZE` or the text would exceed
            :data:`MAX_TEXT_LENGTH` (no QR code could hold it).
    """
    if len(payload) > MAX_PAYLOAD_SIZE:
        raise CertificateError(
            f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_SIZE}",
            code=ErrorCode.CRT_TOO_LARGE,
            size=len(payload),
        )
    text = prefix + b45encode(compress(payload))
    if len(text) > MAX_TEXT_LENGTH:
        raise CertificateError(
            f"envelope of {len(text)} characters exceeds {MAX_TEXT_LENGTH}",
            code=ErrorCode.CRT_TOO_LARGE,
            length=len(text),
        )
    return text


def strip_prefix(text: str, prefix: str) -> str:
    """Check length and prefix (steps 1 and 2) and return the Base45 part.

    Raises:
        CertificateError: ``CRT-15`` for an over-long text, ``CRT-01`` for a
            missing or different prefix.
    """
    if not isinstance(text, str):
        raise TypeError(f"envelope text must be str, not {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise CertificateError(
            f"text of {len(text)} characters exceeds {MAX_TEXT_LENGTH}",
            code=ErrorCode.CRT_TOO_LARGE,
            length=len(text),
        )
    if not text.startswith(prefix):
        raise CertificateError(
            f"text does not start with the prefix {prefix!r}",
            code=ErrorCode.CRT_BAD_PREFIX,
            found=text[: len(prefix)],
        )
    return text[len(prefix) :]


def decode_envelope(
    text: str, *, prefix: str = JT1_PREFIX, max_size: int = MAX_PAYLOAD_SIZE
) -> bytes:
    """Unwrap ``prefix + Base45(zlib(payload))`` strictly; return the payload.

    Raises:
        CertificateError: ``CRT-15`` (text too long), ``CRT-01`` (prefix),
            ``CRT-02`` (Base45), ``CRT-03`` (zlib, or inflates past
            ``max_size``).
    """
    return decompress(b45decode(strip_prefix(text, prefix)), max_size=max_size)

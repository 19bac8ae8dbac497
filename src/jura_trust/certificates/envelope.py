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

Preset dictionaries (RFC 1950 ``FDICT``): a format may fix a dictionary of
byte strings that recur in its payloads; the stream then names it by its
Adler-32 (``DICTID``). The decoder accepts such a stream only when the
caller passes that very dictionary (anything else is ``CRT-03``), and the
size limit applies unchanged. The encoder, given a dictionary, compresses
both ways and keeps the shorter stream (the plain one on a tie), so a
dictionary never makes a text longer. The ``HC1:`` (EU DCC) decoder passes
no dictionary: DCC streams with ``FDICT`` are rejected.
"""

from __future__ import annotations

import zlib

import attrs

from jura_trust.certificates.base45 import b45decode, b45encode
from jura_trust.errors import CertificateError, ErrorCode

__all__ = [
    "JT1_PREFIX",
    "MAX_PAYLOAD_SIZE",
    "MAX_TEXT_LENGTH",
    "Unwrapped",
    "compress",
    "decode_envelope",
    "decompress",
    "dictionary_id",
    "encode_envelope",
    "strip_prefix",
    "unwrap_envelope",
    "uses_dictionary",
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
_FDICT = 0x20
#: The largest preset dictionary zlib can use (the deflate window).
_MAX_DICTIONARY = 32 * 1024


def dictionary_id(zdict: bytes) -> int:
    """The RFC 1950 ``DICTID`` of a preset dictionary: its Adler-32."""
    return zlib.adler32(bytes(zdict)) & 0xFFFFFFFF


def uses_dictionary(data: bytes) -> bool:
    """Whether a zlib stream's header has the ``FDICT`` flag set."""
    return len(data) >= 2 and bool(data[1] & _FDICT)


def _check_dictionary(zdict: bytes) -> bytes:
    if not isinstance(zdict, bytes) or not 0 < len(zdict) <= _MAX_DICTIONARY:
        raise ValueError(f"a preset dictionary is 1 to {_MAX_DICTIONARY} bytes")
    return zdict


def compress(data: bytes, *, zdict: bytes | None = None) -> bytes:
    """zlib-compress (RFC 1950) at the highest level.

    With ``zdict``, the stream is compressed both without and with that
    preset dictionary and the shorter one is returned (the plain stream on
    a tie): deterministic for given bytes and dictionary.
    """
    data = bytes(data)
    plain = zlib.compress(data, _ZLIB_LEVEL)
    if zdict is None:
        return plain
    deflater = zlib.compressobj(
        _ZLIB_LEVEL, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, _check_dictionary(zdict)
    )
    primed = deflater.compress(data) + deflater.flush()
    return primed if len(primed) < len(plain) else plain


def decompress(
    data: bytes, *, max_size: int = MAX_PAYLOAD_SIZE, zdict: bytes | None = None
) -> bytes:
    """Inflate one complete zlib stream of at most ``max_size`` bytes.

    A stream with the ``FDICT`` flag is accepted only when ``zdict`` is given
    and the stream's ``DICTID`` is that dictionary's Adler-32.

    Raises:
        CertificateError: ``CRT-03`` if the bytes are not one complete zlib
            stream (bad header, bad checksum, truncated, trailing bytes),
            need a preset dictionary other than ``zdict``, or inflate to
            more than ``max_size`` bytes.
    """
    data = bytes(data)
    if uses_dictionary(data):
        if zdict is None:
            raise CertificateError(
                "zlib stream needs a preset dictionary this format does not have",
                code=ErrorCode.CRT_BAD_COMPRESSION,
            )
        wanted = dictionary_id(_check_dictionary(zdict))
        found = int.from_bytes(data[2:6], "big") if len(data) >= 6 else None
        if found != wanted:
            raise CertificateError(
                "zlib stream names an unknown preset dictionary",
                code=ErrorCode.CRT_BAD_COMPRESSION,
                dictionary_id=found,
            )
        inflater = zlib.decompressobj(wbits=15, zdict=zdict)
    else:
        inflater = zlib.decompressobj(wbits=15)
    try:
        out = inflater.decompress(data, max_size)
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


def encode_envelope(payload: bytes, *, prefix: str = JT1_PREFIX, zdict: bytes | None = None) -> str:
    """Wrap payload bytes as ``prefix + Base45(zlib(payload))``.

    With ``zdict`` the preset dictionary is used when it gives a shorter
    stream (see :func:`compress`).

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
    text = prefix + b45encode(compress(payload, zdict=zdict))
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


@attrs.frozen(slots=True)
class Unwrapped:
    """What :func:`unwrap_envelope` found.

    Attributes:
        payload: the inflated payload bytes.
        dictionary: whether the zlib stream used the preset dictionary.
        compressed: the zlib stream exactly as the text carried it (a
            format that accepts only the canonical compression of its
            content compares it with :func:`compress`).
    """

    payload: bytes = attrs.field(repr=False)
    dictionary: bool
    compressed: bytes = attrs.field(default=b"", repr=False)


def unwrap_envelope(
    text: str,
    *,
    prefix: str = JT1_PREFIX,
    max_size: int = MAX_PAYLOAD_SIZE,
    zdict: bytes | None = None,
) -> Unwrapped:
    """Like :func:`decode_envelope`, also saying whether ``zdict`` was used.

    Raises:
        CertificateError: as :func:`decode_envelope`.
    """
    data = b45decode(strip_prefix(text, prefix))
    payload = decompress(data, max_size=max_size, zdict=zdict)
    return Unwrapped(payload=payload, dictionary=uses_dictionary(data), compressed=data)


def decode_envelope(
    text: str,
    *,
    prefix: str = JT1_PREFIX,
    max_size: int = MAX_PAYLOAD_SIZE,
    zdict: bytes | None = None,
) -> bytes:
    """Unwrap ``prefix + Base45(zlib(payload))`` strictly; return the payload.

    ``zdict`` is the preset dictionary the format allows, if any.

    Raises:
        CertificateError: ``CRT-15`` (text too long), ``CRT-01`` (prefix),
            ``CRT-02`` (Base45), ``CRT-03`` (zlib, a preset dictionary other
            than ``zdict``, or inflates past ``max_size``).
    """
    return unwrap_envelope(text, prefix=prefix, max_size=max_size, zdict=zdict).payload

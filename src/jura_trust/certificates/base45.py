"""Base45 (RFC 9285): the text encoding of QR certificate payloads.

The 45-character alphabet is exactly the set of QR alphanumeric mode, so a
Base45 text fills a QR code at about 8.25 bits per payload byte. Two bytes
``a, b`` become three characters ``c d e`` with ``a*256 + b = c + 45*d +
45*45*e``; a trailing single byte becomes two characters.

The decoder is strict: it rejects characters outside the alphabet
(lowercase included), a group of three worth more than 65535, a group of two
worth more than 255 and a dangling single character. It never strips
whitespace: a space is a legal Base45 character.
"""

from __future__ import annotations

from jura_trust.errors import CertificateError, ErrorCode

__all__ = ["BASE45_ALPHABET", "b45decode", "b45encode"]

#: The alphabet, value 0 to 44, in QR alphanumeric order.
BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

_VALUE = {ch: i for i, ch in enumerate(BASE45_ALPHABET)}
_TRIPLET_MAX = 0xFFFF
_PAIR_MAX = 0xFF


def b45encode(data: bytes) -> str:
    """Encode bytes as Base45 text.

    >>> b45encode(b"AB")
    'BB8'
    """
    alphabet = BASE45_ALPHABET
    out: list[str] = []
    view = bytes(data)
    full = len(view) - len(view) % 2
    for i in range(0, full, 2):
        n = (view[i] << 8) | view[i + 1]
        e, rest = divmod(n, 45 * 45)
        d, c = divmod(rest, 45)
        out.append(alphabet[c] + alphabet[d] + alphabet[e])
    if full != len(view):
        d, c = divmod(view[-1], 45)
        out.append(alphabet[c] + alphabet[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Decode Base45 text strictly.

    Raises:
        CertificateError: ``CRT-02`` for a character outside the alphabet, a
            group worth too much, or a dangling single character.
        TypeError: if ``text`` is not a :class:`str`.

    >>> b45decode("%69 VD92EX0")
    b'Hello!!'
    """
    if not isinstance(text, str):
        raise TypeError(f"Base45 text must be str, not {type(text).__name__}")
    try:
        values = [_VALUE[ch] for ch in text]
    except KeyError as exc:
        position = next(i for i, ch in enumerate(text) if ch not in _VALUE)
        raise CertificateError(
            f"character {text[position]!r} at offset {position} is not Base45",
            code=ErrorCode.CRT_BAD_ENCODING,
            offset=position,
        ) from exc
    remainder = len(values) % 3
    if remainder == 1:
        raise CertificateError(
            "Base45 text ends with a dangling single character",
            code=ErrorCode.CRT_BAD_ENCODING,
            length=len(values),
        )
    out = bytearray()
    full = len(values) - remainder
    for i in range(0, full, 3):
        n = values[i] + 45 * values[i + 1] + 2025 * values[i + 2]
        if n > _TRIPLET_MAX:
            raise CertificateError(
                f"Base45 group at offset {i} is worth {n} > 65535",
                code=ErrorCode.CRT_BAD_ENCODING,
                offset=i,
            )
        out += n.to_bytes(2, "big")
    if remainder:
        n = values[full] + 45 * values[full + 1]
        if n > _PAIR_MAX:
            raise CertificateError(
                f"final Base45 pair is worth {n} > 255",
                code=ErrorCode.CRT_BAD_ENCODING,
                offset=full,
            )
        out.append(n)
    return bytes(out)

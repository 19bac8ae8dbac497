"""Link certificates: a JT1 certificate as a URL any phone camera opens.

A plain JT1 text is ``JT1:`` + Base45(zlib stream). Base45 uses the space
and ``%``, which break URLs, so a *link certificate* carries the same zlib
stream as digits after a URL's ``#``::

    link text = BASE "#" FORM DIGITS
    BASE      = an http:// or https:// URL without "#" (printable ASCII)
    FORM      = "1"                        ; the version of the digit form
    DIGITS    = the zlib stream of the JT1 text, 7 bytes at a time

Each whole group of 7 bytes, read as a big-endian unsigned integer (below
2^56), is written as exactly 17 decimal digits, with leading zeros; a last
group of 1 to 6 bytes as exactly 3, 5, 8, 10, 13 or 15 digits (the fewest
that hold any value of that many bytes). The number of digits modulo 17
tells the length of the last group, so a digit string that is not the form
of some bytes (a length modulo 17 outside 0, 3, 5, 8, 10, 13, 15, a group
worth 256^k or more) is refused (``CRT-02``): every byte string has exactly
one digit form and every digit form exactly one byte string, which keeps
the rule of the plain texts that one certificate has one text (up to the
URL, which is not trusted for anything).

In a QR code the URL goes in a byte segment (or, when it is written in
upper case, an alphanumeric one followed by a one-byte ``#`` segment) and
the digits in a numeric segment, 10 bits per 3 digits: 17 digits hold 7
bytes in 56.7 bits (8.1 bits a byte, less than Base45's 8.25), so a link
code is larger than the plain code by the URL alone.

Verification reads the link back to the plain text
(:func:`plain_text`) and checks that exactly; the URL before ``#`` is
ignored (the page a code points to is a convenience, never a proof). See
``docs/qr.md`` for the form byte for byte.
"""

from __future__ import annotations

from jura_trust.certificates.base45 import b45decode, b45encode
from jura_trust.certificates.envelope import JT1_PREFIX, MAX_TEXT_LENGTH, strip_prefix
from jura_trust.errors import CertificateError, ErrorCode

__all__ = [
    "LINK_FORM_VERSION",
    "MAX_LINK_BASE_LENGTH",
    "MAX_LINK_LENGTH",
    "bytes_to_digits",
    "check_link_base",
    "digits_to_bytes",
    "is_link",
    "link_text",
    "plain_text",
]

#: The version digit that starts the fragment of a link certificate.
LINK_FORM_VERSION = "1"
#: The longest URL before ``#`` accepted (characters).
MAX_LINK_BASE_LENGTH = 256

_GROUP_BYTES = 7
_GROUP_DIGITS = 17
#: Digits of a last group of k bytes: the fewest d with 10^d >= 256^k.
_TAIL_DIGITS = (0, 3, 5, 8, 10, 13, 15)
_TAIL_BYTES = {d: k for k, d in enumerate(_TAIL_DIGITS)}
_SCHEMES = ("http://", "https://")


def _digits_for(length: int) -> int:
    whole, tail = divmod(length, _GROUP_BYTES)
    return whole * _GROUP_DIGITS + _TAIL_DIGITS[tail]


#: The most bytes a plain JT1 text can carry (its Base45 part at most
#: ``MAX_TEXT_LENGTH - 4`` characters).
_MAX_BYTES = (MAX_TEXT_LENGTH - len(JT1_PREFIX)) // 3 * 2 + (
    1 if (MAX_TEXT_LENGTH - len(JT1_PREFIX)) % 3 == 2 else 0
)
#: The longest link text accepted: the longest URL, ``#``, the form digit
#: and the digits of the largest zlib stream a plain text may carry.
MAX_LINK_LENGTH = MAX_LINK_BASE_LENGTH + 2 + _digits_for(_MAX_BYTES)


def bytes_to_digits(data: bytes) -> str:
    r"""The digit form of ``data`` (17 digits per 7 bytes, see the module docs).

    >>> bytes_to_digits(b"\x00\x01")
    '00001'
    >>> bytes_to_digits(bytes(7)) == "0" * 17
    True
    """
    view = bytes(data)
    out: list[str] = []
    for start in range(0, len(view), _GROUP_BYTES):
        group = view[start : start + _GROUP_BYTES]
        width = _GROUP_DIGITS if len(group) == _GROUP_BYTES else _TAIL_DIGITS[len(group)]
        out.append(str(int.from_bytes(group, "big")).zfill(width))
    return "".join(out)


def digits_to_bytes(digits: str) -> bytes:
    r"""The bytes of a digit form, refusing anything but the canonical form.

    Raises:
        CertificateError: ``CRT-02`` for a character other than ``0``-``9``,
            a length that is not the form of any byte string, or a group
            worth more than its bytes can hold.
        TypeError: if ``digits`` is not a ``str``.

    >>> digits_to_bytes("00001")
    b'\x00\x01'
    """
    if not isinstance(digits, str):
        raise TypeError(f"digit form must be str, not {type(digits).__name__}")
    if not (digits.isascii() and digits.isdigit()) and digits:
        position = next(i for i, ch in enumerate(digits) if not ("0" <= ch <= "9"))
        raise CertificateError(
            f"character {digits[position]!r} at offset {position} of the link is not a digit",
            code=ErrorCode.CRT_BAD_ENCODING,
            offset=position,
        )
    whole, tail = divmod(len(digits), _GROUP_DIGITS)
    tail_bytes = _TAIL_BYTES.get(tail)
    if tail_bytes is None:
        raise CertificateError(
            f"{len(digits)} digits are not the digit form of any bytes",
            code=ErrorCode.CRT_BAD_ENCODING,
            length=len(digits),
        )
    out = bytearray()
    for index in range(whole + (1 if tail else 0)):
        start = index * _GROUP_DIGITS
        size = _GROUP_BYTES if index < whole else tail_bytes
        value = int(digits[start : start + (_GROUP_DIGITS if index < whole else tail)])
        if value >> (8 * size):
            raise CertificateError(
                f"digit group at offset {start} is worth more than {size} bytes",
                code=ErrorCode.CRT_BAD_ENCODING,
                offset=start,
            )
        out += value.to_bytes(size, "big")
    return bytes(out)


def check_link_base(base: str) -> str:
    """Check the URL a link certificate starts with (without its ``#``); return it.

    It must start with ``http://`` or ``https://`` (any case), hold only
    printable ASCII other than ``#`` (no spaces; an international domain
    name in its ``xn--`` form) and be at most :data:`MAX_LINK_BASE_LENGTH`
    characters.

    Raises:
        CertificateError: ``CRT-01`` otherwise.
        TypeError: if ``base`` is not a ``str``.
    """
    if not isinstance(base, str):
        raise TypeError(f"link base must be str, not {type(base).__name__}")
    if not base.lower().startswith(_SCHEMES) or not base.partition("://")[2]:
        raise CertificateError(
            "a link certificate's URL must start with http:// or https://",
            code=ErrorCode.CRT_BAD_PREFIX,
        )
    if len(base) > MAX_LINK_BASE_LENGTH:
        raise CertificateError(
            f"the URL of a link certificate is longer than {MAX_LINK_BASE_LENGTH} characters",
            code=ErrorCode.CRT_BAD_PREFIX,
            length=len(base),
        )
    bad = next((ch for ch in base if not "!" <= ch <= "~" or ch == "#"), None)
    if bad is not None:
        raise CertificateError(
            f"the URL of a link certificate holds {bad!r} (printable ASCII without '#' only)",
            code=ErrorCode.CRT_BAD_PREFIX,
        )
    return base


def is_link(text: str) -> bool:
    """Whether ``text`` has the shape of a link certificate (an http(s) URL with ``#``).

    Only the shape: :func:`plain_text` checks the rest.
    """
    return isinstance(text, str) and text[:8].lower().startswith(_SCHEMES) and "#" in text


def link_text(text: str, base: str) -> str:
    """The link certificate of the plain JT1 ``text``, under the URL ``base``.

    ``base`` is the page's address without ``#`` (``https://verify.example/``).

    Raises:
        CertificateError: ``CRT-01`` for a bad ``base`` or a text that is
            not ``JT1:``, ``CRT-02`` for bad Base45, ``CRT-15`` for an
            over-long text.
    """
    check_link_base(base)
    data = b45decode(strip_prefix(text, JT1_PREFIX))
    return f"{base}#{LINK_FORM_VERSION}{bytes_to_digits(data)}"


def plain_text(link: str) -> str:
    """The plain ``JT1:`` text a link certificate carries.

    The URL is checked for its shape only, then dropped.

    Raises:
        CertificateError: ``CRT-15`` for an over-long link, ``CRT-01`` for a
            bad URL or an unknown form version, ``CRT-02`` for digits that
            are not the canonical form of some bytes.
        TypeError: if ``link`` is not a ``str``.
    """
    if not isinstance(link, str):
        raise TypeError(f"link must be str, not {type(link).__name__}")
    if len(link) > MAX_LINK_LENGTH:
        raise CertificateError(
            f"link of {len(link)} characters exceeds {MAX_LINK_LENGTH}",
            code=ErrorCode.CRT_TOO_LARGE,
            length=len(link),
        )
    base, sep, fragment = link.partition("#")
    if not sep:
        raise CertificateError(
            "a link certificate needs '#' before the certificate", code=ErrorCode.CRT_BAD_PREFIX
        )
    check_link_base(base)
    if fragment[:1] != LINK_FORM_VERSION:
        raise CertificateError(
            f"unknown link certificate form {fragment[:1]!r} (this release reads "
            f"{LINK_FORM_VERSION!r})",
            code=ErrorCode.CRT_BAD_PREFIX,
        )
    return JT1_PREFIX + b45encode(digits_to_bytes(fragment[1:]))

"""A fast QR Code encoder and PNG writer whose symbols are segno's, module for module.

Layer 8, private to :mod:`jura_trust.qr`. segno encodes and draws one
module at a time in pure Python (about 4 ms to encode and 4 ms to write the
PNG of a version 19 code); issuing a batch of certificates renders
thousands of codes. This module does the same work on whole byte strings
and integers, for what :mod:`jura_trust.qr` uses (one or more segments in
numeric, alphanumeric or byte mode, no ECI, no Micro QR, no error-level
boost; a link certificate is a byte or alphanumeric segment for the URL and
a numeric one for the certificate):

* the data bit stream (ISO/IEC 18004:2015 7.4) as one integer, then
  Reed-Solomon error correction (7.5) with a per-generator table of the 256
  possible feedback products, blocks interleaved (7.6);
* placement (7.7) as one gather through a per-version table: the masked bit
  stream and a template of the function patterns (finder, separators,
  timing, alignment, dark module, version and mask-0 format information)
  are joined and each module picks its source;
* the mask is chosen by :mod:`jura_trust._qrmask` on that mask-0 symbol;
* the PNG (greyscale, 1 bit per pixel, black on white) is written row by row
  from byte translations, with the rows and filters segno writes, so the
  file is byte-identical to segno's and the pixels are the same.

Where segno departs from a literal reading of the standard, this module does
as segno does, so that the symbols stay what :mod:`jura_trust.qr` produced
before (tests compare with segno for many texts): after the terminator, a
stream already on a codeword boundary gets a whole codeword of zero bits
before the pad codewords; a byte-mode text is encoded as ISO-8859-1, else
Shift JIS, else UTF-8 (without an ECI header); the version is the smallest
one whose data capacity holds the stream.

Everything here is a fact of the standard (tables 7, 9 and annex E, the
generator polynomials of annex A, the BCH codes of 7.9 and 7.10); segno is
the oracle in the tests, not a dependency of this module.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from operator import itemgetter

import attrs

from jura_trust import _qrmask

__all__ = [
    "ALPHANUMERIC_CHARS",
    "DataOverflowError",
    "Segment",
    "Symbol",
    "encode",
    "encode_segments",
    "png",
    "segment_bits",
    "version_for",
    "version_for_segments",
]

#: The 45 characters of alphanumeric mode, in the order of their values.
ALPHANUMERIC_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_ALNUM_VALUE = {c: i for i, c in enumerate(ALPHANUMERIC_CHARS)}

#: Table 9 of ISO/IEC 18004: per version 1..40 and level L, M, Q, H:
#: (error correction codewords per block, blocks of group 1, data codewords
#: per group-1 block, blocks of group 2, data codewords per group-2 block).
_BLOCKS: tuple[tuple[tuple[int, int, int, int, int], ...], ...] = (
    ((7, 1, 19, 0, 0), (10, 1, 16, 0, 0), (13, 1, 13, 0, 0), (17, 1, 9, 0, 0)),
    ((10, 1, 34, 0, 0), (16, 1, 28, 0, 0), (22, 1, 22, 0, 0), (28, 1, 16, 0, 0)),
    ((15, 1, 55, 0, 0), (26, 1, 44, 0, 0), (18, 2, 17, 0, 0), (22, 2, 13, 0, 0)),
    ((20, 1, 80, 0, 0), (18, 2, 32, 0, 0), (26, 2, 24, 0, 0), (16, 4, 9, 0, 0)),
    ((26, 1, 108, 0, 0), (24, 2, 43, 0, 0), (18, 2, 15, 2, 16), (22, 2, 11, 2, 12)),
    ((18, 2, 68, 0, 0), (16, 4, 27, 0, 0), (24, 4, 19, 0, 0), (28, 4, 15, 0, 0)),
    ((20, 2, 78, 0, 0), (18, 4, 31, 0, 0), (18, 2, 14, 4, 15), (26, 4, 13, 1, 14)),
    ((24, 2, 97, 0, 0), (22, 2, 38, 2, 39), (22, 4, 18, 2, 19), (26, 4, 14, 2, 15)),
    ((30, 2, 116, 0, 0), (22, 3, 36, 2, 37), (20, 4, 16, 4, 17), (24, 4, 12, 4, 13)),
    ((18, 2, 68, 2, 69), (26, 4, 43, 1, 44), (24, 6, 19, 2, 20), (28, 6, 15, 2, 16)),
    ((20, 4, 81, 0, 0), (30, 1, 50, 4, 51), (28, 4, 22, 4, 23), (24, 3, 12, 8, 13)),
    ((24, 2, 92, 2, 93), (22, 6, 36, 2, 37), (26, 4, 20, 6, 21), (28, 7, 14, 4, 15)),
    ((26, 4, 107, 0, 0), (22, 8, 37, 1, 38), (24, 8, 20, 4, 21), (22, 12, 11, 4, 12)),
    ((30, 3, 115, 1, 116), (24, 4, 40, 5, 41), (20, 11, 16, 5, 17), (24, 11, 12, 5, 13)),
    ((22, 5, 87, 1, 88), (24, 5, 41, 5, 42), (30, 5, 24, 7, 25), (24, 11, 12, 7, 13)),
    ((24, 5, 98, 1, 99), (28, 7, 45, 3, 46), (24, 15, 19, 2, 20), (30, 3, 15, 13, 16)),
    ((28, 1, 107, 5, 108), (28, 10, 46, 1, 47), (28, 1, 22, 15, 23), (28, 2, 14, 17, 15)),
    ((30, 5, 120, 1, 121), (26, 9, 43, 4, 44), (28, 17, 22, 1, 23), (28, 2, 14, 19, 15)),
    ((28, 3, 113, 4, 114), (26, 3, 44, 11, 45), (26, 17, 21, 4, 22), (26, 9, 13, 16, 14)),
    ((28, 3, 107, 5, 108), (26, 3, 41, 13, 42), (30, 15, 24, 5, 25), (28, 15, 15, 10, 16)),
    ((28, 4, 116, 4, 117), (26, 17, 42, 0, 0), (28, 17, 22, 6, 23), (30, 19, 16, 6, 17)),
    ((28, 2, 111, 7, 112), (28, 17, 46, 0, 0), (30, 7, 24, 16, 25), (24, 34, 13, 0, 0)),
    ((30, 4, 121, 5, 122), (28, 4, 47, 14, 48), (30, 11, 24, 14, 25), (30, 16, 15, 14, 16)),
    ((30, 6, 117, 4, 118), (28, 6, 45, 14, 46), (30, 11, 24, 16, 25), (30, 30, 16, 2, 17)),
    ((26, 8, 106, 4, 107), (28, 8, 47, 13, 48), (30, 7, 24, 22, 25), (30, 22, 15, 13, 16)),
    ((28, 10, 114, 2, 115), (28, 19, 46, 4, 47), (28, 28, 22, 6, 23), (30, 33, 16, 4, 17)),
    ((30, 8, 122, 4, 123), (28, 22, 45, 3, 46), (30, 8, 23, 26, 24), (30, 12, 15, 28, 16)),
    ((30, 3, 117, 10, 118), (28, 3, 45, 23, 46), (30, 4, 24, 31, 25), (30, 11, 15, 31, 16)),
    ((30, 7, 116, 7, 117), (28, 21, 45, 7, 46), (30, 1, 23, 37, 24), (30, 19, 15, 26, 16)),
    ((30, 5, 115, 10, 116), (28, 19, 47, 10, 48), (30, 15, 24, 25, 25), (30, 23, 15, 25, 16)),
    ((30, 13, 115, 3, 116), (28, 2, 46, 29, 47), (30, 42, 24, 1, 25), (30, 23, 15, 28, 16)),
    ((30, 17, 115, 0, 0), (28, 10, 46, 23, 47), (30, 10, 24, 35, 25), (30, 19, 15, 35, 16)),
    ((30, 17, 115, 1, 116), (28, 14, 46, 21, 47), (30, 29, 24, 19, 25), (30, 11, 15, 46, 16)),
    ((30, 13, 115, 6, 116), (28, 14, 46, 23, 47), (30, 44, 24, 7, 25), (30, 59, 16, 1, 17)),
    ((30, 12, 121, 7, 122), (28, 12, 47, 26, 48), (30, 39, 24, 14, 25), (30, 22, 15, 41, 16)),
    ((30, 6, 121, 14, 122), (28, 6, 47, 34, 48), (30, 46, 24, 10, 25), (30, 2, 15, 64, 16)),
    ((30, 17, 122, 4, 123), (28, 29, 46, 14, 47), (30, 49, 24, 10, 25), (30, 24, 15, 46, 16)),
    ((30, 4, 122, 18, 123), (28, 13, 46, 32, 47), (30, 48, 24, 14, 25), (30, 42, 15, 32, 16)),
    ((30, 20, 117, 4, 118), (28, 40, 47, 7, 48), (30, 43, 24, 22, 25), (30, 10, 15, 67, 16)),
    ((30, 19, 118, 6, 119), (28, 18, 47, 31, 48), (30, 34, 24, 34, 25), (30, 20, 15, 61, 16)),
)
# fmt: on
_LEVEL_INDEX = {"L": 0, "M": 1, "Q": 2, "H": 3}
#: Mode indicators (table 2) and character count indicator lengths (table 3)
#: for versions 1-9, 10-26 and 27-40.
_MODES = {
    "numeric": (0b0001, (10, 12, 14)),
    "alphanumeric": (0b0010, (9, 11, 13)),
    "byte": (0b0100, (8, 16, 16)),
}
#: Bits of a final group of 0, 1 or 2 digits in numeric mode (7.4.3).
_NUMERIC_TAIL_BITS = (0, 4, 7)
_PAD_CODEWORDS = bytes((0xEC, 0x11)) * 1500
_VERSION_GENERATOR = 0x1F25
_GF_POLY = 0x11D
_TO_BITS = bytes.maketrans(b"01", b"\x00\x01")
#: A matrix row (1 = dark) to PNG pixels (1 = white, palette order of segno's PNG).
_TO_PIXELS = bytes.maketrans(b"\x00\x01", b"LD")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


#: One segment of a symbol: its text and its mode (``"numeric"``,
#: ``"alphanumeric"`` or ``"byte"``).
Segment = tuple[str, str]


class DataOverflowError(ValueError):
    """The text does not fit any QR version at the level asked for (or the one pinned)."""


def _size(version: int) -> int:
    return 4 * version + 17


def _range_index(version: int) -> int:
    return 0 if version < 10 else 1 if version < 27 else 2


def _data_codewords(version: int, level: str) -> int:
    _, b1, d1, b2, d2 = _BLOCKS[version - 1][_LEVEL_INDEX[level]]
    return b1 * d1 + b2 * d2


def _payload(text: str, mode: str) -> tuple[int, int, int]:
    """(character count, payload bits as an int, number of payload bits)."""
    if mode == "numeric":
        if text and not (text.isascii() and text.isdigit()):
            raise ValueError("numeric mode holds the digits 0 to 9 only")
        n = len(text)
        full = n - n % 3
        bits = 0
        for i in range(0, full, 3):
            bits = (bits << 10) | int(text[i : i + 3])
        length = 10 * (full // 3)
        if n % 3:
            tail = _NUMERIC_TAIL_BITS[n % 3]
            bits = (bits << tail) | int(text[full:])
            length += tail
        return n, bits, length
    if mode == "alphanumeric":
        values = [_ALNUM_VALUE[c] for c in text]
        n = len(values)
        bits = 0
        for i in range(0, n - 1, 2):
            bits = (bits << 11) | (values[i] * 45 + values[i + 1])
        length = 11 * (n // 2)
        if n & 1:
            bits = (bits << 6) | values[-1]
            length += 6
        return n, bits, length
    if mode != "byte":
        raise ValueError(f"unknown QR mode {mode!r}")
    data = _byte_data(text)
    return len(data), int.from_bytes(data, "big"), 8 * len(data)


def _byte_data(text: str) -> bytes:
    for encoding in ("iso-8859-1", "shift_jis"):
        try:
            return text.encode(encoding)
        except UnicodeError:
            continue
    return text.encode("utf-8")


def version_for(text: str, level: str, mode: str) -> int:
    """The smallest version holding ``text`` in ``mode`` at ``level`` (``"L"``..``"H"``).

    Raises:
        DataOverflowError: if no version holds it.
    """
    return version_for_segments(((text, mode),), level)


def version_for_segments(
    segments: Sequence[Segment], level: str, *, version: int | None = None
) -> int:
    """The smallest version holding ``segments`` (in order) at ``level``.

    With ``version``, that version if it holds them.

    Raises:
        DataOverflowError: if no version (or not ``version``) holds them.
    """
    return _fit([(mode, *_payload(text, mode)) for text, mode in segments], level, version)


def segment_bits(segments: Sequence[Segment], version: int) -> int:
    """Data bits of ``segments`` at ``version`` (headers included, no terminator)."""
    total = 0
    for text, mode in segments:
        _, _, length = _payload(text, mode)
        total += 4 + _MODES[mode][1][_range_index(version)] + length
    return total


_Parts = list[tuple[str, int, int, int]]  # (mode, count, payload bits, number of bits)


def _fit(parts: _Parts, level: str, pinned: int | None) -> int:
    versions = range(1, 41) if pinned is None else (pinned,)
    for version in versions:
        bits = 0
        for mode, count, _, length in parts:
            _, cci = _MODES[mode]
            width = cci[_range_index(version)]
            if count >= 1 << width:
                break
            bits += 4 + width + length
        else:
            if bits <= 8 * _data_codewords(version, level):
                return version
    count = sum(part[1] for part in parts)
    where = "any QR version" if pinned is None else f"QR version {pinned}"
    raise DataOverflowError(f"{count} characters do not fit {where} at level {level}")


def _data_stream(segments: Sequence[Segment], level: str, pinned: int | None) -> tuple[int, bytes]:
    """The version and its data codewords (7.4), as segno writes them."""
    parts = [(mode, *_payload(text, mode)) for text, mode in segments]
    version = _fit(parts, level, pinned)
    stream = 0
    bits = 0
    for mode, count, payload, length in parts:
        indicator, cci = _MODES[mode]
        width = cci[_range_index(version)]
        stream = (((((stream << 4) | indicator) << width) | count) << length) | payload
        bits += 4 + width + length
    capacity = 8 * _data_codewords(version, level)
    terminator = min(capacity - bits, 4)
    # Then zero bits up to a codeword boundary: segno adds 8 when already on one.
    padding = terminator + 8 - (bits + terminator) % 8
    stream <<= padding
    bits += padding
    data = stream.to_bytes(bits // 8, "big") + _PAD_CODEWORDS[: max(0, (capacity - bits) // 8)]
    return version, data[: capacity // 8]


def _gf_tables() -> tuple[tuple[int, ...], tuple[int, ...]]:
    exp = [0] * 512
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= _GF_POLY
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return tuple(exp), tuple(log)


_EXP, _LOG = _gf_tables()


def _gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


@lru_cache(maxsize=32)
def _rs_table(degree: int) -> tuple[int, ...]:
    """For each feedback byte f: f times the generator's lower coefficients, as one int."""
    gen = [1]  # coefficients, highest degree first: prod (x - a^i), i < degree
    for i in range(degree):
        root = _EXP[i]
        nxt = [*gen, 0]
        for j, coefficient in enumerate(gen):
            nxt[j + 1] ^= _gf_mul(coefficient, root)
        gen = nxt
    lower = gen[1:]
    return tuple(int.from_bytes(bytes(_gf_mul(f, c) for c in lower), "big") for f in range(256))


def _ec_codewords(block: bytes, degree: int) -> bytes:
    """The ``degree`` error correction codewords of a data block (7.5.2)."""
    table = _rs_table(degree)
    shift = 8 * (degree - 1)
    keep = (1 << shift) - 1
    remainder = 0
    for byte in block:
        remainder = ((remainder & keep) << 8) ^ table[byte ^ (remainder >> shift)]
    return remainder.to_bytes(degree, "big")


def _final_message(version: int, level: str, data: bytes) -> bytes:
    """Data and error correction codewords, blocks interleaved (7.6)."""
    degree, b1, d1, b2, d2 = _BLOCKS[version - 1][_LEVEL_INDEX[level]]
    blocks = [data[i * d1 : (i + 1) * d1] for i in range(b1)]
    base = b1 * d1
    blocks += [data[base + i * d2 : base + (i + 1) * d2] for i in range(b2)]
    ec = [_ec_codewords(block, degree) for block in blocks]
    out = bytes(chain.from_iterable(zip(*blocks, strict=False)))
    if b2:
        out += bytes(block[d1] for block in blocks[b1:])
    return out + bytes(chain.from_iterable(zip(*ec, strict=True)))


def _version_bits(version: int) -> int:
    remainder = version << 12
    for bit in range(17, 11, -1):
        if remainder >> bit & 1:
            remainder ^= _VERSION_GENERATOR << (bit - 12)
    return (version << 12) | remainder


def _placement(version: int) -> list[tuple[int, int]]:
    """The data modules (row, column) in the order the bit stream fills them (7.7.3)."""
    size = _size(version)
    function = _qrmask.function_map(version)
    cells: list[tuple[int, int]] = []
    for strip, start in enumerate(range(size - 1, 0, -2)):
        right = start - 1 if start <= 6 else start  # the vertical timing column is skipped
        rows = range(size - 1, -1, -1) if strip % 2 == 0 else range(size)
        cells += ((i, j) for i in rows for j in (right, right - 1) if not function[i][j])
    return cells


def _function_patterns(version: int) -> bytearray:
    """The function patterns row after row (1 = dark); data and format areas 0.

    Finder, separator, timing and alignment patterns, the dark module and
    the version information.
    """
    size = _size(version)
    grid = bytearray(size * size)

    def put(r: int, c: int) -> None:
        grid[r * size + c] = 1

    for top, left in ((0, 0), (0, size - 7), (size - 7, 0)):
        for r in range(7):
            for c in range(7):
                ring = max(abs(r - 3), abs(c - 3))
                if ring != 2:
                    put(top + r, left + c)
    for k in range(8, size - 8, 2):
        put(6, k)
        put(k, 6)
    centers = _qrmask.alignment_centers(version)
    corners = {(centers[0], centers[-1]), (centers[-1], centers[0])} if centers else set()
    for r in centers:
        for c in centers:
            if (r, c) == (6, 6) or (r, c) in corners:
                continue
            for dr in range(-2, 3):
                for dc in range(-2, 3):
                    if max(abs(dr), abs(dc)) != 1:
                        put(r + dr, c + dc)
    put(size - 8, 8)
    if version >= 7:
        bits = _version_bits(version)
        for i in range(18):
            if bits >> i & 1:
                put(i // 3, size - 11 + i % 3)
                put(size - 11 + i % 3, i // 3)
    return grid


@attrs.frozen(slots=True)
class _Layout:
    """Per-version placement: how the bit stream and the template become the matrix."""

    size: int
    #: Data modules (the bit stream's length, remainder bits included).
    data_modules: int
    #: Mask 0 over the placed bit stream, first bit highest.
    mask0: int
    #: The function patterns (finder, separators, timing, alignment, dark
    #: module, version information), row-major, 1 = dark.
    patterns: bytes
    #: Picks, from ``bits + template``, each module of the row-major matrix:
    #: a data module takes its bit of the stream, the others the template's.
    gather: itemgetter[tuple[int, ...]]


@lru_cache(maxsize=40)
def _layout(version: int) -> _Layout:
    size = _size(version)
    cells = _placement(version)
    count = len(cells)
    gather = [count + m for m in range(size * size)]
    mask0 = 0
    for k, (i, j) in enumerate(cells):
        gather[i * size + j] = k
        if (i + j) % 2 == 0:
            mask0 |= 1 << (count - 1 - k)
    return _Layout(
        size=size,
        data_modules=count,
        mask0=mask0,
        patterns=bytes(_function_patterns(version)),
        gather=itemgetter(*gather),
    )


@lru_cache(maxsize=160)
def _template(version: int, level: str) -> bytes:
    """The function patterns with the format information of ``level`` and mask 0."""
    size = _size(version)
    grid = bytearray(_layout(version).patterns)
    bits = _qrmask.format_bits(level, 0)
    for cells in _qrmask._format_cells(size):
        for bit, (r, c) in enumerate(cells):
            grid[r * size + c] = bits >> bit & 1
    return bytes(grid)


@attrs.frozen(slots=True)
class Symbol:
    """An encoded QR symbol.

    Attributes:
        matrix: the rows, one byte per module (1 = dark), quiet zone excluded.
        version: 1 to 40.
        error: the level, ``"L"``, ``"M"``, ``"Q"`` or ``"H"``.
        mask: the data mask, 0 to 7.
    """

    matrix: tuple[bytes, ...]
    version: int
    error: str
    mask: int


def encode(
    text: str, level: str, mode: str, mask: int | None, *, version: int | None = None
) -> Symbol:
    """Encode ``text`` in ``mode`` (``"numeric"``/``"alphanumeric"``/``"byte"``) at ``level``.

    ``level`` is ``"L"`` to ``"H"``; ``mask`` is 0 to 7, or ``None`` for
    the ISO/IEC 18004 evaluation; ``version`` pins the version (``None``:
    the smallest that holds the text).

    Raises:
        DataOverflowError: if no version (or not the pinned one) holds the text.
    """
    return encode_segments(((text, mode),), level, mask, version=version)


def encode_segments(
    segments: Sequence[Segment], level: str, mask: int | None, *, version: int | None = None
) -> Symbol:
    """Encode ``segments`` one after the other in one symbol (see :func:`encode`).

    Raises:
        DataOverflowError: if no version (or not the pinned one) holds them.
        ValueError: for an unknown mode or a character the mode cannot hold.
    """
    if version is not None and not 1 <= version <= 40:
        raise ValueError(f"a QR version is 1 to 40, not {version!r}")
    version, data = _data_stream(segments, level, version)
    message = _final_message(version, level, data)
    layout = _layout(version)
    n = layout.data_modules
    size = layout.size
    stream = (int.from_bytes(message, "big") << (n - 8 * len(message))) ^ layout.mask0
    bits = format(stream, f"0{n}b").encode("ascii").translate(_TO_BITS)
    flat = bytes(layout.gather(bits + _template(version, level)))
    matrix = tuple(bytearray(flat[r * size : (r + 1) * size]) for r in range(size))
    chosen = _qrmask.best_mask(matrix, version, level) if mask is None else mask
    if chosen:
        _qrmask.remask(matrix, version, level, chosen)
    return Symbol(tuple(bytes(row) for row in matrix), version, level, chosen)


def png(
    matrix: Sequence[bytes | bytearray], scale: int, border: int, *, dpi: int | None = None
) -> bytes:
    """The matrix as a black-on-white greyscale PNG of 1 bit per pixel (segno's bytes).

    With ``dpi``, a ``pHYs`` chunk (before the image data) gives the pixel
    density, so that printing at 100 % gives modules of ``scale / dpi``
    inches; without it the file is byte for byte segno's.

    Raises:
        ValueError: for a scale below 1, a negative or fractional border or a
            density below 1.
    """
    if dpi is not None and (isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1):
        raise ValueError(f"dpi must be a positive integer, not {dpi!r}")
    scale = int(scale)
    if scale <= 0:
        raise ValueError(f"scale must be a positive number, not {scale!r}")
    if int(border) != border or border < 0:
        raise ValueError(f"border must be a non-negative integer, not {border!r}")
    border = int(border)
    size = len(matrix)
    width = (size + 2 * border) * scale
    row_bytes = (width + 7) // 8
    pad = b"0" * (8 * row_bytes - width)
    side = b"1" * (border * scale)
    light_line = b"\0" + int(b"1" * width + pad, 2).to_bytes(row_bytes, "big")
    quiet = light_line * (border * scale)
    repeat = (b"\2" + bytes(row_bytes)) * (scale - 1)
    dark = b"0" * scale
    light = b"1" * scale
    lines = [quiet]
    for row in matrix:
        pixels = bytes(row).translate(_TO_PIXELS).replace(b"L", light).replace(b"D", dark)
        value = int(side + pixels + side + pad, 2)
        lines.append(b"\0" + value.to_bytes(row_bytes, "big") + repeat)
    lines.append(quiet)
    height = width
    return b"".join(
        (
            _PNG_SIGNATURE,
            _chunk(b"IHDR", struct.pack(">2I5B", width, height, 1, 0, 0, 0, 0)),
            b"" if dpi is None else _chunk(b"pHYs", struct.pack(">2IB", *[_per_metre(dpi)] * 2, 1)),
            _chunk(b"IDAT", zlib.compress(b"".join(lines), 9)),
            _chunk(b"IEND", b""),
        )
    )


def _per_metre(dpi: int) -> int:
    """Pixels per metre (the unit of ``pHYs``) for ``dpi`` pixels per inch, rounded."""
    return (dpi * 10000 * 2 + 254) // (254 * 2)


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

"""Fast, exact QR data-mask selection (ISO/IEC 18004:2015 7.8, as segno scores it).

Layer 8, private to :mod:`jura_trust.qr`. The encoder must try the eight
data masks and keep the one with the lowest penalty score (rules N1 to N4,
first mask wins a tie). segno does it module by module in pure Python,
which is most of its encoding time; this module gets the same answer from
one symbol segno encoded with mask 0:

* the data modules of mask ``k`` are those of mask 0 XOR (pattern 0 XOR
  pattern ``k``), the function patterns are unchanged;
* the symbol is scored as segno scores it: before format and version
  information are written, so the format and version areas and the dark
  module count as light;
* the whole matrix is packed into one integer (a row, then 4 light guard
  modules, then the next row), once row by row and once column by column,
  so each rule is a handful of integer operations for all lines at once.

The scoring follows segno exactly where it departs from a literal reading
of the standard: N3 (the 1:1:3:1:1 finder-like pattern with 4 light modules
before or after, modules outside the symbol counting as light) scans each
line from its start and, after a pattern it counts, resumes 7 modules on,
so an overlapping pattern starting 4 or 6 modules later is not counted.
N4 is ``10 * int(abs(dark / total * 100 - 50) / 5)`` (for every QR size
this floating-point form gives the exact result; boundaries such as 40 %
dark score 20).

Only layout facts of the standard are used (finder, separator, timing,
alignment, format and version areas, the dark module, the mask conditions
and the format-information BCH code); nothing here depends on segno.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import attrs

__all__ = [
    "LayoutError",
    "alignment_centers",
    "best_mask",
    "format_bits",
    "function_map",
    "mask_penalties",
    "penalty",
    "remask",
]

#: Light guard modules between packed lines (at least 4: the N3 light areas).
_GUARD = 4
#: Error-correction level indicators of the format information.
_LEVEL_BITS = {"L": 0b01, "M": 0b00, "Q": 0b11, "H": 0b10}
#: Format information: BCH(15, 5) generator and the XOR mask.
_FORMAT_GENERATOR = 0b10100110111
_FORMAT_XOR = 0b101010000010010
#: Data mask conditions of ISO/IEC 18004 Table 10 (i = row, j = column):
#: a data module is inverted where the condition holds.
_MASKS: tuple[Callable[[int, int], bool], ...] = (
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
)
_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
#: A period of every mask condition, in rows and in columns.
_PERIOD = 12


class LayoutError(ValueError):
    """The matrix is not the QR symbol this module expects (size, values, format)."""


def alignment_centers(version: int) -> tuple[int, ...]:
    """Row/column coordinates of the alignment pattern centres (ISO/IEC 18004 Annex E).

    Version 1 has none; from version 2 there are ``version // 7 + 2``
    coordinates, the first 6, the last ``size - 7``, the others evenly
    spaced by an even step counted back from the last (26 for version 32).
    """
    if not 1 <= version <= 40:
        raise ValueError(f"QR version must be 1 to 40, not {version!r}")
    if version == 1:
        return ()
    size = 4 * version + 17
    count = version // 7 + 2
    if version == 32:
        step = 26
    else:
        # The smallest even step that spreads count - 1 gaps over the span.
        span = size - 13
        gaps = count - 1
        step = -(-span // gaps)
        step += step % 2
    return (6, *(size - 7 - step * k for k in range(count - 2, -1, -1)))


def format_bits(error: str, mask: int) -> int:
    """The 15 format-information bits for an error level (``"L"``...) and a mask 0 to 7."""
    data = (_LEVEL_BITS[error.upper()] << 3) | mask
    remainder = data << 10
    for bit in range(14, 9, -1):
        if remainder >> bit & 1:
            remainder ^= _FORMAT_GENERATOR << (bit - 10)
    return ((data << 10) | remainder) ^ _FORMAT_XOR


def _format_cells(size: int) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """(row, column) of format bit 0..14, for the copy near the top-left finder and the other."""
    near = [(i, 8) for i in range(6)] + [(7, 8), (8, 8), (8, 7)] + [(8, 5 - i) for i in range(6)]
    other = [(8, size - 1 - i) for i in range(8)] + [(size - 15 + i, 8) for i in range(8, 15)]
    return tuple(near), tuple(other)


def _version_cells(version: int) -> list[tuple[int, int]]:
    if version < 7:
        return []
    size = 4 * version + 17
    cells = []
    for i in range(6):
        for k in range(3):
            cells += [(i, size - 11 + k), (size - 11 + k, i)]
    return cells


@lru_cache(maxsize=40)
def function_map(version: int) -> tuple[bytes, ...]:
    """Rows of 1 (function pattern or reserved area) and 0 (data module) for a version.

    Function modules: the finder patterns with their separators, the timing
    patterns, the alignment patterns, both format-information areas with the
    dark module, and the version-information areas (version 7 and up).
    """
    centers = alignment_centers(version)
    size = 4 * version + 17
    grid = [bytearray(size) for _ in range(size)]

    def fill(top: int, left: int, height: int, width: int) -> None:
        for row in grid[top : top + height]:
            row[left : left + width] = b"\x01" * width

    for top, left in ((0, 0), (0, size - 8), (size - 8, 0)):
        fill(top, left, 8, 8)
    fill(6, 0, 1, size)
    fill(0, 6, size, 1)
    corners = {(centers[0], centers[-1]), (centers[-1], centers[0])} if centers else set()
    for r in centers:
        for c in centers:
            if (r, c) != (6, 6) and (r, c) not in corners:
                fill(r - 2, c - 2, 5, 5)
    fill(8, 0, 1, 9)
    fill(0, 8, 9, 1)
    fill(8, size - 8, 1, 8)
    fill(size - 8, 8, 8, 1)
    for r, c in _version_cells(version):
        grid[r][c] = 1
    return tuple(bytes(row) for row in grid)


@attrs.frozen(slots=True)
class _Grid:
    """Packing of a size x size matrix and the masks of valid positions per rule."""

    size: int
    stride: int
    n1_valid: int  # run starts: column 0 .. size - 2 (pairs inside the line)
    n2_valid: int  # 2 x 2 block corners: row and column 0 .. size - 2
    n3_valid: int  # pattern starts: column 0 .. size - 7


@lru_cache(maxsize=64)
def _grid(size: int) -> _Grid:
    stride = size + _GUARD

    def lines(width: int, count: int) -> int:
        one = (1 << width) - 1
        out = 0
        for r in range(count):
            out |= one << (_GUARD + r * stride)
        return out

    return _Grid(
        size=size,
        stride=stride,
        n1_valid=lines(size - 1, size),
        n2_valid=lines(size - 1, size - 1),
        n3_valid=lines(size - 6, size),
    )


def _pack(lines: Sequence[bytes | bytearray] | Sequence[Sequence[int]]) -> int:
    """Pack 0/1 lines into one int: line r, module j at bit 4 + r * (size + 4) + j."""
    guard = bytes(_GUARD)
    joined = guard + guard.join(bytes(line) for line in lines)
    try:
        return int(joined.translate(_TO_DIGITS)[::-1], 2)
    except ValueError:
        raise LayoutError("matrix modules must be 0 or 1") from None


def _n3_in_order(candidates: int, counted: int) -> int:
    """N3 patterns counted scanning left to right, resuming 7 modules after each count."""
    total = 0
    resume = 0
    while candidates:
        low = candidates & -candidates
        candidates ^= low
        position = low.bit_length() - 1
        if position >= resume and counted & low:
            total += 1
            resume = position + 7
    return total


def _line_penalty(packed: int, n3_valid: int, n1_valid: int) -> int:
    """N1 + N3 over every line (row or column) of a packed matrix."""
    same = ~(packed ^ (packed >> 1)) & n1_valid
    runs = same & (same >> 1) & (same >> 2) & (same >> 3)  # 5 equal modules from here
    # A run of L >= 5 scores L - 2: L - 4 windows of five, plus 2 at its start.
    score = runs.bit_count() + 2 * (runs & ~(same << 1)).bit_count()
    light = ~packed
    found = (
        packed
        & (light >> 1)
        & (packed >> 2)
        & (packed >> 3)
        & (packed >> 4)
        & (light >> 5)
        & (packed >> 6)
        & n3_valid
    )
    if found:
        light4 = light & (light >> 1) & (light >> 2) & (light >> 3)  # 4 light from here
        counted = found & ((light4 << 4) | (light4 >> 7))
        if counted & ((found >> 4) | (found >> 6)):
            score += 40 * _n3_in_order(found, counted)
        else:
            score += 40 * counted.bit_count()
    return score


def _penalty(rows: int, columns: int, grid: _Grid) -> int:
    score = _line_penalty(rows, grid.n3_valid, grid.n1_valid)
    score += _line_penalty(columns, grid.n3_valid, grid.n1_valid)
    vertical = ~(rows ^ (rows >> grid.stride))
    horizontal = ~(rows ^ (rows >> 1))
    score += 3 * (vertical & (vertical >> 1) & horizontal & grid.n2_valid).bit_count()
    dark = rows.bit_count()
    score += 10 * int(abs(dark / grid.size**2 * 100 - 50) / 5)
    return score


def penalty(matrix: Sequence[bytes | bytearray]) -> int:
    """The penalty score N1 + N2 + N3 + N4 of a square matrix of 0/1 modules, as segno scores it."""
    size = len(matrix)
    if size < 7 or any(len(row) != size for row in matrix):
        raise LayoutError("penalty needs a square matrix of at least 7 x 7 modules")
    return _penalty(_pack(matrix), _pack(list(zip(*matrix, strict=True))), _grid(size))


@attrs.frozen(slots=True)
class _Symbol:
    """Per-version constants: what to clear before scoring and each mask's XOR from mask 0."""

    version: int
    clear_rows: int  # format and version areas and the dark module, row packed
    clear_columns: int  # the same, column packed
    xor_rows: tuple[int, ...]  # mask k: data modules of pattern 0 XOR pattern k
    xor_columns: tuple[int, ...]
    xor_bytes: tuple[tuple[int, ...], ...]  # the same per row, one byte per module


@lru_cache(maxsize=40)
def _symbol(version: int) -> _Symbol:
    size = 4 * version + 17
    data = [bytes(1 - m for m in row) for row in function_map(version)]
    near, other = _format_cells(size)
    clear = [bytearray(size) for _ in range(size)]
    for r, c in (*near, *other, *_version_cells(version)):
        clear[r][c] = 1
    clear[size - 8][8] = 1  # the dark module
    # Every mask condition repeats with period 12 in both directions.
    repeat = -(-size // _PERIOD)
    xor_rows, xor_columns, xor_bytes = [], [], []
    for mask in _MASKS:
        tile = [
            bytes(_MASKS[0](i, j) != mask(i, j) for j in range(_PERIOD)) * repeat
            for i in range(_PERIOD)
        ]
        rows = [
            (
                int.from_bytes(data[i], "big") & int.from_bytes(tile[i % _PERIOD][:size], "big")
            ).to_bytes(size, "big")
            for i in range(size)
        ]
        xor_rows.append(_pack(rows))
        xor_columns.append(_pack(list(zip(*rows, strict=True))))
        xor_bytes.append(tuple(int.from_bytes(row, "big") for row in rows))
    return _Symbol(
        version=version,
        clear_rows=_pack(clear),
        clear_columns=_pack(list(zip(*clear, strict=True))),
        xor_rows=tuple(xor_rows),
        xor_columns=tuple(xor_columns),
        xor_bytes=tuple(xor_bytes),
    )


def _check(matrix: Sequence[bytearray], version: int, error: str, mask: int) -> int:
    """The matrix size after checking it is a QR symbol of ``version`` with ``mask``."""
    if not 1 <= version <= 40 or error.upper() not in _LEVEL_BITS:
        raise LayoutError(f"not a QR version and level: {version!r}, {error!r}")
    size = 4 * version + 17
    if len(matrix) != size or any(
        not isinstance(row, bytearray) or len(row) != size for row in matrix
    ):
        raise LayoutError(f"expected {size} bytearray rows of {size} modules")
    expected = format_bits(error, mask)
    for cells in _format_cells(size):
        read = sum(matrix[r][c] << bit for bit, (r, c) in enumerate(cells))
        if read != expected:
            raise LayoutError("format information not where ISO/IEC 18004 puts it")
    if matrix[size - 8][8] != 1 or matrix[6][8:-8] != bytearray([1, 0]) * (size // 2 - 8) + b"\1":
        raise LayoutError("dark module or timing pattern not where expected")
    return size


def mask_penalties(matrix: Sequence[bytearray], version: int, error: str) -> list[int]:
    """The penalty score of each mask 0 to 7, from the finished mask-0 symbol ``matrix``.

    ``matrix`` is the symbol as an encoder writes it with mask 0 (format and
    version information included); it is not modified.

    Raises:
        LayoutError: if ``matrix`` is not such a symbol.
    """
    size = _check(matrix, version, error, 0)
    symbol = _symbol(version)
    grid = _grid(size)
    rows = _pack(matrix) & ~symbol.clear_rows
    columns = _pack(list(zip(*matrix, strict=True))) & ~symbol.clear_columns
    return [
        _penalty(rows ^ xr, columns ^ xc, grid)
        for xr, xc in zip(symbol.xor_rows, symbol.xor_columns, strict=True)
    ]


def best_mask(matrix: Sequence[bytearray], version: int, error: str) -> int:
    """The mask ISO/IEC 18004 chooses: the lowest penalty, the smallest number on a tie.

    Raises:
        LayoutError: if ``matrix`` is not a finished mask-0 symbol of ``version``.
    """
    scores = mask_penalties(matrix, version, error)
    return scores.index(min(scores))


def remask(matrix: Sequence[bytearray], version: int, error: str, mask: int) -> None:
    """Turn the finished mask-0 symbol ``matrix`` into the symbol with ``mask``, in place.

    Raises:
        LayoutError: if ``matrix`` is not a finished mask-0 symbol of ``version``.
    """
    size = _check(matrix, version, error, 0)
    if mask == 0:
        return
    for row, xor in zip(matrix, _symbol(version).xor_bytes[mask], strict=True):
        row[:] = (int.from_bytes(row, "big") ^ xor).to_bytes(size, "big")
    bits = format_bits(error, mask)
    for cells in _format_cells(size):
        for bit, (r, c) in enumerate(cells):
            matrix[r][c] = bits >> bit & 1

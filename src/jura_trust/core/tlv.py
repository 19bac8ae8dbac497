"""Strict KSI TLV8/TLV16 codec that keeps every element's raw bytes.

CONSENSUS-CRITICAL: several KSI computations hash the *original* encoding
of an element (metadata siblings, the calendar-auth-record's published
data, the publications file's signed prefix). This module never
re-serialises what it parsed: :attr:`TLV.raw` is the exact input slice.

Layout (spec/ksi-format.md section 1): the first byte carries the TLV16 flag
(0x80), the non-critical flag N (0x40), the forward flag F (0x20) and the
high bits of the type. TLV8 has a 5-bit type and an 8-bit length; TLV16 a
13-bit type and a 16-bit length.

Two levels of API:

* :func:`decode`, :func:`decode_sequence`, :func:`encode`: elements.
* :class:`Template` / :func:`parse_composite`: the structural rules
  (unknown critical child, duplicates, missing mandatory fields, value
  kinds) that every KSI structure is parsed with.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from jura_trust._value import Value, _init
from jura_trust.core.hashing import IMPRINT_SIZES, Imprint
from jura_trust.errors import ErrorCode, FormatError

__all__ = [
    "MAX_DEPTH",
    "MAX_INPUT_SIZE",
    "MAX_TLV8_LENGTH",
    "MAX_TLV8_TYPE",
    "MAX_TLV16_LENGTH",
    "MAX_TLV16_TYPE",
    "TLV",
    "Field",
    "Kind",
    "Template",
    "decode",
    "decode_imprint",
    "decode_sequence",
    "decode_uint",
    "decode_utf8",
    "encode",
    "encode_uint",
    "encode_utf8",
    "keep_raw",
    "parse_composite",
]

#: Largest type a TLV8 header can hold.
MAX_TLV8_TYPE = 0x1F
#: Largest value length a TLV8 header can hold.
MAX_TLV8_LENGTH = 0xFF
#: Largest type a TLV16 header can hold.
MAX_TLV16_TYPE = 0x1FFF
#: Largest value length a TLV16 header can hold.
MAX_TLV16_LENGTH = 0xFFFF
#: Deepest nesting of composite elements accepted by :func:`parse_composite`.
MAX_DEPTH = 24
#: Largest input accepted by :func:`decode_sequence` (a publications file is
#: the largest KSI structure; real ones are well under 100 KiB).
MAX_INPUT_SIZE = 16 * 1024 * 1024
#: Largest unsigned integer width in bytes.
MAX_UINT_BYTES = 8

_FLAG_TLV16 = 0x80
_FLAG_N = 0x40
_FLAG_F = 0x20


class TLV(Value):
    """One parsed (or built) TLV element.

    Attributes:
        type: the element type (0..0x1FFF).
        value: the value bytes (for a composite: the encoded children).
        non_critical: the N flag: unknown elements with it may be ignored.
        forward: the F flag: intermediates pass unknown elements on.
        tlv16: whether the header is the 4-byte TLV16 form.
        raw: the exact encoding, header included.
    """

    __slots__ = ("forward", "non_critical", "raw", "tlv16", "type", "value")
    _fields = ("type", "value", "non_critical", "forward", "tlv16", "raw")
    type: int
    value: bytes
    non_critical: bool
    forward: bool
    tlv16: bool
    raw: bytes

    def __init__(  # noqa: PLR0917 - positional, as before
        self,
        type: int,  # noqa: A002 - the KSI term
        value: bytes,
        non_critical: bool = False,
        forward: bool = False,
        tlv16: bool = False,
        raw: bytes = b"",
    ) -> None:
        _init(self, "type", type)
        _init(self, "value", value)
        _init(self, "non_critical", non_critical)
        _init(self, "forward", forward)
        _init(self, "tlv16", tlv16)
        _init(self, "raw", raw)

    @classmethod
    def build(
        cls,
        type: int,  # noqa: A002 - the KSI term
        value: bytes,
        *,
        non_critical: bool = False,
        forward: bool = False,
        force_tlv16: bool = False,
    ) -> TLV:
        """Build an element, choosing the header as KSI writers do."""
        raw = encode(
            type, value, non_critical=non_critical, forward=forward, force_tlv16=force_tlv16
        )
        return cls(type, bytes(value), non_critical, forward, raw[0] & _FLAG_TLV16 != 0, raw)

    def children(self) -> list[TLV]:
        """Parse the value as a sequence of child elements."""
        return decode_sequence(self.value, _limit=False)

    def __bytes__(self) -> bytes:
        return self.raw


def encode(
    type: int,  # noqa: A002 - the KSI term
    value: bytes,
    *,
    non_critical: bool = False,
    forward: bool = False,
    force_tlv16: bool = False,
) -> bytes:
    """Encode one element.

    TLV16 is used exactly when the type is above 0x1F or the value is longer
    than 255 bytes (or when ``force_tlv16`` is set), as KSI writers do.
    """
    if not 0 <= type <= MAX_TLV16_TYPE:
        raise ValueError(f"TLV type 0x{type:x} out of range")
    length = len(value)
    if length > MAX_TLV16_LENGTH:
        raise ValueError(f"TLV value of {length} bytes exceeds {MAX_TLV16_LENGTH}")
    flags = (_FLAG_N if non_critical else 0) | (_FLAG_F if forward else 0)
    if force_tlv16 or type > MAX_TLV8_TYPE or length > MAX_TLV8_LENGTH:
        header = bytes((_FLAG_TLV16 | flags | (type >> 8), type & 0xFF, length >> 8, length & 0xFF))
    else:
        header = bytes((flags | type, length))
    return header + bytes(value)


def _read_one(data: bytes, pos: int, end: int) -> tuple[TLV, int]:
    if end - pos < 2:
        raise FormatError("truncated TLV header", code=ErrorCode.FMT_TRUNCATED, offset=pos)
    b0 = data[pos]
    if b0 & _FLAG_TLV16:
        if end - pos < 4:
            raise FormatError("truncated TLV16 header", code=ErrorCode.FMT_TRUNCATED, offset=pos)
        typ = ((b0 & 0x1F) << 8) | data[pos + 1]
        length = (data[pos + 2] << 8) | data[pos + 3]
        start = pos + 4
        tlv16 = True
    else:
        typ = b0 & 0x1F
        length = data[pos + 1]
        start = pos + 2
        tlv16 = False
    stop = start + length
    if stop > end:
        raise FormatError(
            f"TLV 0x{typ:x} declares {length} bytes but only {end - start} remain",
            code=ErrorCode.FMT_TRUNCATED,
            offset=pos,
            type=typ,
        )
    elem = TLV(
        typ,
        data[start:stop],
        bool(b0 & _FLAG_N),
        bool(b0 & _FLAG_F),
        tlv16,
        data[pos:stop],
    )
    return elem, stop


def decode(data: bytes) -> TLV:
    """Decode exactly one element; bytes after it raise FMT-02."""
    data = bytes(data)
    if len(data) > MAX_INPUT_SIZE:
        raise FormatError("input too large", code=ErrorCode.FMT_LIMIT, size=len(data))
    elem, stop = _read_one(data, 0, len(data))
    if stop != len(data):
        raise FormatError(
            f"{len(data) - stop} unexpected bytes after the TLV element",
            code=ErrorCode.FMT_TRAILING_DATA,
            offset=stop,
        )
    return elem


def decode_sequence(data: bytes, *, _limit: bool = True) -> list[TLV]:
    """Decode a concatenation of elements (possibly empty)."""
    data = bytes(data)
    if _limit and len(data) > MAX_INPUT_SIZE:
        raise FormatError("input too large", code=ErrorCode.FMT_LIMIT, size=len(data))
    out: list[TLV] = []
    pos = 0
    end = len(data)
    while pos < end:
        elem, pos = _read_one(data, pos, end)
        out.append(elem)
    return out


def iter_sequence(data: bytes, offset: int = 0) -> Iterator[tuple[int, TLV]]:
    """Yield ``(offset, element)`` pairs over a concatenation of elements."""
    pos = offset
    end = len(data)
    while pos < end:
        start = pos
        elem, pos = _read_one(data, pos, end)
        yield start, elem


# -- primitive values -------------------------------------------------------


def decode_uint(value: bytes, *, what: str = "integer") -> int:
    """Decode a KSI unsigned integer: big-endian, minimal, at most 8 bytes.

    The empty value is zero; a leading zero byte (including ``00``) is
    rejected as non-minimal.
    """
    if len(value) > MAX_UINT_BYTES:
        raise FormatError(
            f"{what} is {len(value)} bytes long (at most {MAX_UINT_BYTES})",
            code=ErrorCode.FMT_BAD_INTEGER,
        )
    if value and value[0] == 0:
        raise FormatError(
            f"{what} is not minimally encoded (leading zero byte)",
            code=ErrorCode.FMT_BAD_INTEGER,
        )
    return int.from_bytes(value, "big")


def encode_uint(n: int) -> bytes:
    """Encode an unsigned integer minimally (zero is the empty value)."""
    if n < 0 or n >= 1 << 64:
        raise ValueError(f"unsigned integer {n} out of range")
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def decode_utf8(value: bytes, *, allow_empty: bool = True, what: str = "string") -> str:
    """Decode a KSI string: UTF-8 with a terminating NUL inside the value."""
    if not value or value[-1] != 0:
        raise FormatError(f"{what} lacks its terminating NUL byte", code=ErrorCode.FMT_BAD_STRING)
    body = value[:-1]
    if b"\x00" in body:
        raise FormatError(f"{what} contains an embedded NUL", code=ErrorCode.FMT_BAD_STRING)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{what} is not valid UTF-8", code=ErrorCode.FMT_BAD_STRING) from None
    if not text and not allow_empty:
        raise FormatError(f"{what} must not be empty", code=ErrorCode.FMT_BAD_STRING)
    return text


def encode_utf8(text: str) -> bytes:
    """Encode a KSI string (UTF-8 plus a terminating NUL)."""
    if "\x00" in text:
        raise ValueError("KSI strings cannot contain NUL characters")
    return text.encode("utf-8") + b"\x00"


def decode_imprint(value: bytes, *, what: str = "imprint") -> Imprint:
    """Decode an imprint value; unknown algorithms or wrong lengths raise FMT-08."""
    if not value or IMPRINT_SIZES.get(value[0]) != len(value):
        # Let Imprint produce the precise message.
        try:
            return Imprint(bytes(value))
        except FormatError as exc:
            raise FormatError(f"{what}: {exc.message}", code=exc.code) from None
    return Imprint(bytes(value))


# -- templates --------------------------------------------------------------


class Kind(enum.Enum):
    """The value kind of a template field."""

    UINT = "uint"
    UTF8 = "utf8"
    UTF8_NONEMPTY = "utf8-nonempty"
    BYTES = "bytes"
    IMPRINT = "imprint"
    #: A composite with a nested template; the parsed value is a
    #: :class:`Parsed`.
    COMPOSITE = "composite"
    #: Keep the element itself (:class:`TLV`) for the caller to interpret.
    ELEMENT = "element"


class Field(Value):
    """One child element of a template."""

    __slots__ = ("kind", "mandatory", "multiple", "name", "template")
    _fields = ("name", "kind", "mandatory", "multiple", "template")
    name: str
    kind: Kind
    mandatory: bool
    multiple: bool
    template: Template | None

    def __init__(
        self,
        name: str,
        kind: Kind,
        *,
        mandatory: bool = False,
        multiple: bool = False,
        template: Template | None = None,
    ) -> None:
        _init(self, "name", name)
        _init(self, "kind", kind)
        _init(self, "mandatory", mandatory)
        _init(self, "multiple", multiple)
        _init(self, "template", template)


class Template(Value):
    """The allowed children of a composite element, by type."""

    __slots__ = ("fields", "name")
    _fields = ("name", "fields")
    name: str
    fields: Mapping[int, Field]

    def __init__(self, name: str, fields: Mapping[int, Field]) -> None:
        _init(self, "name", name)
        _init(self, "fields", fields)


class Parsed(Value):
    """The result of :func:`parse_composite`.

    ``values`` maps a field name to its value (a list for multiple fields);
    absent optional fields are missing from the map. ``order`` lists the
    child types in file order; ``unknown`` keeps unknown non-critical
    children, untouched.
    """

    __slots__ = ("element", "order", "unknown", "values")
    _fields = ("element", "values", "order", "unknown")
    element: TLV
    values: dict[str, Any]
    order: tuple[int, ...]
    unknown: tuple[TLV, ...]

    def __init__(
        self,
        element: TLV,
        values: dict[str, Any],
        order: tuple[int, ...],
        unknown: tuple[TLV, ...],
    ) -> None:
        _init(self, "element", element)
        _init(self, "values", values)
        _init(self, "order", order)
        _init(self, "unknown", unknown)

    def get(self, name: str, default: Any = None) -> Any:
        """The value of field ``name`` or ``default``."""
        return self.values.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __contains__(self, name: str) -> bool:
        return name in self.values


def _convert(field: Field, child: TLV, depth: int, where: str) -> Any:
    kind = field.kind
    what = f"{where}.{field.name}"
    if kind is Kind.UINT:
        return decode_uint(child.value, what=what)
    if kind is Kind.UTF8:
        return decode_utf8(child.value, what=what)
    if kind is Kind.UTF8_NONEMPTY:
        return decode_utf8(child.value, allow_empty=False, what=what)
    if kind is Kind.BYTES:
        return child.value
    if kind is Kind.IMPRINT:
        return decode_imprint(child.value, what=what)
    if kind is Kind.ELEMENT:
        return child
    assert field.template is not None
    return parse_composite(child, field.template, _depth=depth + 1)


def parse_composite(element: TLV, template: Template, *, _depth: int = 0) -> Parsed:
    """Parse ``element``'s children according to ``template``.

    Enforces the structural rules of spec section 1: an unknown critical
    child (FMT-03), a single-valued field twice (FMT-04), a missing
    mandatory field (FMT-05), a value of the wrong kind (FMT-06/07/08/13).
    Unknown non-critical children are kept in :attr:`Parsed.unknown`.
    """
    if _depth > MAX_DEPTH:
        raise FormatError("TLV nesting too deep", code=ErrorCode.FMT_LIMIT, depth=_depth)
    where = template.name
    try:
        children = element.children()
    except FormatError as exc:
        raise FormatError(f"{where}: {exc.message}", code=exc.code, **exc.details) from None
    values: dict[str, Any] = {}
    order: list[int] = []
    unknown: list[TLV] = []
    fields = template.fields
    for child in children:
        field = fields.get(child.type)
        order.append(child.type)
        if field is None:
            if child.non_critical:
                unknown.append(child)
                continue
            raise FormatError(
                f"{where}: unknown critical element 0x{child.type:x}",
                code=ErrorCode.FMT_UNKNOWN_CRITICAL,
                type=child.type,
            )
        value = _convert(field, child, _depth, where)
        if field.multiple:
            values.setdefault(field.name, []).append(value)
        elif field.name in values:
            raise FormatError(
                f"{where}: element {field.name} (0x{child.type:x}) occurs twice",
                code=ErrorCode.FMT_DUPLICATE,
                type=child.type,
            )
        else:
            values[field.name] = value
    for typ, field in fields.items():
        if field.mandatory and field.name not in values:
            raise FormatError(
                f"{where}: mandatory element {field.name} (0x{typ:x}) is missing",
                code=ErrorCode.FMT_MISSING,
                type=typ,
            )
    return Parsed(element, values, tuple(order), tuple(unknown))


def encode_children(children: Sequence[bytes]) -> bytes:
    """Concatenate already encoded children (a readability helper)."""
    return b"".join(children)


_V = TypeVar("_V")


def keep_raw(value: _V, raw: bytes) -> _V:
    """Attach to a freshly parsed ``value`` the exact bytes it was parsed from.

    For parsers only. Values keep their input bytes in a ``raw`` field that
    is not an ``__init__`` argument: :func:`jura_trust.evolve` (or any new
    value built from fields) computes the encoding from the fields again, so a
    value's encoding can never disagree with its fields.
    """
    _init(value, "raw", raw)
    return value

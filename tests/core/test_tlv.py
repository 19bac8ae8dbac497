import pytest
from hypothesis import given
from hypothesis import strategies as st

from jura_trust.core import tlv
from jura_trust.errors import ErrorCode, FormatError, JuraError
from tests.vectors import ksi_bytes


def test_tlv8_and_tlv16_header_choice():
    assert tlv.encode(0x01, b"ab") == b"\x01\x02ab"
    assert tlv.encode(0x801, b"x")[:4] == b"\x88\x01\x00\x01"
    long = tlv.encode(0x02, bytes(300))
    assert long[:4] == b"\x80\x02\x01\x2c"
    assert tlv.encode(0x10, b"", forward=True) == b"\x30\x00"
    assert tlv.encode(0x1E, b"\x01", non_critical=True, forward=True) == b"\x7e\x01\x01"


@given(
    st.integers(min_value=0, max_value=0x1FFF),
    st.binary(max_size=600),
    st.booleans(),
    st.booleans(),
)
def test_round_trip(typ, value, n, f):
    raw = tlv.encode(typ, value, non_critical=n, forward=f)
    elem = tlv.decode(raw)
    assert (elem.type, elem.value, elem.non_critical, elem.forward) == (typ, value, n, f)
    assert elem.raw == raw


def test_non_minimal_header_is_accepted_and_kept():
    raw = b"\x80\x01\x00\x02ab"  # TLV16 header on a small element, as libksi accepts
    elem = tlv.decode(raw)
    assert elem.tlv16 and elem.type == 1 and elem.value == b"ab" and elem.raw == raw


def test_truncated_vector():
    with pytest.raises(FormatError) as err:
        tlv.decode(ksi_bytes("tlv/nok_int-3.tlv"))
    assert err.value.code is ErrorCode.FMT_TRUNCATED


def test_trailing_bytes():
    with pytest.raises(FormatError) as err:
        tlv.decode(b"\x01\x01a\x00")
    assert err.value.code is ErrorCode.FMT_TRAILING_DATA


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"", 0), (b"\x01", 1), (b"\xff" * 8, 2**64 - 1), (b"\x01\x00", 256)],
)
def test_uint(value, expected):
    assert tlv.decode_uint(value) == expected
    assert tlv.encode_uint(expected) == value


@pytest.mark.parametrize("value", [b"\x00", b"\x00\x01", bytes(9), b"\x01" * 9])
def test_bad_uint(value):
    with pytest.raises(FormatError) as err:
        tlv.decode_uint(value)
    assert err.value.code is ErrorCode.FMT_BAD_INTEGER


def test_strings():
    assert tlv.decode_utf8(b"anon\x00") == "anon"
    assert tlv.encode_utf8("Delémont") == "Delémont".encode() + b"\x00"
    for bad in (b"anon", b"", b"\xff\x00", b"a\x00b\x00"):
        with pytest.raises(FormatError) as err:
            tlv.decode_utf8(bad)
        assert err.value.code is ErrorCode.FMT_BAD_STRING
    with pytest.raises(FormatError):
        tlv.decode_utf8(b"\x00", allow_empty=False)


TEMPLATE = tlv.Template(
    "test",
    {
        0x01: tlv.Field("a", tlv.Kind.UINT, mandatory=True),
        0x02: tlv.Field("b", tlv.Kind.UTF8, multiple=True),
        0x03: tlv.Field("c", tlv.Kind.IMPRINT),
    },
)


def _composite(*children: bytes) -> tlv.TLV:
    return tlv.decode(tlv.encode(0x10, b"".join(children)))


def test_template_ok_and_unknown_noncritical_kept():
    extra = tlv.encode(0x05, b"zz", non_critical=True)
    p = tlv.parse_composite(
        _composite(tlv.encode(1, b"\x05"), tlv.encode(2, b"x\x00"), tlv.encode(2, b"y\x00"), extra),
        TEMPLATE,
    )
    assert p["a"] == 5 and p["b"] == ["x", "y"]
    assert [u.raw for u in p.unknown] == [extra]
    assert p.order == (1, 2, 2, 5)


@pytest.mark.parametrize(
    ("children", "code"),
    [
        ((tlv.encode(2, b"x\x00"),), ErrorCode.FMT_MISSING),
        ((tlv.encode(1, b"\x01"), tlv.encode(1, b"\x02")), ErrorCode.FMT_DUPLICATE),
        ((tlv.encode(1, b"\x01"), tlv.encode(7, b"")), ErrorCode.FMT_UNKNOWN_CRITICAL),
        ((tlv.encode(1, b"\x00\x01"),), ErrorCode.FMT_BAD_INTEGER),
        ((tlv.encode(1, b""), tlv.encode(3, b"\x01\x02")), ErrorCode.FMT_BAD_IMPRINT),
        ((tlv.encode(1, b""), b"\x02\x05ab"), ErrorCode.FMT_TRUNCATED),
    ],
)
def test_template_errors(children, code):
    with pytest.raises(FormatError) as err:
        tlv.parse_composite(_composite(*children), TEMPLATE)
    assert err.value.code is code


def test_depth_limit():
    inner = tlv.Template("deep", {})
    fields = {0x01: tlv.Field("x", tlv.Kind.COMPOSITE, template=inner)}
    t = tlv.Template("deep", fields)
    object.__setattr__(inner, "fields", fields)  # a self-referential template
    data = b""
    for _ in range(tlv.MAX_DEPTH + 3):
        data = tlv.encode(0x01, data)
    with pytest.raises(FormatError) as err:
        tlv.parse_composite(tlv.decode(tlv.encode(0x01, data)), t)
    assert err.value.code is ErrorCode.FMT_LIMIT


@given(st.binary(max_size=300))
def test_decoder_only_raises_jura_errors(data):
    try:
        for elem in tlv.decode_sequence(data):
            elem.children()
    except JuraError:
        pass

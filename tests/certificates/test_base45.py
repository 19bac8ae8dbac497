from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust.certificates.base45 import BASE45_ALPHABET, b45decode, b45encode
from jura_trust.errors import CertificateError, ErrorCode
from tests.budget import scaled

RFC_VECTORS = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
    (b"", ""),
    (b"\x00\x00", "000"),
    (b"\xff\xff", "FGW"),
    (b"\xff", "U5"),
]


@pytest.mark.parametrize(("raw", "text"), RFC_VECTORS)
def test_vectors(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


def test_alphabet_is_qr_alphanumeric_order() -> None:
    assert len(BASE45_ALPHABET) == 45
    assert BASE45_ALPHABET[36] == " "


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("GGW", "triplet 65536"),
        (":::", "triplet 91124"),
        ("V5", "pair 256"),
        ("::", "pair 2024"),
        ("A", "dangling character"),
        ("BB8A", "dangling character"),
        ("bb8", "lowercase"),
        ("BB8=", "padding"),
        ("BB8\n", "newline"),
        (" BB8", "leading space makes a dangling character"),
        ("BB\u00e98", "non-ASCII"),
    ],
)
def test_rejects(text: str, why: str) -> None:
    with pytest.raises(CertificateError) as info:
        b45decode(text)
    assert info.value.code is ErrorCode.CRT_BAD_ENCODING, why


def test_space_is_data_not_whitespace() -> None:
    assert b45decode("%69 VD92EX0") == b"Hello!!"
    assert b45decode("0 0") == (36 * 45).to_bytes(2, "big")
    # three spaces are value 36 + 45*36 + 2025*36 = 74556 > 65535: rejected, not stripped
    with pytest.raises(CertificateError):
        b45decode("   ")


def test_type_error_for_bytes() -> None:
    with pytest.raises(TypeError):
        b45decode(b"BB8")  # type: ignore[arg-type]


@settings(max_examples=scaled(200))
@given(st.binary(max_size=300))
def test_round_trip(raw: bytes) -> None:
    text = b45encode(raw)
    assert set(text) <= set(BASE45_ALPHABET)
    assert len(text) == 3 * (len(raw) // 2) + 2 * (len(raw) % 2)
    assert b45decode(text) == raw


@settings(max_examples=scaled(300))
@given(st.text(alphabet=BASE45_ALPHABET + "abc=\n", max_size=40))
def test_decoder_fuzz_raises_only_certificate_error(text: str) -> None:
    try:
        raw = b45decode(text)
    except CertificateError as exc:
        code = exc.code
    else:
        assert b45encode(raw) == text
        return
    assert code is ErrorCode.CRT_BAD_ENCODING

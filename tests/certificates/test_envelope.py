from __future__ import annotations

import os
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust.certificates.base45 import b45encode
from jura_trust.certificates.envelope import (
    JT1_PREFIX,
    MAX_PAYLOAD_SIZE,
    MAX_TEXT_LENGTH,
    decode_envelope,
    decompress,
    encode_envelope,
)
from jura_trust.errors import CertificateError, ErrorCode
from tests.budget import scaled


def _code(text: str) -> ErrorCode:
    with pytest.raises(CertificateError) as info:
        decode_envelope(text)
    return info.value.code


@settings(max_examples=scaled(100))
@given(st.binary(max_size=600))
def test_round_trip(payload: bytes) -> None:
    text = encode_envelope(payload)
    assert text.startswith(JT1_PREFIX)
    assert decode_envelope(text) == payload


def test_bad_prefix() -> None:
    body = b45encode(zlib.compress(b"x"))
    for prefix in ("HC1:", "jt1:", "JT2:", "", " JT1:"):
        assert _code(prefix + body) is ErrorCode.CRT_BAD_PREFIX


def test_bad_base45() -> None:
    assert _code("JT1:" + b45encode(zlib.compress(b"x")) + "=") is ErrorCode.CRT_BAD_ENCODING
    assert _code("JT1:" + b45encode(zlib.compress(b"x")).lower()) is ErrorCode.CRT_BAD_ENCODING


@pytest.mark.parametrize(
    "raw",
    [
        b"\xa1\x01\x02",  # CBOR, not compressed
        zlib.compress(b"hello")[:-1],  # truncated (checksum cut)
        zlib.compress(b"hello") + b"\x00",  # trailing byte
        zlib.compress(b"hello")[:-4] + b"\x00\x00\x00\x00",  # bad Adler-32
        zlib.compress(b"hello", wbits=-15),  # raw deflate, no zlib header
        b"",
    ],
)
def test_bad_zlib(raw: bytes) -> None:
    assert _code("JT1:" + b45encode(raw)) is ErrorCode.CRT_BAD_COMPRESSION


def test_zlib_bomb_is_stopped_at_the_limit() -> None:
    bomb = zlib.compress(b"\x00" * (50 * 1024 * 1024), 9)
    assert len(bomb) < 60_000
    with pytest.raises(CertificateError) as info:
        decompress(bomb)
    assert info.value.code is ErrorCode.CRT_BAD_COMPRESSION
    exact = zlib.compress(b"\x00" * MAX_PAYLOAD_SIZE)
    assert len(decompress(exact)) == MAX_PAYLOAD_SIZE
    with pytest.raises(CertificateError):
        decompress(zlib.compress(b"\x00" * (MAX_PAYLOAD_SIZE + 1)))


def test_text_too_long() -> None:
    assert _code("JT1:" + "0" * MAX_TEXT_LENGTH) is ErrorCode.CRT_TOO_LARGE


def test_encode_refuses_what_no_qr_holds() -> None:
    with pytest.raises(CertificateError) as info:
        encode_envelope(os.urandom(3000))
    assert info.value.code is ErrorCode.CRT_TOO_LARGE


def test_other_prefix_for_dcc() -> None:
    text = encode_envelope(b"abc", prefix="HC1:")
    assert decode_envelope(text, prefix="HC1:") == b"abc"


@settings(max_examples=scaled(300))
@given(st.text(alphabet="JT1:0123456789ABCDEFXYZ $%*+-./", max_size=60))
def test_decoder_fuzz_raises_only_certificate_error(text: str) -> None:
    family = "CRT"
    try:
        decode_envelope(text)
    except CertificateError as exc:
        family = exc.code.family
    assert family == "CRT"

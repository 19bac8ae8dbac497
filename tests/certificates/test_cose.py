from __future__ import annotations

from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust.certificates.cose import (
    HEADER_ALG,
    HEADER_KID,
    CoseAlgorithm,
    CoseSign1,
    PrivateKey,
    decode_sign1,
    sign1,
)
from jura_trust.errors import CertificateError, ErrorCode
from tests.budget import scaled

from .keys import ed, p256, p256_other, p384, rsa2048

KEYS: dict[CoseAlgorithm, Any] = {
    CoseAlgorithm.ES256: p256,
    CoseAlgorithm.ES384: p384,
    CoseAlgorithm.EDDSA: ed,
    CoseAlgorithm.PS256: rsa2048,
}
SIG_LEN = {
    CoseAlgorithm.ES256: 64,
    CoseAlgorithm.ES384: 96,
    CoseAlgorithm.EDDSA: 64,
    CoseAlgorithm.PS256: 256,
}


def _code(exc_info: pytest.ExceptionInfo[CertificateError]) -> ErrorCode:
    return exc_info.value.code


@pytest.mark.parametrize("alg", list(CoseAlgorithm))
def test_sign_encode_decode_verify(alg: CoseAlgorithm) -> None:
    key: PrivateKey = KEYS[alg]()
    msg = sign1(b"payload", key, alg=alg, kid=b"k1")
    assert len(msg.signature) == SIG_LEN[alg]
    decoded = decode_sign1(msg.encode())
    assert decoded == msg
    assert decoded.kid == b"k1"
    assert decoded.verify(key.public_key()) is alg
    with pytest.raises(CertificateError) as info:
        decoded.verify(key.public_key(), external_aad=b"other context")
    assert _code(info) is ErrorCode.CRT_BAD_SIGNATURE


def test_tampered_payload_fails() -> None:
    msg = sign1(b"payload", p256())
    bad = CoseSign1(msg.protected, msg.protected_header, msg.unprotected, b"payloaD", msg.signature)
    with pytest.raises(CertificateError) as info:
        bad.verify(p256().public_key())
    assert _code(info) is ErrorCode.CRT_BAD_SIGNATURE


def test_protected_bytes_kept_exactly() -> None:
    # A non-canonical protected header (alg encoded as a 2-byte negative int) signs over
    # those exact bytes; re-encoding would change them and break the signature.
    protected = b"\xa1\x01\x39\x00\x06"  # {1: -7} with a non-minimal integer
    sig_structure = cbor2.dumps(["Signature1", protected, b"", b"data"])
    der = p256().sign(sig_structure, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = cbor2.dumps(
        cbor2.CBORTag(18, [protected, {}, b"data", r.to_bytes(32, "big") + s.to_bytes(32, "big")])
    )
    msg = decode_sign1(raw)
    assert msg.protected == protected
    assert msg.protected_header == {HEADER_ALG: -7}
    assert msg.verify(p256().public_key()) is CoseAlgorithm.ES256


def test_kid_protected_wins_over_unprotected() -> None:
    msg = sign1(b"x", p256(), kid=b"protected", unprotected={HEADER_KID: b"unprotected"})
    assert decode_sign1(msg.encode()).kid == b"protected"
    msg = sign1(b"x", p256(), unprotected={HEADER_KID: b"unprotected"})
    assert decode_sign1(msg.encode()).kid == b"unprotected"


def _unprotected_alg_message() -> bytes:
    base = sign1(b"x", p256())
    # move alg to the unprotected header: empty protected bstr, re-sign over it
    sig_structure = cbor2.dumps(["Signature1", b"", b"", b"x"])
    r, s = decode_dss_signature(p256().sign(sig_structure, ec.ECDSA(hashes.SHA256())))
    assert base.protected
    return cbor2.dumps([b"", {HEADER_ALG: -7}, b"x", r.to_bytes(32, "big") + s.to_bytes(32, "big")])


def test_unprotected_alg_is_a_policy() -> None:
    msg = decode_sign1(_unprotected_alg_message())
    assert msg.tags == ()
    with pytest.raises(CertificateError) as info:
        msg.verify(p256().public_key())
    assert _code(info) is ErrorCode.CRT_UNSUPPORTED_ALGORITHM
    assert msg.verify(p256().public_key(), allow_unprotected_alg=True) is CoseAlgorithm.ES256


def test_cwt_tag_wrapping_accepted() -> None:
    msg = sign1(b"x", p256(), tags=(61, 18))
    decoded = decode_sign1(msg.encode())
    assert decoded.tags == (61, 18)
    decoded.verify(p256().public_key())


# -- synthesized DCC negatives (MANIFEST: CO4, CO24, CO27) --------------------


def test_co4_unsupported_alg() -> None:
    msg = sign1(b"x", p256(), protected={}, alg=CoseAlgorithm.ES256)
    forged = CoseSign1(
        cbor2.dumps({HEADER_ALG: -47}), {HEADER_ALG: -47}, {}, msg.payload, msg.signature
    )
    with pytest.raises(CertificateError) as info:
        decode_sign1(forged.encode()).verify(p256().public_key())
    assert _code(info) is ErrorCode.CRT_UNSUPPORTED_ALGORITHM
    for alg in ("ES256", 1.5, None, True):
        forged = CoseSign1(
            cbor2.dumps({HEADER_ALG: alg}), {HEADER_ALG: alg}, {}, msg.payload, msg.signature
        )
        with pytest.raises(CertificateError) as info:
            decode_sign1(forged.encode()).verify(p256().public_key())
        assert _code(info) is ErrorCode.CRT_UNSUPPORTED_ALGORITHM


def test_co24_der_signature_rejected() -> None:
    msg = sign1(b"x", p256())
    r = int.from_bytes(msg.signature[:32], "big")
    s = int.from_bytes(msg.signature[32:], "big")
    der = encode_dss_signature(r, s)
    for signature in (der, msg.signature + b"\x00", msg.signature[:-1]):
        forged = CoseSign1(msg.protected, msg.protected_header, {}, msg.payload, signature)
        with pytest.raises(CertificateError) as info:
            decode_sign1(forged.encode()).verify(p256().public_key())
        assert _code(info) is ErrorCode.CRT_BAD_SIGNATURE


def test_co27_rsa_alg_over_ecdsa_signature() -> None:
    msg = sign1(b"x", p256())
    header = {HEADER_ALG: int(CoseAlgorithm.PS256)}
    forged = CoseSign1(cbor2.dumps(header), header, {}, msg.payload, msg.signature)
    with pytest.raises(CertificateError) as info:
        decode_sign1(forged.encode()).verify(p256().public_key())
    assert _code(info) is ErrorCode.CRT_ALGORITHM_MISMATCH


def test_alg_curve_mismatch() -> None:
    msg = sign1(b"x", p256())
    with pytest.raises(CertificateError) as info:
        msg.verify(p384().public_key())
    assert _code(info) is ErrorCode.CRT_ALGORITHM_MISMATCH
    with pytest.raises(CertificateError) as info:
        msg.verify(p256_other().public_key())
    assert _code(info) is ErrorCode.CRT_BAD_SIGNATURE


def test_sign_refuses_wrong_key() -> None:
    with pytest.raises(ValueError):
        sign1(b"x", p384(), alg=CoseAlgorithm.ES256)
    with pytest.raises(ValueError):
        sign1(b"x", ed(), alg=CoseAlgorithm.PS256)


@pytest.mark.parametrize(
    "item",
    [
        [b"", {}, b"x"],  # three elements
        [b"", {}, b"x", b"s", b"extra"],
        [{}, {}, b"x", b"s"],  # protected is not a bstr
        [b"\xa1\x01", {}, b"x", b"s"],  # protected is truncated CBOR
        [b"\x80", {}, b"x", b"s"],  # protected is not a map
        [b"", [], b"x", b"s"],  # unprotected is not a map
        [b"", {}, None, b"s"],  # detached payload
        [b"", {}, "x", b"s"],
        [b"", {}, b"x", "s"],
        cbor2.CBORTag(98, [b"", {}, b"x", b"s"]),  # COSE_Sign, not Sign1
        cbor2.CBORTag(18, cbor2.CBORTag(61, [b"", {}, b"x", b"s"])),  # tags inverted
        "not an array",
    ],
)
def test_malformed_structure(item: object) -> None:
    with pytest.raises(CertificateError) as info:
        decode_sign1(cbor2.dumps(item))
    assert _code(info) is ErrorCode.CRT_BAD_STRUCTURE


def test_trailing_bytes_and_tag_requirement() -> None:
    raw = sign1(b"x", p256()).encode()
    with pytest.raises(CertificateError):
        decode_sign1(raw + b"\x00")
    untagged = sign1(b"x", p256(), tags=()).encode()
    with pytest.raises(CertificateError):
        decode_sign1(untagged, require_tag=True)


@settings(max_examples=scaled(300))
@given(st.binary(max_size=200))
def test_decoder_fuzz_raises_only_certificate_error(data: bytes) -> None:
    code = ErrorCode.CRT_BAD_STRUCTURE
    try:
        decode_sign1(data)
    except CertificateError as exc:
        code = exc.code
    assert code is ErrorCode.CRT_BAD_STRUCTURE


@settings(max_examples=scaled(100))
@given(st.integers(0, 200), st.binary(min_size=1, max_size=1))
def test_any_flipped_byte_is_caught(position: int, xor: bytes) -> None:
    raw = bytearray(sign1(b"some payload", p256(), kid=b"kid").encode())
    position %= len(raw)
    if xor[0] == 0:
        return
    raw[position] ^= xor[0]
    try:
        decode_sign1(bytes(raw)).verify(p256().public_key())
    except CertificateError:
        return
    pytest.fail("a modified message verified")

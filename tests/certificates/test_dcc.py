"""Every DCC vector under tests/vectors/dcc gives the flags its MANIFEST states."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding

from jura_trust.certificates.base45 import b45decode, b45encode
from jura_trust.certificates.cose import HEADER_KID, CoseAlgorithm, sign1
from jura_trust.certificates.dcc import (
    DCC_PREFIX,
    check_key_usage,
    check_validity,
    dcc_kid,
    decode_dcc,
    decode_dcc_message,
    find_signer,
    verify_dcc,
)
from jura_trust.certificates.envelope import decompress, strip_prefix
from jura_trust.errors import CertificateError, ErrorCode, FormatError
from jura_trust.qr import read_qr
from tests.vectors import DCC, dcc_path

from .keys import p256, p384, self_signed

JSON_FILES = sorted(p.relative_to(DCC).as_posix() for p in DCC.rglob("*.json"))

#: PNGs shipped beside the JSON files (MANIFEST, "PNG images"): JSON -> (png, aztec?)
SEPARATE_PNGS: dict[str, list[tuple[str, bool]]] = {
    "DE/2DCode/raw/1.json": [("DE/2DCode/png/1.png", False)],
    "AT/2DCode/raw/1.json": [("AT/png/1.png", False)],
    "CH/2DCode/raw/1.json": [("CH/png/1.png", False)],
    "CH/2DCode/raw/3.json": [("CH/png/3.png", False)],
    "IS/2DCode/raw/3.json": [("IS/2DCode/png/3.png", False)],
    "SE/2DCode/raw/2.json": [("SE/png/2.png", False)],
    "FR/2DCode/raw/DCC_Test_0001.json": [("FR/png/DCC_Test_0001.png", False)],
    "PL/1.2.1/2DCode/raw/6.json": [("PL/1.2.1/png/6.png", False)],
    "PL/1.2.1/2DCode/raw/10.json": [("PL/1.2.1/png/10.png", False)],
    "NL/2DCode/raw/216-NL-test+wrong_key.json": [("NL/png/216-NL-test+wrong_key.png", False)],
    "IE/2DCode/Raw/1.json": [("IE/png/1_qr.png", False), ("IE/png/1_aztec.png", True)],
    "LI/2DCode/raw/1.json": [("LI/png/1.png", False)],
    "HR/2DCode/raw/1.json": [("HR/2DCode/png/1.png", False)],
    "SG/2DCode/raw/1.json": [("SG/png/1.png", False)],
}

#: Expectations jura_trust overrides on purpose (MANIFEST: ES/401, alg/curve mismatch).
OVERRIDES: dict[str, dict[str, bool]] = {"ES/2DCode/raw/401.json": {"VERIFY": False}}

HANDLED = (
    "UNPREFIX",
    "B45DECODE",
    "COMPRESSION",
    "VERIFY",
    "DECODE",
    "EXPIRATIONCHECK",
    "KEYUSAGE",
    "PICTUREDECODE",
)


def _load(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(dcc_path(relative).read_text(encoding="utf-8"))
    return data


def _clock(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _certificates(case: Mapping[str, Any]) -> list[x509.Certificate]:
    der = case["TESTCTX"].get("CERTIFICATE")
    return [x509.load_der_x509_certificate(base64.b64decode(der))] if der else []


def _plain(value: Any) -> Any:
    """cbor2 6 decodes tag contents as tuples/frozendicts; compare as lists/dicts."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _succeeds(step: Callable[[], object]) -> bool:
    try:
        step()
    except CertificateError:
        return False
    return True


def _check_unprefix(case: Mapping[str, Any]) -> bool:
    return strip_prefix(case["PREFIX"], DCC_PREFIX) == case["BASE45"]


def _check_b45(case: Mapping[str, Any]) -> bool:
    decoded = b45decode(case["BASE45"])
    if "COMPRESSED" in case:
        return decoded == bytes.fromhex(case["COMPRESSED"])
    # HR/1 ships no COMPRESSED field: check against the COSE bytes instead
    return decompress(decoded) == bytes.fromhex(case["COSE"])


def _check_compression(case: Mapping[str, Any]) -> bool:
    return decompress(bytes.fromhex(case["COMPRESSED"])) == bytes.fromhex(case["COSE"])


def _check_verify(case: Mapping[str, Any]) -> bool:
    message = decode_dcc_message(bytes.fromhex(case["COSE"])).message
    find_signer(message, _certificates(case))
    return True


def _check_decode(case: Mapping[str, Any]) -> bool:
    expected = _plain(cbor2.loads(bytes.fromhex(case["CBOR"])))  # may raise CBORDecodeError
    dcc = decode_dcc_message(bytes.fromhex(case["COSE"]))
    return expected in (_plain(dcc.hcert), _plain(dcc.claims))


def _check_expiration(case: Mapping[str, Any]) -> bool:
    dcc = decode_dcc_message(bytes.fromhex(case["COSE"]))
    (certificate,) = _certificates(case)
    check_validity(dcc, certificate, at=_clock(case["TESTCTX"]["VALIDATIONCLOCK"]))
    return True


def _check_key_usage(case: Mapping[str, Any]) -> bool:
    dcc = decode_dcc_message(bytes.fromhex(case["COSE"]))
    (certificate,) = _certificates(case)
    check_key_usage(dcc, certificate)
    return True


def _inline_picture(case: Mapping[str, Any]) -> bool:
    try:
        return read_qr(base64.b64decode(case["2DCODE"])) == [case["PREFIX"]]
    except FormatError:  # Q1: the inline picture is not an image at all
        return False


def _picture_outcomes(relative: str, case: Mapping[str, Any]) -> list[bool]:
    outcomes = []
    if "2DCODE" in case:
        outcomes.append(_inline_picture(case))
    for png, aztec in SEPARATE_PNGS.get(relative, []):
        outcomes.append(read_qr(dcc_path(png), aztec=aztec) == [case["PREFIX"]])
    return outcomes


CHECKS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "UNPREFIX": _check_unprefix,
    "B45DECODE": _check_b45,
    "COMPRESSION": _check_compression,
    "VERIFY": _check_verify,
    "DECODE": _check_decode,
    "EXPIRATIONCHECK": _check_expiration,
    "KEYUSAGE": _check_key_usage,
}


def _outcome(check: Callable[[Mapping[str, Any]], bool], case: Mapping[str, Any]) -> bool:
    try:
        return check(case)
    except (CertificateError, cbor2.CBORDecodeError):
        return False


def test_all_forty_vectors_are_discovered() -> None:
    assert len(JSON_FILES) == 40
    for relative, pngs in SEPARATE_PNGS.items():
        assert relative in JSON_FILES
        for png, _ in pngs:
            dcc_path(png)


@pytest.mark.parametrize("relative", JSON_FILES)
def test_vector_flags(relative: str) -> None:
    case = _load(relative)
    expected = {
        key.removeprefix("EXPECTED"): value
        for key, value in case["EXPECTEDRESULTS"].items()
        if key.removeprefix("EXPECTED") in HANDLED
    }
    expected.update(OVERRIDES.get(relative, {}))
    checked = 0
    for flag, want in expected.items():
        if flag == "PICTUREDECODE":
            outcomes = _picture_outcomes(relative, case)
            if not outcomes:  # B1 lists the flag but ships no picture
                assert relative == "common/2DCode/raw/B1.json"
                continue
            assert outcomes == [want] * len(outcomes), flag
        else:
            assert _outcome(CHECKS[flag], case) is want, flag
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("relative", JSON_FILES)
def test_verify_dcc_end_to_end_agrees(relative: str) -> None:
    """The one-call verifier is valid exactly when every stated flag is true."""
    case = _load(relative)
    if "PREFIX" not in case:
        pytest.fail("every vector has a PREFIX")
    flags = {k.removeprefix("EXPECTED"): v for k, v in case["EXPECTEDRESULTS"].items()}
    flags.update(OVERRIDES.get(relative, {}))
    clock = _clock(case["TESTCTX"]["VALIDATIONCLOCK"])
    result = verify_dcc(case["PREFIX"], _certificates(case), at=clock)
    stated = [flags[f] for f in HANDLED if f in flags and f != "PICTUREDECODE"]
    if not all(stated):
        assert not result.ok
        assert result.code is not None
    elif "VERIFY" in flags and "EXPIRATIONCHECK" in flags:
        assert result.ok, result.message
        assert result.code is None
        assert result.facts["issuer"]["id"]
        assert result.facts["issued_at"]
        assert result.facts["expires_at"]
        assert result.facts["fields"] is not None
        assert result.anchor.kind == "issuer-key"
        json.dumps(dict(result.facts))  # JSON-friendly, dates included


@pytest.mark.parametrize(
    ("relative", "code"),
    [
        ("common/2DCode/raw/H1.json", ErrorCode.CRT_BAD_PREFIX),
        ("common/2DCode/raw/B1.json", ErrorCode.CRT_BAD_ENCODING),
        ("common/2DCode/raw/Z1.json", ErrorCode.CRT_BAD_COMPRESSION),
        ("common/2DCode/raw/CO5.json", ErrorCode.CRT_BAD_SIGNATURE),
        ("common/2DCode/raw/CO6.json", ErrorCode.CRT_KEY_USAGE),
        ("common/2DCode/raw/CO16.json", ErrorCode.CRT_NOT_YET_VALID),
        ("common/2DCode/raw/CO17.json", ErrorCode.CRT_EXPIRED),
        ("PL/1.2.1/2DCode/raw/6.json", ErrorCode.CRT_UNKNOWN_ISSUER),
        ("PL/1.2.1/2DCode/raw/10.json", ErrorCode.CRT_EXPIRED),
        ("ES/2DCode/raw/401.json", ErrorCode.CRT_ALGORITHM_MISMATCH),
    ],
)
def test_failure_codes(relative: str, code: ErrorCode) -> None:
    case = _load(relative)
    result = verify_dcc(
        case["PREFIX"], _certificates(case), at=_clock(case["TESTCTX"]["VALIDATIONCLOCK"])
    )
    assert result.code is code, result.message


def test_dsc_kid_matches_vector() -> None:
    case = _load("common/2DCode/raw/CO3.json")
    (certificate,) = _certificates(case)
    message = decode_dcc(case["PREFIX"]).message
    assert dcc_kid(certificate) == message.kid
    assert (
        dcc_kid(certificate) == hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()[:8]
    )


# -- synthesized DCCs with throwaway keys -------------------------------------

T0 = datetime(2021, 6, 1, tzinfo=UTC)


def _claims(kind: str = "v", *, iat: datetime = T0, days: int = 30) -> bytes:
    hcert = {"ver": "1.3.0", "nam": {"fn": "Muster"}, kind: [{"ci": "URN:UVCI:01"}]}
    return cbor2.dumps(
        {
            1: "CH",
            6: int(iat.timestamp()),
            4: int((iat + timedelta(days=days)).timestamp()),
            -260: {1: hcert},
        }
    )


def _hc1(cose: bytes) -> str:
    return DCC_PREFIX + b45encode(zlib.compress(cose))


def _dsc(**kwargs: Any) -> x509.Certificate:
    return self_signed(p256(), **kwargs)


def test_synthetic_valid() -> None:
    dsc = _dsc()
    cose = sign1(_claims(), p256(), kid=dcc_kid(dsc)).encode()
    result = verify_dcc(_hc1(cose), [dsc], at=T0 + timedelta(days=1))
    assert result.ok
    assert result.policy == "dcc"
    assert result.facts["signer"]["kid"] == dcc_kid(dsc).hex()
    assert result.anchor.details["kid"] == dcc_kid(dsc).hex()
    assert result.facts["issuer"] == {"id": "CH", "name": None}
    assert result.facts["issued_at"] == T0.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result.facts["expires_at"] == (T0 + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result.facts["type"] == "v"
    assert "v" in result.facts["fields"]
    assert verify_dcc(_hc1(cose), [dsc], at=T0 + timedelta(days=31)).code is ErrorCode.CRT_EXPIRED


def test_kid_collision_tries_every_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    dsc = _dsc()
    impostor = self_signed(p384())
    message = decode_dcc(_hc1(sign1(_claims(), p256(), kid=dcc_kid(dsc)).encode())).message
    # every certificate now "has" the message's kid, as on an 8-byte collision
    monkeypatch.setattr("jura_trust.certificates.dcc.dcc_kid", lambda _c: message.kid)
    assert find_signer(message, [impostor, dsc]) == dsc
    with pytest.raises(CertificateError) as info:
        find_signer(message, [impostor])
    assert info.value.code is ErrorCode.CRT_ALGORITHM_MISMATCH


@pytest.mark.parametrize("length", [7, 9])
def test_co25_co26_kid_length(length: int) -> None:
    dsc = _dsc()
    kid = (dcc_kid(dsc) * 2)[:length]
    cose = sign1(_claims(), p256(), kid=kid).encode()
    result = verify_dcc(_hc1(cose), [dsc], at=T0)
    assert result.code is ErrorCode.CRT_BAD_STRUCTURE


def test_co4_co24_co27_through_dcc() -> None:
    dsc = _dsc()
    kid = dcc_kid(dsc)
    good = sign1(_claims(), p256(), kid=kid)
    cases = {
        ErrorCode.CRT_UNSUPPORTED_ALGORITHM: {1: -47, 4: kid},
        ErrorCode.CRT_ALGORITHM_MISMATCH: {1: int(CoseAlgorithm.PS256), 4: kid},
    }
    for code, header in cases.items():
        forged = cbor2.dumps(
            cbor2.CBORTag(18, [cbor2.dumps(header), {}, good.payload, good.signature])
        )
        assert verify_dcc(_hc1(forged), [dsc], at=T0).code is code
    r = int.from_bytes(good.signature[:32], "big")
    s = int.from_bytes(good.signature[32:], "big")

    der = cbor2.dumps(
        cbor2.CBORTag(18, [good.protected, {}, good.payload, encode_dss_signature(r, s)])
    )
    assert verify_dcc(_hc1(der), [dsc], at=T0).code is ErrorCode.CRT_BAD_SIGNATURE


def test_kid_unprotected_and_alg_unprotected_accepted_for_dcc() -> None:
    dsc = _dsc()
    payload = _claims()

    r, s = decode_dss_signature(
        p256().sign(cbor2.dumps(["Signature1", b"", b"", payload]), ec.ECDSA(hashes.SHA256()))
    )
    cose = cbor2.dumps(
        [
            b"",
            {1: -7, HEADER_KID: dcc_kid(dsc)},
            payload,
            r.to_bytes(32, "big") + s.to_bytes(32, "big"),
        ]
    )
    assert verify_dcc(_hc1(cose), [dsc], at=T0).ok


def test_validity_window_and_key_usage() -> None:
    dsc = _dsc(not_before=datetime(2021, 1, 1, tzinfo=UTC), days=160)  # ends 2021-06-10
    kid = dcc_kid(dsc)
    text = _hc1(sign1(_claims(days=30), p256(), kid=kid).encode())
    # exp (2021-07-01) is after DSC.notAfter: key not valid for this certificate
    assert verify_dcc(text, [dsc], at=T0).code is ErrorCode.CRT_KEY_NOT_VALID
    dsc = _dsc(eku=["1.3.6.1.4.1.1847.2021.1.1"])  # test only
    text = _hc1(sign1(_claims("v"), p256(), kid=dcc_kid(dsc)).encode())
    assert verify_dcc(text, [dsc], at=T0).code is ErrorCode.CRT_KEY_USAGE
    text = _hc1(sign1(_claims("t"), p256(), kid=dcc_kid(dsc)).encode())
    assert verify_dcc(text, [dsc], at=T0).ok
    typo = _dsc(eku=["1.3.6.1.4.1.0.1847.2021.1.2"])
    text = _hc1(sign1(_claims("v"), p256(), kid=dcc_kid(typo)).encode())
    assert verify_dcc(text, [typo], at=T0).ok


def test_naive_clock_is_misuse() -> None:
    with pytest.raises(ValueError):
        verify_dcc("HC1:", [], at=datetime(2021, 1, 1))


def test_garbage_never_raises() -> None:
    for text in (
        "",
        "HC1:",
        "HC1:" + b45encode(zlib.compress(b"\xff")),
        "HC1:" + b45encode(b"\x00" * 10),
    ):
        result = verify_dcc(text, [], at=T0)
        assert not result.ok
        assert result.code is not None

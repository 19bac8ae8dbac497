"""Tests for jura_trust.pki: certificates, calendar signatures, CMS."""

from __future__ import annotations

import base64
import datetime
import hashlib
import sys

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jura_trust import pki
from jura_trust.core import tlv
from jura_trust.errors import ErrorCode, FormatError, JuraError, PKIError
from tests.budget import scaled
from tests.vectors import ksi_bytes

T2024 = 1710806400  # 2024-03-19
T2026 = 1793500000  # 2026-11
YEAR = 365 * 86400
EMAIL_OID = "1.2.840.113549.1.9.1"


@pytest.fixture(scope="module")
def mock_anchor() -> pki.Certificate:
    return pki.load_certificate(ksi_bytes("certs/mock.crt"))


@pytest.fixture(scope="module")
def rsa_key() -> pki.PrivateKey:
    return pki.generate_rsa_key()


@pytest.fixture(scope="module")
def rsa_key_2() -> pki.PrivateKey:
    return pki.generate_rsa_key()


@pytest.fixture(scope="module")
def self_signed(rsa_key: pki.PrivateKey) -> pki.Certificate:
    return pki.self_signed_certificate(
        rsa_key,
        {"E": "publisher@example.org", "O": "Canton", "C": "CH"},
        not_before=T2024 - YEAR,
        not_after=T2024 + 5 * YEAR,
    )


def _calendar_auth(name: str) -> tuple[str, bytes, bytes, bytes]:
    """(signature type, value, signed data, cert id) of a signature's 0x805."""
    sig = tlv.decode(ksi_bytes(name))
    (auth,) = [c for c in sig.children() if c.type == 0x805]
    children = {c.type: c for c in auth.children()}
    sig_data = {c.type: c.value for c in children[0x0B].children()}
    return (
        tlv.decode_utf8(sig_data[0x01]),
        sig_data[0x02],
        children[0x10].raw,
        sig_data[0x03],
    )


def _file_certificates(name: str) -> dict[bytes, pki.Certificate]:
    out = {}
    for element in tlv.decode_sequence(ksi_bytes(name)[8:]):
        if element.type == 0x702:
            kids = {c.type: c.value for c in element.children()}
            out[kids[0x01]] = pki.load_certificate_der(kids[0x02])
    return out


# -- loading ----------------------------------------------------------------------


def test_load_pem_and_der(mock_anchor: pki.Certificate) -> None:
    der = pki.certificate_der(mock_anchor)
    assert pki.load_certificate(der) == mock_anchor
    assert pki.load_certificate(pki.certificate_pem(mock_anchor)) == mock_anchor
    assert (
        mock_anchor.subject.get_attributes_for_oid(x509.ObjectIdentifier(EMAIL_OID))[0].value
        == "publications@guardtime.com"
    )


def test_load_bundle(mock_anchor: pki.Certificate) -> None:
    other = pki.load_certificate(
        ksi_bytes("certs/cert-file-for-deprecated-algorithm-in-calendar-chain.pem")
    )
    bundle = pki.certificate_pem(mock_anchor) + pki.certificate_pem(other)
    assert pki.load_certificates(bundle) == [mock_anchor, other]
    with pytest.raises(FormatError) as info:
        pki.load_certificate(bundle)
    assert info.value.code is ErrorCode.FMT_BAD_CERTIFICATE


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30\x03\x02\x01\x01",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ],
)
def test_bad_certificates_raise_fmt_18(data: bytes) -> None:
    with pytest.raises(FormatError) as info:
        pki.load_certificates(data)
    assert info.value.code is ErrorCode.FMT_BAD_CERTIFICATE


def test_certificate_id_is_sha256_prefix(mock_anchor: pki.Certificate) -> None:
    der = pki.certificate_der(mock_anchor)
    assert pki.certificate_id(mock_anchor) == hashlib.sha256(der).digest()[:4]
    assert pki.certificate_id(der) == pki.certificate_id(mock_anchor)
    assert len(pki.certificate_id(mock_anchor)) == pki.CERTIFICATE_ID_LENGTH


def test_validity_bounds_are_inclusive(self_signed: pki.Certificate) -> None:
    start = int(self_signed.not_valid_before_utc.timestamp())
    end = int(self_signed.not_valid_after_utc.timestamp())
    assert pki.certificate_valid_at(self_signed, start)
    assert pki.certificate_valid_at(self_signed, end)
    assert not pki.certificate_valid_at(self_signed, start - 1)
    assert not pki.certificate_valid_at(self_signed, end + 1)
    pki.check_certificate_valid_at(self_signed, start)
    with pytest.raises(PKIError) as info:
        pki.check_certificate_valid_at(self_signed, end + 1)
    assert info.value.code is ErrorCode.PKI_EXPIRED
    assert info.value.details["not_after"] == end


def test_keys_pem_round_trip(rsa_key: pki.PrivateKey) -> None:
    pem = pki.private_key_pem(rsa_key)
    assert pki.load_private_key(pem).private_numbers() == rsa_key.private_numbers()  # type: ignore[union-attr]
    enc = pki.private_key_pem(rsa_key, b"secret")
    assert b"ENCRYPTED" in enc
    with pytest.raises(FormatError):
        pki.load_private_key(enc, b"wrong")
    with pytest.raises(FormatError):
        pki.load_private_key(b"junk")


# -- calendar-auth-record signatures against the vectors ----------------------------


def test_real_calendar_signature_verifies() -> None:
    sig_type, value, signed, cert_id = _calendar_auth("signatures/valid/ok-sig-2014-04-30.1.ksig")
    assert sig_type == pki.SHA256_WITH_RSA
    assert signed[:2] == bytes.fromhex("3029")
    assert cert_id == bytes.fromhex("c246b139")
    cert = _file_certificates("pubfiles/publications.tlv")[cert_id]
    pki.verify_signature(sig_type, value, signed, cert)
    # Signed data without the F flag is different bytes: must not verify.
    with pytest.raises(PKIError) as info:
        pki.verify_signature(sig_type, value, b"\x10" + signed[1:], cert)
    assert info.value.code is ErrorCode.PKI_BAD_SIGNATURE


def test_real_2024_calendar_signature_verifies() -> None:
    sig_type, value, signed, cert_id = _calendar_auth(
        "signatures/valid/signature-one-aggregation-chain-chc-and-auth.ksig"
    )
    assert cert_id == bytes.fromhex("8aefeb78")
    cert = _file_certificates("pubfiles/publications-file.bin")[cert_id]
    pki.verify_signature(sig_type, value, signed, cert)


def test_wrong_signing_value_vector_fails_pki_02() -> None:
    sig_type, value, signed, cert_id = _calendar_auth(
        "signatures/invalid/signature-cal-auth-wrong-signing-value.ksig"
    )
    cert = _file_certificates("pubfiles/publications.tlv")[cert_id]
    with pytest.raises(PKIError) as info:
        pki.verify_signature(sig_type, value, signed, cert)
    assert info.value.code is ErrorCode.PKI_BAD_SIGNATURE


@pytest.mark.parametrize(
    "oid",
    [pki.RSASSA_PSS, "1.2.840.113549.1.1.5", "1.2.3", "", "1.2.840.113549.1.1.11x"],
)
def test_unusable_signature_types_fail_pki_06(oid: str) -> None:
    _, value, signed, cert_id = _calendar_auth("signatures/valid/ok-sig-2014-04-30.1.ksig")
    cert = _file_certificates("pubfiles/publications.tlv")[cert_id]
    with pytest.raises(PKIError) as info:
        pki.verify_signature(oid, value, signed, cert)
    assert info.value.code is ErrorCode.PKI_UNSUPPORTED_ALGORITHM


def test_key_type_must_fit_signature_type(
    rsa_key: pki.PrivateKey, self_signed: pki.Certificate
) -> None:
    _, value = pki.sign(rsa_key, b"data")
    with pytest.raises(PKIError) as info:
        pki.verify_signature(pki.ECDSA_WITH_SHA256, value, b"data", self_signed)
    assert info.value.code is ErrorCode.PKI_UNSUPPORTED_ALGORITHM
    with pytest.raises(ValueError, match="EC key"):
        pki.sign(rsa_key, b"data", pki.ECDSA_WITH_SHA256)
    with pytest.raises(ValueError, match="cannot sign"):
        pki.sign(rsa_key, b"data", pki.RSASSA_PSS)


@pytest.mark.parametrize("oid", [pki.SHA256_WITH_RSA, pki.SHA384_WITH_RSA, pki.SHA512_WITH_RSA])
def test_rsa_sign_verify(oid: str, rsa_key: pki.PrivateKey, self_signed: pki.Certificate) -> None:
    got_oid, value = pki.sign(rsa_key, b"published data", oid)
    assert got_oid == oid
    pki.verify_signature(oid, value, b"published data", self_signed)
    with pytest.raises(PKIError) as info:
        pki.verify_signature(oid, value, b"published datA", self_signed)
    assert info.value.code is ErrorCode.PKI_BAD_SIGNATURE


@pytest.mark.parametrize(
    ("curve", "oid"),
    [(ec.SECP256R1(), pki.ECDSA_WITH_SHA256), (ec.SECP384R1(), pki.ECDSA_WITH_SHA384)],
)
def test_ecdsa_sign_verify(curve: ec.EllipticCurve, oid: str) -> None:
    key = pki.generate_ec_key(curve)
    cert = pki.self_signed_certificate(key, {"CN": "ec"}, not_before=T2024, not_after=T2024 + YEAR)
    got_oid, value = pki.sign(key, b"x")
    assert got_oid == oid == pki.signature_type_for_key(key)
    pki.verify_signature(oid, value, b"x", cert)
    with pytest.raises(PKIError) as info:
        pki.verify_signature(oid, value, b"y", cert)
    assert info.value.code is ErrorCode.PKI_BAD_SIGNATURE


def test_calendar_signer() -> None:
    signer = pki.CalendarSigner.generate(
        common_name="H1", organization="Canton", not_before=T2024, not_after=T2024 + 2 * YEAR
    )
    cert = signer.certificate
    assert cert.subject.rfc4514_string() == "O=Canton,CN=H1"  # as Guardtime's
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    assert signer.certificate_id == hashlib.sha256(pki.certificate_der(cert)).digest()[:4]
    assert signer.valid_at(T2024 + YEAR)
    assert not signer.valid_at(T2024 + 3 * YEAR)
    oid, value = signer.sign(b"30 29 ...")
    assert oid == signer.signature_type == pki.SHA256_WITH_RSA
    pki.verify_signature(oid, value, b"30 29 ...", cert)
    loaded = pki.CalendarSigner.from_pem(
        signer.private_key_pem(b"pw"), signer.certificate_pem(), b"pw"
    )
    assert loaded.certificate == cert
    pki.verify_signature(*loaded.sign(b"m"), b"m", cert)


def test_calendar_signer_rejects_foreign_certificate(
    rsa_key_2: pki.PrivateKey, self_signed: pki.Certificate
) -> None:
    with pytest.raises(ValueError, match="does not belong"):
        pki.CalendarSigner(rsa_key_2, self_signed)


def test_small_rsa_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="2048"):
        pki.generate_rsa_key(1024)


# -- constraints ------------------------------------------------------------------------


def test_normalize_constraints() -> None:
    assert pki.normalize_constraints({"E": "a", "cn": "b", "2.5.4.10": "c", "email": "d"}) == {
        EMAIL_OID: "d",
        "2.5.4.3": "b",
        "2.5.4.10": "c",
    }
    with pytest.raises(ValueError, match="neither"):
        pki.normalize_constraints({"nonsense": "x"})
    with pytest.raises(ValueError, match="neither"):
        pki.normalize_constraints({"1.02.3": "x"})


def test_subject_constraints(mock_anchor: pki.Certificate) -> None:
    pki.check_subject_constraints(mock_anchor, {EMAIL_OID: "publications@guardtime.com"})
    pki.check_subject_constraints(mock_anchor, {"O": "Guardtime AS", "C": "EE"})
    for constraints in ({"E": "other@guardtime.com"}, {"CN": "anything"}, {"C": "ee"}):
        with pytest.raises(PKIError) as info:
            pki.check_subject_constraints(mock_anchor, constraints)
        assert info.value.code is ErrorCode.PKI_CONSTRAINT
    with pytest.raises(PKIError) as info:
        pki.check_subject_constraints(mock_anchor, {})
    assert info.value.code is ErrorCode.PKI_NOT_CONFIGURED


# -- CMS -----------------------------------------------------------------------------------

CONTENT = b"KSIPUBLF" + bytes(range(256)) * 4
OK_CONSTRAINTS = {"E": "publisher@example.org"}


def test_cms_self_signed_round_trip(rsa_key: pki.PrivateKey, self_signed: pki.Certificate) -> None:
    cms = pki.cms_sign_detached(CONTENT, rsa_key, self_signed)
    result = pki.verify_cms_detached(
        cms, CONTENT, trust_anchors=[self_signed], constraints=OK_CONSTRAINTS, at_time=T2024
    )
    assert result.signer == self_signed
    assert result.chain == (self_signed,)
    assert result.signing_time is not None


@pytest.fixture(scope="module")
def signed_cms(rsa_key: pki.PrivateKey, self_signed: pki.Certificate) -> bytes:
    return pki.cms_sign_detached(CONTENT, rsa_key, self_signed)


def _verify(cms: bytes, content: bytes = CONTENT, **kw: object) -> pki.CMSVerification:
    args: dict[str, object] = {"constraints": OK_CONSTRAINTS, "at_time": T2024}
    args.update(kw)
    return pki.verify_cms_detached(cms, content, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"content": CONTENT + b"x"}, ErrorCode.PKI_BAD_SIGNATURE),
        ({"constraints": {"E": "someone@example.org"}}, ErrorCode.PKI_CONSTRAINT),
        ({"constraints": {"CN": "publisher"}}, ErrorCode.PKI_CONSTRAINT),
        ({"constraints": {}}, ErrorCode.PKI_NOT_CONFIGURED),
        ({"trust_anchors": []}, ErrorCode.PKI_NOT_CONFIGURED),
        ({"at_time": T2024 + 10 * YEAR}, ErrorCode.PKI_EXPIRED),
        ({"at_time": T2024 - 2 * YEAR}, ErrorCode.PKI_EXPIRED),
    ],
)
def test_cms_failures(
    signed_cms: bytes, self_signed: pki.Certificate, change: dict[str, object], code: ErrorCode
) -> None:
    kw: dict[str, object] = {"trust_anchors": [self_signed]}
    kw.update(change)
    content = kw.pop("content", CONTENT)
    with pytest.raises(PKIError) as info:
        _verify(signed_cms, content, **kw)  # type: ignore[arg-type]
    assert info.value.code is code


def test_cms_untrusted_anchor(signed_cms: bytes, mock_anchor: pki.Certificate) -> None:
    with pytest.raises(PKIError) as info:
        _verify(signed_cms, trust_anchors=[mock_anchor])
    assert info.value.code is ErrorCode.PKI_UNTRUSTED


def test_cms_same_subject_other_key_is_untrusted(
    signed_cms: bytes, rsa_key_2: pki.PrivateKey, self_signed: pki.Certificate
) -> None:
    impostor = pki.self_signed_certificate(
        rsa_key_2,
        {"E": "publisher@example.org", "O": "Canton", "C": "CH"},
        not_before=T2024 - YEAR,
        not_after=T2024 + 5 * YEAR,
    )
    assert impostor.subject == self_signed.subject
    with pytest.raises(PKIError) as info:
        _verify(signed_cms, trust_anchors=[impostor])
    assert info.value.code is ErrorCode.PKI_UNTRUSTED


def test_cms_rejects_two_signers(
    rsa_key: pki.PrivateKey, self_signed: pki.Certificate, rsa_key_2: pki.PrivateKey
) -> None:
    other = pki.self_signed_certificate(
        rsa_key_2, {"CN": "second"}, not_before=T2024 - YEAR, not_after=T2024 + YEAR
    )
    cms = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(self_signed, rsa_key, hashes.SHA256())  # type: ignore[arg-type]
        .add_signer(other, rsa_key_2, hashes.SHA256())  # type: ignore[arg-type]
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )
    with pytest.raises(PKIError) as info:
        _verify(cms, trust_anchors=[self_signed])
    assert info.value.code is ErrorCode.PKI_BAD_SIGNATURE
    assert "exactly one" in info.value.message


def test_cms_rejects_embedded_content(
    rsa_key: pki.PrivateKey, self_signed: pki.Certificate
) -> None:
    cms = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(self_signed, rsa_key, hashes.SHA256())  # type: ignore[arg-type]
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    with pytest.raises(PKIError) as info:
        _verify(cms, trust_anchors=[self_signed])
    assert info.value.code is ErrorCode.PKI_BAD_SIGNATURE
    assert "detached" in info.value.message


def test_cms_ec_signer() -> None:
    key = pki.generate_ec_key()
    cert = pki.self_signed_certificate(
        key, {"E": "publisher@example.org"}, not_before=T2024, not_after=T2024 + YEAR
    )
    cms = pki.cms_sign_detached(CONTENT, key, cert)
    assert _verify(cms, trust_anchors=[cert], at_time=T2024 + 10).signer == cert


def test_missing_asn1crypto_is_not_configured(
    monkeypatch: pytest.MonkeyPatch, signed_cms: bytes, self_signed: pki.Certificate
) -> None:
    monkeypatch.setitem(sys.modules, "asn1crypto", None)
    monkeypatch.setitem(sys.modules, "asn1crypto.cms", None)
    with pytest.raises(PKIError) as info:
        _verify(signed_cms, trust_anchors=[self_signed])
    assert info.value.code is ErrorCode.PKI_NOT_CONFIGURED
    assert "jura-trust[pki]" in info.value.message


# -- chains -----------------------------------------------------------------------------------


class _PKI:
    """A root CA, an intermediate CA and a leaf, all RSA."""

    def __init__(self, *, intermediate_is_ca: bool = True) -> None:
        self.root_key = pki.generate_rsa_key()
        self.root = pki.self_signed_certificate(
            self.root_key, {"CN": "Root"}, not_before=T2024 - YEAR, not_after=T2024 + 10 * YEAR
        )
        self.mid_key = pki.generate_rsa_key()
        self.mid = pki.issue_certificate(
            self.root_key,
            self.root,
            self.mid_key.public_key(),
            {"CN": "Intermediate"},
            not_before=T2024 - YEAR,
            not_after=T2024 + 2 * YEAR,
            ca=intermediate_is_ca,
        )
        self.leaf_key = pki.generate_rsa_key()
        self.leaf = pki.issue_certificate(
            self.mid_key,
            self.mid,
            self.leaf_key.public_key(),
            {"E": "publisher@example.org", "CN": "Publisher"},
            not_before=T2024 - YEAR,
            not_after=T2024 + 5 * YEAR,
        )

    def cms(self, *, embed_intermediate: bool = True) -> bytes:
        extra = [self.mid] if embed_intermediate else []
        return pki.cms_sign_detached(CONTENT, self.leaf_key, self.leaf, extra_certificates=extra)


@pytest.fixture(scope="module")
def three_level() -> _PKI:
    return _PKI()


def test_chain_through_embedded_intermediate(three_level: _PKI) -> None:
    result = _verify(three_level.cms(), trust_anchors=[three_level.root])
    assert result.signer == three_level.leaf
    assert result.chain == (three_level.leaf, three_level.mid, three_level.root)


def test_chain_needs_the_intermediate(three_level: _PKI) -> None:
    with pytest.raises(PKIError) as info:
        _verify(three_level.cms(embed_intermediate=False), trust_anchors=[three_level.root])
    assert info.value.code is ErrorCode.PKI_UNTRUSTED
    # An intermediate configured as an anchor is trusted explicitly.
    result = _verify(three_level.cms(embed_intermediate=False), trust_anchors=[three_level.mid])
    assert result.chain == (three_level.leaf, three_level.mid)


def test_chain_checks_every_certificate_at_the_time(three_level: _PKI) -> None:
    # The intermediate expires after two years although leaf and root live on.
    with pytest.raises(PKIError) as info:
        _verify(three_level.cms(), trust_anchors=[three_level.root], at_time=T2024 + 3 * YEAR)
    assert info.value.code is ErrorCode.PKI_EXPIRED


def test_non_ca_intermediate_is_untrusted() -> None:
    bad = _PKI(intermediate_is_ca=False)
    with pytest.raises(PKIError) as info:
        _verify(bad.cms(), trust_anchors=[bad.root])
    assert info.value.code is ErrorCode.PKI_UNTRUSTED


def test_validate_chain_directly(three_level: _PKI) -> None:
    assert pki.validate_chain(three_level.mid, [], [three_level.root], T2024) == (
        three_level.mid,
        three_level.root,
    )
    with pytest.raises(PKIError) as info:
        pki.validate_chain(three_level.leaf, [], [three_level.root], T2024)
    assert info.value.code is ErrorCode.PKI_UNTRUSTED
    with pytest.raises(PKIError) as info:
        pki.validate_chain(three_level.leaf, [three_level.mid], [], T2024)
    assert info.value.code is ErrorCode.PKI_NOT_CONFIGURED


# -- the real CMS signatures -----------------------------------------------------------------


def _file_cms(name: str) -> tuple[bytes, bytes]:
    data = ksi_bytes(name)
    offset = 8
    for element in tlv.decode_sequence(data[8:]):
        if element.type == 0x704:
            return element.value, data[:offset]
        offset += len(element.raw)
    raise AssertionError("no signature")


def test_real_globalsign_chain_with_intermediate_as_anchor() -> None:
    cms, signed = _file_cms("pubfiles/publications-file.bin")
    embedded = [
        pki.load_certificate_der(c.chosen.dump())
        for c in asn1_cms.ContentInfo.load(cms)["content"]["certificates"]
    ]
    (intermediate,) = [c for c in embedded if "GlobalSign GCC R45" in c.subject.rfc4514_string()]
    result = pki.verify_cms_detached(
        cms,
        signed,
        trust_anchors=[intermediate],
        constraints={"E": "publications@guardtime.com", "CN": "GuardTime OÜ"},
        at_time=T2024,
    )
    assert result.chain[-1] == intermediate
    assert len(result.chain) == 2


@pytest.fixture(scope="module")
def mock_cms() -> tuple[bytes, bytes]:
    return _file_cms("pubfiles/publications.tlv")


@pytest.mark.fuzz
@settings(
    max_examples=scaled(120),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_mutated_cms_raises_only_pki_errors(
    mock_cms: tuple[bytes, bytes], mock_anchor: pki.Certificate, data: st.DataObject
) -> None:
    cms, signed = mock_cms
    buf = bytearray(cms)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255).filter(lambda b, p=pos: b != buf[p]))
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(buf)))
        del buf[cut:]
    try:
        pki.verify_cms_detached(
            bytes(buf),
            signed,
            trust_anchors=[mock_anchor],
            constraints={"E": "publications@guardtime.com"},
            at_time=T2026,
        )
    except PKIError:
        pass
    except JuraError as exc:  # pragma: no cover - a wrong family is a bug
        pytest.fail(f"unexpected error family {exc!r}")


# -- certificates cryptography only warns about --------------------------------------------


def _ec_cert_der(name: x509.Name) -> bytearray:
    key = pki.generate_ec_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime.fromtimestamp(T2024, datetime.UTC))
        .not_valid_after(datetime.datetime.fromtimestamp(T2024 + YEAR, datetime.UTC))
    )
    return bytearray(pki.certificate_der(builder.sign(key, hashes.SHA256())))


@pytest.mark.parametrize("serial_byte", [0x00, 0x81])
def test_non_positive_serial_is_refused(serial_byte: int) -> None:
    der = _ec_cert_der(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")]))
    pos = der.index(bytes([0x02, 0x01, 0x01]))  # INTEGER 1, the serial
    der[pos + 2] = serial_byte
    with pytest.raises(FormatError) as info:
        pki.load_certificate_der(bytes(der))
    assert info.value.code is ErrorCode.FMT_BAD_CERTIFICATE
    assert "serial" in info.value.message


def test_bad_country_name_is_refused_without_warning() -> None:
    der = _ec_cert_der(x509.Name([x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Canton")]))
    oid_o = bytes.fromhex("0603 55040a".replace(" ", ""))
    while oid_o in der:  # turn O (2.5.4.10) into C (2.5.4.6): a 6-letter country
        pos = der.index(oid_o)
        der[pos + 4] = 0x06
    # pytest turns warnings into errors here: a leaked warning would fail.
    with pytest.raises(FormatError) as info:
        pki.load_certificate_der(bytes(der))
    assert info.value.code is ErrorCode.FMT_BAD_CERTIFICATE
    with pytest.raises(FormatError):
        pki.load_certificates(
            b"-----BEGIN CERTIFICATE-----\n"
            + base64.encodebytes(bytes(der))
            + b"-----END CERTIFICATE-----\n"
        )

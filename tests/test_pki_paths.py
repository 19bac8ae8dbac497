"""Certificate paths behind a publications file: the attacks of issue 14.

Every certificate here is crafted with ``cryptography``. Each attack ends in a
forged publications-file signature: a signer whose subject satisfies
``E=publications@guardtime.com`` but whose path should not be trusted for it.
The tests are named after the attack and check both the verdict and the code.
"""

from __future__ import annotations

import datetime
import hashlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jura_trust import pki
from jura_trust.core import tlv
from jura_trust.errors import ErrorCode, FormatError, JuraError, PKIError
from jura_trust.publications import CERTIFICATE_RECORD_TYPE, SIGNATURE_TYPE, PublicationsFile
from tests.vectors import ksi_path

V_OK = "signatures/valid/ok-sig-2014-04-30.1.ksig"
AT = datetime.datetime(2024, 3, 19, tzinfo=datetime.UTC)
AT_UNIX = int(AT.timestamp())
DAY = datetime.timedelta(days=1)
CONTENT = b"KSIPUBLF" + bytes(range(256)) * 2
SIGNER_EMAIL = "publications@guardtime.com"
CONSTRAINT = {"E": SIGNER_EMAIL}

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def _key_usage(*, ca: bool, signer: bool = True) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=signer and not ca,
        key_encipherment=not signer,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_cert(
    subject: x509.Name,
    key: Key,
    *,
    issuer: x509.Certificate | None = None,
    issuer_key: Key | None = None,
    ca: bool,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    key_usage: x509.KeyUsage | None = None,
    issuer_name: x509.Name | None = None,
    not_before: datetime.datetime = AT - 365 * DAY,
    not_after: datetime.datetime = AT + 365 * DAY,
) -> x509.Certificate:
    """A v3 certificate; self-signed unless ``issuer`` is given."""
    signing_key = issuer_key if issuer_key is not None else key
    if issuer_name is None:
        issuer_name = issuer.subject if issuer is not None else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(key_usage or _key_usage(ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


class Hierarchy:
    """Root CA -> sub-CA -> publications signer, each part adjustable."""

    def __init__(
        self,
        *,
        root_ext: Sequence[tuple[x509.ExtensionType, bool]] = (),
        sub_ext: Sequence[tuple[x509.ExtensionType, bool]] = (),
        leaf_ext: Sequence[tuple[x509.ExtensionType, bool]] = (),
        sub_subject: x509.Name | None = None,
        leaf_subject: x509.Name | None = None,
        leaf_key_usage: x509.KeyUsage | None = None,
    ) -> None:
        self.root_key, self.sub_key, self.leaf_key = _ec(), _ec(), _ec()
        self.root = make_cert(
            _name((NameOID.COMMON_NAME, "Test Root")), self.root_key, ca=True, extensions=root_ext
        )
        self.sub = make_cert(
            sub_subject
            or _name((NameOID.ORGANIZATION_NAME, "Example"), (NameOID.COMMON_NAME, "Sub")),
            self.sub_key,
            issuer=self.root,
            issuer_key=self.root_key,
            ca=True,
            extensions=sub_ext,
        )
        self.leaf = make_cert(
            leaf_subject
            or _name(
                (NameOID.EMAIL_ADDRESS, SIGNER_EMAIL), (NameOID.ORGANIZATION_NAME, "Guardtime")
            ),
            self.leaf_key,
            issuer=self.sub,
            issuer_key=self.sub_key,
            ca=False,
            extensions=leaf_ext,
            key_usage=leaf_key_usage,
        )

    def cms(self) -> bytes:
        return pki.cms_sign_detached(
            CONTENT, self.leaf_key, self.leaf, extra_certificates=[self.sub]
        )

    def verify(self, **kw: object) -> pki.CMSVerification:
        args: dict[str, object] = {
            "trust_anchors": [self.root],
            "constraints": CONSTRAINT,
            "at_time": AT_UNIX,
        }
        args.update(kw)
        return pki.verify_cms_detached(self.cms(), CONTENT, **args)  # type: ignore[arg-type]


def _refused(h: Hierarchy, code: ErrorCode) -> PKIError:
    with pytest.raises(PKIError) as info:
        h.verify()
    assert info.value.code is code, info.value
    with pytest.raises(PKIError) as again:
        pki.validate_path(h.leaf, [h.sub], [h.root], at=AT)
    assert again.value.code is code
    return info.value


def test_control_hierarchy_is_trusted() -> None:
    h = Hierarchy()
    result = h.verify()
    assert result.chain == (h.leaf, h.sub, h.root)
    assert pki.validate_path(h.leaf, [h.sub], [h.root], at=AT) == (h.leaf, h.sub, h.root)


# -- 1. name and policy constraints ------------------------------------------------------------


def _email_nc(
    *, permitted: Sequence[str] = (), excluded: Sequence[str] = ()
) -> x509.NameConstraints:
    return x509.NameConstraints(
        permitted_subtrees=[x509.RFC822Name(p) for p in permitted] or None,
        excluded_subtrees=[x509.RFC822Name(e) for e in excluded] or None,
    )


def test_name_constrained_subca_attack() -> None:
    # A sub-CA limited to @example.com issues E=publications@guardtime.com.
    h = Hierarchy(sub_ext=[(_email_nc(permitted=["example.com", ".example.com"]), True)])
    error = _refused(h, ErrorCode.PKI_NAME_CONSTRAINT)
    assert SIGNER_EMAIL in error.message


def test_name_constrained_subca_attack_with_san() -> None:
    san = x509.SubjectAlternativeName([x509.RFC822Name(SIGNER_EMAIL)])
    h = Hierarchy(
        sub_ext=[(_email_nc(permitted=["example.com"]), True)],
        leaf_ext=[(san, False)],
    )
    _refused(h, ErrorCode.PKI_NAME_CONSTRAINT)


def test_name_constrained_subca_attack_directory_name() -> None:
    # A sub-CA limited to O=Example issues O=Guardtime: refused (cryptography
    # does not evaluate directoryName constraints and fails closed on them).
    nc = x509.NameConstraints(
        permitted_subtrees=[x509.DirectoryName(_name((NameOID.ORGANIZATION_NAME, "Example")))],
        excluded_subtrees=None,
    )
    h = Hierarchy(sub_ext=[(nc, True)])
    _refused(h, ErrorCode.PKI_NAME_CONSTRAINT)


def test_name_constrained_subca_allows_its_own_names() -> None:
    h = Hierarchy(
        sub_ext=[(_email_nc(permitted=["guardtime.com"]), True)],
    )
    assert h.verify().chain[0] == h.leaf
    mailbox = Hierarchy(sub_ext=[(_email_nc(permitted=[SIGNER_EMAIL]), True)])
    assert mailbox.verify().chain[0] == mailbox.leaf


@pytest.mark.parametrize("where", ["root", "sub"])
def test_excluded_subtree_on_anchor_attack(where: str) -> None:
    nc = (_email_nc(excluded=["guardtime.com", ".guardtime.com"]), True)
    h = Hierarchy(root_ext=[nc]) if where == "root" else Hierarchy(sub_ext=[nc])
    _refused(h, ErrorCode.PKI_NAME_CONSTRAINT)


def test_excluded_subtree_on_anchor_attack_case_of_host() -> None:
    h = Hierarchy(
        root_ext=[(_email_nc(excluded=["GuardTime.COM"]), True)],
    )
    _refused(h, ErrorCode.PKI_NAME_CONSTRAINT)


@pytest.mark.parametrize("where", ["root", "sub", "leaf"])
def test_critical_policy_constraints_attack(where: str) -> None:
    pc = (x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None), True)
    h = Hierarchy(**{f"{where}_ext": [pc]})  # type: ignore[arg-type]
    _refused(h, ErrorCode.PKI_CRITICAL_EXTENSION)


@pytest.mark.parametrize(
    "ext",
    [
        x509.InhibitAnyPolicy(0),
        # policyMappings (2.5.29.33): {1.2.3 -> 1.2.4}
        x509.UnrecognizedExtension(
            x509.ObjectIdentifier("2.5.29.33"),
            bytes.fromhex("300a3008060 22a0306022a04".replace(" ", "")),
        ),
        x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"),
    ],
    ids=["inhibit-any-policy", "policy-mappings", "unknown"],
)
def test_unenforced_critical_extension_on_subca_attack(ext: x509.ExtensionType) -> None:
    _refused(Hierarchy(sub_ext=[(ext, True)]), ErrorCode.PKI_CRITICAL_EXTENSION)


# -- 2. extended key usage ---------------------------------------------------------------------


def _eku(*oids: x509.ObjectIdentifier) -> x509.ExtendedKeyUsage:
    return x509.ExtendedKeyUsage(list(oids))


@pytest.mark.parametrize("critical", [False, True])
def test_tls_only_eku_on_signer_attack(critical: bool) -> None:
    h = Hierarchy(leaf_ext=[(_eku(ExtendedKeyUsageOID.SERVER_AUTH), critical)])
    error = _refused(h, ErrorCode.PKI_KEY_PURPOSE)
    assert "document signing" in error.message


def test_tls_only_eku_on_ca_attack() -> None:
    h = Hierarchy(sub_ext=[(_eku(ExtendedKeyUsageOID.SERVER_AUTH), False)])
    _refused(h, ErrorCode.PKI_KEY_PURPOSE)


def test_tls_only_eku_on_anchor_attack() -> None:
    h = Hierarchy(
        root_ext=[(_eku(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH), False)]
    )
    _refused(h, ErrorCode.PKI_KEY_PURPOSE)


def test_tls_only_eku_on_directly_trusted_signer_attack() -> None:
    key = _ec()
    cert = make_cert(
        _name((NameOID.EMAIL_ADDRESS, SIGNER_EMAIL)),
        key,
        ca=False,
        extensions=[(_eku(ExtendedKeyUsageOID.SERVER_AUTH), True)],
    )
    cms = pki.cms_sign_detached(CONTENT, key, cert)
    with pytest.raises(PKIError) as info:
        pki.verify_cms_detached(
            cms, CONTENT, trust_anchors=[cert], constraints=CONSTRAINT, at_time=AT_UNIX
        )
    assert info.value.code is ErrorCode.PKI_KEY_PURPOSE


@pytest.mark.parametrize(
    "oid",
    [
        pki.EMAIL_PROTECTION,
        pki.DOCUMENT_SIGNING_EKU,
        pki.MS_DOCUMENT_SIGNING,
        pki.ADOBE_AUTHENTIC_DOCUMENTS,
        pki.ANY_EXTENDED_KEY_USAGE,
    ],
)
def test_document_signing_purposes_are_accepted(oid: str) -> None:
    eku = (_eku(ExtendedKeyUsageOID.SERVER_AUTH, x509.ObjectIdentifier(oid)), False)
    h = Hierarchy(leaf_ext=[eku], sub_ext=[eku])
    assert h.verify().chain[0] == h.leaf


@pytest.mark.parametrize(
    "oid",
    [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.CODE_SIGNING,
        ExtendedKeyUsageOID.TIME_STAMPING,
        ExtendedKeyUsageOID.OCSP_SIGNING,
    ],
)
def test_other_purposes_are_refused(oid: x509.ObjectIdentifier) -> None:
    _refused(Hierarchy(leaf_ext=[(_eku(oid), False)]), ErrorCode.PKI_KEY_PURPOSE)


def test_signer_key_usage_must_allow_signing() -> None:
    h = Hierarchy(leaf_key_usage=_key_usage(ca=False, signer=False))
    _refused(h, ErrorCode.PKI_KEY_PURPOSE)


# -- 3. SHA-1 in the CMS signature -------------------------------------------------------------


def _sha1_cms(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> bytes:
    """A detached CMS like cms_sign_detached's, but with SHA-1 (which it refuses)."""
    info = asn1_cms.ContentInfo.load(pki.cms_sign_detached(CONTENT, key, cert))
    signed = info["content"]
    sha1 = asn1_algos.DigestAlgorithm({"algorithm": "sha1"})
    signed["digest_algorithms"] = asn1_cms.DigestAlgorithms([sha1])
    signer = signed["signer_infos"][0]
    signer["digest_algorithm"] = sha1
    signer["signature_algorithm"] = asn1_algos.SignedDigestAlgorithm({"algorithm": "sha1_rsa"})
    digest = asn1_cms.CMSAttribute(
        {"type": "message_digest", "values": [hashlib.sha1(CONTENT).digest()]}
    )
    attributes = [
        digest if a["type"].native == "message_digest" else a for a in signer["signed_attrs"]
    ]
    signer["signed_attrs"] = asn1_cms.CMSAttributes(attributes)
    to_sign = bytearray(signer["signed_attrs"].dump(force=True))
    to_sign[0] = 0x31
    signer["signature"] = asn1_core.OctetString(
        key.sign(bytes(to_sign), padding.PKCS1v15(), hashes.SHA1())
    )
    return info.dump(force=True)


@pytest.fixture(scope="module")
def sha1_signer() -> tuple[bytes, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = make_cert(
        _name((NameOID.EMAIL_ADDRESS, SIGNER_EMAIL)),
        key,
        ca=False,
        not_before=datetime.datetime(2015, 1, 1, tzinfo=datetime.UTC),
        not_after=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC),
    )
    return _sha1_cms(key, cert), cert


def test_sha1_cms_after_cutoff_attack(sha1_signer: tuple[bytes, x509.Certificate]) -> None:
    cms, cert = sha1_signer
    kw = {"trust_anchors": [cert], "constraints": CONSTRAINT}
    with pytest.raises(PKIError) as info:
        pki.verify_cms_detached(cms, CONTENT, at_time=AT_UNIX, **kw)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.PKI_WEAK_ALGORITHM
    cutoff = int(pki.SHA1_CUTOFF.timestamp())
    with pytest.raises(PKIError) as info:
        pki.verify_cms_detached(cms, CONTENT, at_time=cutoff, **kw)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.PKI_WEAK_ALGORITHM
    # Before the cut-off, or with the named opt-in, it is the signature it is.
    before = pki.verify_cms_detached(cms, CONTENT, at_time=cutoff - 1, **kw)  # type: ignore[arg-type]
    assert before.signer == cert
    opted = pki.verify_cms_detached(cms, CONTENT, at_time=AT_UNIX, allow_sha1=True, **kw)  # type: ignore[arg-type]
    assert opted.signer == cert
    with pytest.raises(PKIError) as info:  # the opt-in does not excuse a wrong digest
        pki.verify_cms_detached(
            cms,
            CONTENT + b"x",
            at_time=AT_UNIX,
            allow_sha1=True,
            **kw,  # type: ignore[arg-type]
        )
    assert info.value.code is ErrorCode.PKI_BAD_SIGNATURE


# -- 4. names compared as RFC 5280 says ---------------------------------------------------------


def _typed(value: str, kind: _ASN1Type) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value, _type=kind)])


@pytest.mark.parametrize(
    ("anchor_name", "issuer_name"),
    [
        ("Test Root CA", "Test Root CA"),
        ("Test Root CA", "test  root ca"),
        ("TEST ROOT CA", " Test Root CA "),
    ],
)
def test_printable_string_vs_utf8_string_issuer_name(anchor_name: str, issuer_name: str) -> None:
    root_key, leaf_key = _ec(), _ec()
    root = make_cert(_typed(anchor_name, _ASN1Type.PrintableString), root_key, ca=True)
    leaf = make_cert(
        _name((NameOID.EMAIL_ADDRESS, SIGNER_EMAIL)),
        leaf_key,
        issuer=root,
        issuer_key=root_key,
        issuer_name=_typed(issuer_name, _ASN1Type.UTF8String),
        ca=False,
    )
    assert leaf.issuer.public_bytes() != root.subject.public_bytes()
    chain = pki.validate_path(leaf, [], [root], at=AT)
    assert chain == (leaf, root)
    assert chain[-1] is root  # the configured anchor, not a stand-in
    cms = pki.cms_sign_detached(CONTENT, leaf_key, leaf)
    result = pki.verify_cms_detached(
        cms, CONTENT, trust_anchors=[root], constraints=CONSTRAINT, at_time=AT_UNIX
    )
    assert result.chain == (leaf, root)
    # The name matches; the key must still be the anchor's.
    impostor = make_cert(_typed(anchor_name, _ASN1Type.PrintableString), _ec(), ca=True)
    with pytest.raises(PKIError) as info:
        pki.validate_path(leaf, [], [impostor], at=AT)
    assert info.value.code is ErrorCode.PKI_UNTRUSTED


def test_names_match_rules() -> None:
    p = _typed("Guardtime AS", _ASN1Type.PrintableString)
    assert pki.names_match(p, _typed("guardtime  as", _ASN1Type.UTF8String))
    assert not pki.names_match(p, _typed("Guardtime", _ASN1Type.UTF8String))
    two = _name((NameOID.COMMON_NAME, "a"), (NameOID.ORGANIZATION_NAME, "b"))
    swapped = _name((NameOID.ORGANIZATION_NAME, "b"), (NameOID.COMMON_NAME, "a"))
    assert not pki.names_match(two, swapped)  # RDN order matters
    assert not pki.names_match(two, _name((NameOID.COMMON_NAME, "a")))


# -- the API -------------------------------------------------------------------------------------


def test_validate_path_needs_an_aware_time() -> None:
    h = Hierarchy()
    with pytest.raises(ValueError, match="aware"):
        pki.validate_path(h.leaf, [h.sub], [h.root], at=datetime.datetime(2024, 3, 19))
    with pytest.raises(TypeError):
        pki.validate_path(h.leaf, [h.sub], [h.root], at=AT_UNIX)  # type: ignore[arg-type]
    with pytest.raises(PKIError) as info:
        pki.validate_path(h.leaf, [h.sub], [], at=AT)
    assert info.value.code is ErrorCode.PKI_NOT_CONFIGURED
    other_zone = AT.astimezone(datetime.timezone(datetime.timedelta(hours=5)))
    assert pki.validate_path(h.leaf, [h.sub], [h.root], at=other_zone)[0] == h.leaf


def test_validate_path_codes_for_time_and_missing_issuer() -> None:
    h = Hierarchy()
    with pytest.raises(PKIError) as info:
        pki.validate_path(h.leaf, [h.sub], [h.root], at=AT + 400 * DAY)
    assert info.value.code is ErrorCode.PKI_EXPIRED
    with pytest.raises(PKIError) as info:
        pki.validate_path(h.leaf, [], [h.root], at=AT)
    assert info.value.code is ErrorCode.PKI_UNTRUSTED


def test_directly_trusted_signer_with_unenforced_critical_extension() -> None:
    key = _ec()
    cert = make_cert(
        _name((NameOID.EMAIL_ADDRESS, SIGNER_EMAIL)),
        key,
        ca=False,
        extensions=[
            (x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None), True)
        ],
    )
    with pytest.raises(PKIError) as info:
        pki.validate_path(cert, [], [cert], at=AT)
    assert info.value.code is ErrorCode.PKI_CRITICAL_EXTENSION


# -- issue 8, item 5: malformed certificates are typed errors ------------------------------------


def _bad_version(cert: x509.Certificate) -> bytes:
    der = bytearray(pki.certificate_der(cert))
    marker = bytes([0xA0, 0x03, 0x02, 0x01, 0x02])  # [0] EXPLICIT INTEGER 2 (v3)
    pos = der.index(marker)
    der[pos + 4] = 0x07  # no such version
    return bytes(der)


def _duplicate_extension(key: Key) -> bytes:
    """A certificate with two subjectKeyIdentifier extensions."""
    value = b"\x04\x14" + bytes(range(20))  # a well-formed key identifier
    cert = make_cert(
        _name((NameOID.COMMON_NAME, "dup")),
        key,
        ca=False,
        extensions=[(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), value), False)],
    )
    der = bytearray(pki.certificate_der(cert))
    # turn the unknown extension's OID (1.2.3.4) into subjectKeyIdentifier's (2.5.29.14)
    old = bytes([0x06, 0x03, 0x2A, 0x03, 0x04])
    pos = der.index(old)
    der[pos : pos + 5] = bytes([0x06, 0x03, 0x55, 0x1D, 0x0E])
    return bytes(der)


@pytest.fixture(scope="module")
def malformed_ders() -> dict[str, bytes]:
    key = _ec()
    good = make_cert(_name((NameOID.COMMON_NAME, "ok")), key, ca=False)
    return {"bad-version": _bad_version(good), "duplicate-extension": _duplicate_extension(key)}


def _file_with_certificate(der: bytes, signer_key: Key, signer: x509.Certificate) -> bytes:
    """A signed publications file whose one certificate record holds ``der``."""
    base = PublicationsFile.build(AT_UNIX, {}, [])
    record = tlv.encode(
        CERTIFICATE_RECORD_TYPE, tlv.encode(0x01, b"\x01\x02\x03\x04") + tlv.encode(0x02, der)
    )
    signed = base.signed_bytes + record
    cms = pki.cms_sign_detached(signed, signer_key, signer)  # type: ignore[arg-type]
    return signed + tlv.encode(SIGNATURE_TYPE, cms)


def _cms_with_certificate(der: bytes, signer_key: Key, signer: x509.Certificate) -> bytes:
    """A detached CMS over CONTENT that also carries the certificate ``der``."""
    info = asn1_cms.ContentInfo.load(pki.cms_sign_detached(CONTENT, signer_key, signer))  # type: ignore[arg-type]
    signed = info["content"]
    choices = [asn1_cms.CertificateChoices.load(c.dump()) for c in signed["certificates"]]
    choices.append(asn1_cms.CertificateChoices.load(der))
    signed["certificates"] = asn1_cms.CertificateSet(choices)
    return info.dump(force=True)


@pytest.fixture(scope="module")
def publisher() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _ec()
    return key, make_cert(_name((NameOID.EMAIL_ADDRESS, SIGNER_EMAIL)), key, ca=False)


@pytest.mark.parametrize("kind", ["bad-version", "duplicate-extension"])
def test_malformed_certificate_in_publications_file_is_typed(
    kind: str,
    malformed_ders: dict[str, bytes],
    publisher: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    tmp_path: Path,
) -> None:
    der = malformed_ders[kind]
    with pytest.raises(FormatError) as loading:
        pki.load_certificate_der(der, allow_nonpositive_serial=True)
    assert loading.value.code is ErrorCode.FMT_BAD_CERTIFICATE
    key, cert = publisher
    data = _file_with_certificate(der, key, cert)
    with pytest.raises(JuraError) as parsing:
        PublicationsFile.parse(data)
    assert parsing.value.code.family == "FMT"
    # inside the CMS signature's certificate set: a PKI error, not a crash
    with pytest.raises(PKIError) as verifying:
        pki.verify_cms_detached(
            _cms_with_certificate(der, key, cert),
            CONTENT,
            trust_anchors=[cert],
            constraints=CONSTRAINT,
            at_time=AT_UNIX,
        )
    assert verifying.value.code is ErrorCode.PKI_BAD_SIGNATURE
    # the command line: a typed error, exit status 3 (unreadable), no traceback
    pubfile = tmp_path / "publications.bin"
    pubfile.write_bytes(data)
    anchor = tmp_path / "anchor.pem"
    anchor.write_bytes(pki.certificate_pem(cert))
    argv = [
        "verify", str(ksi_path(V_OK)), "--publications-file", str(pubfile),
        "--trust-anchor", str(anchor), "--cert-constraint", f"E={SIGNER_EMAIL}",
        "--policy", "publications-file",
    ]  # fmt: skip
    for extra in ([], ["--json"]):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from jura_trust.cli import main; sys.exit(main())",
                *argv,
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 3, proc
        assert "Traceback" not in proc.stderr + proc.stdout
        assert "[FMT-" in proc.stderr or '"code": "FMT-' in proc.stdout

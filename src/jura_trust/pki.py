"""Keys, X.509 certificates, calendar signatures and CMS (layer 5).

The one module that talks to ``cryptography`` (and, for verifying CMS, to
the optional ``asn1crypto``). Everything else in jura_trust goes through it.

Three jobs:

* **Certificates and keys**: load PEM/DER certificates and bundles, the
  4-byte certificate id, validity at a Unix time, RSA/EC key helpers, and
  :class:`CalendarSigner` (the embedded service's calendar key with a
  self-signed certificate).
* **Calendar-authentication-record signatures** (spec/ksi-format.md
  section 8): :func:`verify_signature` and :func:`sign` over raw bytes with
  a signature-type OID string. An unusable type raises PKI-06, a signature
  that does not verify PKI-02; KSI verification maps both to KEY-02.
* **Detached CMS SignedData** (the publications file, spec section 7.3):
  :func:`cms_sign_detached` with ``cryptography`` alone, and
  :func:`verify_cms_detached`: signature over the signed attributes, path
  validation to explicitly configured trust anchors at a stated time, and
  subject constraints on the signer. Parsing CMS needs ``asn1crypto``
  (``pip install jura-trust[pki]``): ``cryptography`` 50 can build CMS
  signatures but has no API to verify them.

Trust is never implicit: no system store, no default anchors, and no
constraints means "not configured" (PKI-01), never a silent pass.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import re
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from jura_trust.errors import ErrorCode, FormatError, PKIError

__all__ = [
    "CERTIFICATE_ID_LENGTH",
    "ECDSA_WITH_SHA256",
    "ECDSA_WITH_SHA384",
    "MAX_CHAIN_LENGTH",
    "RSASSA_PSS",
    "SHA256_WITH_RSA",
    "SHA384_WITH_RSA",
    "SHA512_WITH_RSA",
    "SUBJECT_ATTRIBUTE_OIDS",
    "CMSVerification",
    "CalendarSigner",
    "Certificate",
    "PrivateKey",
    "PublicKey",
    "certificate_der",
    "certificate_id",
    "certificate_pem",
    "certificate_valid_at",
    "check_certificate_valid_at",
    "check_subject_constraints",
    "cms_sign_detached",
    "generate_ec_key",
    "generate_rsa_key",
    "issue_certificate",
    "load_certificate",
    "load_certificate_der",
    "load_certificates",
    "load_private_key",
    "normalize_constraints",
    "private_key_pem",
    "self_signed_certificate",
    "sign",
    "signature_type_for_key",
    "validate_chain",
    "verify_cms_detached",
    "verify_signature",
]

#: An X.509 certificate (``cryptography``'s class, re-exported so other
#: modules need not import ``cryptography``).
Certificate: TypeAlias = x509.Certificate
#: Private keys jura_trust signs with.
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
#: Public keys jura_trust verifies with.
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

#: sha256WithRSAEncryption (RSA PKCS#1 v1.5 + SHA-256): what KSI uses.
SHA256_WITH_RSA = "1.2.840.113549.1.1.11"
#: sha384WithRSAEncryption.
SHA384_WITH_RSA = "1.2.840.113549.1.1.12"
#: sha512WithRSAEncryption.
SHA512_WITH_RSA = "1.2.840.113549.1.1.13"
#: ecdsa-with-SHA256.
ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
#: ecdsa-with-SHA384.
ECDSA_WITH_SHA384 = "1.2.840.10045.4.3.3"
#: RSASSA-PSS: its parameters are not carried by KSI, so (as in libksi) it
#: is an unusable signature type.
RSASSA_PSS = "1.2.840.113549.1.1.10"

#: Length of the certificate ids jura_trust assigns (:func:`certificate_id`).
CERTIFICATE_ID_LENGTH = 4
#: Most certificates in a validated path, leaf and anchor included.
MAX_CHAIN_LENGTH = 8
#: Most issuer-signature checks one path search may make.
_MAX_PATH_CHECKS = 64

#: Short names accepted as constraint keys, mapped to their OIDs.
SUBJECT_ATTRIBUTE_OIDS: Mapping[str, str] = {
    "E": "1.2.840.113549.1.9.1",
    "EMAIL": "1.2.840.113549.1.9.1",
    "EMAILADDRESS": "1.2.840.113549.1.9.1",
    "CN": "2.5.4.3",
    "C": "2.5.4.6",
    "L": "2.5.4.7",
    "ST": "2.5.4.8",
    "O": "2.5.4.10",
    "OU": "2.5.4.11",
}

_WARNINGS_LOCK = threading.Lock()
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----", re.DOTALL
)
_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")

_RSA_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {
    SHA256_WITH_RSA: hashes.SHA256,
    SHA384_WITH_RSA: hashes.SHA384,
    SHA512_WITH_RSA: hashes.SHA512,
}
_ECDSA_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {
    ECDSA_WITH_SHA256: hashes.SHA256,
    ECDSA_WITH_SHA384: hashes.SHA384,
}
#: Digest algorithms accepted inside CMS (SHA-1 only because a libksi test
#: file was signed with it; the signer chain is checked all the same).
_CMS_DIGESTS: Mapping[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_CMS_SIGN_HASHES: Mapping[
    str, type[hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512]
] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


# -- time -----------------------------------------------------------------------


def _utc(when: int) -> datetime.datetime:
    if not isinstance(when, int) or isinstance(when, bool):
        raise TypeError("times are Unix seconds (int)")
    return datetime.datetime.fromtimestamp(when, tz=datetime.UTC)


def _unix(moment: datetime.datetime) -> int:
    return int(moment.timestamp())


# -- certificates ---------------------------------------------------------------


def _parse_der(der: bytes, *, tolerate_serial: bool = False) -> Certificate:
    """Parse fully (``cryptography`` parses lazily), so later use cannot fail.

    ``cryptography`` *warns* about some defects (a country name that is not
    two characters, a non-positive serial) instead of failing; such
    certificates are refused here, so loading never emits a warning. The
    warning filter is narrowed to this module and the lock keeps our own
    callers from interleaving ``catch_warnings`` (which is not thread-safe).
    """
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("error", category=UserWarning, module=re.escape(__name__))
        if tolerate_serial:
            warnings.filterwarnings(
                "ignore",
                message=".*serial number which wasn't positive.*",
                module=re.escape(__name__),
            )
        try:
            cert = x509.load_der_x509_certificate(der)
            _ = (cert.subject, cert.issuer, cert.extensions, cert.serial_number)
            _ = (cert.not_valid_before_utc, cert.not_valid_after_utc)
            # An unsupported key type is readable; it is reported when used.
            with contextlib.suppress(UnsupportedAlgorithm):
                cert.public_key()
        except (ValueError, TypeError, UserWarning) as exc:
            raise FormatError(
                f"cannot read X.509 certificate: {exc}", code=ErrorCode.FMT_BAD_CERTIFICATE
            ) from None
    return cert


def _der_header(data: bytes, pos: int) -> tuple[int, int, int]:
    """``(tag, content start, content length)`` of the DER element at ``pos``."""
    tag = data[pos]
    first = data[pos + 1]
    if first < 0x80:
        return tag, pos + 2, first
    count = first & 0x7F
    if not 1 <= count <= 4:
        raise ValueError("unsupported DER length")
    length = int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
    return tag, pos + 2 + count, length


def _serial_not_positive(der: bytes) -> bool:
    """True if the DER certificate's serial number is zero or negative.

    RFC 5280 forbids such serials and ``cryptography`` warns about them (and
    will refuse them); jura_trust refuses them now, before ``cryptography``
    sees them, so loading never emits a warning. An unrecognisable
    structure gives ``False`` (the real parser then reports it).
    """
    try:
        tag, pos, _ = _der_header(der, 0)
        if tag != 0x30:
            return False
        tag, pos, _ = _der_header(der, pos)  # TBSCertificate
        if tag != 0x30:
            return False
        tag, start, length = _der_header(der, pos)
        if tag == 0xA0:  # [0] version
            tag, start, length = _der_header(der, start + length)
        if tag != 0x02 or length == 0:
            return False
        serial = der[start : start + length]
    except (IndexError, ValueError):
        return False
    return serial[0] >= 0x80 or not any(serial)


def load_certificate_der(der: bytes, *, allow_nonpositive_serial: bool = False) -> Certificate:
    """Parse one DER certificate (fully, not lazily); bad input raises FMT-18.

    Certificates with a zero or negative serial number (forbidden by RFC
    5280) are refused unless ``allow_nonpositive_serial`` is set: KSI
    publications files in the wild (libksi's test pack) carry calendar
    certificates with serial 0, and the reference SDK reads them. The serial
    plays no part in KSI's trust decisions (certificates are found by their
    KSI certificate id), so publications files load them leniently.
    """
    der = bytes(der)
    if _serial_not_positive(der):
        if not allow_nonpositive_serial:
            raise FormatError(
                "certificate serial number is not positive (RFC 5280)",
                code=ErrorCode.FMT_BAD_CERTIFICATE,
            )
        return _parse_der(der, tolerate_serial=True)
    return _parse_der(der)


def load_certificates(data: bytes) -> list[Certificate]:
    """Parse PEM (one or many certificates) or a single DER certificate.

    PEM is recognised by its ``-----BEGIN`` marker. An input with no
    certificate, or an unreadable one, raises FMT-18.
    """
    data = bytes(data)
    if b"-----BEGIN" not in data:
        return [load_certificate_der(data)]
    blocks = _PEM_CERTIFICATE.findall(data)
    if not blocks:
        raise FormatError("no PEM certificate found", code=ErrorCode.FMT_BAD_CERTIFICATE)
    certs = []
    for block in blocks:
        try:
            der = base64.b64decode(b"".join(block.split()), validate=True)
        except ValueError:
            raise FormatError(
                "PEM certificate is not valid base64", code=ErrorCode.FMT_BAD_CERTIFICATE
            ) from None
        certs.append(load_certificate_der(der))
    return certs


def load_certificate(data: bytes) -> Certificate:
    """Parse exactly one certificate, PEM or DER (FMT-18 otherwise)."""
    certs = load_certificates(data)
    if len(certs) != 1:
        raise FormatError(
            f"expected one certificate, found {len(certs)}",
            code=ErrorCode.FMT_BAD_CERTIFICATE,
            count=len(certs),
        )
    return certs[0]


def certificate_der(cert: Certificate) -> bytes:
    """The DER encoding of ``cert``."""
    return cert.public_bytes(serialization.Encoding.DER)


def certificate_pem(cert: Certificate) -> bytes:
    """The PEM encoding of ``cert``."""
    return cert.public_bytes(serialization.Encoding.PEM)


def certificate_id(cert: Certificate | bytes) -> bytes:
    """The 4-byte id jura_trust gives a calendar certificate.

    Defined as the first 4 bytes of SHA-256 over the certificate's DER.
    (Guardtime's ids are opaque; a KSI verifier only ever looks ids up in
    the publications file, so any stable 4-byte value works.)
    """
    der = cert if isinstance(cert, bytes) else certificate_der(cert)
    return hashlib.sha256(der).digest()[:CERTIFICATE_ID_LENGTH]


def certificate_valid_at(cert: Certificate, when: int) -> bool:
    """True if ``notBefore <= when <= notAfter`` (Unix seconds, inclusive)."""
    moment = _utc(when)
    return cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc


def check_certificate_valid_at(cert: Certificate, when: int) -> None:
    """Raise PKI-05 unless ``cert`` is valid at Unix time ``when``."""
    if not certificate_valid_at(cert, when):
        raise PKIError(
            f"certificate {cert.subject.rfc4514_string()!r} is not valid at "
            f"{_utc(when).isoformat()}"
            f" (valid {cert.not_valid_before_utc.isoformat()} .. "
            f"{cert.not_valid_after_utc.isoformat()})",
            code=ErrorCode.PKI_EXPIRED,
            at_time=when,
            not_before=_unix(cert.not_valid_before_utc),
            not_after=_unix(cert.not_valid_after_utc),
        )


# -- keys -----------------------------------------------------------------------


def generate_rsa_key(key_size: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA key (public exponent 65537)."""
    if key_size < 2048:
        raise ValueError("RSA keys must be at least 2048 bits")
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def generate_ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    """A fresh EC key (P-256 by default)."""
    return ec.generate_private_key(curve if curve is not None else ec.SECP256R1())


def load_private_key(data: bytes, password: bytes | None = None) -> PrivateKey:
    """Load an RSA or EC private key from PEM (or DER); FMT-18 on bad input."""
    data = bytes(data)
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=password)
        else:
            key = serialization.load_der_private_key(data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise FormatError(
            f"cannot read private key: {exc}", code=ErrorCode.FMT_BAD_CERTIFICATE
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise FormatError(
            f"unsupported private key type {type(key).__name__}",
            code=ErrorCode.FMT_BAD_CERTIFICATE,
        )
    return key


def private_key_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM of ``key``, encrypted when ``password`` is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _name(subject: Mapping[str, str]) -> x509.Name:
    if not subject:
        raise ValueError("a certificate subject needs at least one attribute")
    attributes = [
        x509.NameAttribute(x509.ObjectIdentifier(oid), value)
        for oid, value in normalize_constraints(subject).items()
    ]
    return x509.Name(attributes)


def _certificate_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    not_before: int,
    not_after: int,
    *,
    ca: bool,
    serial_number: int | None,
) -> x509.CertificateBuilder:
    if not_after <= not_before:
        raise ValueError("not_after must be later than not_before")
    key_usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial_number if serial_number is not None else x509.random_serial_number())
        .not_valid_before(_utc(not_before))
        .not_valid_after(_utc(not_after))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _hash_for_key(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def self_signed_certificate(
    key: PrivateKey,
    subject: Mapping[str, str],
    *,
    not_before: int,
    not_after: int,
    ca: bool = True,
    serial_number: int | None = None,
) -> Certificate:
    """A self-signed certificate for ``key``.

    ``subject`` maps attribute OIDs (or the short names of
    :data:`SUBJECT_ATTRIBUTE_OIDS`) to values, in order, e.g.
    ``{"O": "Canton", "CN": "H1"}``. Validity is given in Unix seconds.
    """
    name = _name(subject)
    builder = _certificate_builder(
        name,
        name,
        key.public_key(),
        not_before,
        not_after,
        ca=ca,
        serial_number=serial_number,
    )
    return builder.sign(key, _hash_for_key(key))


def issue_certificate(
    issuer_key: PrivateKey,
    issuer_certificate: Certificate,
    public_key: PublicKey,
    subject: Mapping[str, str],
    *,
    not_before: int,
    not_after: int,
    ca: bool = False,
    serial_number: int | None = None,
) -> Certificate:
    """A certificate for ``public_key`` signed by an issuer (a CA)."""
    builder = _certificate_builder(
        _name(subject),
        issuer_certificate.subject,
        public_key,
        not_before,
        not_after,
        ca=ca,
        serial_number=serial_number,
    )
    return builder.sign(issuer_key, _hash_for_key(issuer_key))


# -- calendar-authentication-record signatures ----------------------------------


def _unusable(message: str, oid: str, **details: Any) -> PKIError:
    return PKIError(
        message, code=ErrorCode.PKI_UNSUPPORTED_ALGORITHM, signature_type=oid, **details
    )


def _public_key(cert: Certificate, oid: str) -> Any:
    try:
        return cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _unusable(f"the certificate's public key is unusable: {exc}", oid) from None


def signature_type_for_key(key: PrivateKey | PublicKey) -> str:
    """The signature-type OID :func:`sign` uses by default for ``key``."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return SHA256_WITH_RSA
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return ECDSA_WITH_SHA384 if key.curve.key_size > 256 else ECDSA_WITH_SHA256
    raise TypeError(f"unsupported key type {type(key).__name__}")


def verify_signature(
    signature_type_oid: str,
    signature_value: bytes,
    signed_data: bytes,
    certificate: Certificate,
) -> None:
    """Verify a calendar-authentication-record signature (spec section 8).

    ``signed_data`` must be the raw published-data TLV, header included.
    Returns ``None`` when the signature verifies; otherwise raises
    :class:`PKIError`:

    * PKI-06 (unusable): an unknown or unsupported signature type (e.g.
      RSASSA-PSS, whose parameters KSI does not carry), or a key that does
      not fit the type;
    * PKI-02 (does not verify): the signature is wrong.

    KSI verification maps both to KEY-02. Certificate validity is *not*
    checked here (that is KEY-03, at the signing time).
    """
    if not isinstance(signature_type_oid, str):
        raise TypeError("signature_type_oid must be str")
    oid = signature_type_oid
    public_key = _public_key(certificate, oid)
    try:
        if oid in _RSA_HASHES:
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise _unusable("an RSA signature type with a non-RSA key", oid)
            public_key.verify(
                bytes(signature_value), bytes(signed_data), padding.PKCS1v15(), _RSA_HASHES[oid]()
            )
        elif oid in _ECDSA_HASHES:
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise _unusable("an ECDSA signature type with a non-EC key", oid)
            public_key.verify(
                bytes(signature_value), bytes(signed_data), ec.ECDSA(_ECDSA_HASHES[oid]())
            )
        else:
            raise _unusable(f"unusable signature type {oid!r}", oid)
    except InvalidSignature:
        raise PKIError(
            "the signature does not verify",
            code=ErrorCode.PKI_BAD_SIGNATURE,
            signature_type=oid,
        ) from None
    except UnsupportedAlgorithm as exc:
        raise _unusable(f"unsupported by this build: {exc}", oid) from None


def sign(
    private_key: PrivateKey, signed_data: bytes, signature_type_oid: str | None = None
) -> tuple[str, bytes]:
    """Sign ``signed_data``; return ``(signature type OID, signature value)``.

    The counterpart of :func:`verify_signature`, for the embedded service.
    The type defaults to :func:`signature_type_for_key`.
    """
    oid = (
        signature_type_oid
        if signature_type_oid is not None
        else signature_type_for_key(private_key)
    )
    if oid in _RSA_HASHES:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"signature type {oid} needs an RSA key")
        return oid, private_key.sign(bytes(signed_data), padding.PKCS1v15(), _RSA_HASHES[oid]())
    if oid in _ECDSA_HASHES:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"signature type {oid} needs an EC key")
        return oid, private_key.sign(bytes(signed_data), ec.ECDSA(_ECDSA_HASHES[oid]()))
    raise ValueError(f"cannot sign with signature type {oid!r}")


def _check_key_matches(
    _inst: object, _attr: attrs.Attribute[Certificate], certificate: Certificate
) -> None:
    key: PrivateKey = _inst.private_key  # type: ignore[attr-defined]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    mine = key.public_key().public_bytes(serialization.Encoding.DER, spki)
    theirs = certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
    if mine != theirs:
        raise ValueError("the certificate does not belong to the private key")


@attrs.frozen(slots=True, eq=False)
class CalendarSigner:
    """The calendar key of the embedded service, with its certificate.

    Signs calendar-authentication-record published data; the certificate
    goes into the publications file under :attr:`certificate_id`.
    """

    private_key: PrivateKey
    certificate: Certificate = attrs.field(validator=_check_key_matches)

    @classmethod
    def generate(
        cls,
        *,
        common_name: str,
        organization: str = "jura_trust",
        not_before: int,
        not_after: int,
        key_size: int = 2048,
    ) -> CalendarSigner:
        """A new RSA key and a self-signed ``O=organization, CN=common_name`` cert.

        The same shape as Guardtime's calendar certificates (``O=Guardtime,
        CN=H1``: CN first in DER order); validity in Unix seconds.
        """
        key = generate_rsa_key(key_size)
        cert = self_signed_certificate(
            key,
            {"CN": common_name, "O": organization},
            not_before=not_before,
            not_after=not_after,
            ca=False,
        )
        return cls(key, cert)

    @classmethod
    def from_pem(
        cls, key_pem: bytes, certificate_pem: bytes, password: bytes | None = None
    ) -> CalendarSigner:
        """Load a signer saved with :meth:`private_key_pem` / :meth:`certificate_pem`."""
        return cls(load_private_key(key_pem, password), load_certificate(certificate_pem))

    @property
    def certificate_id(self) -> bytes:
        """The 4-byte id (:func:`certificate_id`)."""
        return certificate_id(self.certificate)

    @property
    def signature_type(self) -> str:
        """The signature-type OID used by :meth:`sign`."""
        return signature_type_for_key(self.private_key)

    def sign(self, signed_data: bytes) -> tuple[str, bytes]:
        """Sign; return ``(signature type OID, signature value)``."""
        return sign(self.private_key, signed_data)

    def valid_at(self, when: int) -> bool:
        """Whether the certificate is valid at Unix time ``when``."""
        return certificate_valid_at(self.certificate, when)

    def private_key_pem(self, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM (encrypted when ``password`` is given)."""
        return private_key_pem(self.private_key, password)

    def certificate_pem(self) -> bytes:
        """The certificate as PEM."""
        return certificate_pem(self.certificate)


# -- subject constraints ---------------------------------------------------------


def normalize_constraints(constraints: Mapping[str, str]) -> dict[str, str]:
    """Map constraint keys to dotted OIDs (short names such as ``E``, ``CN``).

    Raises :class:`ValueError` for a key that is neither a dotted OID nor a
    name in :data:`SUBJECT_ATTRIBUTE_OIDS`, or a non-string value.
    """
    out: dict[str, str] = {}
    for key, value in constraints.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("constraints map strings to strings")
        oid = SUBJECT_ATTRIBUTE_OIDS.get(key.strip().upper().replace("_", ""), key.strip())
        if not _OID_RE.match(oid):
            raise ValueError(f"constraint key {key!r} is neither an OID nor a known name")
        out[oid] = value
    return out


def check_subject_constraints(cert: Certificate, constraints: Mapping[str, str]) -> None:
    """Check that ``cert``'s subject holds every constrained attribute value.

    For each ``OID -> value`` some subject attribute with that OID must equal
    ``value`` exactly. An absent attribute fails (PKI-04). An empty mapping
    is PKI-01 (not configured), never a pass.
    """
    if not constraints:
        raise PKIError("no certificate constraints configured", code=ErrorCode.PKI_NOT_CONFIGURED)
    for oid, expected in normalize_constraints(constraints).items():
        found = [
            attr.value for attr in cert.subject.get_attributes_for_oid(x509.ObjectIdentifier(oid))
        ]
        if expected not in found:
            raise PKIError(
                f"signer subject {cert.subject.rfc4514_string()!r} does not satisfy "
                f"{oid}={expected!r}",
                code=ErrorCode.PKI_CONSTRAINT,
                oid=oid,
                expected=expected,
                found=[str(v) for v in found],
            )


# -- path validation -------------------------------------------------------------


def _extension(cert: Certificate, ext_type: type[x509.ExtensionType]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None


def _has_unknown_critical(cert: Certificate) -> bool:
    try:
        extensions = cert.extensions
    except ValueError:
        return True
    return any(
        ext.critical and isinstance(ext.value, x509.UnrecognizedExtension) for ext in extensions
    )


def _may_issue(issuer: Certificate, *, is_anchor: bool, cas_below: int) -> bool:
    """Whether ``issuer`` may sign certificates at this place of a path."""
    if _has_unknown_critical(issuer):
        return False
    basic = _extension(issuer, x509.BasicConstraints)
    if basic is None:
        # A v1 anchor has no extensions; anchors are trusted explicitly.
        if not is_anchor:
            return False
    else:
        if not basic.ca:
            return False
        if basic.path_length is not None and cas_below > basic.path_length:
            return False
    usage = _extension(issuer, x509.KeyUsage)
    return usage is None or bool(usage.key_cert_sign)


def _issued_by(cert: Certificate, issuer: Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _find_paths(
    leaf: Certificate, intermediates: Sequence[Certificate], anchors: Sequence[Certificate]
) -> list[list[Certificate]]:
    anchor_ders = {certificate_der(a) for a in anchors}
    candidates = [(a, True) for a in anchors] + [(c, False) for c in intermediates]
    paths: list[list[Certificate]] = []
    budget = [_MAX_PATH_CHECKS]

    def extend(path: list[Certificate], seen: set[bytes]) -> None:
        current = path[-1]
        if certificate_der(current) in anchor_ders:
            paths.append(list(path))
            return
        if len(path) >= MAX_CHAIN_LENGTH:
            return
        for candidate, is_anchor in candidates:
            der = certificate_der(candidate)
            if der in seen or candidate.subject != current.issuer:
                continue
            if budget[0] <= 0:
                return
            budget[0] -= 1
            if not _may_issue(candidate, is_anchor=is_anchor, cas_below=len(path) - 1):
                continue
            if not _issued_by(current, candidate):
                continue
            path.append(candidate)
            seen.add(der)
            extend(path, seen)
            seen.discard(der)
            path.pop()

    extend([leaf], {certificate_der(leaf)})
    return paths


def validate_chain(
    leaf: Certificate,
    intermediates: Iterable[Certificate],
    trust_anchors: Iterable[Certificate],
    at_time: int,
) -> tuple[Certificate, ...]:
    """Validate a path from ``leaf`` to one of ``trust_anchors`` at ``at_time``.

    The path is built through ``intermediates``; each link's issuer name and
    signature are checked, issuers must be CAs (``basicConstraints``, path
    length, ``keyCertSign``; an anchor without extensions is accepted), and
    every certificate including the anchor must be valid at ``at_time``. A
    leaf that *is* an anchor (a self-signed signer) is its own path.
    Revocation is not checked. Returns the path, leaf first.

    Raises PKI-01 with no anchors, PKI-03 when no path reaches an anchor,
    PKI-05 when paths exist but none is valid at ``at_time``.
    """
    anchors = list(trust_anchors)
    if not anchors:
        raise PKIError("no trust anchors configured", code=ErrorCode.PKI_NOT_CONFIGURED)
    _utc(at_time)
    if _has_unknown_critical(leaf):
        raise PKIError(
            "signer certificate has an unknown critical extension", code=ErrorCode.PKI_UNTRUSTED
        )
    paths = _find_paths(leaf, list(intermediates), anchors)
    if not paths:
        raise PKIError(
            f"no path from {leaf.subject.rfc4514_string()!r} to a trust anchor",
            code=ErrorCode.PKI_UNTRUSTED,
            issuer=leaf.issuer.rfc4514_string(),
        )
    for path in paths:
        if all(certificate_valid_at(c, at_time) for c in path):
            return tuple(path)
    for cert in paths[0]:
        check_certificate_valid_at(cert, at_time)
    raise AssertionError("unreachable: an invalid path has a certificate invalid at the time")


# -- CMS --------------------------------------------------------------------------


def cms_sign_detached(
    content: bytes,
    private_key: PrivateKey,
    certificate: Certificate,
    *,
    extra_certificates: Iterable[Certificate] = (),
    hash_algorithm: str = "sha256",
) -> bytes:
    """A detached CMS SignedData (DER) over ``content``.

    Signed attributes (contentType, signingTime, messageDigest) are
    included; the signer certificate and ``extra_certificates``
    (intermediates) are embedded. This is the form the KSI tools accept for
    the publications file (spec section 7.3).
    """
    hash_cls = _CMS_SIGN_HASHES.get(hash_algorithm)
    if hash_cls is None:
        raise ValueError(f"unsupported CMS hash {hash_algorithm!r}")
    builder = pkcs7.PKCS7SignatureBuilder().set_data(bytes(content))
    builder = builder.add_signer(certificate, private_key, hash_cls())
    for extra in extra_certificates:
        builder = builder.add_certificate(extra)
    options = [
        pkcs7.PKCS7Options.DetachedSignature,
        pkcs7.PKCS7Options.Binary,
        pkcs7.PKCS7Options.NoCapabilities,
    ]
    return builder.sign(serialization.Encoding.DER, options)


@attrs.frozen(slots=True, eq=False)
class CMSVerification:
    """What :func:`verify_cms_detached` proved.

    Attributes:
        signer: the signer's certificate.
        chain: the validated path, signer first, trust anchor last.
        signing_time: the signingTime attribute (Unix seconds) if present;
            informative only, never trusted for validity decisions.
    """

    signer: Certificate
    chain: tuple[Certificate, ...]
    signing_time: int | None


@attrs.frozen(slots=True, eq=False)
class _SignedData:
    signer: Certificate
    certificates: tuple[Certificate, ...]
    signing_time: int | None


def _asn1crypto_cms() -> Any:
    try:
        from asn1crypto import cms  # noqa: PLC0415 - optional extra, imported on use
    except ImportError:
        raise PKIError(
            "verifying CMS signatures needs asn1crypto: pip install 'jura-trust[pki]'",
            code=ErrorCode.PKI_NOT_CONFIGURED,
            missing="asn1crypto",
        ) from None
    return cms


def _bad_cms(message: str, **details: Any) -> PKIError:
    return PKIError(f"CMS: {message}", code=ErrorCode.PKI_BAD_SIGNATURE, **details)


def _matches_sid(sid: Any, cert: Certificate) -> bool:
    if sid.name == "issuer_and_serial_number":
        ias = sid.chosen
        return bool(
            ias["serial_number"].native == cert.serial_number
            and ias["issuer"].dump() == cert.issuer.public_bytes()
        )
    if sid.name == "subject_key_identifier":
        ski = _extension(cert, x509.SubjectKeyIdentifier)
        return ski is not None and bytes(ski.digest) == bytes(sid.chosen.native)
    return False


def _check_signed_data(cms_der: bytes, content: bytes, extra: Sequence[Certificate]) -> _SignedData:
    """Parse and check the CMS signature itself (no trust decisions)."""
    cms = _asn1crypto_cms()
    try:
        info = cms.ContentInfo.load(bytes(cms_der), strict=True)
        if info["content_type"].native != "signed_data":
            raise _bad_cms("not a SignedData")
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "data":
            raise _bad_cms("encapsulated content type is not id-data")
        if encap["content"].native is not None:
            raise _bad_cms("content is embedded; a detached signature is expected")
        certs = [
            load_certificate_der(choice.chosen.dump())
            for choice in signed["certificates"] or ()
            if choice.name == "certificate"
        ]
        signer_infos = signed["signer_infos"]
        if len(signer_infos) != 1:
            raise _bad_cms(f"{len(signer_infos)} signers; exactly one is required")
        signer_info = signer_infos[0]
        digest_name = signer_info["digest_algorithm"]["algorithm"].native
        listed = {alg["algorithm"].native for alg in signed["digest_algorithms"]}
        if digest_name not in listed:
            raise _bad_cms("the signer's digest algorithm is not in digestAlgorithms")
        digest_cls = _CMS_DIGESTS.get(digest_name)
        if digest_cls is None:
            raise PKIError(
                f"CMS: unsupported digest algorithm {digest_name!r}",
                code=ErrorCode.PKI_UNSUPPORTED_ALGORITHM,
            )
        signature_algorithm = signer_info["signature_algorithm"]
        sig_algo = signature_algorithm.signature_algo
        try:
            sig_hash = signature_algorithm.hash_algo
        except ValueError:
            sig_hash = None
        if sig_hash is not None and sig_hash != digest_name:
            raise PKIError(
                "CMS: signature and digest algorithms disagree",
                code=ErrorCode.PKI_UNSUPPORTED_ALGORITHM,
            )
        signed_attrs = signer_info["signed_attrs"]
        if not signed_attrs or not len(signed_attrs):
            raise _bad_cms("signed attributes are missing")
        by_type: dict[str, list[Any]] = {}
        for attribute in signed_attrs:
            by_type.setdefault(attribute["type"].dotted, []).append(attribute["values"])
        content_types = by_type.get("1.2.840.113549.1.9.3", [])
        digests = by_type.get("1.2.840.113549.1.9.4", [])
        if len(content_types) != 1 or len(content_types[0]) != 1:
            raise _bad_cms("exactly one contentType attribute value is required")
        if content_types[0][0].native != "data":
            raise _bad_cms("contentType attribute is not id-data")
        if len(digests) != 1 or len(digests[0]) != 1:
            raise _bad_cms("exactly one messageDigest attribute value is required")
        expected_digest = bytes(digests[0][0].native)
        signing_time: int | None = None
        times = by_type.get("1.2.840.113549.1.9.5", [])
        if len(times) == 1 and len(times[0]) == 1:
            signing_time = _unix(times[0][0].native)
        attrs_der = bytearray(signed_attrs.dump())
        attrs_der[0] = 0x31  # signed over as an explicit SET OF, not [0] IMPLICIT
        signature = bytes(signer_info["signature"].native)
        sid = signer_info["sid"]
        signer = next(
            (c for c in (*certs, *extra) if _matches_sid(sid, c)),
            None,
        )
    except PKIError:
        raise
    except FormatError as exc:
        raise _bad_cms(f"embedded certificate unreadable: {exc.message}") from None
    except Exception as exc:  # asn1crypto raises many exception types on bad input
        raise _bad_cms(f"malformed SignedData ({type(exc).__name__}: {exc})") from None

    hasher = hashes.Hash(digest_cls())
    hasher.update(bytes(content))
    if not hmac.compare_digest(hasher.finalize(), expected_digest):
        raise _bad_cms("messageDigest does not match the content")
    if signer is None:
        raise _bad_cms("the signer certificate is not in the SignedData")
    public_key = _public_key(signer, str(sig_algo))
    try:
        if sig_algo == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, bytes(attrs_der), padding.PKCS1v15(), digest_cls())
        elif sig_algo == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, bytes(attrs_der), ec.ECDSA(digest_cls()))
        else:
            raise PKIError(
                f"CMS: unsupported signature algorithm {sig_algo!r} for this key",
                code=ErrorCode.PKI_UNSUPPORTED_ALGORITHM,
            )
    except InvalidSignature:
        raise _bad_cms("the signature over the signed attributes does not verify") from None
    except UnsupportedAlgorithm as exc:
        raise PKIError(
            f"CMS: unsupported algorithm: {exc}", code=ErrorCode.PKI_UNSUPPORTED_ALGORITHM
        ) from None
    usage = _extension(signer, x509.KeyUsage)
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        raise PKIError("signer certificate key usage forbids signing", code=ErrorCode.PKI_UNTRUSTED)
    return _SignedData(signer, tuple(certs), signing_time)


def verify_cms_detached(
    cms_der: bytes,
    content: bytes,
    *,
    trust_anchors: Iterable[Certificate],
    constraints: Mapping[str, str],
    at_time: int,
) -> CMSVerification:
    """Verify a detached CMS SignedData over ``content``; raise on any defect.

    Steps, in order:

    1. configuration: at least one trust anchor and one constraint
       (PKI-01 otherwise; also PKI-01 when ``asn1crypto`` is missing);
    2. the CMS itself: SignedData, detached id-data content, exactly one
       signer, signed attributes with contentType = id-data and a
       messageDigest equal to the content's digest, the signature over the
       DER SET of the signed attributes, the signer certificate embedded
       (PKI-02; PKI-06 for unsupported algorithms);
    3. the signer's path to a trust anchor through the embedded
       certificates, valid at ``at_time`` (PKI-03, PKI-05);
    4. the subject constraints on the signer (PKI-04).
    """
    anchors = list(trust_anchors)
    if not anchors:
        raise PKIError("no trust anchors configured", code=ErrorCode.PKI_NOT_CONFIGURED)
    if not constraints:
        raise PKIError("no certificate constraints configured", code=ErrorCode.PKI_NOT_CONFIGURED)
    normalized = normalize_constraints(constraints)
    _utc(at_time)
    signed = _check_signed_data(cms_der, content, anchors)
    chain = validate_chain(signed.signer, signed.certificates, anchors, at_time)
    check_subject_constraints(signed.signer, normalized)
    return CMSVerification(signed.signer, chain, signed.signing_time)

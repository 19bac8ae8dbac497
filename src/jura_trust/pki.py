"""Keys, X.509 certificates, calendar signatures and CMS (layer 5).

The one module that talks to ``cryptography`` (and, for verifying CMS, to
the optional ``asn1crypto``). Everything else in jura_trust goes through it.

Four jobs:

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
  :func:`verify_cms_detached`: signature over the signed attributes (SHA-1
  only under KSI's date rule or an opt-in), path validation to explicitly
  configured trust anchors at a stated time, and subject constraints on
  the signer.
* **Certificate paths**: :func:`validate_path`, the one function every X.509
  path goes through: ``cryptography.x509.verification`` (RFC 5280) plus the
  few rules it cannot express (docs/architecture.md). Parsing CMS needs ``asn1crypto``
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
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from jura_trust.errors import ErrorCode, FormatError, PKIError

__all__ = [
    "ADOBE_AUTHENTIC_DOCUMENTS",
    "ANY_EXTENDED_KEY_USAGE",
    "CERTIFICATE_ID_LENGTH",
    "DOCUMENT_SIGNING",
    "DOCUMENT_SIGNING_EKU",
    "ECDSA_WITH_SHA256",
    "ECDSA_WITH_SHA384",
    "EMAIL_PROTECTION",
    "MAX_CHAIN_LENGTH",
    "MS_DOCUMENT_SIGNING",
    "RSASSA_PSS",
    "SHA1_CUTOFF",
    "SHA256_WITH_RSA",
    "SHA384_WITH_RSA",
    "SHA512_WITH_RSA",
    "SUBJECT_ATTRIBUTE_OIDS",
    "CMSVerification",
    "CalendarSigner",
    "Certificate",
    "KeyPurpose",
    "PrivateKey",
    "PublicKey",
    "certificate_der",
    "certificate_id",
    "certificate_pem",
    "certificate_valid_at",
    "check_certificate_valid_at",
    "check_subject_constraints",
    "cms_sign_detached",
    "display_name",
    "generate_ec_key",
    "generate_rsa_key",
    "issue_certificate",
    "load_certificate",
    "load_certificate_der",
    "load_certificates",
    "load_private_key",
    "names_match",
    "normalize_constraints",
    "private_key_pem",
    "self_signed_certificate",
    "sign",
    "signature_type_for_key",
    "validate_chain",
    "validate_path",
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
#: Digest algorithms accepted inside CMS. SHA-1 only under the rule of
#: :func:`verify_cms_detached` (before :data:`SHA1_CUTOFF`, or opted in).
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
        except (
            ValueError,
            TypeError,
            UserWarning,
            x509.InvalidVersion,
            x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType,
        ) as exc:
            raise FormatError(
                f"cannot read X.509 certificate: {type(exc).__name__}: {exc}",
                code=ErrorCode.FMT_BAD_CERTIFICATE,
            ) from None
        except Exception as exc:  # untrusted input: fail closed with a typed error
            raise FormatError(
                f"cannot read X.509 certificate ({type(exc).__name__}: {exc})",
                code=ErrorCode.FMT_BAD_CERTIFICATE,
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


def display_name(name: x509.Name) -> str:
    """A certificate name as people read it (RFC 4514, ``E=`` for the e-mail address)."""
    return name.rfc4514_string({x509.NameOID.EMAIL_ADDRESS: "E"})


def certificate_valid_at(cert: Certificate, when: int) -> bool:
    """True if ``notBefore <= when <= notAfter`` (Unix seconds, inclusive).

    Compared in Unix seconds, so any integer time (a forged signature may
    claim one far past the year 9999) gets an answer, never an overflow.
    """
    if not isinstance(when, int) or isinstance(when, bool):
        raise TypeError("times are Unix seconds (int)")
    not_before, not_after = _validity(cert)
    return not_before <= when <= not_after


#: Validity bounds of the certificates in use, by object identity: ``id -> (cert, bounds)``
#: (the entry holds the certificate, so its id is not reused while it is there).
_VALIDITY: dict[int, tuple[Certificate, tuple[int, int]]] = {}


def _validity(cert: Certificate) -> tuple[int, int]:
    """``cert``'s validity bounds in Unix seconds (remembered for the last 256 certificates)."""
    entry = _VALIDITY.get(id(cert))
    if entry is not None and entry[0] is cert:
        return entry[1]
    bounds = _unix(cert.not_valid_before_utc), _unix(cert.not_valid_after_utc)
    if len(_VALIDITY) >= 256:
        _VALIDITY.clear()
    _VALIDITY[id(cert)] = (cert, bounds)
    return bounds


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
    """A certificate for ``public_key`` signed by an issuer (a CA).

    It names its issuer's key (authorityKeyIdentifier), as RFC 5280 requires
    of every certificate that is not self-signed.
    """
    builder = _certificate_builder(
        _name(subject),
        issuer_certificate.subject,
        public_key,
        not_before,
        not_after,
        ca=ca,
        serial_number=serial_number,
    ).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
        critical=False,
    )
    return builder.sign(issuer_key, _hash_for_key(issuer_key))


# -- calendar-authentication-record signatures ----------------------------------


def _unusable(message: str, oid: str, **details: Any) -> PKIError:
    return PKIError(
        message, code=ErrorCode.PKI_UNSUPPORTED_ALGORITHM, signature_type=oid, **details
    )


_PKCS1V15 = padding.PKCS1v15()
#: One (stateless) hash parameter object per RSA signature type.
_RSA_HASH_OBJECTS = {oid: make() for oid, make in _RSA_HASHES.items()}


#: ``isinstance(key, rsa.RSAPublicKey)`` by the key's type (an ABC check, remembered).
_RSA_KEY_TYPES: dict[type, bool] = {}


def _is_rsa(key: object) -> bool:
    found = _RSA_KEY_TYPES.get(type(key))
    if found is None:
        found = _RSA_KEY_TYPES[type(key)] = isinstance(key, rsa.RSAPublicKey)
    return found


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
            if not _is_rsa(public_key):
                raise _unusable("an RSA signature type with a non-RSA key", oid)
            public_key.verify(
                bytes(signature_value), bytes(signed_data), _PKCS1V15, _RSA_HASH_OBJECTS[oid]
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
#
# RFC 5280 path validation is cryptography's (``cryptography.x509.verification``,
# a maintained validator tested against x509-limbo). jura_trust adds only what it
# cannot express (docs/architecture.md, "Certificate paths"): the key purpose of
# a document signer, rfc822Name constraints applied to a subject's emailAddress,
# RFC 5280 name comparison at the trust anchor, and a signer configured directly
# as its own trust anchor.

#: anyExtendedKeyUsage (RFC 5280 section 4.2.1.12): no restriction.
ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0"
#: id-kp-emailProtection: S/MIME, what OpenSSL's ``smimesign`` purpose requires.
EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
#: id-kp-documentSigning (RFC 9336).
DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"
#: Microsoft Document Signing (on Guardtime's GlobalSign publications signer).
MS_DOCUMENT_SIGNING = "1.3.6.1.4.1.311.10.3.12"
#: Adobe Authentic Documents Trust (on Guardtime's GlobalSign publications signer).
ADOBE_AUTHENTIC_DOCUMENTS = "1.2.840.113583.1.1.5"

#: KSI's cut-off for SHA-1: untrusted for new data since 2016-07-01 (UTC).
SHA1_CUTOFF = datetime.datetime(2016, 7, 1, tzinfo=datetime.UTC)

_KEY_USAGE_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
#: Critical extensions a signer trusted directly (leaf = anchor) may carry.
_DIRECT_CRITICAL: tuple[type[x509.ExtensionType], ...] = (
    x509.BasicConstraints,
    x509.KeyUsage,
    x509.ExtendedKeyUsage,
    x509.SubjectAlternativeName,
)
#: Most name-against-subtree comparisons one certificate's name constraints may
#: cost (OpenSSL's limit): a quadratic blow-up is refused, not computed.
_MAX_NAME_CHECKS = 1 << 20
#: Elliptic curves a signer key may use.
_SIGNER_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
#: Smallest RSA modulus a signer key may have.
_MIN_RSA_BITS = 2048
_TAGGED_CODE = re.compile(r"\[(PKI-\d\d)\]")


@attrs.frozen(slots=True)
class KeyPurpose:
    """What every certificate on a path must allow its key to be used for.

    Attributes:
        name: shown in error messages.
        extended_key_usages: OIDs of which an ``extendedKeyUsage`` extension,
            where present on the leaf or on a CA (anchor included), must list
            at least one; ``anyExtendedKeyUsage`` always qualifies. ``None``
            means the extension's content is not checked.
        leaf_key_usages: ``keyUsage`` bits (``cryptography`` attribute names,
            e.g. ``digital_signature``) of which the leaf's ``keyUsage``, when
            present, must assert one. Empty: not checked.
    """

    name: str
    extended_key_usages: frozenset[str] | None
    leaf_key_usages: frozenset[str] = frozenset()

    def __attrs_post_init__(self) -> None:
        unknown = set(self.leaf_key_usages) - set(_KEY_USAGE_BITS)
        if unknown:
            raise ValueError(f"unknown key usage bits {sorted(unknown)}")


#: The purpose of a publications-file signer: sign documents.
DOCUMENT_SIGNING = KeyPurpose(
    "document signing",
    frozenset(
        {
            ANY_EXTENDED_KEY_USAGE,
            EMAIL_PROTECTION,
            DOCUMENT_SIGNING_EKU,
            MS_DOCUMENT_SIGNING,
            ADOBE_AUTHENTIC_DOCUMENTS,
        }
    ),
    frozenset({"digital_signature", "content_commitment"}),
)


def _extension(cert: Certificate, ext_type: type[x509.ExtensionType]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None


def _path_extension(cert: Certificate, ext_type: type[x509.ExtensionType]) -> Any:
    """:func:`_extension` for a certificate on a path: unreadable is PKI-03."""
    try:
        return _extension(cert, ext_type)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise PKIError(
            f"certificate {_subject(cert)!r} has unreadable extensions: {exc}",
            code=ErrorCode.PKI_UNTRUSTED,
        ) from None


def _subject(cert: Certificate) -> str:
    return cert.subject.rfc4514_string()


def _refuse_purpose(cert: Certificate, message: str) -> ValueError:
    # The code is carried in the message through cryptography's error text.
    return ValueError(f"[{ErrorCode.PKI_KEY_PURPOSE.value}] {_subject(cert)!r}: {message}")


def _check_eku(purpose: KeyPurpose, cert: Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    accepted = purpose.extended_key_usages
    if eku is None or accepted is None:
        return
    listed = {oid.dotted_string for oid in eku}
    if ANY_EXTENDED_KEY_USAGE in listed or listed & accepted:
        return
    raise _refuse_purpose(
        cert,
        f"extended key usage {sorted(listed)} does not allow {purpose.name}",
    )


def _asserted_bits(usage: x509.KeyUsage) -> set[str]:
    return {bit for bit in _KEY_USAGE_BITS if getattr(usage, bit)}


def _check_leaf_key_usage(
    purpose: KeyPurpose, cert: Certificate, usage: x509.KeyUsage | None
) -> None:
    if usage is None:
        return
    bits = _asserted_bits(usage)
    basic = _extension(cert, x509.BasicConstraints)
    if "key_cert_sign" in bits and not (basic is not None and basic.ca):
        # RFC 5280 section 4.2.1.3: keyCertSign needs the cA bit.
        raise _refuse_purpose(cert, "keyCertSign is asserted on a certificate that is not a CA")
    if purpose.leaf_key_usages and not bits & purpose.leaf_key_usages:
        raise _refuse_purpose(
            cert,
            f"key usage {sorted(bits)} allows none of {sorted(purpose.leaf_key_usages)}",
        )


def _extension_policies(purpose: KeyPurpose) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    """``(CA policy, end-entity policy)``: cryptography's defaults, purpose swapped.

    cryptography's defaults are the web PKI's; a document signer needs no
    subjectAltName and no TLS key purpose, and RFC 5280 lets a CA
    certificate sign as an end entity, so only those rules (and the leaf's
    keyUsage rule, which carries the purpose) are replaced.
    Everything else, including the refusal of any critical extension a
    policy does not account for, stays cryptography's.
    """

    def ca_eku(_p: Any, cert: Certificate, value: x509.ExtendedKeyUsage | None) -> None:
        _check_eku(purpose, cert, value)

    def ee_eku(_p: Any, cert: Certificate, value: x509.ExtendedKeyUsage | None) -> None:
        _check_eku(purpose, cert, value)

    def ee_key_usage(_p: Any, cert: Certificate, value: x509.KeyUsage | None) -> None:
        _check_leaf_key_usage(purpose, cert, value)

    def parsed(_p: Any, _cert: Certificate, _value: object) -> None:
        """Accept; being called at all means the extension parsed."""

    agnostic = Criticality.AGNOSTIC
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, agnostic, ca_eku
    )
    ee = (
        ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.SubjectAlternativeName, agnostic, parsed)
        .may_be_present(x509.BasicConstraints, agnostic, parsed)
        .may_be_present(x509.ExtendedKeyUsage, agnostic, ee_eku)
        .may_be_present(x509.KeyUsage, agnostic, ee_key_usage)
    )
    return ca, ee


def _prepared(value: str | bytes) -> str | bytes:
    """An attribute value prepared for comparison (RFC 5280 section 7.1).

    A simplification of RFC 4518's string preparation, as implementations
    use it: Unicode NFKC, case folded, runs of white space made one space,
    leading and trailing space removed. The string type (PrintableString,
    UTF8String, ...) plays no part.
    """
    if isinstance(value, bytes):
        return value
    folded = unicodedata.normalize("NFKC", value).casefold()
    return " ".join(folded.split())


def names_match(a: x509.Name, b: x509.Name) -> bool:
    """Whether two distinguished names are equal under RFC 5280's comparison.

    Same number of RDNs in the same order, each with the same set of
    attribute types and values, values compared after preparation (so a
    PrintableString and a UTF8String of the same text match, and so do
    values differing only in case or white space).
    """
    rdns_a, rdns_b = list(a.rdns), list(b.rdns)
    if len(rdns_a) != len(rdns_b):
        return False
    for rdn_a, rdn_b in zip(rdns_a, rdns_b, strict=True):
        set_a = sorted((x.oid.dotted_string, repr(_prepared(x.value))) for x in rdn_a)
        set_b = sorted((x.oid.dotted_string, repr(_prepared(x.value))) for x in rdn_b)
        if set_a != set_b:
            return False
    return True


def _anchor_twin(anchor: Certificate, name: x509.Name) -> Certificate | None:
    """``anchor`` with its subject spelled as ``name``, for chain building.

    cryptography chains by encoded name; RFC 5280 compares prepared names.
    A trust anchor is its name and public key (RFC 5280 section 6.1.1 (d)):
    its own signature is never checked, so an equivalent anchor whose
    subject uses the child's encoding (same key, validity, serial and
    extensions; signed by a throw-away key) is the same anchor.
    """
    self_issued = anchor.issuer.public_bytes() == anchor.subject.public_bytes()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name if self_issued else anchor.issuer)
        .public_key(anchor.public_key())
        .serial_number(max(anchor.serial_number, 1))
        .not_valid_before(anchor.not_valid_before_utc)
        .not_valid_after(anchor.not_valid_after_utc)
    )
    try:
        for ext in anchor.extensions:
            builder = builder.add_extension(ext.value, critical=ext.critical)
        return builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def _store_certificates(
    anchors: Sequence[Certificate], children: Sequence[Certificate]
) -> tuple[list[Certificate], dict[bytes, Certificate]]:
    """The anchors plus equivalent twins; twins map back to their anchor (by DER)."""
    store = list(anchors)
    twins: dict[bytes, Certificate] = {}
    seen = {a.subject.public_bytes() for a in anchors}
    for child in children:
        issuer = child.issuer.public_bytes()
        if issuer in seen:
            continue
        for anchor in anchors:
            if names_match(child.issuer, anchor.subject):
                twin = _anchor_twin(anchor, child.issuer)
                if twin is not None:
                    store.append(twin)
                    twins[certificate_der(twin)] = anchor
        seen.add(issuer)
    return store, twins


def _email_matches(address: str, constraint: str) -> bool:
    """RFC 5280 section 4.2.1.10 rfc822Name matching (host parts case-insensitive)."""
    local, at, host = address.rpartition("@")
    if not at or not local or not host:
        return False
    host = host.casefold()
    if "@" in constraint:
        c_local, _, c_host = constraint.rpartition("@")
        return local == c_local and host == c_host.casefold()
    domain = constraint.casefold()
    if domain.startswith("."):
        return host.endswith(domain)
    return host == domain


def _rfc822_subtrees(subtrees: Iterable[x509.GeneralName] | None) -> list[str]:
    return [str(n.value) for n in subtrees or () if isinstance(n, x509.RFC822Name)]


def _check_subject_emails(chain: Sequence[Certificate]) -> None:
    """Apply rfc822Name constraints to subject emailAddress attributes.

    RFC 5280 section 4.2.1.10 applies them there when a certificate has no
    subjectAltName; OpenSSL applies them always, and so does jura_trust
    (KSI's signer constraint is on that attribute). cryptography applies
    name constraints to subjectAltName only.
    """
    email_oid = x509.ObjectIdentifier(SUBJECT_ATTRIBUTE_OIDS["E"])
    for position, constrainer in enumerate(chain):
        constraints = _path_extension(constrainer, x509.NameConstraints)
        if constraints is None:
            continue
        subtrees = len(constraints.permitted_subtrees or ()) + len(
            constraints.excluded_subtrees or ()
        )
        names = sum(len(c.subject) for c in chain[:position])
        if subtrees * names > _MAX_NAME_CHECKS:
            raise PKIError(
                f"name constraints of {_subject(constrainer)!r} would need "
                f"{subtrees * names} checks (at most {_MAX_NAME_CHECKS})",
                code=ErrorCode.PKI_NAME_CONSTRAINT,
            )
        permitted = _rfc822_subtrees(constraints.permitted_subtrees)
        excluded = _rfc822_subtrees(constraints.excluded_subtrees)
        if not permitted and not excluded:
            continue
        for depth, cert in enumerate(chain[:position]):
            self_issued = cert.subject.public_bytes() == cert.issuer.public_bytes()
            if depth > 0 and self_issued:
                continue  # RFC 5280 section 6.1.4 (b): self-issued CAs are exempt
            for attribute in cert.subject.get_attributes_for_oid(email_oid):
                address = str(attribute.value)
                if permitted and not any(_email_matches(address, c) for c in permitted):
                    raise PKIError(
                        f"subject e-mail {address!r} of {_subject(cert)!r} is outside the "
                        f"subtrees permitted by {_subject(constrainer)!r}",
                        code=ErrorCode.PKI_NAME_CONSTRAINT,
                    )
                if any(_email_matches(address, c) for c in excluded):
                    raise PKIError(
                        f"subject e-mail {address!r} of {_subject(cert)!r} is in a subtree "
                        f"excluded by {_subject(constrainer)!r}",
                        code=ErrorCode.PKI_NAME_CONSTRAINT,
                    )


def _check_signer_key(leaf: Certificate) -> None:
    """The leaf's key: RSA of at least 2048 bits or EC on P-256/384/521 (PKI-06).

    cryptography's validator holds CA keys to this; the leaf's key is the
    one that signs the document, so jura_trust holds it to the same.
    """
    try:
        key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PKIError(
            f"the key of {_subject(leaf)!r} is unusable: {exc}",
            code=ErrorCode.PKI_UNSUPPORTED_ALGORITHM,
        ) from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= _MIN_RSA_BITS:
        return
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _SIGNER_CURVES):
        return
    raise PKIError(
        f"the key of {_subject(leaf)!r} ({type(key).__name__}, "
        f"{getattr(key, 'key_size', '?')} bits) is too weak or of an unsupported type",
        code=ErrorCode.PKI_UNSUPPORTED_ALGORITHM,
    )


def _check_serials(chain: Sequence[Certificate]) -> None:
    """RFC 5280 section 4.1.2.2: serials are positive (the anchor is exempt)."""
    for cert in chain[:-1]:
        if _serial_not_positive(certificate_der(cert)):  # read from DER: no warning
            raise PKIError(
                f"certificate {_subject(cert)!r} has a serial number that is not positive",
                code=ErrorCode.PKI_UNTRUSTED,
            )


def _check_direct(leaf: Certificate, at: datetime.datetime, purpose: KeyPurpose) -> None:
    """A signer that is itself a configured trust anchor (KSI's usual setup).

    No issuer to check: the certificate is trusted because it was
    configured. Its validity at ``at``, its key purpose and its critical
    extensions are still checked; version 1 and zero serials (libksi's test
    signers) are accepted, as libksi and OpenSSL accept them.
    """
    if not leaf.not_valid_before_utc <= at <= leaf.not_valid_after_utc:
        check_certificate_valid_at(leaf, _unix(at))
    _check_signer_key(leaf)
    try:
        extensions = list(leaf.extensions)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise PKIError(
            f"certificate {_subject(leaf)!r} has unreadable extensions: {exc}",
            code=ErrorCode.PKI_UNTRUSTED,
        ) from None
    for ext in extensions:
        if ext.critical and not isinstance(ext.value, _DIRECT_CRITICAL):
            raise PKIError(
                f"certificate {_subject(leaf)!r} has critical extension "
                f"{ext.oid.dotted_string} which jura_trust does not enforce",
                code=ErrorCode.PKI_CRITICAL_EXTENSION,
                oid=ext.oid.dotted_string,
            )
    try:
        _check_eku(purpose, leaf, _path_extension(leaf, x509.ExtendedKeyUsage))
        _check_leaf_key_usage(purpose, leaf, _path_extension(leaf, x509.KeyUsage))
    except ValueError as exc:
        raise PKIError(str(exc).split("] ", 1)[-1], code=ErrorCode.PKI_KEY_PURPOSE) from None


def _classify(error: VerificationError, leaf: Certificate) -> PKIError:
    """A :class:`PKIError` with the code that says why cryptography refused.

    The verdict is cryptography's; only the reason is read from its message.
    An unrecognised message is PKI-03 (untrusted), so an upgrade that changes
    the wording changes a code, never a verdict (tests pin the codes).
    """
    text = str(error)
    lowered = text.casefold()
    tagged = _TAGGED_CODE.search(text)
    if tagged:
        code = ErrorCode(tagged.group(1))
    elif "not valid at validation time" in lowered:
        code = ErrorCode.PKI_EXPIRED
    elif "name constraint" in lowered or "nameconstraints" in lowered:
        code = ErrorCode.PKI_NAME_CONSTRAINT
    elif "unaccounted-for critical extension" in lowered:
        code = ErrorCode.PKI_CRITICAL_EXTENSION
    elif "signature algorithm" in lowered or "forbidden public key" in lowered:
        code = ErrorCode.PKI_UNSUPPORTED_ALGORITHM
    else:
        code = ErrorCode.PKI_UNTRUSTED
    return PKIError(
        f"no valid path from {_subject(leaf)!r} to a trust anchor: {text}",
        code=code,
        issuer=leaf.issuer.rfc4514_string(),
    )


def _aware_utc(at: datetime.datetime) -> datetime.datetime:
    if not isinstance(at, datetime.datetime):
        raise TypeError("at must be a datetime")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be an aware datetime (a time zone is required)")
    return at.astimezone(datetime.UTC)


def validate_path(
    leaf: Certificate,
    intermediates: Iterable[Certificate],
    anchors: Iterable[Certificate],
    *,
    at: datetime.datetime,
    purpose: KeyPurpose = DOCUMENT_SIGNING,
    max_chain_depth: int = MAX_CHAIN_LENGTH - 1,
) -> tuple[Certificate, ...]:
    """Validate a certification path from ``leaf`` to one of ``anchors`` at ``at``.

    Every X.509 path jura_trust checks goes through here. The RFC 5280
    validation is cryptography's (:mod:`cryptography.x509.verification`:
    path building through ``intermediates``, signatures, basic constraints
    and path lengths, key usage of CAs, name constraints on
    subjectAltNames, validity of every certificate including the anchor
    at ``at``, refusal of unhandled critical extensions, web-PKI
    signature algorithms and key sizes). jura_trust adds (see
    docs/architecture.md):

    * the key ``purpose`` (default :data:`DOCUMENT_SIGNING`): an
      extendedKeyUsage on the leaf or on any CA must allow it, the leaf's
      keyUsage must assert one of its bits;
    * rfc822Name constraints also bind subject emailAddress attributes;
    * names chain to an anchor under RFC 5280 comparison (a PrintableString
      issuer matches a UTF8String anchor subject);
    * a leaf that is itself one of ``anchors`` is trusted as configured
      (validity, purpose and critical extensions checked; version 1 and
      zero serials accepted).

    Revocation is not checked. Returns the path, leaf first, anchor last.

    Raises:
        PKIError: PKI-01 (no anchors), PKI-03 (no path), PKI-05 (a
            certificate not valid at ``at``), PKI-06 (an algorithm or key the
            validator refuses), PKI-08 (key purpose), PKI-09 (name
            constraints), PKI-10 (an unhandled critical extension).
        TypeError: ``at`` is not a datetime.
        ValueError: ``at`` is naive.
    """
    moment = _aware_utc(at)
    anchor_list = list(anchors)
    others = list(intermediates)
    for cert in (leaf, *anchor_list, *others):
        if not isinstance(cert, x509.Certificate):
            raise TypeError("certificates must be cryptography x509.Certificate objects")
    if not anchor_list:
        raise PKIError("no trust anchors configured", code=ErrorCode.PKI_NOT_CONFIGURED)
    leaf_der = certificate_der(leaf)
    if any(certificate_der(a) == leaf_der for a in anchor_list):
        _check_direct(leaf, moment, purpose)
        return (leaf,)
    store, twins = _store_certificates(anchor_list, [leaf, *others])
    ca_policy, ee_policy = _extension_policies(purpose)
    try:
        verifier = (
            PolicyBuilder()
            .store(Store(store))
            .time(moment)
            .max_chain_depth(max_chain_depth)
            .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
            .build_client_verifier()
        )
        verified = verifier.verify(leaf, others)
    except VerificationError as exc:
        raise _classify(exc, leaf) from None
    chain = [twins.get(certificate_der(c), c) for c in verified.chain]
    _check_signer_key(leaf)
    _check_serials(chain)
    _check_subject_emails(chain)
    return tuple(chain)


def validate_chain(
    leaf: Certificate,
    intermediates: Iterable[Certificate],
    trust_anchors: Iterable[Certificate],
    at_time: int,
) -> tuple[Certificate, ...]:
    """:func:`validate_path` at Unix time ``at_time`` (the older name, kept).

    The path is checked for :data:`DOCUMENT_SIGNING`. Returns the path,
    leaf first; raises :class:`PKIError` as :func:`validate_path` does.
    """
    return validate_path(leaf, intermediates, trust_anchors, at=_utc(at_time))


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
    digest: str


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


def _check_sha1(digest_name: str, at: datetime.datetime, *, allow_sha1: bool) -> None:
    """KSI's SHA-1 rule for the CMS signature (docs/verification.md)."""
    if digest_name != "sha1" or allow_sha1 or at < SHA1_CUTOFF:
        return
    raise PKIError(
        f"CMS: SHA-1 signatures are untrusted since {SHA1_CUTOFF.date().isoformat()} "
        f"(checking at {at.isoformat()}); pass allow_sha1 (--allow-sha1) to accept one",
        code=ErrorCode.PKI_WEAK_ALGORITHM,
        digest="sha1",
    )


def _check_signed_data(
    cms_der: bytes,
    content: bytes,
    extra: Sequence[Certificate],
    at: datetime.datetime,
    *,
    allow_sha1: bool,
) -> _SignedData:
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
        _check_sha1(digest_name, at, allow_sha1=allow_sha1)
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
    return _SignedData(signer, tuple(certs), signing_time, digest_name)


def verify_cms_detached(
    cms_der: bytes,
    content: bytes,
    *,
    trust_anchors: Iterable[Certificate],
    constraints: Mapping[str, str],
    at_time: int,
    allow_sha1: bool = False,
) -> CMSVerification:
    """Verify a detached CMS SignedData over ``content``; raise on any defect.

    Steps, in order:

    1. configuration: at least one trust anchor and one constraint
       (PKI-01 otherwise; also PKI-01 when ``asn1crypto`` is missing);
    2. the CMS itself: SignedData, detached id-data content, exactly one
       signer, signed attributes with contentType = id-data and a
       messageDigest equal to the content's digest, the signature over the
       DER SET of the signed attributes, the signer certificate embedded
       (PKI-02; PKI-06 for unsupported algorithms). SHA-1 is refused
       (PKI-07) when ``at_time`` is on or after :data:`SHA1_CUTOFF`
       (2016-07-01) unless ``allow_sha1`` is given;
    3. the signer's path to a trust anchor through the embedded
       certificates, valid at ``at_time``, for :data:`DOCUMENT_SIGNING`:
       :func:`validate_path` (PKI-03, PKI-05, PKI-06, PKI-08, PKI-09, PKI-10);
    4. the subject constraints on the signer (PKI-04).
    """
    anchors = list(trust_anchors)
    if not anchors:
        raise PKIError("no trust anchors configured", code=ErrorCode.PKI_NOT_CONFIGURED)
    if not constraints:
        raise PKIError("no certificate constraints configured", code=ErrorCode.PKI_NOT_CONFIGURED)
    normalized = normalize_constraints(constraints)
    at = _utc(at_time)
    signed = _check_signed_data(cms_der, content, anchors, at, allow_sha1=allow_sha1)
    chain = validate_path(signed.signer, signed.certificates, anchors, at=at)
    check_subject_constraints(signed.signer, normalized)
    return CMSVerification(signed.signer, chain, signed.signing_time)

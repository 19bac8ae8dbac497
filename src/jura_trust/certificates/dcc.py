"""The EU Digital COVID Certificate profile (``HC1:``), for interoperability.

An EU DCC is ``"HC1:" + Base45(zlib(COSE_Sign1(CWT claims)))``, the same
stack as jura_trust's JT1 envelope. This module decodes and verifies one
against a given list of Document Signer Certificates (DSCs):

1. prefix ``HC1:`` (``CRT-01``), Base45 (``CRT-02``), zlib (``CRT-03``);
2. COSE_Sign1, untagged, tag 18 or 61(18(...)) (``CRT-04``);
3. CWT claims: iss (1), iat (6), exp (4), hcert (-260) holding the DCC at
   key 1 (``CRT-04``);
4. signer: the kid (protected header first, then unprotected) must be 8
   bytes and equal the first 8 bytes of SHA-256 over a DSC's DER; on a kid
   collision every candidate is tried (``CRT-05`` no candidate, ``CRT-07``
   no candidate verifies, ``CRT-19`` algorithm does not fit the key,
   ``CRT-16`` unsupported algorithm). The algorithm may sit in the
   unprotected header, as in deployed DCCs;
5. validity at the *given* time ``at`` (never the system clock):
   ``DSC.notBefore <= iat <= at <= exp <= DSC.notAfter``
   (``CRT-11`` not yet valid, ``CRT-10`` expired, ``CRT-06`` the claims
   fall outside the DSC's validity);
6. key usage: a DSC without an extended key usage (or with an empty or
   unreadable one) may sign every type; otherwise it must list the OID of
   the certificate's type (test, vaccination, recovery), in the official or
   the historical typo form (``CRT-18``).

NumericDates may be integers or (in some deployed certificates) floats;
floats are truncated toward the past. The hcert content is returned as
decoded, without schema validation.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

from jura_trust.certificates._cbor import loads_strict
from jura_trust.certificates.cose import CoseSign1, decode_sign1
from jura_trust.certificates.envelope import decode_envelope
from jura_trust.errors import CertificateError, ErrorCode

__all__ = [
    "CLAIM_EXP",
    "CLAIM_HCERT",
    "CLAIM_IAT",
    "CLAIM_ISS",
    "DCC_KID_LENGTH",
    "DCC_PREFIX",
    "MAX_DCC_SIZE",
    "DccCertificate",
    "DccResult",
    "certificate_type",
    "check_key_usage",
    "check_validity",
    "dcc_kid",
    "decode_dcc",
    "decode_dcc_message",
    "find_signer",
    "verify_dcc",
]

#: The context prefix of EU DCC version 1.
DCC_PREFIX = "HC1:"
#: CWT claim keys (RFC 8392) and the hcert claim of the DCC.
CLAIM_ISS = 1
CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_HCERT = -260
#: The key of the EU DCC v1 inside the hcert claim.
HCERT_EU_DCC_V1 = 1
#: The length of a DCC key id.
DCC_KID_LENGTH = 8
#: The largest decompressed COSE message accepted, in bytes.
MAX_DCC_SIZE = 16 * 1024

_DCC_TYPE_OIDS: dict[str, tuple[str, ...]] = {
    t: (f"1.3.6.1.4.1.1847.2021.1.{n}", f"1.3.6.1.4.1.0.1847.2021.1.{n}")
    for t, n in (("t", 1), ("v", 2), ("r", 3))
}


@attrs.frozen(slots=True)
class DccCertificate:
    """A decoded (not yet verified) DCC.

    Attributes:
        message: the COSE_Sign1 message.
        claims: the whole CWT claims map.
        issuer: claim iss (a country code, or free text), or ``None``.
        issued_at: claim iat as an aware UTC datetime, or ``None``.
        expires_at: claim exp as an aware UTC datetime, or ``None``.
        hcert: the EU DCC v1 content (hcert claim, key 1).
    """

    message: CoseSign1
    claims: Mapping[Any, Any]
    issuer: str | None
    issued_at: datetime | None
    expires_at: datetime | None
    hcert: Mapping[Any, Any]


@attrs.frozen(slots=True)
class DccResult:
    """The outcome of :func:`verify_dcc`.

    Attributes:
        valid: ``True`` only if every step passed.
        code: the error code of the first failed step, ``None`` when valid.
        reason: a one-line explanation (``"valid"`` when valid).
        certificate: the decoded DCC when decoding got that far.
        signer: the DSC that verified the signature, when found.
    """

    valid: bool
    code: ErrorCode | None
    reason: str
    certificate: DccCertificate | None = None
    signer: x509.Certificate | None = None

    @property
    def issuer(self) -> str | None:
        """Claim iss, when decoded."""
        return self.certificate.issuer if self.certificate else None

    @property
    def issued_at(self) -> datetime | None:
        """Claim iat, when decoded."""
        return self.certificate.issued_at if self.certificate else None

    @property
    def expires_at(self) -> datetime | None:
        """Claim exp, when decoded."""
        return self.certificate.expires_at if self.certificate else None

    @property
    def hcert(self) -> Mapping[Any, Any] | None:
        """The EU DCC v1 content, when decoded."""
        return self.certificate.hcert if self.certificate else None


def _numeric_date(claims: Mapping[Any, Any], key: int, name: str) -> datetime | None:
    value = claims.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CertificateError(
            f"claim {name} is not a NumericDate", code=ErrorCode.CRT_BAD_STRUCTURE
        )
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CertificateError(f"claim {name} is not finite", code=ErrorCode.CRT_BAD_STRUCTURE)
        value = math.floor(value)
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise CertificateError(
            f"claim {name} is out of range", code=ErrorCode.CRT_BAD_STRUCTURE
        ) from exc


def decode_dcc_message(cose: bytes) -> DccCertificate:
    """Decode a DCC from its COSE_Sign1 bytes (steps 2 and 3).

    Raises:
        CertificateError: ``CRT-04`` if the message or its claims are malformed.
    """
    message = decode_sign1(cose)
    claims = loads_strict(message.payload, "CWT claims")
    if not isinstance(claims, Mapping):
        raise CertificateError("CWT claims are not a map", code=ErrorCode.CRT_BAD_STRUCTURE)
    hcert_claim = claims.get(CLAIM_HCERT)
    if not isinstance(hcert_claim, Mapping) or not isinstance(
        hcert_claim.get(HCERT_EU_DCC_V1), Mapping
    ):
        raise CertificateError("CWT claims hold no EU DCC v1", code=ErrorCode.CRT_BAD_STRUCTURE)
    issuer = claims.get(CLAIM_ISS)
    if issuer is not None and not isinstance(issuer, str):
        raise CertificateError("claim iss is not text", code=ErrorCode.CRT_BAD_STRUCTURE)
    return DccCertificate(
        message=message,
        claims=claims,
        issuer=issuer,
        issued_at=_numeric_date(claims, CLAIM_IAT, "iat"),
        expires_at=_numeric_date(claims, CLAIM_EXP, "exp"),
        hcert=hcert_claim[HCERT_EU_DCC_V1],
    )


def decode_dcc(text: str) -> DccCertificate:
    """Decode an ``HC1:`` text (steps 1 to 3), without verifying it.

    Raises:
        CertificateError: ``CRT-15``, ``CRT-01``, ``CRT-02``, ``CRT-03`` or
            ``CRT-04`` (see the module docstring).
    """
    return decode_dcc_message(decode_envelope(text, prefix=DCC_PREFIX, max_size=MAX_DCC_SIZE))


def dcc_kid(certificate: x509.Certificate) -> bytes:
    """The DCC key id of a DSC: the first 8 bytes of SHA-256 over its DER."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()[:DCC_KID_LENGTH]


def find_signer(message: CoseSign1, certificates: Iterable[x509.Certificate]) -> x509.Certificate:
    """Find the DSC whose key verifies ``message`` (step 4).

    Every DSC whose key id matches is tried, so a kid collision cannot hide
    the right certificate.

    Raises:
        CertificateError: ``CRT-04`` (kid missing or not 8 bytes), ``CRT-05``
            (no DSC with that kid), ``CRT-16``, ``CRT-19`` or ``CRT-07``.
    """
    kid = message.kid
    if kid is None:
        raise CertificateError("DCC has no key id", code=ErrorCode.CRT_BAD_STRUCTURE)
    if len(kid) != DCC_KID_LENGTH:
        raise CertificateError(
            f"DCC key id has {len(kid)} bytes, not {DCC_KID_LENGTH}",
            code=ErrorCode.CRT_BAD_STRUCTURE,
            kid=kid,
        )
    candidates = [c for c in certificates if dcc_kid(c) == kid]
    if not candidates:
        raise CertificateError(
            "no document signer certificate has this key id",
            code=ErrorCode.CRT_UNKNOWN_ISSUER,
            kid=kid,
        )
    first_error: CertificateError | None = None
    for candidate in candidates:
        try:
            public_key = candidate.public_key()
        except ValueError:  # a key type cryptography cannot load
            continue
        try:
            message.verify(public_key, allow_unprotected_alg=True)  # type: ignore[arg-type]
        except CertificateError as exc:
            first_error = first_error or exc
            continue
        return candidate
    if first_error is not None:
        raise first_error
    raise CertificateError(
        "no candidate certificate has a usable key", code=ErrorCode.CRT_BAD_SIGNATURE, kid=kid
    )


def _require_aware(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ValueError("the validation time must be a timezone-aware datetime")


def check_validity(dcc: DccCertificate, signer: x509.Certificate, *, at: datetime) -> None:
    """Check ``DSC.notBefore <= iat <= at <= exp <= DSC.notAfter`` (step 5).

    Raises:
        CertificateError: ``CRT-04`` (iat or exp missing), ``CRT-11`` (``at``
            before iat), ``CRT-10`` (``at`` after exp), ``CRT-06`` (iat before
            the DSC's notBefore or exp after its notAfter).
        ValueError: if ``at`` is naive.
    """
    _require_aware(at)
    if dcc.issued_at is None or dcc.expires_at is None:
        raise CertificateError("DCC lacks iat or exp", code=ErrorCode.CRT_BAD_STRUCTURE)
    if at < dcc.issued_at:
        raise CertificateError(
            f"DCC is issued in the future ({dcc.issued_at.isoformat()})",
            code=ErrorCode.CRT_NOT_YET_VALID,
        )
    if at > dcc.expires_at:
        raise CertificateError(
            f"DCC expired at {dcc.expires_at.isoformat()}", code=ErrorCode.CRT_EXPIRED
        )
    if dcc.issued_at < signer.not_valid_before_utc or dcc.expires_at > signer.not_valid_after_utc:
        raise CertificateError(
            "DCC validity falls outside its signer certificate's validity",
            code=ErrorCode.CRT_KEY_NOT_VALID,
        )


def certificate_type(dcc: DccCertificate) -> str:
    """The DCC's type: ``"v"``, ``"t"`` or ``"r"`` (exactly one must be present).

    Raises:
        CertificateError: ``CRT-04`` if no type or several types are present.
    """
    present = [t for t in _DCC_TYPE_OIDS if t in dcc.hcert]
    if len(present) != 1:
        raise CertificateError(
            f"DCC must hold exactly one of v, t, r; found {present}",
            code=ErrorCode.CRT_BAD_STRUCTURE,
        )
    return present[0]


def _extended_key_usage(certificate: x509.Certificate) -> list[str] | None:
    try:
        extension = certificate.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # an empty or unreadable EKU: treated as no EKU
        return None
    value = extension.value
    assert isinstance(value, x509.ExtendedKeyUsage)
    usages = [oid.dotted_string for oid in value]
    return usages or None


def check_key_usage(dcc: DccCertificate, signer: x509.Certificate) -> None:
    """Check the DSC may sign this type of DCC (step 6).

    Raises:
        CertificateError: ``CRT-18`` if the DSC has an extended key usage
            without the type's OID; ``CRT-04`` if the type is ambiguous.
    """
    kind = certificate_type(dcc)
    usages = _extended_key_usage(signer)
    if usages is None:
        return
    if not any(oid in usages for oid in _DCC_TYPE_OIDS[kind]):
        raise CertificateError(
            f"signer certificate may not sign type {kind!r} certificates",
            code=ErrorCode.CRT_KEY_USAGE,
            usages=usages,
        )


def verify_dcc(text: str, certificates: Sequence[x509.Certificate], *, at: datetime) -> DccResult:
    """Decode and verify an ``HC1:`` text at time ``at`` (steps 1 to 6).

    Never raises on bad input: the result carries the first failure's code.

    Raises:
        ValueError: if ``at`` is naive (API misuse).
    """
    _require_aware(at)
    dcc: DccCertificate | None = None
    signer: x509.Certificate | None = None
    try:
        dcc = decode_dcc(text)
        signer = find_signer(dcc.message, certificates)
        check_validity(dcc, signer, at=at)
        check_key_usage(dcc, signer)
    except CertificateError as exc:
        return DccResult(
            valid=False, code=exc.code, reason=exc.message, certificate=dcc, signer=signer
        )
    return DccResult(valid=True, code=None, reason="valid", certificate=dcc, signer=signer)

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

from jura_trust.certificates._cbor import loads_strict
from jura_trust.certificates._json import json_safe
from jura_trust.certificates.base45 import b45decode
from jura_trust.certificates.cose import CoseSign1, decode_sign1
from jura_trust.certificates.envelope import MAX_TEXT_LENGTH, decode_envelope, decompress
from jura_trust.errors import CertificateError, ErrorCode, Outcome
from jura_trust.verify.engine import AllOf, Node, Rule, evaluate
from jura_trust.verify.result import Anchor, VerificationResult

__all__ = [
    "CLAIM_EXP",
    "CLAIM_HCERT",
    "CLAIM_IAT",
    "CLAIM_ISS",
    "DCC_KID_LENGTH",
    "DCC_POLICY",
    "DCC_POLICY_NAME",
    "DCC_PREFIX",
    "MAX_DCC_SIZE",
    "DccCertificate",
    "certificate_type",
    "check_key_usage",
    "check_validity",
    "dcc_claims",
    "dcc_kid",
    "decode_dcc",
    "decode_dcc_message",
    "find_signer",
    "verify_dcc",
]

#: The ``policy`` of every DCC :class:`~jura_trust.verify.result.VerificationResult`.
DCC_POLICY_NAME = "dcc"
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
    return dcc_claims(decode_sign1(cose))


def dcc_claims(message: CoseSign1) -> DccCertificate:
    """Read the CWT claims of a decoded COSE_Sign1 (step 3).

    Raises:
        CertificateError: ``CRT-04`` if the claims are malformed.
    """
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
    signer = _try_candidates(message, candidates)
    if isinstance(signer, CertificateError):
        raise signer
    return signer


def _try_candidates(
    message: CoseSign1, candidates: Sequence[x509.Certificate]
) -> x509.Certificate | CertificateError:
    """The first candidate whose key verifies ``message``, else the first error."""
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
        return first_error
    return CertificateError(
        "no candidate certificate has a usable key",
        code=ErrorCode.CRT_BAD_SIGNATURE,
        kid=message.kid,
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


@attrs.define(slots=True, eq=False)
class _DccContext:
    """Internal: the inputs of the DCC rules and what earlier rules established."""

    text: str
    certificates: Sequence[x509.Certificate]
    at: datetime
    compressed: bytes = b""
    cose: bytes = b""
    message: CoseSign1 | None = None
    dcc: DccCertificate | None = None
    candidates: list[x509.Certificate] = attrs.field(factory=list)
    signer: x509.Certificate | None = None
    signer_error: CertificateError | None = None
    tried: bool = False

    def the_message(self) -> CoseSign1:
        assert self.message is not None, "rules run in order"
        return self.message

    def the_dcc(self) -> DccCertificate:
        assert self.dcc is not None, "rules run in order"
        return self.dcc

    def the_signer(self) -> x509.Certificate:
        assert self.signer is not None, "rules run in order"
        return self.signer


def _text_length(ctx: _DccContext) -> str | None:
    if len(ctx.text) > MAX_TEXT_LENGTH:
        return f"text of {len(ctx.text)} characters exceeds {MAX_TEXT_LENGTH}"
    return None


def _prefix(ctx: _DccContext) -> str | None:
    if not ctx.text.startswith(DCC_PREFIX):
        return f"text does not start with the prefix {DCC_PREFIX!r}"
    return None


def _raises(step: Callable[[_DccContext], None]) -> Callable[[_DccContext], str | None]:
    """A check from a step that raises :class:`CertificateError` on a problem."""

    def check(ctx: _DccContext) -> str | None:
        try:
            step(ctx)
        except CertificateError as exc:
            return exc.message
        return None

    return check


def _base45(ctx: _DccContext) -> None:
    ctx.compressed = b45decode(ctx.text[len(DCC_PREFIX) :])


def _zlib(ctx: _DccContext) -> None:
    ctx.cose = decompress(ctx.compressed, max_size=MAX_DCC_SIZE)


def _cose(ctx: _DccContext) -> None:
    ctx.message = decode_sign1(ctx.cose)


def _claims(ctx: _DccContext) -> None:
    ctx.dcc = dcc_claims(ctx.the_message())


def _kid(ctx: _DccContext) -> str | None:
    kid = ctx.the_message().kid
    if kid is None:
        return "DCC has no key id"
    if len(kid) != DCC_KID_LENGTH:
        return f"DCC key id has {len(kid)} bytes, not {DCC_KID_LENGTH}"
    return None


def _signer_known(ctx: _DccContext) -> str | None:
    kid = ctx.the_message().kid
    ctx.candidates = [c for c in ctx.certificates if dcc_kid(c) == kid]
    if not ctx.candidates:
        return "no document signer certificate has this key id"
    return None


def _algorithm(ctx: _DccContext) -> None:
    ctx.the_message().algorithm(allow_unprotected_alg=True)


def _signer_error(ctx: _DccContext) -> CertificateError | None:
    if not ctx.tried:
        ctx.tried = True
        found = _try_candidates(ctx.the_message(), ctx.candidates)
        if isinstance(found, CertificateError):
            ctx.signer_error = found
        else:
            ctx.signer = found
    return ctx.signer_error


def _key_fits(ctx: _DccContext) -> str | None:
    error = _signer_error(ctx)
    if error is not None and error.code is ErrorCode.CRT_ALGORITHM_MISMATCH:
        return error.message
    return None


def _signature(ctx: _DccContext) -> str | None:
    error = _signer_error(ctx)
    return None if error is None else error.message


def _has_times(ctx: _DccContext) -> str | None:
    dcc = ctx.the_dcc()
    if dcc.issued_at is None or dcc.expires_at is None:
        return "DCC lacks iat or exp"
    return None


def _issued_not_in_future(ctx: _DccContext) -> str | None:
    issued = ctx.the_dcc().issued_at
    assert issued is not None
    if ctx.at < issued:
        return f"DCC is issued in the future ({issued.isoformat()})"
    return None


def _not_expired(ctx: _DccContext) -> str | None:
    expires = ctx.the_dcc().expires_at
    assert expires is not None
    if ctx.at > expires:
        return f"DCC expired at {expires.isoformat()}"
    return None


def _within_signer_validity(ctx: _DccContext) -> str | None:
    dcc, signer = ctx.the_dcc(), ctx.the_signer()
    assert dcc.issued_at is not None
    assert dcc.expires_at is not None
    if dcc.issued_at < signer.not_valid_before_utc or dcc.expires_at > signer.not_valid_after_utc:
        return "DCC validity falls outside its signer certificate's validity"
    return None


def _one_type(ctx: _DccContext) -> None:
    certificate_type(ctx.the_dcc())


def _key_usage(ctx: _DccContext) -> None:
    check_key_usage(ctx.the_dcc(), ctx.the_signer())


def _dcc_all_of(*members: Node[_DccContext]) -> AllOf[_DccContext]:
    return AllOf(members)


_D = Rule[_DccContext]

#: The DCC verification policy: steps 1 to 6 of the module docstring as rules.
DCC_POLICY: Node[_DccContext] = _dcc_all_of(
    _D("text_length", "1", ErrorCode.CRT_TOO_LARGE, _text_length),
    _D("prefix", "1", ErrorCode.CRT_BAD_PREFIX, _prefix),
    _D("base45", "1", ErrorCode.CRT_BAD_ENCODING, _raises(_base45)),
    _D("zlib", "1", ErrorCode.CRT_BAD_COMPRESSION, _raises(_zlib)),
    _D("cose_structure", "2", ErrorCode.CRT_BAD_STRUCTURE, _raises(_cose)),
    _D("cwt_claims", "3", ErrorCode.CRT_BAD_STRUCTURE, _raises(_claims)),
    _D("key_id", "4", ErrorCode.CRT_BAD_STRUCTURE, _kid),
    _D("signer_known", "4", ErrorCode.CRT_UNKNOWN_ISSUER, _signer_known),
    _D("signature_algorithm", "4", ErrorCode.CRT_UNSUPPORTED_ALGORITHM, _raises(_algorithm)),
    _D("signature_key_fits", "4", ErrorCode.CRT_ALGORITHM_MISMATCH, _key_fits),
    _D("signature", "4", ErrorCode.CRT_BAD_SIGNATURE, _signature),
    _D("validity_times_present", "5", ErrorCode.CRT_BAD_STRUCTURE, _has_times),
    _D("issued_not_in_future", "5", ErrorCode.CRT_NOT_YET_VALID, _issued_not_in_future),
    _D("not_expired", "5", ErrorCode.CRT_EXPIRED, _not_expired),
    _D("within_signer_validity", "5", ErrorCode.CRT_KEY_NOT_VALID, _within_signer_validity),
    _D("one_certificate_type", "6", ErrorCode.CRT_BAD_STRUCTURE, _raises(_one_type)),
    _D("key_usage", "6", ErrorCode.CRT_KEY_USAGE, _raises(_key_usage)),
)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify_dcc(
    text: str, certificates: Sequence[x509.Certificate], *, at: datetime
) -> VerificationResult:
    """Decode and verify an ``HC1:`` text at time ``at`` (the rules of :data:`DCC_POLICY`).

    Never raises on bad input: every step, decoding included, is a rule
    with one code, and the result (policy ``"dcc"``) is OK only when all
    held. Only an OK result has facts: ``issuer`` (``{"id": iss, "name":
    None}``), ``issued_at`` and ``expires_at`` (ISO 8601 UTC), ``type``
    (``"v"``, ``"t"`` or ``"r"``), ``fields`` (the hcert content, made
    JSON-friendly: dates as ISO strings, bytes as hex) and ``signer``; its
    anchor (kind ``"issuer-key"``) names the document signer certificate.

    Raises:
        ValueError: if ``at`` is naive (API misuse).
        TypeError: if ``text`` is not a ``str``.
    """
    _require_aware(at)
    if not isinstance(text, str):
        raise TypeError(f"a DCC text is a str, not {type(text).__name__}")
    ctx = _DccContext(text=text, certificates=list(certificates), at=at)
    outcome, code, message, steps = evaluate(DCC_POLICY, ctx)
    if outcome is not Outcome.OK:
        return VerificationResult(DCC_POLICY_NAME, outcome, code, message, steps)
    dcc, signer = ctx.the_dcc(), ctx.the_signer()
    kid = dcc_kid(signer).hex()
    signer_facts = {
        "subject": signer.subject.rfc4514_string(),
        "kid": kid,
        "not_before": _iso(signer.not_valid_before_utc),
        "not_after": _iso(signer.not_valid_after_utc),
    }
    facts = {
        "issuer": {"id": dcc.issuer, "name": None},
        "issued_at": _iso(dcc.issued_at),
        "expires_at": _iso(dcc.expires_at),
        "type": certificate_type(dcc),
        "fields": json_safe(dcc.hcert),
        "signer": signer_facts,
    }
    anchor = Anchor(
        "issuer-key",
        f"document signer certificate {signer_facts['subject']} (kid {kid})",
        {"issuer": {"id": dcc.issuer, "name": None}, **signer_facts},
    )
    return VerificationResult(
        DCC_POLICY_NAME, Outcome.OK, None, "valid", steps, anchor=anchor, facts=facts
    )

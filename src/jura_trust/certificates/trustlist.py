"""Signed trust lists and revocation lists for JT1 certificates.

Both are canonical CBOR maps (cbor2 ``canonical=True``) signed as a tagged
COSE_Sign1 by a *root* key, and verified offline against the root public
keys a verifier trusts. The protected header carries the algorithm, the
root's key id and a content type that tells the two kinds apart, so one can
never be passed off as the other.

Trust list payload (text keys)::

    {"version": 1, "sequence": uint, "issued_at": NumericDate,
     "next_update": NumericDate,
     "issuers": [{"id": tstr, "name": tstr, "document_types": [tstr],
                  "keys": [{"kid": bstr, "key": bstr (SPKI DER) / COSE_Key,
                            "not_before": NumericDate,
                            "not_after": NumericDate}]}]}

Revocation list payload::

    {"version": 1, "sequence": uint, "issued_at": NumericDate,
     "next_update": NumericDate, "revoked": [bstr]}  (sorted, unique)

NumericDates are integer seconds since the Unix epoch (UTC). Key ids are
unique across a whole trust list; an issuer may hold several keys with
overlapping validity while it rotates. Unknown map keys are ignored, so a
later minor revision can add fields.

Verification codes: ``CRT-04`` malformed, ``CRT-05`` signed by no trusted
root, ``CRT-07`` bad signature, ``CRT-16``/``CRT-19`` algorithm,
``CRT-17`` the list is not current at the given time (``at`` before
``issued_at`` or after ``next_update``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from jura_trust.certificates._cbor import dumps_canonical, loads_strict
from jura_trust.certificates.cose import (
    HEADER_CONTENT_TYPE,
    CoseAlgorithm,
    PrivateKey,
    PublicKey,
    decode_sign1,
    sign1,
)
from jura_trust.errors import CertificateError, ErrorCode

__all__ = [
    "KEY_ID_LENGTH",
    "MAX_LIST_SIZE",
    "REVOCATION_LIST_CONTENT_TYPE",
    "TRUST_LIST_CONTENT_TYPE",
    "TRUST_LIST_VERSION",
    "Issuer",
    "IssuerKey",
    "RevocationList",
    "TrustList",
    "cose_key_to_public_key",
    "key_id",
    "verify_revocation_list",
    "verify_trust_list",
]

#: The payload version this module writes and reads.
TRUST_LIST_VERSION = 1
#: Length of a key id made by :func:`key_id`.
KEY_ID_LENGTH = 8
#: The largest signed list accepted, in bytes.
MAX_LIST_SIZE = 16 * 1024 * 1024
#: Content type (protected header 3) of a signed trust list.
TRUST_LIST_CONTENT_TYPE = "application/jura-trust.trust-list+cbor"
#: Content type (protected header 3) of a signed revocation list.
REVOCATION_LIST_CONTENT_TYPE = "application/jura-trust.revocation-list+cbor"

_MAX_KID_LENGTH = 64

# COSE_Key labels and values (RFC 9052 section 7, RFC 9053, RFC 8230).
_KTY, _CRV, _X, _Y, _N, _E = 1, -1, -2, -3, -1, -2
_KTY_OKP, _KTY_EC2, _KTY_RSA = 1, 2, 3
_CRV_P256, _CRV_P384, _CRV_ED25519 = 1, 2, 6
_EC_CURVES: dict[int, tuple[ec.EllipticCurve, int]] = {
    _CRV_P256: (ec.SECP256R1(), 32),
    _CRV_P384: (ec.SECP384R1(), 48),
}


def _spki(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key: PublicKey) -> bytes:
    """The default key id: the first 8 bytes of SHA-256 over the SPKI DER."""
    return hashlib.sha256(_spki(public_key)).digest()[:KEY_ID_LENGTH]


def _malformed(message: str) -> CertificateError:
    return CertificateError(message, code=ErrorCode.CRT_BAD_STRUCTURE)


def cose_key_to_public_key(cose_key: Mapping[Any, Any]) -> PublicKey:
    """Load a public COSE_Key (OKP Ed25519, EC2 P-256/P-384, RSA).

    Raises:
        CertificateError: ``CRT-04`` for a malformed or unsupported key.
    """
    kty = cose_key.get(_KTY)
    try:
        if kty == _KTY_OKP and cose_key.get(_CRV) == _CRV_ED25519:
            return ed25519.Ed25519PublicKey.from_public_bytes(cose_key[_X])
        if kty == _KTY_EC2 and cose_key.get(_CRV) in _EC_CURVES:
            curve, size = _EC_CURVES[cose_key[_CRV]]
            x, y = cose_key[_X], cose_key[_Y]
            if (
                not (isinstance(x, bytes) and isinstance(y, bytes))
                or len(x) != size
                or len(y) != size
            ):
                raise _malformed("COSE_Key coordinates have the wrong size")
            return ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
            ).public_key()
        if kty == _KTY_RSA:
            n, e = cose_key[_N], cose_key[_E]
            if not (isinstance(n, bytes) and isinstance(e, bytes)):
                raise _malformed("COSE_Key RSA parameters are not byte strings")
            return rsa.RSAPublicNumbers(
                int.from_bytes(e, "big"), int.from_bytes(n, "big")
            ).public_key()
    except CertificateError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise _malformed(f"bad COSE_Key: {exc}") from exc
    raise _malformed("unsupported COSE_Key type or curve")


def _load_public_key(value: object) -> PublicKey:
    if isinstance(value, Mapping):
        return cose_key_to_public_key(value)
    if not isinstance(value, bytes):
        raise _malformed("issuer key is neither SPKI DER nor a COSE_Key")
    try:
        key = load_der_public_key(value)
    except (ValueError, TypeError) as exc:  # cryptography's parse errors
        raise _malformed(f"issuer key is not a valid SPKI: {exc}") from exc
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)):
        raise _malformed(f"unsupported issuer key type {type(key).__name__}")
    return key


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    return _aware(value, "a time")


def _key_tuple(values: Iterable[IssuerKey]) -> tuple[IssuerKey, ...]:
    return tuple(values)


def _issuer_tuple(values: Iterable[Issuer]) -> tuple[Issuer, ...]:
    return tuple(values)


def _text_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _hash_set(values: Iterable[object]) -> frozenset[bytes]:
    return frozenset(_leaf_hash(h) for h in values)


def _to_numeric(value: datetime) -> int:
    return int(value.timestamp())


def _numeric(fields: Mapping[Any, Any], name: str) -> datetime:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _malformed(f"{name} is missing or not an integer NumericDate")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise _malformed(f"{name} is out of range") from exc


def _text(fields: Mapping[Any, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise _malformed(f"{name} is missing or not text")
    return value


def _array(fields: Mapping[Any, Any], name: str) -> Sequence[Any]:
    value = fields.get(name)
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise _malformed(f"{name} is missing or not an array")
    return value


def _map(value: object, name: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise _malformed(f"{name} is not a map")
    return value


@attrs.frozen(slots=True)
class IssuerKey:
    """One issuer public key with its validity period (both ends inclusive).

    Attributes:
        kid: the key id used in COSE headers (1 to 64 bytes).
        public_key: the public key (EC P-256/P-384, Ed25519 or RSA).
        not_before: first instant the key may sign (aware datetime).
        not_after: last instant the key may sign (aware datetime).
    """

    kid: bytes
    public_key: PublicKey = attrs.field(eq=False)
    not_before: datetime = attrs.field(converter=_utc)
    not_after: datetime = attrs.field(converter=_utc)
    _spki_der: bytes = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not 1 <= len(self.kid) <= _MAX_KID_LENGTH:
            raise ValueError("kid must be 1 to 64 bytes")
        if self.not_after < self.not_before:
            raise ValueError("not_after is before not_before")
        object.__setattr__(self, "_spki_der", _spki(self.public_key))

    @property
    def spki(self) -> bytes:
        """The public key as SubjectPublicKeyInfo DER."""
        return self._spki_der

    def valid_at(self, at: datetime) -> bool:
        """Whether ``not_before <= at <= not_after``."""
        return self.not_before <= _aware(at, "at") <= self.not_after

    def _to_cbor(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "key": self._spki_der,
            "not_before": _to_numeric(self.not_before),
            "not_after": _to_numeric(self.not_after),
        }

    @classmethod
    def _from_cbor(cls, value: object) -> IssuerKey:
        fields = _map(value, "issuer key")
        kid = fields.get("kid")
        if not isinstance(kid, bytes) or not 1 <= len(kid) <= _MAX_KID_LENGTH:
            raise _malformed("issuer key kid is missing or not 1 to 64 bytes")
        try:
            return cls(
                kid=kid,
                public_key=_load_public_key(fields.get("key")),
                not_before=_numeric(fields, "not_before"),
                not_after=_numeric(fields, "not_after"),
            )
        except ValueError as exc:
            if isinstance(exc, CertificateError):
                raise
            raise _malformed(f"bad issuer key: {exc}") from exc


@attrs.frozen(slots=True)
class Issuer:
    """A trusted issuer: its id, display name, keys and allowed document types.

    Attributes:
        id: the issuer id used in JT1 payloads.
        name: the display name.
        keys: its keys (several during a rotation).
        document_types: the document types it may issue.
    """

    id: str
    name: str
    keys: tuple[IssuerKey, ...] = attrs.field(converter=_key_tuple)
    document_types: tuple[str, ...] = attrs.field(converter=_text_tuple)

    def allows(self, document_type: str) -> bool:
        """Whether this issuer may issue ``document_type``."""
        return document_type in self.document_types

    def key_by_kid(self, kid: bytes, *, at: datetime) -> IssuerKey:
        """The key with id ``kid``, checked to be valid at ``at``.

        Raises:
            CertificateError: ``CRT-05`` if the issuer has no such key,
                ``CRT-06`` if the key is outside its validity at ``at``.
        """
        for key in self.keys:
            if key.kid == kid:
                if not key.valid_at(at):
                    raise CertificateError(
                        f"key {kid.hex()} of issuer {self.id!r} is not valid at {at.isoformat()}",
                        code=ErrorCode.CRT_KEY_NOT_VALID,
                        kid=kid,
                        issuer=self.id,
                    )
                return key
        raise CertificateError(
            f"issuer {self.id!r} has no key {kid.hex()}",
            code=ErrorCode.CRT_UNKNOWN_ISSUER,
            kid=kid,
            issuer=self.id,
        )

    def _to_cbor(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "keys": [k._to_cbor() for k in self.keys],
            "document_types": list(self.document_types),
        }

    @classmethod
    def _from_cbor(cls, value: object) -> Issuer:
        fields = _map(value, "issuer")
        types = _array(fields, "document_types")
        if not all(isinstance(t, str) for t in types):
            raise _malformed("document_types holds a non-text entry")
        return cls(
            id=_text(fields, "id"),
            name=_text(fields, "name"),
            keys=[IssuerKey._from_cbor(k) for k in _array(fields, "keys")],
            document_types=types,
        )


def _check_unique_ids(issuers: Iterable[Issuer]) -> None:
    ids: set[str] = set()
    kids: set[bytes] = set()
    for issuer in issuers:
        if issuer.id in ids:
            raise ValueError(f"issuer id {issuer.id!r} appears twice")
        ids.add(issuer.id)
        for key in issuer.keys:
            if key.kid in kids:
                raise ValueError(f"key id {key.kid.hex()} appears twice")
            kids.add(key.kid)


def _check_current(kind: str, issued_at: datetime, next_update: datetime, at: datetime) -> None:
    at = _aware(at, "at")
    if at < issued_at:
        raise CertificateError(
            f"{kind} is issued after the validation time ({issued_at.isoformat()})",
            code=ErrorCode.CRT_TRUST_LIST_INVALID,
            reason="not yet valid",
        )
    if at > next_update:
        raise CertificateError(
            f"{kind} expired: its next update was due {next_update.isoformat()}",
            code=ErrorCode.CRT_TRUST_LIST_INVALID,
            reason="expired",
        )


def _sign_list(
    payload: bytes,
    content_type: str,
    root_key: PrivateKey,
    alg: CoseAlgorithm | None,
    kid: bytes | None,
) -> bytes:
    root_kid = kid if kid is not None else key_id(root_key.public_key())
    message = sign1(
        payload, root_key, alg=alg, kid=root_kid, protected={HEADER_CONTENT_TYPE: content_type}
    )
    return message.encode()


def _verify_list(data: bytes, content_type: str, roots: Iterable[PublicKey]) -> Mapping[Any, Any]:
    if len(data) > MAX_LIST_SIZE:
        raise CertificateError(
            f"signed list of {len(data)} bytes exceeds {MAX_LIST_SIZE}",
            code=ErrorCode.CRT_TOO_LARGE,
        )
    message = decode_sign1(data, require_tag=True)
    if message.protected_header.get(HEADER_CONTENT_TYPE) != content_type:
        raise _malformed(f"signed document is not of content type {content_type!r}")
    kid = message.kid
    if kid is None:
        raise _malformed("signed list names no root key id")
    candidates = [root for root in roots if key_id(root) == kid]
    if not candidates:
        raise CertificateError(
            f"list is signed by an unknown root key {kid.hex()}",
            code=ErrorCode.CRT_UNKNOWN_ISSUER,
            kid=kid,
        )
    first_error: CertificateError | None = None
    for root in candidates:
        try:
            message.verify(root)
        except CertificateError as exc:
            first_error = first_error or exc
            continue
        fields = _map(loads_strict(message.payload, "list payload"), "list payload")
        version = fields.get("version")
        if version != TRUST_LIST_VERSION:
            raise _malformed(f"unsupported list version {version!r}")
        return fields
    assert first_error is not None
    raise first_error


def _sequence(fields: Mapping[Any, Any]) -> int:
    value = fields.get("sequence")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _malformed("sequence is missing or not an unsigned integer")
    return value


@attrs.frozen(slots=True)
class TrustList:
    """The set of trusted issuers, valid from ``issued_at`` to ``next_update``.

    Attributes:
        issued_at: when the list was issued (aware datetime).
        next_update: the latest time it may be used (aware datetime).
        issuers: the issuers; ids and key ids are unique.
        sequence: a counter the publisher increases with every edition, so
            a verifier can refuse to go back to an older list.
    """

    issued_at: datetime = attrs.field(converter=_utc)
    next_update: datetime = attrs.field(converter=_utc)
    issuers: tuple[Issuer, ...] = attrs.field(converter=_issuer_tuple)
    sequence: int = 0

    def __attrs_post_init__(self) -> None:
        if self.next_update < self.issued_at:
            raise ValueError("next_update is before issued_at")
        _check_unique_ids(self.issuers)

    def is_current(self, at: datetime) -> bool:
        """Whether ``issued_at <= at <= next_update``."""
        return self.issued_at <= _aware(at, "at") <= self.next_update

    def issuer_by_id(self, issuer_id: str) -> Issuer:
        """The issuer with this id.

        Raises:
            CertificateError: ``CRT-05`` if there is none.
        """
        for issuer in self.issuers:
            if issuer.id == issuer_id:
                return issuer
        raise CertificateError(
            f"unknown issuer {issuer_id!r}", code=ErrorCode.CRT_UNKNOWN_ISSUER, issuer=issuer_id
        )

    def key_by_kid(self, kid: bytes, *, at: datetime) -> tuple[Issuer, IssuerKey]:
        """The issuer and key with id ``kid``, checked to be valid at ``at``.

        Raises:
            CertificateError: ``CRT-05`` unknown kid, ``CRT-06`` key not valid
                at ``at``.
        """
        for issuer in self.issuers:
            if any(key.kid == kid for key in issuer.keys):
                return issuer, issuer.key_by_kid(kid, at=at)
        raise CertificateError(
            f"no issuer has key {kid.hex()}", code=ErrorCode.CRT_UNKNOWN_ISSUER, kid=kid
        )

    def to_cbor(self) -> bytes:
        """The canonical CBOR payload (what the root key signs)."""
        return dumps_canonical(
            {
                "version": TRUST_LIST_VERSION,
                "sequence": self.sequence,
                "issued_at": _to_numeric(self.issued_at),
                "next_update": _to_numeric(self.next_update),
                "issuers": [i._to_cbor() for i in self.issuers],
            }
        )

    def sign(
        self,
        root_key: PrivateKey,
        *,
        alg: CoseAlgorithm | None = None,
        kid: bytes | None = None,
    ) -> bytes:
        """Sign as a tagged COSE_Sign1; ``kid`` defaults to :func:`key_id`."""
        return _sign_list(self.to_cbor(), TRUST_LIST_CONTENT_TYPE, root_key, alg, kid)


def verify_trust_list(data: bytes, roots: Iterable[PublicKey], *, at: datetime) -> TrustList:
    """Verify a signed trust list against trusted root keys at time ``at``.

    The root is found by the COSE kid (:func:`key_id` of each root).

    Raises:
        CertificateError: ``CRT-04``, ``CRT-05``, ``CRT-07``, ``CRT-16``,
            ``CRT-19`` (see the module docstring) or ``CRT-17`` if the list
            is not current at ``at``.
        ValueError: if ``at`` is naive.
    """
    _aware(at, "at")
    fields = _verify_list(data, TRUST_LIST_CONTENT_TYPE, roots)
    try:
        trust_list = TrustList(
            issued_at=_numeric(fields, "issued_at"),
            next_update=_numeric(fields, "next_update"),
            issuers=[Issuer._from_cbor(i) for i in _array(fields, "issuers")],
            sequence=_sequence(fields),
        )
    except CertificateError:
        raise
    except ValueError as exc:
        raise _malformed(f"inconsistent trust list: {exc}") from exc
    _check_current("trust list", trust_list.issued_at, trust_list.next_update, at)
    return trust_list


def _leaf_hash(value: object) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    inner = getattr(value, "value", None)  # an Imprint
    if isinstance(inner, bytes):
        return inner
    raise TypeError(f"a leaf hash must be bytes or an Imprint, not {type(value).__name__}")


@attrs.frozen(slots=True)
class RevocationList:
    """A signed set of revoked leaf hashes (JT1 certificate leaves).

    Attributes:
        issued_at: when the list was issued (aware datetime).
        next_update: the latest time it may be used (aware datetime).
        revoked: the revoked leaf hashes (bytes, typically imprints).
        sequence: an edition counter, as for :class:`TrustList`.
    """

    issued_at: datetime = attrs.field(converter=_utc)
    next_update: datetime = attrs.field(converter=_utc)
    revoked: frozenset[bytes] = attrs.field(converter=_hash_set)
    sequence: int = 0

    def __attrs_post_init__(self) -> None:
        if self.next_update < self.issued_at:
            raise ValueError("next_update is before issued_at")

    def is_current(self, at: datetime) -> bool:
        """Whether ``issued_at <= at <= next_update``."""
        return self.issued_at <= _aware(at, "at") <= self.next_update

    def is_revoked(self, leaf_hash: bytes | object) -> bool:
        """Whether ``leaf_hash`` (bytes or an Imprint) is on the list."""
        return _leaf_hash(leaf_hash) in self.revoked

    def to_cbor(self) -> bytes:
        """The canonical CBOR payload (revoked hashes sorted)."""
        return dumps_canonical(
            {
                "version": TRUST_LIST_VERSION,
                "sequence": self.sequence,
                "issued_at": _to_numeric(self.issued_at),
                "next_update": _to_numeric(self.next_update),
                "revoked": sorted(self.revoked),
            }
        )

    def sign(
        self,
        root_key: PrivateKey,
        *,
        alg: CoseAlgorithm | None = None,
        kid: bytes | None = None,
    ) -> bytes:
        """Sign as a tagged COSE_Sign1; ``kid`` defaults to :func:`key_id`."""
        return _sign_list(self.to_cbor(), REVOCATION_LIST_CONTENT_TYPE, root_key, alg, kid)


def verify_revocation_list(
    data: bytes, roots: Iterable[PublicKey], *, at: datetime
) -> RevocationList:
    """Verify a signed revocation list against trusted root keys at ``at``.

    Raises:
        CertificateError: as :func:`verify_trust_list`; ``CRT-04`` also for
            unsorted or repeated hashes.
        ValueError: if ``at`` is naive.
    """
    _aware(at, "at")
    fields = _verify_list(data, REVOCATION_LIST_CONTENT_TYPE, roots)
    revoked = _array(fields, "revoked")
    if not all(isinstance(h, bytes) and h for h in revoked):
        raise _malformed("revoked holds an entry that is not a non-empty byte string")
    if any(a >= b for a, b in itertools.pairwise(revoked)):
        raise _malformed("revoked hashes are not sorted and unique")
    revocations = RevocationList(
        issued_at=_numeric(fields, "issued_at"),
        next_update=_numeric(fields, "next_update"),
        revoked=revoked,
        sequence=_sequence(fields),
    )
    _check_current("revocation list", revocations.issued_at, revocations.next_update, at)
    return revocations

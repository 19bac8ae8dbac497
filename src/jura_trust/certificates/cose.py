"""COSE_Sign1 (RFC 9052, algorithms from RFC 9053 and RFC 8230).

``COSE_Sign1 = [protected: bstr, unprotected: map, payload: bstr,
signature: bstr]``, untagged, tagged 18, or tagged 61(18(...)) as a CWT.
The signature covers the CBOR encoding of ``["Signature1", protected,
external_aad, payload]``, where ``protected`` is the byte string *exactly as
received*: :class:`CoseSign1` keeps it and never re-encodes it.

Supported algorithms (:class:`CoseAlgorithm`): ES256 and ES384 (ECDSA with
the raw ``r || s`` signature of RFC 9053, never DER), EdDSA (Ed25519) and
PS256 (RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt).

Header lookup: the algorithm and the key id are read from the protected
header first, then from the unprotected one. Whether an unprotected
algorithm is acceptable is the caller's policy (``allow_unprotected_alg``):
jura_trust's own formats require it protected; the DCC profile allows it
because deployed certificates carry it unprotected.

Errors: ``CRT-04`` malformed structure, ``CRT-16`` unknown or missing
algorithm, ``CRT-19`` algorithm that does not fit the key (for example
ES256 over a P-384 key), ``CRT-07`` signature that does not verify
(including a DER-encoded or wrong-length ECDSA signature).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import attrs
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from jura_trust.certificates._cbor import loads_strict
from jura_trust.errors import CertificateError, ErrorCode

__all__ = [
    "HEADER_ALG",
    "HEADER_CONTENT_TYPE",
    "HEADER_KID",
    "TAG_COSE_SIGN1",
    "TAG_CWT",
    "CoseAlgorithm",
    "CoseSign1",
    "PrivateKey",
    "PublicKey",
    "decode_sign1",
    "default_algorithm",
    "sign1",
]

#: Header label of the algorithm.
HEADER_ALG = 1
#: Header label of the content type.
HEADER_CONTENT_TYPE = 3
#: Header label of the key id.
HEADER_KID = 4
#: CBOR tag of a COSE_Sign1 message.
TAG_COSE_SIGN1 = 18
#: CBOR tag of a CWT (RFC 8392), which may wrap a tagged COSE_Sign1.
TAG_CWT = 61

#: Public keys accepted for verification.
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
#: Private keys accepted for signing.
PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

_SIGNATURE1 = "Signature1"
_PSS_SALT_LENGTH = 32


class CoseAlgorithm(enum.IntEnum):
    """The COSE algorithm ids jura_trust signs and verifies."""

    ES256 = -7
    EDDSA = -8
    ES384 = -35
    PS256 = -37


_EC_PARAMS: dict[CoseAlgorithm, tuple[type[ec.EllipticCurve], hashes.HashAlgorithm, int]] = {
    CoseAlgorithm.ES256: (ec.SECP256R1, hashes.SHA256(), 32),
    CoseAlgorithm.ES384: (ec.SECP384R1, hashes.SHA384(), 48),
}
#: The group orders of the curves, to write the low ``s`` of an ECDSA
#: signature: ``(r, s)`` and ``(r, n - s)`` both verify, and the signer
#: always picks the smaller, so a new signature has one encoding.
_EC_ORDERS: dict[CoseAlgorithm, int] = {
    CoseAlgorithm.ES256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    CoseAlgorithm.ES384: int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
}


def _as_algorithm(value: object) -> CoseAlgorithm:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CertificateError(
            f"COSE algorithm {value!r} is not supported",
            code=ErrorCode.CRT_UNSUPPORTED_ALGORITHM,
            alg=repr(value),
        )
    try:
        return CoseAlgorithm(value)
    except ValueError:
        raise CertificateError(
            f"COSE algorithm {value} is not supported",
            code=ErrorCode.CRT_UNSUPPORTED_ALGORITHM,
            alg=value,
        ) from None


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=_PSS_SALT_LENGTH)


@attrs.frozen(slots=True)
class CoseSign1:
    """A decoded (or freshly signed) COSE_Sign1 message.

    Attributes:
        protected: the protected header bucket, the exact bytes received
            (``b""`` when empty); these are what the signature covers.
        protected_header: ``protected`` decoded (empty when ``b""``).
        unprotected: the unprotected header map.
        payload: the payload bytes (detached payloads are not supported).
        signature: the signature bytes.
        tags: the CBOR tags found around the array, outermost first:
            ``()``, ``(18,)`` or ``(61, 18)``.
    """

    protected: bytes
    protected_header: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes
    tags: tuple[int, ...] = (TAG_COSE_SIGN1,)

    def header(self, label: int) -> Any:
        """The value of a header label, protected first; ``None`` if absent."""
        if label in self.protected_header:
            return self.protected_header[label]
        return self.unprotected.get(label)

    @property
    def kid(self) -> bytes | None:
        """The key id, protected first, then unprotected; ``None`` if absent.

        Raises:
            CertificateError: ``CRT-04`` if the kid is not a byte string.
        """
        value = self.header(HEADER_KID)
        if value is None:
            return None
        if not isinstance(value, bytes):
            raise CertificateError(
                "COSE kid is not a byte string", code=ErrorCode.CRT_BAD_STRUCTURE
            )
        return value

    def algorithm(self, *, allow_unprotected_alg: bool = False) -> CoseAlgorithm:
        """The signature algorithm under the given header policy.

        Raises:
            CertificateError: ``CRT-16`` if the algorithm is missing, only
                unprotected while that is not allowed, or unsupported.
        """
        if HEADER_ALG in self.protected_header:
            return _as_algorithm(self.protected_header[HEADER_ALG])
        if HEADER_ALG in self.unprotected:
            if not allow_unprotected_alg:
                raise CertificateError(
                    "COSE algorithm is not in the protected header",
                    code=ErrorCode.CRT_UNSUPPORTED_ALGORITHM,
                )
            return _as_algorithm(self.unprotected[HEADER_ALG])
        raise CertificateError(
            "COSE message names no algorithm", code=ErrorCode.CRT_UNSUPPORTED_ALGORITHM
        )

    def to_be_signed(self, external_aad: bytes = b"") -> bytes:
        """The CBOR Sig_structure the signature covers."""
        return bytes(cbor2.dumps([_SIGNATURE1, self.protected, bytes(external_aad), self.payload]))

    def encode(self) -> bytes:
        """CBOR-encode the message, with the tags it was decoded or signed with."""
        item: Any = [self.protected, dict(self.unprotected), self.payload, self.signature]
        for tag in reversed(self.tags):
            item = cbor2.CBORTag(tag, item)
        return bytes(cbor2.dumps(item))

    def verify(
        self,
        public_key: PublicKey,
        *,
        allow_unprotected_alg: bool = False,
        external_aad: bytes = b"",
    ) -> CoseAlgorithm:
        """Verify the signature with ``public_key``; return the algorithm used.

        Raises:
            CertificateError: ``CRT-16`` (algorithm), ``CRT-19`` (algorithm
                does not fit the key), ``CRT-07`` (signature does not verify).
        """
        alg = self.algorithm(allow_unprotected_alg=allow_unprotected_alg)
        _verify(alg, public_key, self.signature, self.to_be_signed(external_aad))
        return alg


def _mismatch(alg: CoseAlgorithm, public_key: object) -> CertificateError:
    return CertificateError(
        f"algorithm {alg.name} does not fit a {type(public_key).__name__}",
        code=ErrorCode.CRT_ALGORITHM_MISMATCH,
        alg=int(alg),
    )


def _bad_signature(reason: str) -> CertificateError:
    return CertificateError(
        f"COSE signature does not verify: {reason}", code=ErrorCode.CRT_BAD_SIGNATURE
    )


def _verify(alg: CoseAlgorithm, public_key: object, signature: bytes, data: bytes) -> None:
    try:
        if alg in _EC_PARAMS:
            curve, digest, size = _EC_PARAMS[alg]
            if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
                public_key.curve, curve
            ):
                raise _mismatch(alg, public_key)
            if len(signature) != 2 * size:
                raise _bad_signature(
                    f"{alg.name} needs a {2 * size}-byte r||s signature, got {len(signature)}"
                )
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest))
        elif alg is CoseAlgorithm.EDDSA:
            if not isinstance(public_key, ed25519.Ed25519PublicKey):
                raise _mismatch(alg, public_key)
            public_key.verify(signature, data)
        else:
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise _mismatch(alg, public_key)
            if len(signature) != (public_key.key_size + 7) // 8:
                raise _bad_signature(f"PS256 signature has {len(signature)} bytes")
            public_key.verify(signature, data, _pss(), hashes.SHA256())
    except InvalidSignature:
        raise _bad_signature("mathematically invalid") from None


def _sign(alg: CoseAlgorithm, private_key: PrivateKey, data: bytes) -> bytes:
    if alg in _EC_PARAMS:
        curve, digest, size = _EC_PARAMS[alg]
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, curve
        ):
            raise ValueError(f"{alg.name} needs a {curve.name} private key")
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(digest)))
        s = min(s, _EC_ORDERS[alg] - s)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg is CoseAlgorithm.EDDSA:
        if not isinstance(private_key, ed25519.Ed25519PrivateKey):
            raise ValueError("EdDSA needs an Ed25519 private key")
        return private_key.sign(data)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("PS256 needs an RSA private key")
    return private_key.sign(data, _pss(), hashes.SHA256())


def default_algorithm(private_key: PrivateKey) -> CoseAlgorithm:
    """The natural algorithm for a key: ES256/ES384 by curve, EdDSA, PS256.

    Raises:
        ValueError: for a key type or curve that has no supported algorithm.
    """
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return CoseAlgorithm.EDDSA
    if isinstance(private_key, rsa.RSAPrivateKey):
        return CoseAlgorithm.PS256
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        for alg, (curve, _, _) in _EC_PARAMS.items():
            if isinstance(private_key.curve, curve):
                return alg
        raise ValueError(f"no COSE algorithm for curve {private_key.curve.name}")
    raise ValueError(f"unsupported key type {type(private_key).__name__}")


def sign1(
    payload: bytes,
    private_key: PrivateKey,
    *,
    alg: CoseAlgorithm | None = None,
    kid: bytes | None = None,
    protected: Mapping[int, Any] | None = None,
    unprotected: Mapping[int, Any] | None = None,
    external_aad: bytes = b"",
    tags: tuple[int, ...] = (TAG_COSE_SIGN1,),
) -> CoseSign1:
    """Sign ``payload`` as a COSE_Sign1 message.

    The algorithm (and ``kid`` when given) go in the protected header, which
    is encoded canonically (``b""`` when empty). ``protected`` and
    ``unprotected`` add further headers.

    Raises:
        ValueError: if the key does not fit the algorithm.
    """
    chosen = alg if alg is not None else default_algorithm(private_key)
    header: dict[int, Any] = dict(protected or {})
    header[HEADER_ALG] = int(chosen)
    if kid is not None:
        header[HEADER_KID] = bytes(kid)
    protected_bytes = bytes(cbor2.dumps(header, canonical=True)) if header else b""
    unsigned = CoseSign1(
        protected=protected_bytes,
        protected_header=header,
        unprotected=dict(unprotected or {}),
        payload=bytes(payload),
        signature=b"",
        tags=tags,
    )
    signature = _sign(chosen, private_key, unsigned.to_be_signed(external_aad))
    return attrs.evolve(unsigned, signature=signature)


def _header_map(value: object, what: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise CertificateError(f"COSE {what} header is not a map", code=ErrorCode.CRT_BAD_STRUCTURE)
    return value


def decode_sign1(data: bytes, *, require_tag: bool = False) -> CoseSign1:
    """Decode a COSE_Sign1 message (untagged, tag 18, or 61(18(...))).

    Raises:
        CertificateError: ``CRT-04`` for anything that is not a well-formed
            COSE_Sign1 (other tags, wrong array shape, wrong element types,
            a protected header that is not a CBOR map, trailing bytes).
    """
    item = loads_strict(data, "COSE message")
    tags: list[int] = []
    while isinstance(item, cbor2.CBORTag):
        tags.append(item.tag)
        item = item.value
    if tags not in ([], [TAG_COSE_SIGN1], [TAG_CWT, TAG_COSE_SIGN1]):
        raise CertificateError(
            f"unexpected CBOR tags {tags} around a COSE_Sign1",
            code=ErrorCode.CRT_BAD_STRUCTURE,
            tags=tags,
        )
    if require_tag and not tags:
        raise CertificateError("COSE_Sign1 tag 18 is missing", code=ErrorCode.CRT_BAD_STRUCTURE)
    if not isinstance(item, Sequence) or isinstance(item, (str, bytes)) or len(item) != 4:
        raise CertificateError(
            "COSE_Sign1 is not an array of four elements", code=ErrorCode.CRT_BAD_STRUCTURE
        )
    protected, unprotected, payload, signature = item
    if not isinstance(protected, bytes):
        raise CertificateError(
            "COSE protected header is not a byte string", code=ErrorCode.CRT_BAD_STRUCTURE
        )
    protected_header: Mapping[Any, Any] = {}
    if protected:
        protected_header = _header_map(
            loads_strict(protected, "COSE protected header"), "protected"
        )
    unprotected_map = _header_map(unprotected, "unprotected")
    if not isinstance(payload, bytes):
        raise CertificateError(
            "COSE payload is not a byte string (detached payloads are not supported)",
            code=ErrorCode.CRT_BAD_STRUCTURE,
        )
    if not isinstance(signature, bytes):
        raise CertificateError(
            "COSE signature is not a byte string", code=ErrorCode.CRT_BAD_STRUCTURE
        )
    return CoseSign1(
        protected=protected,
        protected_header=protected_header,
        unprotected=unprotected_map,
        payload=payload,
        signature=signature,
        tags=tuple(tags),
    )

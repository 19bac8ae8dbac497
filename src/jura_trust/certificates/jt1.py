"""JT1 signed QR certificates: payload, batch seal, envelope and verification.

An issuer issues a *batch* of documents (one or a million) at once:

1. each document becomes a **payload**, a canonical CBOR map with short
   integer keys and a fresh 16-byte random salt (so a hash path says
   nothing about the other documents of the batch); its **leaf** is the
   SHA-256 imprint of the payload bytes;
2. the leaves go into trees built by :class:`~jura_trust.core.tree.TreeBuilder`
   (the aggregator's own builder, leaves without metadata). A batch of at
   most ``page_size`` (:data:`PAGE_SIZE`, 32) documents is one tree whose
   root is the **seal**. A larger batch has two levels: it is cut into
   **pages** of ``page_size`` documents, each page is a tree, and the page
   roots are the leaves of the batch tree, whose root is the seal. Each
   document's **hash path** leads from its leaf to its page root (or to
   the seal without pages; empty for a one-document tree), and each page's
   **page record** holds the path from the page root to the seal;
3. the **seal record** binds the seal to the issuer: a COSE_Sign1 by the
   issuer's key over ``{seal, issuer id, kid, batch size, issued_at}``, plus
   the KSI signature of the seal imprint from any
   :class:`~jura_trust.backends.base.SigningService`. Seal and page records
   hold no personal data and can be published;
4. each certificate is the text ``JT1:`` + Base45(zlib(CBOR envelope)),
   either **compact** (seal and page records by reference: looked up in a
   :mod:`~jura_trust.certificates.registry`) or **self-contained** (both
   records embedded, for offline checks; much larger). Version 2 streams
   may use the format's zlib preset dictionary (:data:`ZDICT_V2`).

CBOR layouts (all maps canonical, unknown keys rejected)::

    payload  = {1: version (1), 2: document type, 3: issuer id,
                4: issued_at, ?5: valid_until, 6: language,
                7: {tstr field name: tstr / int / bool / null},
                8: salt (16 bytes), ?9: valid_from}
    envelope = {0: format version (2), 1: payload bytes,
                2: path bytes              ; leaf -> page root (or seal)
                3: seal id (16 bytes)      ; compact
                / 4: seal record bytes,    ; self-contained
                ?5: page index,            ; batches with a page level
                ?6: page record bytes}     ; self-contained with a page level
    path     = n x (flags byte, sibling digest)   ; leaf first
               flags: 0x80 = the sibling is on the LEFT, 0x7F = level correction
    page     = {1: version (1), 2: seal id, 3: page index,
                4: path bytes}                    ; page root -> seal
    seal     = {1: version, 2: seal imprint, 3: issuer id, 4: kid,
                5: batch size, 6: issued_at}     ; the COSE_Sign1 payload
    record   = {1: version, 2: COSE_Sign1 (tag 18) bytes, 3: KSI signature bytes}

Envelope version 1 (no key 0, no keys 5 and 6, no preset dictionary) is
what the first release wrote; it is still read and verified.

Times are integer seconds since the Unix epoch (UTC).

Verification (:func:`verify_certificate`) runs numbered steps; reading the
text (step 1) raises :class:`~jura_trust.errors.CertificateError` on bad
input, every later step returns a :class:`CertificateResult` with a
distinct code (see ``docs/qr.md``). The validation time is always a
parameter, never the system clock. Seal checks that passed are kept in a
small :class:`SealCache`, so the certificates of one batch cost one COSE
and one KSI verification between them.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeAlias

import attrs

from jura_trust.certificates._cbor import dumps_canonical, loads_strict
from jura_trust.certificates._jt1dict import ZDICT_V2, ZDICT_V2_ID, ZDICT_V2_SHA256
from jura_trust.certificates.cose import (
    HEADER_CONTENT_TYPE,
    CoseAlgorithm,
    CoseSign1,
    PrivateKey,
    decode_sign1,
    sign1,
)
from jura_trust.certificates.envelope import (
    JT1_PREFIX,
    MAX_PAYLOAD_SIZE,
    encode_envelope,
    unwrap_envelope,
)
from jura_trust.certificates.registry import (
    MAX_SEAL_RECORD_SIZE,
    SEAL_ID_LENGTH,
    SealRegistry,
)
from jura_trust.certificates.trustlist import (
    Issuer,
    IssuerKey,
    RevocationList,
    TrustList,
    key_id,
)
from jura_trust.core.chains import AggregationLink, Direction, evaluate_aggregation_links
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.signature import Signature
from jura_trust.core.tree import TreeBuilder
from jura_trust.errors import CertificateError, ErrorCode, JuraError, Outcome
from jura_trust.publications import VerifiedPublicationsFile
from jura_trust.verify import Extender, Policy, verify_signature

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_SEAL_CACHE",
    "DEFAULT_SEAL_CACHE_SIZE",
    "ENVELOPE_VERSION",
    "JT1_VERSION",
    "MAX_BATCH_SIZE",
    "MAX_FIELDS",
    "PAGE_RECORD_VERSION",
    "PAGE_SIZE",
    "SALT_LENGTH",
    "SEAL_ALGORITHM",
    "SEAL_CONTENT_TYPE",
    "ZDICT_V2",
    "ZDICT_V2_ID",
    "ZDICT_V2_SHA256",
    "Batch",
    "Certificate",
    "CertificateResult",
    "DecodedCertificate",
    "Document",
    "FieldValue",
    "KsiCheck",
    "KsiSigner",
    "PageRecord",
    "PathLink",
    "Payload",
    "SealCache",
    "SealRecord",
    "decode_certificate",
    "issue_batch",
    "page_record_id",
    "verify_certificate",
]

#: The version of payloads, seal bodies and seal records (unchanged since 1).
JT1_VERSION = 1
#: The envelope format version this release writes. Version 2 added the
#: page level (keys 5 and 6), the version key 0 and the preset dictionary
#: :data:`ZDICT_V2`; version 1 envelopes are still read.
ENVELOPE_VERSION = 2
#: The version of page records.
PAGE_RECORD_VERSION = 1
#: The default page size: batches of at most this many documents are one
#: tree; larger ones are cut into pages of this many. 32 keeps a document's
#: own path at 5 links, so a 10-field compact certificate from any batch
#: size is QR version 19 at ECC Q.
PAGE_SIZE = 32
#: Bytes of random salt in every payload.
SALT_LENGTH = 16
#: The hash algorithm of leaves, tree nodes and seals (JT1 version 1).
SEAL_ALGORITHM = HashAlgorithm.SHA2_256
#: The most documents one batch may hold.
MAX_BATCH_SIZE = 1 << 20
#: The most subject fields one payload may hold.
MAX_FIELDS = 64
#: The longest field name, document type, issuer id or language tag (characters).
MAX_NAME_LENGTH = 64
#: The longest text field value (characters).
MAX_TEXT_LENGTH = 1024
#: The most links a hash path may have (a batch of MAX_BATCH_SIZE needs 20).
MAX_PATH_LINKS = 40
#: Tolerance for clocks: a document is "not yet valid" only this long
#: before its start, and the issuer's claimed time may lead the KSI time by it.
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
#: Content type (COSE protected header 3) of a seal signature.
SEAL_CONTENT_TYPE = "application/jura-trust.seal+cbor"

_RIGHT_FLAG = 0x80
_CORRECTION_MASK = 0x7F
_MAX_INT = (1 << 63) - 1

# payload keys
_P_VERSION, _P_TYPE, _P_ISSUER, _P_ISSUED, _P_UNTIL, _P_LANG, _P_FIELDS, _P_SALT, _P_FROM = range(
    1, 10
)
_PAYLOAD_REQUIRED = frozenset(
    {_P_VERSION, _P_TYPE, _P_ISSUER, _P_ISSUED, _P_LANG, _P_FIELDS, _P_SALT}
)
_PAYLOAD_KEYS = _PAYLOAD_REQUIRED | {_P_UNTIL, _P_FROM}
# envelope keys
_E_VERSION, _E_PAYLOAD, _E_PATH, _E_SEAL_ID, _E_SEAL, _E_PAGE, _E_PAGE_RECORD = range(7)
_ENVELOPE_V1_KEYS = (
    frozenset({_E_PAYLOAD, _E_PATH, _E_SEAL_ID}),
    frozenset({_E_PAYLOAD, _E_PATH, _E_SEAL}),
)
_ENVELOPE_V2_KEYS = (
    frozenset({_E_VERSION, _E_PAYLOAD, _E_PATH, _E_SEAL_ID}),
    frozenset({_E_VERSION, _E_PAYLOAD, _E_PATH, _E_SEAL}),
    frozenset({_E_VERSION, _E_PAYLOAD, _E_PATH, _E_SEAL_ID, _E_PAGE}),
    frozenset({_E_VERSION, _E_PAYLOAD, _E_PATH, _E_SEAL, _E_PAGE, _E_PAGE_RECORD}),
)
# page record keys
_G_VERSION, _G_SEAL_ID, _G_PAGE, _G_PATH = 1, 2, 3, 4
#: Domain separation of page record ids (see :func:`page_record_id`).
_PAGE_ID_DOMAIN = b"jura-trust JT1 page record\x00"
# seal body keys
_S_VERSION, _S_SEAL, _S_ISSUER, _S_KID, _S_SIZE, _S_ISSUED = range(1, 7)
# seal record keys
_R_VERSION, _R_COSE, _R_KSI = 1, 2, 3

#: A subject field value.
FieldValue: TypeAlias = str | int | bool | None

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def _malformed(message: str, **details: Any) -> CertificateError:
    return CertificateError(message, code=ErrorCode.CRT_BAD_STRUCTURE, **details)


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _optional_aware(value: datetime | None) -> datetime | None:
    return None if value is None else _aware(value, "a time")


def _to_numeric(value: datetime) -> int:
    return int(value.timestamp())


def _from_numeric(value: object, what: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 253402300799:
        raise _malformed(f"{what} is not a NumericDate (integer seconds, years 1970..9999)")
    return datetime.fromtimestamp(value, UTC)


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_LENGTH:
        raise ValueError(f"{what} must be text of 1 to {MAX_NAME_LENGTH} characters")
    return value


def _check_fields(fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
    if not isinstance(fields, Mapping):
        raise TypeError("fields must be a mapping of names to values")
    if len(fields) > MAX_FIELDS:
        raise ValueError(f"at most {MAX_FIELDS} fields")
    out: dict[str, FieldValue] = {}
    for name, value in fields.items():
        _check_name(name, "a field name")
        if isinstance(value, str):
            if len(value) > MAX_TEXT_LENGTH:
                raise ValueError(f"field {name!r} is longer than {MAX_TEXT_LENGTH} characters")
        elif isinstance(value, int) and not isinstance(value, bool):
            if not -_MAX_INT - 1 <= value <= _MAX_INT:
                raise ValueError(f"field {name!r} does not fit 64 bits")
        elif value is not None and not isinstance(value, bool):
            raise TypeError(
                f"field {name!r} must be str, int, bool or None, not {type(value).__name__}"
            )
        out[name] = value
    return out


def _frozen_fields(fields: Mapping[str, FieldValue]) -> Mapping[str, FieldValue]:
    return dict(sorted(_check_fields(fields).items()))


def _check_language(value: str) -> str:
    if not isinstance(value, str) or not _LANGUAGE.match(value) or len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"language {value!r} is not a language tag such as 'fr' or 'de-CH'")
    return value


def _validate_name(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    _check_name(value, attribute.name)


def _validate_language(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    _check_language(value)


def _required_aware(value: datetime) -> datetime:
    return _aware(value, "issued_at")


# -- payload -----------------------------------------------------------------------


@attrs.frozen(slots=True)
class Document:
    """What an issuer wants to certify: one entry of a batch.

    Attributes:
        document_type: the document type (must be allowed for the issuer
            in the trust list), e.g. ``"debt-register-extract"``.
        fields: the subject fields, name -> text, integer, bool or null.
            Names and values are printed in clear in the QR code.
        language: the language of the field values (``"fr"``, ``"de-CH"``).
        valid_until: when the certificate expires (``None``: never).
        valid_from: when it starts being valid (``None``: at issuance).
    """

    document_type: str = attrs.field(validator=_validate_name)
    fields: Mapping[str, FieldValue] = attrs.field(converter=_frozen_fields, eq=False)
    language: str = attrs.field(default="fr", validator=_validate_language)
    valid_until: datetime | None = attrs.field(default=None, converter=_optional_aware)
    valid_from: datetime | None = attrs.field(default=None, converter=_optional_aware)


@attrs.frozen(slots=True)
class Payload:
    """A certificate's payload: the facts in clear, issuer, times and salt.

    Attributes:
        document_type: the document type.
        issuer_id: the issuer id (as in the trust list).
        issued_at: the claimed time of issuance.
        language: the language of the field values.
        fields: the subject fields (sorted by name).
        salt: 16 random bytes.
        valid_until: expiry, or ``None``.
        valid_from: start of validity, or ``None`` (= ``issued_at``).
    """

    document_type: str
    issuer_id: str
    issued_at: datetime = attrs.field(converter=_required_aware)
    language: str
    fields: Mapping[str, FieldValue] = attrs.field(converter=_frozen_fields)
    salt: bytes
    valid_until: datetime | None = attrs.field(default=None, converter=_optional_aware)
    valid_from: datetime | None = attrs.field(default=None, converter=_optional_aware)

    def __attrs_post_init__(self) -> None:
        _check_name(self.document_type, "document_type")
        _check_name(self.issuer_id, "issuer_id")
        _check_language(self.language)
        if not isinstance(self.salt, bytes) or len(self.salt) != SALT_LENGTH:
            raise ValueError(f"salt must be {SALT_LENGTH} bytes")

    @property
    def starts_at(self) -> datetime:
        """The start of validity: ``valid_from`` or else ``issued_at``."""
        return self.valid_from if self.valid_from is not None else self.issued_at

    def to_cbor(self) -> bytes:
        """The canonical CBOR encoding (what the leaf hash covers)."""
        item: dict[int, Any] = {
            _P_VERSION: JT1_VERSION,
            _P_TYPE: self.document_type,
            _P_ISSUER: self.issuer_id,
            _P_ISSUED: _to_numeric(self.issued_at),
            _P_LANG: self.language,
            _P_FIELDS: dict(self.fields),
            _P_SALT: self.salt,
        }
        if self.valid_until is not None:
            item[_P_UNTIL] = _to_numeric(self.valid_until)
        if self.valid_from is not None:
            item[_P_FROM] = _to_numeric(self.valid_from)
        return dumps_canonical(item)

    @classmethod
    def from_cbor(cls, data: bytes) -> Payload:
        """Decode strictly: known keys only, right types, canonical bytes.

        Raises:
            CertificateError: ``CRT-04`` for anything else.
        """
        item = loads_strict(data, "JT1 payload")
        if not isinstance(item, Mapping):
            raise _malformed("JT1 payload is not a map")
        keys = set(item)
        if not keys >= _PAYLOAD_REQUIRED or not keys <= _PAYLOAD_KEYS:
            raise _malformed("JT1 payload has missing or unknown keys")
        if item[_P_VERSION] != JT1_VERSION or isinstance(item[_P_VERSION], bool):
            raise _malformed(f"unsupported JT1 payload version {item[_P_VERSION]!r}")
        fields = item[_P_FIELDS]
        if not isinstance(fields, Mapping):
            raise _malformed("JT1 fields are not a map")
        try:
            payload = cls(
                document_type=item[_P_TYPE],
                issuer_id=item[_P_ISSUER],
                issued_at=_from_numeric(item[_P_ISSUED], "issued_at"),
                language=item[_P_LANG],
                fields=dict(fields),
                salt=item[_P_SALT],
                valid_until=(
                    _from_numeric(item[_P_UNTIL], "valid_until") if _P_UNTIL in item else None
                ),
                valid_from=(
                    _from_numeric(item[_P_FROM], "valid_from") if _P_FROM in item else None
                ),
            )
        except CertificateError:
            raise
        except (TypeError, ValueError) as exc:
            raise _malformed(f"bad JT1 payload: {exc}") from exc
        if payload.to_cbor() != bytes(data):
            raise _malformed("JT1 payload is not in canonical CBOR form")
        return payload


# -- hash path ---------------------------------------------------------------------


@attrs.frozen(slots=True)
class PathLink:
    """One step of a hash path from a leaf to its seal.

    Attributes:
        sibling_left: whether the sibling is the LEFT child (the running
            hash is the right one).
        level_correction: the link's level correction (0..127).
        sibling: the sibling digest (the seal algorithm's size).
    """

    sibling_left: bool
    level_correction: int
    sibling: bytes

    def to_aggregation_link(self) -> AggregationLink:
        """The equivalent aggregation-chain link (SHA-256 sibling imprint)."""
        return AggregationLink(
            Direction.RIGHT if self.sibling_left else Direction.LEFT,
            level_correction=self.level_correction,
            sibling=Imprint.of(SEAL_ALGORITHM, self.sibling),
        )

    @classmethod
    def from_aggregation_link(cls, link: AggregationLink) -> PathLink:
        """Convert a tree link; only SHA-256 sibling imprints qualify."""
        sibling = link.sibling
        if sibling is None or sibling.algorithm is not SEAL_ALGORITHM:
            raise ValueError("a JT1 path link needs a SHA-256 sibling imprint")
        if link.level_correction > _CORRECTION_MASK:
            raise ValueError("level correction too large for a JT1 path")
        return cls(link.direction is Direction.RIGHT, link.level_correction, sibling.digest)


def encode_path(links: Sequence[PathLink]) -> bytes:
    """The compact path bytes: per link a flags byte and the sibling digest."""
    out = bytearray()
    for link in links:
        out.append((_RIGHT_FLAG if link.sibling_left else 0) | link.level_correction)
        out += link.sibling
    return bytes(out)


def decode_path(data: bytes) -> tuple[PathLink, ...]:
    """Parse compact path bytes.

    Raises:
        CertificateError: ``CRT-04`` for a length that is not a whole number
            of links or more than :data:`MAX_PATH_LINKS` links.
    """
    if not isinstance(data, bytes):
        raise _malformed("JT1 path is not a byte string")
    step = 1 + SEAL_ALGORITHM.digest_size
    if len(data) % step or len(data) // step > MAX_PATH_LINKS:
        raise _malformed(f"JT1 path of {len(data)} bytes is not 0..{MAX_PATH_LINKS} links")
    return tuple(
        PathLink(bool(data[i] & _RIGHT_FLAG), data[i] & _CORRECTION_MASK, data[i + 1 : i + step])
        for i in range(0, len(data), step)
    )


def path_root(leaf: Imprint, links: Sequence[PathLink]) -> Imprint:
    """The seal a leaf and its path lead to (the leaf itself for no links)."""
    value, _ = evaluate_aggregation_links(
        SEAL_ALGORITHM, leaf.value, [link.to_aggregation_link() for link in links], 0
    )
    return Imprint(value)


# -- seal record ---------------------------------------------------------------------


def seal_id_of(seal: Imprint) -> bytes:
    """The registry id of a seal: the first bytes of its digest."""
    return seal.digest[:SEAL_ID_LENGTH]


@attrs.frozen(slots=True)
class SealRecord:
    """A batch seal signed by its issuer and anchored with a KSI signature.

    Attributes:
        seal: the batch root imprint.
        issuer_id: the issuer id.
        kid: the issuer key's id.
        batch_size: the number of documents in the batch.
        issued_at: the issuer's claimed issuance time.
        cose: the issuer's COSE_Sign1 over the seal body.
        ksi_signature: the KSI signature of ``seal`` (encoded bytes).
    """

    seal: Imprint
    issuer_id: str
    kid: bytes
    batch_size: int
    issued_at: datetime
    cose: CoseSign1 = attrs.field(eq=False, repr=False)
    ksi_signature: bytes = attrs.field(repr=False)

    @property
    def seal_id(self) -> bytes:
        """The id under which registries keep this record."""
        return seal_id_of(self.seal)

    def encode(self) -> bytes:
        """The record as canonical CBOR bytes."""
        return dumps_canonical(
            {_R_VERSION: JT1_VERSION, _R_COSE: self.cose.encode(), _R_KSI: self.ksi_signature}
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SealRecord:
        """Decode strictly. The signatures are *not* checked here.

        Raises:
            CertificateError: ``CRT-04`` malformed, ``CRT-15`` too large.
        """
        if len(data) > MAX_SEAL_RECORD_SIZE:
            raise CertificateError(
                f"seal record exceeds {MAX_SEAL_RECORD_SIZE} bytes", code=ErrorCode.CRT_TOO_LARGE
            )
        item = loads_strict(data, "seal record")
        if not isinstance(item, Mapping) or set(item) != {_R_VERSION, _R_COSE, _R_KSI}:
            raise _malformed("seal record is not a map with keys 1, 2, 3")
        if item[_R_VERSION] != JT1_VERSION or isinstance(item[_R_VERSION], bool):
            raise _malformed(f"unsupported seal record version {item[_R_VERSION]!r}")
        cose_bytes, ksi = item[_R_COSE], item[_R_KSI]
        if not isinstance(cose_bytes, bytes) or not isinstance(ksi, bytes) or not ksi:
            raise _malformed("seal record fields are not byte strings")
        cose = decode_sign1(cose_bytes, require_tag=True)
        if cose.protected_header.get(HEADER_CONTENT_TYPE) != SEAL_CONTENT_TYPE:
            raise _malformed("seal signature is not of the seal content type")
        body = loads_strict(cose.payload, "seal body")
        keys = {_S_VERSION, _S_SEAL, _S_ISSUER, _S_KID, _S_SIZE, _S_ISSUED}
        if not isinstance(body, Mapping) or set(body) != keys:
            raise _malformed("seal body has missing or unknown keys")
        if body[_S_VERSION] != JT1_VERSION or isinstance(body[_S_VERSION], bool):
            raise _malformed("unsupported seal body version")
        seal_bytes, issuer, kid, size = body[_S_SEAL], body[_S_ISSUER], body[_S_KID], body[_S_SIZE]
        if not isinstance(seal_bytes, bytes) or len(seal_bytes) != SEAL_ALGORITHM.imprint_size:
            raise _malformed("seal is not a SHA-256 imprint")
        if seal_bytes[0] != SEAL_ALGORITHM.value:
            raise _malformed("seal is not a SHA-256 imprint")
        if not isinstance(issuer, str) or not 1 <= len(issuer) <= MAX_NAME_LENGTH:
            raise _malformed("seal issuer id is not text of 1 to 64 characters")
        if not isinstance(kid, bytes) or not 1 <= len(kid) <= MAX_NAME_LENGTH:
            raise _malformed("seal kid is not 1 to 64 bytes")
        if cose.kid != kid:
            raise _malformed("seal kid differs from the COSE kid")
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH_SIZE:
            raise _malformed("seal batch size out of range")
        if dumps_canonical(dict(body)) != cose.payload:
            raise _malformed("seal body is not in canonical CBOR form")
        record = cls(
            seal=Imprint(seal_bytes),
            issuer_id=issuer,
            kid=kid,
            batch_size=size,
            issued_at=_from_numeric(body[_S_ISSUED], "seal issued_at"),
            cose=cose,
            ksi_signature=ksi,
        )
        if record.encode() != bytes(data):
            raise _malformed("seal record is not in canonical CBOR form")
        return record


# -- page record ---------------------------------------------------------------------


def page_record_id(seal_id: bytes, page: int) -> bytes:
    """The registry id of a page record.

    ``SHA-256("jura-trust JT1 page record" 0x00 || seal id || page as 4
    bytes big-endian)``, first :data:`~jura_trust.certificates.registry.SEAL_ID_LENGTH`
    bytes. Registries keep page records beside seal records under these
    ids, so any registry serves both without knowing about pages.

    Raises:
        CertificateError: ``CRT-04`` for a seal id of the wrong length or a
            page index out of range.
    """
    if not isinstance(seal_id, bytes) or len(seal_id) != SEAL_ID_LENGTH:
        raise _malformed(f"a seal id is {SEAL_ID_LENGTH} bytes")
    _check_page_index(page)
    digest = hashlib.sha256(_PAGE_ID_DOMAIN + seal_id + page.to_bytes(4, "big")).digest()
    return digest[:SEAL_ID_LENGTH]


def _check_page_index(page: object) -> int:
    if isinstance(page, bool) or not isinstance(page, int) or not 0 <= page < MAX_BATCH_SIZE:
        raise _malformed(f"page index is not an integer 0..{MAX_BATCH_SIZE - 1}")
    return page


@attrs.frozen(slots=True)
class PageRecord:
    """The path from one page's root to the batch seal (two-level batches).

    Holds no personal data: registries serve it beside the seal record,
    under :attr:`record_id`. It is never trusted: the verifier evaluates
    ``leaf -> page root -> seal`` and compares the result with the signed
    seal.

    Attributes:
        seal_id: the id of the batch's seal record.
        page: the page index (0 for the first ``page_size`` documents).
        path: the hash path from the page root to the seal (root first).
    """

    seal_id: bytes
    page: int
    path: tuple[PathLink, ...] = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.seal_id, bytes) or len(self.seal_id) != SEAL_ID_LENGTH:
            raise _malformed(f"page record seal id is not {SEAL_ID_LENGTH} bytes")
        _check_page_index(self.page)
        if len(self.path) > MAX_PATH_LINKS:
            raise _malformed(f"page path has more than {MAX_PATH_LINKS} links")

    @property
    def record_id(self) -> bytes:
        """The id under which registries keep this record."""
        return page_record_id(self.seal_id, self.page)

    def encode(self) -> bytes:
        """The record as canonical CBOR bytes."""
        return dumps_canonical(
            {
                _G_VERSION: PAGE_RECORD_VERSION,
                _G_SEAL_ID: self.seal_id,
                _G_PAGE: self.page,
                _G_PATH: encode_path(self.path),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PageRecord:
        """Decode strictly.

        Raises:
            CertificateError: ``CRT-04`` malformed, ``CRT-15`` too large.
        """
        if not isinstance(data, bytes):
            raise _malformed("page record is not a byte string")
        if len(data) > MAX_SEAL_RECORD_SIZE:
            raise CertificateError(
                f"page record exceeds {MAX_SEAL_RECORD_SIZE} bytes", code=ErrorCode.CRT_TOO_LARGE
            )
        item = loads_strict(data, "page record")
        if not isinstance(item, Mapping) or set(item) != {_G_VERSION, _G_SEAL_ID, _G_PAGE, _G_PATH}:
            raise _malformed("page record is not a map with keys 1, 2, 3, 4")
        version = item[_G_VERSION]
        if isinstance(version, bool) or version != PAGE_RECORD_VERSION:
            raise _malformed(f"unsupported page record version {version!r}")
        record = cls(seal_id=item[_G_SEAL_ID], page=item[_G_PAGE], path=decode_path(item[_G_PATH]))
        if record.encode() != data:
            raise _malformed("page record is not in canonical CBOR form")
        return record


# -- issuance ----------------------------------------------------------------------


class KsiSigner(Protocol):
    """What issuance needs from a KSI signing service (a ``SigningService`` fits)."""

    def sign(self, imprint: Imprint, *, level: int = 0) -> Signature:
        """A KSI signature of ``imprint``."""
        ...


@attrs.frozen(slots=True)
class Certificate:
    """One issued certificate: its payload, hash paths and seal record.

    Attributes:
        payload: the decoded payload.
        payload_bytes: the exact payload bytes the leaf hash covers.
        path: the hash path from the leaf to its page root, or to the seal
            when the batch has no page level (leaf first).
        seal: the batch's seal record.
        index: the document's position in its batch.
        page: the page index, or ``None`` when the batch has no page level.
        page_path: the path from the page root to the seal (empty without
            a page level).
    """

    payload: Payload
    payload_bytes: bytes = attrs.field(repr=False)
    path: tuple[PathLink, ...] = attrs.field(repr=False)
    seal: SealRecord = attrs.field(repr=False)
    index: int = 0
    page: int | None = None
    page_path: tuple[PathLink, ...] = attrs.field(default=(), repr=False)

    @property
    def leaf(self) -> Imprint:
        """The leaf hash (what a revocation list names)."""
        return Imprint.hash(self.payload_bytes, SEAL_ALGORITHM)

    @property
    def page_record(self) -> PageRecord | None:
        """The record of this certificate's page (``None`` without pages)."""
        if self.page is None:
            return None
        return PageRecord(seal_id=self.seal.seal_id, page=self.page, path=self.page_path)

    def envelope_cbor(self, *, self_contained: bool = False) -> bytes:
        """The CBOR envelope (format version 2) before compression."""
        item: dict[int, bytes | int] = {
            _E_VERSION: ENVELOPE_VERSION,
            _E_PAYLOAD: self.payload_bytes,
            _E_PATH: encode_path(self.path),
        }
        page = self.page_record
        if page is not None:
            item[_E_PAGE] = page.page
        if self_contained:
            item[_E_SEAL] = self.seal.encode()
            if page is not None:
                item[_E_PAGE_RECORD] = page.encode()
        else:
            item[_E_SEAL_ID] = self.seal.seal_id
        return dumps_canonical(item)

    def text(self, *, self_contained: bool = False) -> str:
        """The QR text ``JT1:...`` (compact by default).

        The zlib stream uses the preset dictionary :data:`ZDICT_V2` when
        that makes it shorter (self-contained texts, in practice).

        Raises:
            CertificateError: ``CRT-15`` if it would not fit a QR code.
        """
        return encode_envelope(self.envelope_cbor(self_contained=self_contained), zdict=ZDICT_V2)


@attrs.frozen(slots=True)
class Batch:
    """The result of :func:`issue_batch`: the seal record, pages and certificates.

    Attributes:
        seal: the seal record.
        certificates: every certificate, in the order of the documents.
        pages: the page records (empty when the batch has no page level).
    """

    seal: SealRecord
    certificates: tuple[Certificate, ...]
    pages: tuple[PageRecord, ...] = attrs.field(default=(), repr=False)

    def __len__(self) -> int:
        return len(self.certificates)

    def registry_records(self) -> tuple[tuple[bytes, bytes], ...]:
        """Every ``(id, record bytes)`` a seal registry must serve for this batch.

        The seal record under its seal id, then each page record under its
        :func:`page_record_id`. Compact certificates of a paged batch need
        both; store all of them, e.g.
        ``for rid, data in batch.registry_records(): registry.put(rid, data)``.
        """
        out = [(self.seal.seal_id, self.seal.encode())]
        out.extend((page.record_id, page.encode()) for page in self.pages)
        return tuple(out)


def _path(links: Sequence[AggregationLink]) -> tuple[PathLink, ...]:
    return tuple(PathLink.from_aggregation_link(link) for link in links)


def issue_batch(
    documents: Sequence[Document],
    *,
    issuer_id: str,
    private_key: PrivateKey,
    ksi: KsiSigner,
    issued_at: datetime,
    kid: bytes | None = None,
    alg: CoseAlgorithm | None = None,
    random_bytes: Callable[[int], bytes] = os.urandom,
    page_size: int = PAGE_SIZE,
) -> Batch:
    """Issue a batch of certificates: payloads, trees, seal, signatures.

    The seal costs one COSE signature and one KSI signature whatever the
    batch size; per document, issuance costs one CBOR encoding and a few
    hashes.

    Args:
        documents: one to :data:`MAX_BATCH_SIZE` documents.
        issuer_id: the issuer's id in the trust list.
        private_key: the issuer's key (P-256 for ES256, Ed25519 for EdDSA;
            RSA signs PS256, which verifiers accept).
        ksi: a KSI signing service; it signs the seal imprint.
        issued_at: the issuance time written in payloads and the seal.
        kid: the key id; defaults to :func:`~jura_trust.certificates.trustlist.key_id`.
        alg: the COSE algorithm; defaults to the key's natural one.
        random_bytes: the salt source (tests may pass a seeded one).
        page_size: batches of more documents than this get a page level
            with pages of this many documents (see :data:`PAGE_SIZE`).

    Raises:
        ValueError / TypeError: for bad documents, arguments or batch sizes.
    """
    if not 1 <= len(documents) <= MAX_BATCH_SIZE:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH_SIZE} documents")
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise TypeError("page_size must be an int")
    if not 1 <= page_size <= MAX_BATCH_SIZE:
        raise ValueError(f"page_size must be 1 to {MAX_BATCH_SIZE}")
    _check_name(issuer_id, "issuer_id")
    issued_at = _aware(issued_at, "issued_at").replace(microsecond=0)
    key_identifier = kid if kid is not None else key_id(private_key.public_key())
    payloads: list[Payload] = []
    encoded: list[bytes] = []
    for document in documents:
        if not isinstance(document, Document):
            raise TypeError("documents must be Document values")
        salt = bytes(random_bytes(SALT_LENGTH))
        payload = Payload(
            document_type=document.document_type,
            issuer_id=issuer_id,
            issued_at=issued_at,
            language=document.language,
            fields=document.fields,
            salt=salt,
            valid_until=document.valid_until,
            valid_from=document.valid_from,
        )
        data = payload.to_cbor()
        if len(data) > MAX_PAYLOAD_SIZE // 2:
            raise ValueError("a document's payload is too large for a QR code")
        payloads.append(payload)
        encoded.append(data)
    paged = len(documents) > page_size
    # One tree per page (the whole batch is one page without a page level).
    size = page_size if paged else len(documents)
    page_trees = []
    for start in range(0, len(encoded), size):
        builder = TreeBuilder(SEAL_ALGORITHM)
        for data in encoded[start : start + size]:
            builder.add_leaf(Imprint.hash(data, SEAL_ALGORITHM))
        page_trees.append(builder.build())
    if paged:
        top_builder = TreeBuilder(SEAL_ALGORITHM)
        for page_tree in page_trees:
            top_builder.add_leaf(page_tree.root)
        top = top_builder.build()
        seal = top.root
    else:
        seal = page_trees[0].root
    body = dumps_canonical(
        {
            _S_VERSION: JT1_VERSION,
            _S_SEAL: seal.value,
            _S_ISSUER: issuer_id,
            _S_KID: key_identifier,
            _S_SIZE: len(documents),
            _S_ISSUED: _to_numeric(issued_at),
        }
    )
    cose = sign1(
        body,
        private_key,
        alg=alg,
        kid=key_identifier,
        protected={HEADER_CONTENT_TYPE: SEAL_CONTENT_TYPE},
    )
    ksi_signature = ksi.sign(seal).encode()
    record = SealRecord(
        seal=seal,
        issuer_id=issuer_id,
        kid=key_identifier,
        batch_size=len(documents),
        issued_at=issued_at,
        cose=cose,
        ksi_signature=ksi_signature,
    )
    pages: tuple[PageRecord, ...] = ()
    if paged:
        pages = tuple(
            PageRecord(seal_id=record.seal_id, page=j, path=_path(top.links(j)))
            for j in range(len(page_trees))
        )
    certificates = []
    for i, (payload, data) in enumerate(zip(payloads, encoded, strict=True)):
        j, k = divmod(i, size)
        certificates.append(
            Certificate(
                payload=payload,
                payload_bytes=data,
                path=_path(page_trees[j].links(k)),
                seal=record,
                index=i,
                page=j if paged else None,
                page_path=pages[j].path if paged else (),
            )
        )
    return Batch(seal=record, certificates=tuple(certificates), pages=pages)


# -- decoding ----------------------------------------------------------------------


@attrs.frozen(slots=True)
class DecodedCertificate:
    """A JT1 text, read but not yet verified.

    Attributes:
        payload: the decoded payload.
        payload_bytes: its exact bytes.
        path: the hash path (leaf to page root, or to the seal).
        seal_id: the seal reference (compact mode), else the embedded
            record's seal id.
        seal_record: the embedded seal record bytes (self-contained mode),
            else ``None``.
        version: the envelope format version (1 or 2).
        page: the page index, or ``None`` for a batch without pages.
        page_record: the embedded page record bytes (self-contained mode
            with a page level), else ``None``.
    """

    payload: Payload
    payload_bytes: bytes = attrs.field(repr=False)
    path: tuple[PathLink, ...] = attrs.field(repr=False)
    seal_id: bytes
    seal_record: bytes | None = attrs.field(default=None, repr=False)
    version: int = 1
    page: int | None = None
    page_record: bytes | None = attrs.field(default=None, repr=False)

    @property
    def self_contained(self) -> bool:
        """Whether the seal record is embedded."""
        return self.seal_record is not None

    @property
    def leaf(self) -> Imprint:
        """The leaf hash."""
        return Imprint.hash(self.payload_bytes, SEAL_ALGORITHM)


def decode_certificate(text: str) -> DecodedCertificate:
    """Read a JT1 text strictly (verification step 1).

    Envelope versions 1 and 2 are read; only version 2 may use the preset
    dictionary :data:`ZDICT_V2` and carry a page level.

    Raises:
        CertificateError: ``CRT-15`` too long, ``CRT-01`` prefix, ``CRT-02``
            Base45, ``CRT-03`` zlib (including an unknown preset dictionary,
            or any dictionary in a version 1 text), ``CRT-04`` CBOR
            structure (including embedded seal or page records that cannot
            be decoded).
        TypeError: if ``text`` is not a ``str``.
    """
    unwrapped = unwrap_envelope(text, prefix=JT1_PREFIX, zdict=ZDICT_V2)
    data = unwrapped.payload
    item = loads_strict(data, "JT1 envelope")
    if not isinstance(item, Mapping):
        raise _malformed("JT1 envelope is not a map")
    keys = frozenset(item)
    if _E_VERSION in item:
        version = item[_E_VERSION]
        if isinstance(version, bool) or version != ENVELOPE_VERSION:
            raise _malformed(f"unsupported JT1 envelope version {version!r}")
        if keys not in _ENVELOPE_V2_KEYS:
            raise _malformed(
                "JT1 envelope needs keys 0, 1, 2, exactly one of 3, 4, and with "
                "key 5 (page) key 6 exactly when 4 is present"
            )
    else:
        version = 1
        if keys not in _ENVELOPE_V1_KEYS:
            raise _malformed("JT1 envelope needs keys 1, 2 and exactly one of 3, 4")
        if unwrapped.dictionary:
            raise CertificateError(
                "a version 1 JT1 text must not use a preset dictionary",
                code=ErrorCode.CRT_BAD_COMPRESSION,
            )
    payload_bytes = item[_E_PAYLOAD]
    if not isinstance(payload_bytes, bytes):
        raise _malformed("JT1 payload is not a byte string")
    payload = Payload.from_cbor(payload_bytes)
    path = decode_path(item[_E_PATH])
    record: bytes | None = None
    if _E_SEAL in item:
        record = item[_E_SEAL]
        if not isinstance(record, bytes):
            raise _malformed("embedded seal record is not a byte string")
        seal_id = SealRecord.from_bytes(record).seal_id
    else:
        seal_id = item[_E_SEAL_ID]
        if not isinstance(seal_id, bytes) or len(seal_id) != SEAL_ID_LENGTH:
            raise _malformed(f"seal id is not {SEAL_ID_LENGTH} bytes")
    page = _check_page_index(item[_E_PAGE]) if _E_PAGE in item else None
    page_record: bytes | None = None
    if _E_PAGE_RECORD in item:
        page_record = item[_E_PAGE_RECORD]
        if not isinstance(page_record, bytes):
            raise _malformed("embedded page record is not a byte string")
        PageRecord.from_bytes(page_record)
    if dumps_canonical(dict(item)) != data:
        raise _malformed("JT1 envelope is not in canonical CBOR form")
    return DecodedCertificate(
        payload=payload,
        payload_bytes=payload_bytes,
        path=path,
        seal_id=seal_id,
        seal_record=record,
        version=version,
        page=page,
        page_record=page_record,
    )


# -- verification --------------------------------------------------------------------


class KsiCheck(Protocol):
    """Verifies the KSI signature of a seal (a custom policy hook)."""

    def __call__(self, signature: Signature, seal: Imprint) -> tuple[bool, str]:
        """``(ok, message)``: ok only when the signature is proven good."""
        ...


@attrs.frozen(slots=True)
class CertificateResult:
    """The outcome of :func:`verify_certificate`.

    ``valid`` is True only when every step passed. Otherwise ``code`` names
    the first failing step (``CRT-05`` ... ``CRT-20``) and ``reason`` says
    why in words. The document's facts are filled in whenever they could be
    read, also for an invalid result, so a verifier can show what was
    claimed; they are proven only when ``valid``.

    Attributes:
        valid: whether the certificate is valid at the validation time.
        code: the failing step's code, ``None`` when valid.
        reason: a one-line explanation.
        step: the number of the step that decided (see ``docs/qr.md``).
        at: the validation time.
        document_type: the document type.
        fields: the subject fields.
        language: the language of the field values.
        issuer_id: the issuer id claimed by the payload.
        issuer_name: the issuer's name from the trust list (if known).
        issued_at: the issuer's claimed issuance time.
        valid_until: the expiry, if any.
        ksi_time: the time proven by the seal's KSI signature (once checked).
        leaf: the document's leaf hash.
        seal: the seal imprint the paths lead to (``None`` when a page
            record needed to compute it was not found).
        self_contained: whether the seal record was embedded.
        page: the page index (``None`` for a batch without pages).
    """

    valid: bool
    code: ErrorCode | None
    reason: str
    step: int
    at: datetime
    document_type: str
    fields: Mapping[str, FieldValue] = attrs.field(eq=False)
    language: str
    issuer_id: str
    issuer_name: str | None
    issued_at: datetime
    valid_until: datetime | None
    ksi_time: datetime | None
    leaf: Imprint
    seal: Imprint | None
    self_contained: bool
    page: int | None = None

    def __bool__(self) -> bool:
        raise TypeError("test CertificateResult.valid explicitly")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (used by ``jura-trust qr verify --json``)."""

        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")

        return {
            "valid": self.valid,
            "code": self.code.value if self.code else None,
            "reason": self.reason,
            "step": self.step,
            "at": iso(self.at),
            "issuer": {"id": self.issuer_id, "name": self.issuer_name},
            "document_type": self.document_type,
            "issued_at": iso(self.issued_at),
            "valid_until": iso(self.valid_until),
            "ksi_time": iso(self.ksi_time),
            "language": self.language,
            "fields": dict(self.fields),
            "leaf": str(self.leaf),
            "seal": None if self.seal is None else str(self.seal),
            "self_contained": self.self_contained,
            "page": self.page,
        }


class _StepFailedError(Exception):
    """Internal: a verification step failed with a code."""

    def __init__(self, step: int, code: ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.code = code
        self.reason = reason
        #: For seal-level checks: which group failed (see ``_check_seal``).
        self.stage = ""


def _default_ksi_check(
    policy: Policy | str,
    publications_file: VerifiedPublicationsFile | None,
    extender: Extender | None,
) -> KsiCheck:
    def check(signature: Signature, seal: Imprint) -> tuple[bool, str]:
        result = verify_signature(
            signature,
            policy=policy,
            document_hash=seal,
            publications_file=publications_file,
            extending_allowed=extender is not None,
            extender=extender,
        )
        if result.outcome is Outcome.OK:
            return True, f"{result.policy} policy: OK"
        code = result.code.value if result.code else "-"
        return False, f"{result.policy} policy: {result.outcome.value} [{code}] {result.message}"

    return check


# -- seal cache ------------------------------------------------------------------------

#: How many seal checks :data:`DEFAULT_SEAL_CACHE` keeps.
DEFAULT_SEAL_CACHE_SIZE = 64


@attrs.frozen(slots=True)
class _SealVerdict:
    """Seal checks that passed: steps 4 (issuer known), 5, 6 (KSI) and 7."""

    record: SealRecord
    issuer: Issuer
    key: IssuerKey
    ksi_time: datetime


class SealCache:
    """A small, bounded, thread-safe cache of seal checks that *passed*.

    The certificates of one batch share one seal record, whose checks (the
    issuer's COSE signature, the KSI signature, the key's validity at the
    KSI time) give the same answer for every one of them. The cache keeps
    the outcome of those checks when they all passed, keyed by the exact
    seal record bytes and every input they depend on: the trust list, the
    publications file, the extender and the custom ``ksi_check`` (by object
    identity; the entry holds a reference, so an identity cannot be reused
    while it is cached), the KSI policy and the clock skew. A failure is
    never stored, so it is recomputed every time and cannot turn into a
    success; a lookup with any other input misses.

    None of the cached checks depends on the validation time ``at``: every
    check that does (the trust list and the revocation list being current,
    the document's validity) runs for each certificate, as do all the
    checks of the payload and the paths. The cache therefore also serves a
    scanner that verifies with ``at = now``.

    Identity keys assume the trust list and publications file are not
    changed in place (jura_trust's own are frozen); pass ``seal_cache=None``
    to :func:`verify_certificate` for a mutable publications source.

    Least recently used entries are dropped beyond ``maxsize``.
    """

    __slots__ = ("_entries", "_lock", "hits", "maxsize", "misses")

    def __init__(self, maxsize: int = DEFAULT_SEAL_CACHE_SIZE) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError("maxsize must be a positive int")
        #: The most entries kept.
        self.maxsize = maxsize
        #: Lookups that found an entry.
        self.hits = 0
        #: Lookups that did not.
        self.misses = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[tuple[object, ...], _SealVerdict]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def _get(self, key: Hashable, refs: tuple[object, ...]) -> _SealVerdict | None:
        with self._lock:
            entry = self._entries.get(key)
            if (
                entry is None
                or len(entry[0]) != len(refs)
                or not all(a is b for a, b in zip(entry[0], refs, strict=True))
            ):
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def _put(self, key: Hashable, refs: tuple[object, ...], verdict: _SealVerdict) -> None:
        with self._lock:
            self._entries[key] = (refs, verdict)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)


#: The cache :func:`verify_certificate` uses unless told otherwise.
DEFAULT_SEAL_CACHE = SealCache()


def verify_certificate(
    text: str | DecodedCertificate,
    *,
    trust_list: TrustList,
    at: datetime,
    seals: SealRegistry | None = None,
    revocations: RevocationList | None = None,
    publications_file: VerifiedPublicationsFile | None = None,
    ksi_policy: Policy | str = Policy.GENERAL,
    extender: Extender | None = None,
    ksi_check: KsiCheck | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    seal_cache: SealCache | None = DEFAULT_SEAL_CACHE,
) -> CertificateResult:
    """Verify a JT1 certificate at time ``at``.

    Steps (each failing one decides the result's code):

    1. read the text (raises ``CRT-01``..``CRT-04``, ``CRT-15``);
    2. find the seal record and, for a batch with pages, the page record:
       embedded, or in ``seals`` by id (``CRT-14``);
    3. the leaf and its path lead to the page root, the page record is
       this seal's and this page's, and its path leads on to the record's
       seal (``CRT-08``);
    4. the trust list is current (``CRT-17``) and knows the seal's issuer
       (``CRT-05``); the payload names the same issuer (``CRT-20``);
    5. the issuer's COSE signature over the seal verifies with the key named
       by its kid (``CRT-05`` unknown key, ``CRT-07``, ``CRT-16``, ``CRT-19``);
    6. the KSI signature of the seal verifies under ``ksi_policy`` with the
       trusted ``publications_file`` (``CRT-09``), giving the proven time;
       the claimed issuance is not after it (``CRT-09``);
    7. the issuer's key was valid at the KSI-proven time (``CRT-06``);
    8. the issuer may issue this document type (``CRT-13``);
    9. neither the leaf nor the seal is revoked (``CRT-12``; a stale
       revocation list is ``CRT-17``);
    10. ``at`` is within the document's validity (``CRT-11`` not yet valid,
        ``CRT-10`` expired), ``clock_skew`` tolerated before the start.

    The seal-level parts of steps 4 to 7 are looked up in ``seal_cache``
    first (see :class:`SealCache`); the result is the same with or
    without the cache.

    Args:
        text: the QR text, or an already decoded certificate.
        trust_list: the verified trust list.
        at: the validation time (aware datetime).
        seals: where to find seal and page records of compact certificates.
        revocations: a verified revocation list, if any.
        publications_file: a *trusted* KSI publications file.
        ksi_policy: the KSI verification policy (default ``general``).
        extender: a KSI extender, if extending is allowed.
        ksi_check: replaces the KSI policy run entirely (custom policies).
        clock_skew: tolerance for clocks.
        seal_cache: where passed seal checks are kept (``None``: no cache).

    Raises:
        CertificateError: in step 1 only, for text that cannot be read, and
            ``CRT-04`` for a seal or page record from the registry that
            cannot be read.
        JuraError: from the registry (``SVC-xx`` for an HTTP registry that
            is down, ``FMT-19`` for an unreadable file).
        ValueError: if ``at`` is naive.
    """
    at = _aware(at, "at")
    if not isinstance(trust_list, TrustList):
        raise TypeError("trust_list must be a TrustList")
    if seal_cache is not None and not isinstance(seal_cache, SealCache):
        raise TypeError("seal_cache must be a SealCache or None")
    # Step 1: read the text.
    decoded = text if isinstance(text, DecodedCertificate) else decode_certificate(text)
    payload = decoded.payload
    leaf = decoded.leaf
    facts: dict[str, Any] = {
        "at": at,
        "document_type": payload.document_type,
        "fields": payload.fields,
        "language": payload.language,
        "issuer_id": payload.issuer_id,
        "issued_at": payload.issued_at,
        "valid_until": payload.valid_until,
        "leaf": leaf,
        "self_contained": decoded.self_contained,
        "page": decoded.page,
    }
    state: dict[str, Any] = {"issuer_name": None, "ksi_time": None, "seal": None}
    if decoded.page is None:
        state["seal"] = path_root(leaf, decoded.path)
    context = _SealContext(
        trust_list=trust_list,
        ksi_check=ksi_check or _default_ksi_check(ksi_policy, publications_file, extender),
        clock_skew=clock_skew,
        cache=seal_cache,
        cache_key=(ksi_policy, clock_skew),
        cache_refs=(trust_list, publications_file, extender, ksi_check),
    )
    try:
        _verify_steps(decoded, state, context, at=at, seals=seals, revocations=revocations)
    except _StepFailedError as failure:
        return CertificateResult(
            valid=False,
            code=failure.code,
            reason=failure.reason,
            step=failure.step,
            **state,
            **facts,
        )
    return CertificateResult(valid=True, code=None, reason="valid", step=10, **state, **facts)


@attrs.frozen(slots=True)
class _SealContext:
    """Internal: the inputs of the seal-level checks, and the cache."""

    trust_list: TrustList
    ksi_check: KsiCheck
    clock_skew: timedelta
    cache: SealCache | None
    cache_key: tuple[Hashable, ...]
    cache_refs: tuple[object, ...]

    def key(self, record_bytes: bytes) -> Hashable:
        return (record_bytes, *self.cache_key, *(id(ref) for ref in self.cache_refs))


def _find_records(
    decoded: DecodedCertificate, seals: SealRegistry | None
) -> tuple[bytes, bytes | None]:
    """Step 2: the seal record bytes and, with a page level, the page record bytes."""
    record = decoded.seal_record
    page_record = decoded.page_record
    if record is not None and (decoded.page is None or page_record is not None):
        return record, page_record
    if seals is None:
        raise _StepFailedError(
            2, ErrorCode.CRT_SEAL_NOT_FOUND, "compact certificate and no seal registry given"
        )
    if record is None:
        record = seals.get(decoded.seal_id)
        if record is None:
            raise _StepFailedError(
                2,
                ErrorCode.CRT_SEAL_NOT_FOUND,
                f"seal {decoded.seal_id.hex()} is not in the registry",
            )
    if decoded.page is not None and page_record is None:
        page_record = seals.get(page_record_id(decoded.seal_id, decoded.page))
        if page_record is None:
            raise _StepFailedError(
                2,
                ErrorCode.CRT_SEAL_NOT_FOUND,
                f"page {decoded.page} of seal {decoded.seal_id.hex()} is not in the registry",
            )
    return record, page_record


def _check_seal(record: SealRecord, context: _SealContext, partial: dict[str, Any]) -> _SealVerdict:
    """The seal-level checks of steps 4 to 7, in order; records progress in ``partial``.

    Raises ``_StepFailedError`` tagged with a ``stage`` attribute: "issuer"
    (step 4), "signatures" (steps 5 and 6) or "binding" (the seal's claimed
    time, step 6, and step 7), so the caller can interleave the
    certificate-level checks in the documented order.
    """
    stage = "issuer"
    try:
        issuer = _issuer(context.trust_list, record.issuer_id)
        partial["issuer"] = issuer
        stage = "signatures"
        # Step 5: the issuer's signature over the seal.
        key = _issuer_key(issuer, record.kid)
        try:
            record.cose.verify(key.public_key)
        except CertificateError as exc:
            raise _StepFailedError(5, exc.code, f"issuer signature: {exc.message}") from None
        # Step 6: the KSI signature of the seal.
        try:
            signature = Signature.from_bytes(record.ksi_signature)
        except JuraError as exc:
            raise _StepFailedError(
                6, ErrorCode.CRT_KSI_INVALID, f"unreadable KSI signature: {exc}"
            ) from None
        ok, message = context.ksi_check(signature, record.seal)
        if not ok:
            raise _StepFailedError(6, ErrorCode.CRT_KSI_INVALID, f"KSI signature: {message}")
        ksi_time = datetime.fromtimestamp(signature.aggregation_time, UTC)
        partial["ksi_time"] = ksi_time
        stage = "binding"
        _check_claim(record.issued_at, ksi_time, context.clock_skew)
        # Step 7: the key was valid when the seal was signed.
        if not key.valid_at(ksi_time):
            raise _StepFailedError(
                7,
                ErrorCode.CRT_KEY_NOT_VALID,
                f"issuer key {key.kid.hex()} was not valid at {ksi_time.isoformat()}",
            )
    except _StepFailedError as failure:
        failure.stage = stage
        raise
    return _SealVerdict(record=record, issuer=issuer, key=key, ksi_time=ksi_time)


def _check_claim(claimed: datetime, ksi_time: datetime, clock_skew: timedelta) -> None:
    if claimed > ksi_time + clock_skew:
        raise _StepFailedError(
            6,
            ErrorCode.CRT_KSI_INVALID,
            f"claimed issuance {claimed.isoformat()} is after the KSI time {ksi_time.isoformat()}",
        )


def _verify_steps(
    decoded: DecodedCertificate,
    state: dict[str, Any],
    context: _SealContext,
    *,
    at: datetime,
    seals: SealRegistry | None,
    revocations: RevocationList | None,
) -> None:
    payload = decoded.payload
    # Step 2: the seal record (and page record).
    data, page_data = _find_records(decoded, seals)
    key = context.key(data) if context.cache is not None else None
    verdict = None
    if context.cache is not None:
        verdict = context.cache._get(key, context.cache_refs)
    record = verdict.record if verdict is not None else SealRecord.from_bytes(data)
    # Step 3: the hash paths lead to the seal.
    seal = path_root(decoded.leaf, decoded.path)
    if decoded.page is not None:
        page = PageRecord.from_bytes(page_data) if page_data is not None else None
        if page is None or page.seal_id != decoded.seal_id or page.page != decoded.page:
            raise _StepFailedError(
                3,
                ErrorCode.CRT_PATH_MISMATCH,
                f"the page record is not the one of page {decoded.page} of this seal",
            )
        seal = path_root(seal, page.path)
        state["seal"] = seal
    if record.seal != seal or record.seal_id != decoded.seal_id:
        raise _StepFailedError(
            3, ErrorCode.CRT_PATH_MISMATCH, "the document's hash path does not lead to the seal"
        )
    # Step 4: the trust list at the validation time.
    if not context.trust_list.is_current(at):
        raise _StepFailedError(
            4, ErrorCode.CRT_TRUST_LIST_INVALID, "the trust list is not current at that time"
        )
    # Steps 4 to 7, seal level: from the cache, or checked now. A failure
    # is held back until its place in the step order below.
    partial: dict[str, Any] = {}
    seal_failure: _StepFailedError | None = None
    if verdict is None:
        try:
            verdict = _check_seal(record, context, partial)
        except _StepFailedError as failure:
            seal_failure = failure
        else:
            if context.cache is not None:
                context.cache._put(key, context.cache_refs, verdict)
    else:
        partial = {"issuer": verdict.issuer, "ksi_time": verdict.ksi_time}

    def held_back(stage: str) -> None:
        if seal_failure is not None and seal_failure.stage == stage:
            raise seal_failure

    held_back("issuer")
    issuer: Issuer = partial["issuer"]
    state["issuer_name"] = issuer.name if issuer.id == payload.issuer_id else None
    if payload.issuer_id != record.issuer_id:
        raise _StepFailedError(
            4,
            ErrorCode.CRT_ISSUER_MISMATCH,
            f"the payload names issuer {payload.issuer_id!r}, the seal {record.issuer_id!r}",
        )
    held_back("signatures")
    ksi_time: datetime = partial["ksi_time"]
    state["ksi_time"] = ksi_time
    _check_claim(payload.issued_at, ksi_time, context.clock_skew)
    held_back("binding")
    # Step 8: the document type.
    if not issuer.allows(payload.document_type):
        raise _StepFailedError(
            8,
            ErrorCode.CRT_TYPE_NOT_ALLOWED,
            f"issuer {issuer.id!r} may not issue {payload.document_type!r}",
        )
    # Step 9: revocation.
    if revocations is not None:
        if not revocations.is_current(at):
            raise _StepFailedError(
                9, ErrorCode.CRT_TRUST_LIST_INVALID, "the revocation list is not current"
            )
        if revocations.is_revoked(decoded.leaf) or revocations.is_revoked(record.seal):
            raise _StepFailedError(9, ErrorCode.CRT_REVOKED, "the certificate is revoked")
    # Step 10: validity at the validation time.
    if at + context.clock_skew < payload.starts_at:
        raise _StepFailedError(
            10,
            ErrorCode.CRT_NOT_YET_VALID,
            f"not valid before {payload.starts_at.isoformat()}",
        )
    if payload.valid_until is not None and at > payload.valid_until:
        raise _StepFailedError(
            10, ErrorCode.CRT_EXPIRED, f"expired at {payload.valid_until.isoformat()}"
        )


def _issuer(trust_list: TrustList, issuer_id: str) -> Issuer:
    try:
        return trust_list.issuer_by_id(issuer_id)
    except CertificateError as exc:
        raise _StepFailedError(4, exc.code, exc.message) from None


def _issuer_key(issuer: Issuer, kid: bytes) -> IssuerKey:
    for key in issuer.keys:
        if key.kid == kid:
            return key
    raise _StepFailedError(
        5, ErrorCode.CRT_UNKNOWN_ISSUER, f"issuer {issuer.id!r} has no key {kid.hex()}"
    )

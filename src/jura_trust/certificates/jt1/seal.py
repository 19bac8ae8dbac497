"""JT1 seal records (the issuer's COSE and the KSI signature of a batch) and page records."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

import attrs

from jura_trust.certificates._cbor import dumps_canonical, loads_strict
from jura_trust.certificates.cose import (
    HEADER_CONTENT_TYPE,
    CoseSign1,
    decode_sign1,
)
from jura_trust.certificates.jt1._common import (
    _G_PAGE,
    _G_PATH,
    _G_SEAL_ID,
    _G_VERSION,
    _PAGE_ID_DOMAIN,
    _R_COSE,
    _R_KSI,
    _R_VERSION,
    _S_ISSUED,
    _S_ISSUER,
    _S_KID,
    _S_SEAL,
    _S_SIZE,
    _S_VERSION,
    JT1_VERSION,
    MAX_BATCH_SIZE,
    MAX_NAME_LENGTH,
    MAX_PATH_LINKS,
    PAGE_RECORD_VERSION,
    SEAL_ALGORITHM,
    SEAL_CONTENT_TYPE,
    _from_numeric,
    _malformed,
)
from jura_trust.certificates.jt1.paths import PathLink, decode_path, encode_path
from jura_trust.certificates.registry import MAX_SEAL_RECORD_SIZE, SEAL_ID_LENGTH
from jura_trust.core.hashing import Imprint
from jura_trust.errors import CertificateError, ErrorCode

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
        if cose.unprotected:
            # No signature covers it: anything there would give another
            # text of the same certificate (the issuer writes none).
            raise _malformed("seal signature has an unprotected header")
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

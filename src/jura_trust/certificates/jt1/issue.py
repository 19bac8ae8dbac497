"""JT1 issuance: a batch of documents becomes trees, a seal record and certificates."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from jura_trust.certificates._cbor import dumps_canonical
from jura_trust.certificates._jt1dict import ZDICT_V2
from jura_trust.certificates.cose import (
    HEADER_CONTENT_TYPE,
    CoseAlgorithm,
    PrivateKey,
    sign1,
)
from jura_trust.certificates.envelope import (
    MAX_PAYLOAD_SIZE,
    encode_envelope,
)
from jura_trust.certificates.jt1._common import (
    _E_PAGE,
    _E_PAGE_RECORD,
    _E_PATH,
    _E_PAYLOAD,
    _E_SEAL,
    _E_SEAL_ID,
    _E_VERSION,
    _S_ISSUED,
    _S_ISSUER,
    _S_KID,
    _S_SEAL,
    _S_SIZE,
    _S_VERSION,
    ENVELOPE_VERSION,
    JT1_VERSION,
    MAX_BATCH_SIZE,
    PAGE_SIZE,
    SALT_LENGTH,
    SEAL_ALGORITHM,
    SEAL_CONTENT_TYPE,
    _aware,
    _check_name,
    _to_numeric,
)
from jura_trust.certificates.jt1.paths import PathLink, encode_path
from jura_trust.certificates.jt1.payload import Document, Payload
from jura_trust.certificates.jt1.seal import PageRecord, SealRecord
from jura_trust.certificates.link import link_text
from jura_trust.certificates.trustlist import key_id
from jura_trust.core.chains import AggregationLink
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.core.tree import TreeBuilder

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

    def link(self, base: str, *, self_contained: bool = False) -> str:
        """The link certificate: ``base#1`` + the digit form of :meth:`text`'s bytes.

        ``base`` is the verification page's URL (``https://...``, no ``#``);
        see :mod:`jura_trust.certificates.link`.

        Raises:
            CertificateError: ``CRT-01`` for a bad ``base``, ``CRT-15`` if
                the certificate would not fit a QR code.
        """
        return link_text(self.text(self_contained=self_contained), base)


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

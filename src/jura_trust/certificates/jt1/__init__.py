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

Modules, along the lines verification gives them:

* :mod:`~jura_trust.certificates.jt1.payload`: :class:`Document`, :class:`Payload`;
* :mod:`~jura_trust.certificates.jt1.paths`: :class:`PathLink` and hash paths;
* :mod:`~jura_trust.certificates.jt1.seal`: :class:`SealRecord`, :class:`PageRecord`;
* :mod:`~jura_trust.certificates.jt1.issue`: :func:`issue_batch`, :class:`Certificate`;
* :mod:`~jura_trust.certificates.jt1.decode`: :func:`decode_certificate` (step 1);
* :mod:`~jura_trust.certificates.jt1.verify`: the rules of steps 2 to 10
  (:data:`JT1_POLICY`), :func:`verify_certificate` and :class:`SealCache`.

Every public name is re-exported here. Verification (:func:`verify_certificate`)
returns the kernel's :class:`~jura_trust.verify.result.VerificationResult`
(policy ``"jt1"``): reading the text (step 1) raises
:class:`~jura_trust.errors.CertificateError` on bad input, every later step
is a rule with one code (see ``docs/qr.md``). The validation time is always
a parameter, never the system clock. Seal checks that passed are kept in a
:class:`SealCache` the caller owns, so the certificates of one batch cost
one COSE and one KSI verification between them.
"""

from jura_trust.certificates._jt1dict import ZDICT_V2, ZDICT_V2_ID, ZDICT_V2_SHA256
from jura_trust.certificates.jt1._common import (
    DEFAULT_CLOCK_SKEW,
    ENVELOPE_VERSION,
    JT1_VERSION,
    MAX_BATCH_SIZE,
    MAX_FIELDS,
    PAGE_RECORD_VERSION,
    PAGE_SIZE,
    SALT_LENGTH,
    SEAL_ALGORITHM,
    SEAL_CONTENT_TYPE,
    FieldValue,
)
from jura_trust.certificates.jt1.decode import DecodedCertificate, decode_certificate
from jura_trust.certificates.jt1.issue import Batch, Certificate, KsiSigner, issue_batch
from jura_trust.certificates.jt1.paths import PathLink, decode_path, encode_path, path_root
from jura_trust.certificates.jt1.payload import Document, Payload
from jura_trust.certificates.jt1.seal import PageRecord, SealRecord, page_record_id, seal_id_of
from jura_trust.certificates.jt1.verify import (
    DEFAULT_SEAL_CACHE_SIZE,
    JT1_POLICY,
    JT1_POLICY_NAME,
    KsiCheck,
    SealCache,
    iso_time,
    verify_certificate,
)

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_SEAL_CACHE_SIZE",
    "ENVELOPE_VERSION",
    "JT1_POLICY",
    "JT1_POLICY_NAME",
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
    "decode_path",
    "encode_path",
    "iso_time",
    "issue_batch",
    "page_record_id",
    "path_root",
    "seal_id_of",
    "verify_certificate",
]

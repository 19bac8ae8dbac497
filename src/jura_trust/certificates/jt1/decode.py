"""Reading a JT1 text strictly (verification step 1): envelope, canonical compression, CBOR."""

from __future__ import annotations

import functools
import hashlib
import zlib
from collections.abc import Mapping

import attrs

from jura_trust.certificates._cbor import dumps_canonical, loads_strict
from jura_trust.certificates._jt1dict import ZDICT_V2
from jura_trust.certificates.envelope import (
    JT1_PREFIX,
    compress,
    unwrap_envelope,
)
from jura_trust.certificates.jt1._common import (
    _E_PAGE,
    _E_PAGE_RECORD,
    _E_PATH,
    _E_PAYLOAD,
    _E_SEAL,
    _E_SEAL_ID,
    _E_VERSION,
    _ENVELOPE_V1_KEYS,
    _ENVELOPE_V2_KEYS,
    ENVELOPE_VERSION,
    SEAL_ALGORITHM,
    _malformed,
)
from jura_trust.certificates.jt1.paths import PathLink, decode_path
from jura_trust.certificates.jt1.payload import Payload
from jura_trust.certificates.jt1.seal import PageRecord, SealRecord, _check_page_index
from jura_trust.certificates.link import is_link, plain_text
from jura_trust.certificates.registry import SEAL_ID_LENGTH
from jura_trust.core.hashing import Imprint
from jura_trust.errors import CertificateError, ErrorCode

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


#: SHA-256 of what the reference zlib (1.2.x and 1.3.x, level 9) makes of a
#: fixed probe: a deflate implementation that compresses otherwise (zlib-ng,
#: for instance) cannot check canonical compression, see
#: :func:`_check_reference_deflate`.
_REFERENCE_PROBE_SHA256 = "21ef8fd9504922de9fa03b8611428da37becdf7f6b283023fe2bc94c34a6807e"


@functools.cache
def _reference_deflate() -> bool:
    probe = ZDICT_V2[::-1] + bytes(range(256))
    made = compress(ZDICT_V2) + compress(probe, zdict=ZDICT_V2)
    return hashlib.sha256(made).hexdigest() == _REFERENCE_PROBE_SHA256


def _check_reference_deflate() -> None:
    """Say so when a text is refused because this Python's zlib is not the reference."""
    if not _reference_deflate():
        raise CertificateError(
            f"this Python's zlib ({zlib.ZLIB_RUNTIME_VERSION}) does not compress like the "
            "reference zlib, so the canonical compression of JT1 texts cannot be checked here",
            code=ErrorCode.CRT_BAD_COMPRESSION,
            zlib_version=zlib.ZLIB_RUNTIME_VERSION,
        )


def decode_certificate(text: str) -> DecodedCertificate:
    """Read a JT1 text or link certificate strictly (verification step 1).

    A link certificate (``https://...#1`` + digits, see
    :mod:`jura_trust.certificates.link`) is read back to the plain text it
    carries first (``CRT-01`` for a bad URL shape or form version,
    ``CRT-02`` for a digit string that is not canonical); its URL is not
    used for anything.

    Envelope versions 1 and 2 are read; only version 2 may use the preset
    dictionary :data:`ZDICT_V2` and carry a page level.

    Raises:
        CertificateError: ``CRT-15`` too long, ``CRT-01`` prefix, ``CRT-02``
            Base45, ``CRT-03`` zlib (including an unknown preset dictionary,
            or any dictionary in a version 1 text), ``CRT-04`` CBOR
            structure (including embedded seal or page records that cannot
            be decoded).
        TypeError: if ``text`` is not a ``str``.

    Only the canonical compression of the content is accepted (``CRT-03``
    otherwise): the zlib stream must be byte for byte what
    :func:`~jura_trust.certificates.envelope.compress` makes of the
    inflated bytes (level 9; for version 2 with the choice of
    :data:`ZDICT_V2`, for version 1 without). zlib's Adler-32 covers the
    inflated data only, so without this rule the unused bits of the last
    deflate byte, the header's level bits or another deflate encoding of
    the same content would give other texts that verify. With the
    canonical Base45 (:func:`~jura_trust.certificates.base45.b45decode`)
    and canonical CBOR checks, one certificate has exactly one compact text
    (self-contained texts: see "One text per certificate" in docs/qr.md).
    """
    if is_link(text):
        text = plain_text(text)
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
    if compress(data, zdict=ZDICT_V2 if version == ENVELOPE_VERSION else None) != (
        unwrapped.compressed
    ):
        _check_reference_deflate()
        raise CertificateError(
            "the zlib stream is not the canonical compression of its content",
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

"""The ``KSIPUBLF`` publications file: parse, look up, build, sign, verify (layer 6).

Layout (spec/ksi-format.md section 7.3)::

    "KSIPUBLF"                      8-byte magic
    0x701 header            [1]     0x01 version (=1), 0x02 creation time,
                                    0x03 repository URI (optional)
    0x702 certificate record [0..n] 0x01 certificate id, 0x02 X.509 DER
    0x703 publication record [0..n] as signature element 0x803
    0x704 signature          [1]    detached CMS SignedData (DER)

The elements must come in this order, the signature last with nothing after
it; unknown non-critical elements are tolerated before the signature. The
CMS signs :attr:`PublicationsFile.signed_bytes`: the magic through the byte
before the 0x704 header.

Every structural defect raises :class:`~jura_trust.errors.FormatError`
with code FMT-14; the underlying element error (FMT-01, FMT-08, ...) is in
``details["cause"]``.

A parsed file is *not* trusted until :meth:`PublicationsFile.verify`
succeeded; lookups work either way (callers decide, as libksi does for a
file handed in by the user).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import attrs

from jura_trust.core import tlv
from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import (
    PUBLICATIONS_FILE_RECORD_TYPE,
    PublicationRecord,
)
from jura_trust.errors import ErrorCode, FormatError, JuraError, PKIError

if TYPE_CHECKING:
    from jura_trust import pki

__all__ = [
    "CERTIFICATE_RECORD_TYPE",
    "DEFAULT_CONSTRAINTS",
    "HEADER_TYPE",
    "MAGIC",
    "MILLISECONDS_THRESHOLD",
    "SIGNATURE_TYPE",
    "VERSION",
    "CertificateRecord",
    "PublicationsFile",
    "PublicationsFileHeader",
    "VerifiedPublicationsFile",
]

#: The 8-byte magic every publications file starts with.
MAGIC = b"KSIPUBLF"
#: TLV type of the header.
HEADER_TYPE = 0x701
#: TLV type of a certificate record.
CERTIFICATE_RECORD_TYPE = 0x702
#: TLV type of the CMS signature.
SIGNATURE_TYPE = 0x704
#: The only header version understood.
VERSION = 1
#: Header creation times above this are taken as milliseconds (some libksi
#: test files store them so); as seconds this would be the year 5138.
MILLISECONDS_THRESHOLD = 100_000_000_000
#: The signer constraint used by Guardtime's files and every KSI example.
#: Not applied implicitly: pass it to :meth:`PublicationsFile.verify`.
DEFAULT_CONSTRAINTS: Mapping[str, str] = {"1.2.840.113549.1.9.1": "publications@guardtime.com"}

# Position of each element kind in the mandated order.
_RANK = {
    HEADER_TYPE: 0,
    CERTIFICATE_RECORD_TYPE: 1,
    PUBLICATIONS_FILE_RECORD_TYPE: 2,
    SIGNATURE_TYPE: 3,
}


def _file_error(message: str, **details: object) -> FormatError:
    return FormatError(
        f"publications file: {message}", code=ErrorCode.FMT_BAD_PUBLICATIONS_FILE, **details
    )


_HEADER_TEMPLATE = tlv.Template(
    "publications file header",
    {
        0x01: tlv.Field("version", tlv.Kind.UINT, mandatory=True),
        0x02: tlv.Field("creation_time", tlv.Kind.UINT, mandatory=True),
        0x03: tlv.Field("repository_uri", tlv.Kind.UTF8_NONEMPTY),
    },
)

_CERTIFICATE_TEMPLATE = tlv.Template(
    "certificate record",
    {
        0x01: tlv.Field("certificate_id", tlv.Kind.BYTES, mandatory=True),
        0x02: tlv.Field("certificate", tlv.Kind.BYTES, mandatory=True),
    },
)


def _default_header_raw(self: PublicationsFileHeader) -> bytes:
    parts = [
        tlv.encode(0x01, tlv.encode_uint(self.version)),
        tlv.encode(0x02, tlv.encode_uint(self.creation_time)),
    ]
    if self.repository_uri is not None:
        parts.append(tlv.encode(0x03, tlv.encode_utf8(self.repository_uri)))
    parts.extend(u.raw for u in self.unknown)
    return tlv.encode(HEADER_TYPE, b"".join(parts))


@attrs.frozen(slots=True)
class PublicationsFileHeader:
    """The 0x701 header.

    ``creation_time`` is the stored value; see :attr:`creation_time_seconds`
    for files that store milliseconds.
    """

    version: int
    creation_time: int
    repository_uri: str | None = None
    unknown: tuple[tlv.TLV, ...] = attrs.field(default=(), eq=False, repr=False)
    #: The exact encoding, header included.
    raw: bytes = attrs.field(
        default=attrs.Factory(_default_header_raw, takes_self=True),
        init=False,
        eq=False,
        repr=False,
    )

    @property
    def creation_time_seconds(self) -> int:
        """The creation time in Unix seconds (milliseconds are converted)."""
        t = self.creation_time
        return t // 1000 if t > MILLISECONDS_THRESHOLD else t

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> PublicationsFileHeader:
        """Parse a 0x701 element; only version 1 is accepted."""
        parsed = tlv.parse_composite(element, _HEADER_TEMPLATE)
        if parsed["version"] != VERSION:
            raise _file_error(f"unsupported version {parsed['version']}", version=parsed["version"])
        header = cls(parsed["version"], parsed["creation_time"], parsed.get("repository_uri"))
        return tlv.keep_raw(attrs.evolve(header, unknown=parsed.unknown), element.raw)

    def encode(self) -> bytes:
        """The exact encoding (the parsed bytes when parsed)."""
        return self.raw


def _default_certificate_raw(self: CertificateRecord) -> bytes:
    value = tlv.encode(0x01, self.certificate_id) + tlv.encode(0x02, self.certificate_der)
    return tlv.encode(CERTIFICATE_RECORD_TYPE, value + b"".join(u.raw for u in self.unknown))


@attrs.frozen(slots=True)
class CertificateRecord:
    """A 0x702 certificate record: an id and an X.509 certificate.

    The certificate is parsed when the record is (unreadable DER is a
    format error); equality compares the id and the DER.
    """

    certificate_id: bytes
    certificate_der: bytes
    #: ``certificate_der`` parsed; must be that very certificate (an edit of
    #: one without the other through :func:`attrs.evolve` is a ValueError).
    certificate: pki.Certificate = attrs.field(eq=False, repr=False)
    unknown: tuple[tlv.TLV, ...] = attrs.field(default=(), eq=False, repr=False)
    #: The exact encoding, header included.
    raw: bytes = attrs.field(
        default=attrs.Factory(_default_certificate_raw, takes_self=True),
        init=False,
        eq=False,
        repr=False,
    )

    def __attrs_post_init__(self) -> None:
        from jura_trust import pki  # noqa: PLC0415 - X.509 only where certificates are

        if pki.certificate_der(self.certificate) != self.certificate_der:
            raise ValueError("certificate and certificate_der are different certificates")

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> CertificateRecord:
        """Parse a 0x702 element (the id must be non-empty)."""
        parsed = tlv.parse_composite(element, _CERTIFICATE_TEMPLATE)
        cert_id: bytes = parsed["certificate_id"]
        if not cert_id:
            raise _file_error("empty certificate id")
        der: bytes = parsed["certificate"]
        from jura_trust import pki  # noqa: PLC0415 - X.509 only when a file holds certificates

        cert = pki.load_certificate_der(der, allow_nonpositive_serial=True)
        return tlv.keep_raw(cls(cert_id, der, cert, parsed.unknown), element.raw)

    @classmethod
    def build(cls, certificate_id: bytes, certificate: pki.Certificate) -> CertificateRecord:
        """A record for ``certificate`` under ``certificate_id``."""
        if not isinstance(certificate_id, bytes) or not certificate_id:
            raise ValueError("certificate_id must be non-empty bytes")
        from jura_trust import pki  # noqa: PLC0415

        return cls(bytes(certificate_id), pki.certificate_der(certificate), certificate)

    def encode(self) -> bytes:
        """The exact encoding (the parsed bytes when parsed)."""
        return self.raw


@attrs.frozen(slots=True, eq=False)
class PublicationsFile:
    """A KSI publications file: header, certificates, publications, signature.

    Parsed files keep their exact bytes (:meth:`encode` returns them).
    Built files (:meth:`build`) have no signature until :meth:`sign`.
    """

    header: PublicationsFileHeader
    certificates: tuple[CertificateRecord, ...]
    publications: tuple[PublicationRecord, ...]
    #: Unknown non-critical top-level elements, kept (they are part of
    #: :attr:`signed_bytes`).
    unknown: tuple[tlv.TLV, ...] = attrs.field(default=(), repr=False)
    #: The bytes the CMS signature covers: magic through the last byte
    #: before the 0x704 element. Set by the parser to the input bytes;
    #: otherwise (a built file, or any change through :func:`attrs.evolve`)
    #: computed from the fields, so they can never disagree.
    signed_bytes: bytes = attrs.field(init=False, repr=False)
    #: The CMS SignedData (DER), or ``None`` for an unsigned file. Only the
    #: parser sets it: a changed file is an unsigned file.
    signature_der: bytes | None = attrs.field(default=None, init=False, repr=False)
    _raw: bytes | None = attrs.field(default=None, init=False, repr=False)
    _times: tuple[int, ...] = attrs.field(init=False, repr=False)
    _by_time: dict[int, PublicationRecord] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        signed = b"".join(
            [
                MAGIC,
                self.header.encode(),
                *(c.encode() for c in self.certificates),
                *(r.encode() for r in self.publications),
                *(u.raw for u in self.unknown),
            ]
        )
        object.__setattr__(self, "signed_bytes", signed)
        by_time: dict[int, PublicationRecord] = {}
        for record in self.publications:
            found = by_time.setdefault(record.publication_time, record)
            if found.published_hash != record.published_hash:
                # Which one a verification found would depend on the order.
                raise _file_error(
                    "two publications of one second with different hashes",
                    publication_time=record.publication_time,
                )
        object.__setattr__(self, "_by_time", by_time)
        object.__setattr__(self, "_times", tuple(sorted(by_time)))

    # -- parsing -----------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes) -> PublicationsFile:
        """Parse a publications file; every defect raises FMT-14.

        Checks the magic, the element order (header first and once, then
        certificates, publications, and the signature last and once),
        nothing after the signature, and each element's own structure.
        """
        data = bytes(data)
        if len(data) > tlv.MAX_INPUT_SIZE:
            raise _file_error("input too large", size=len(data))
        if not data.startswith(MAGIC):
            raise _file_error("missing KSIPUBLF magic")
        try:
            return cls._parse_body(data)
        except FormatError as exc:
            if exc.code is ErrorCode.FMT_BAD_PUBLICATIONS_FILE:
                raise
            raise _file_error(exc.message, cause=exc.code.value, **exc.details) from None

    @classmethod
    def _parse_body(cls, data: bytes) -> PublicationsFile:
        header: PublicationsFileHeader | None = None
        certificates: list[CertificateRecord] = []
        publications: list[PublicationRecord] = []
        unknown: list[tlv.TLV] = []
        signature: tlv.TLV | None = None
        signature_offset = 0
        rank = -1
        for offset, element in tlv.iter_sequence(data, len(MAGIC)):
            if signature is not None:
                raise _file_error("data after the signature", offset=offset)
            kind = _RANK.get(element.type)
            if kind is None:
                if not element.non_critical:
                    raise _file_error(
                        f"unknown critical element 0x{element.type:x}",
                        offset=offset,
                        type=element.type,
                    )
                if header is None:
                    raise _file_error("the header must be the first element", offset=offset)
                unknown.append(element)
                continue
            if kind < rank or (kind == rank and kind in (0, 3)):
                raise _file_error(
                    f"element 0x{element.type:x} out of order", offset=offset, type=element.type
                )
            if kind > 0 and header is None:
                raise _file_error("the header must be the first element", offset=offset)
            rank = kind
            if element.type == HEADER_TYPE:
                header = PublicationsFileHeader.from_tlv(element)
            elif element.type == CERTIFICATE_RECORD_TYPE:
                certificates.append(CertificateRecord.from_tlv(element))
            elif element.type == PUBLICATIONS_FILE_RECORD_TYPE:
                publications.append(PublicationRecord.from_tlv(element))
            else:
                if not element.value:
                    raise _file_error("empty signature", offset=offset)
                signature = element
                signature_offset = offset
        if header is None:
            raise _file_error("no header")
        if signature is None:
            raise _file_error("no signature")
        parsed = cls(header, tuple(certificates), tuple(publications), tuple(unknown))
        object.__setattr__(parsed, "signed_bytes", data[:signature_offset])
        object.__setattr__(parsed, "signature_der", signature.value)
        object.__setattr__(parsed, "_raw", data)
        return parsed

    # -- building ------------------------------------------------------------

    @classmethod
    def build(
        cls,
        creation_time: int,
        certificates: Mapping[bytes, pki.Certificate],
        publications: Iterable[PublicationRecord],
        repository_uri: str | None = None,
    ) -> PublicationsFile:
        """An unsigned file; :meth:`sign` turns it into bytes.

        ``certificates`` maps certificate ids (e.g.
        :func:`jura_trust.pki.certificate_id`) to certificates, written in
        mapping order. Publication records are written in the given order
        as 0x703 elements (0x803 records are re-typed).
        """
        if repository_uri is not None and not repository_uri:
            raise ValueError("repository_uri must be non-empty when given")
        header = PublicationsFileHeader(VERSION, creation_time, repository_uri)
        certs = tuple(CertificateRecord.build(cid, cert) for cid, cert in certificates.items())
        records = tuple(r.with_type(PUBLICATIONS_FILE_RECORD_TYPE) for r in publications)
        return cls(header, certs, records)

    def sign(
        self,
        private_key: pki.PrivateKey,
        certificate: pki.Certificate,
        *,
        extra_certificates: Iterable[pki.Certificate] = (),
    ) -> bytes:
        """Sign :attr:`signed_bytes` (detached CMS, SHA-256); return the file bytes.

        ``extra_certificates`` (intermediates) are embedded in the CMS.
        """
        from jura_trust import pki  # noqa: PLC0415

        cms_der = pki.cms_sign_detached(
            self.signed_bytes,
            private_key,
            certificate,
            extra_certificates=extra_certificates,
        )
        return self.signed_bytes + tlv.encode(SIGNATURE_TYPE, cms_der)

    def encode(self) -> bytes:
        """The file bytes: the parsed input byte for byte, or signed built bytes.

        Raises :class:`ValueError` for a built file that is not signed yet.
        """
        if self._raw is not None:
            return self._raw
        if self.signature_der is None:
            raise ValueError("the publications file is not signed; call sign()")
        return self.signed_bytes + tlv.encode(SIGNATURE_TYPE, self.signature_der)

    # -- trust ----------------------------------------------------------------

    def verify(
        self,
        trust_anchors: Iterable[pki.Certificate],
        constraints: Mapping[str, str],
        at_time: int | None = None,
        *,
        allow_sha1: bool = False,
    ) -> pki.CMSVerification:
        """Verify the CMS signature, the signer's path and its constraints.

        ``at_time`` (Unix seconds) is when the signer's path must be valid;
        ``None`` means now, as libksi does. ``allow_sha1`` accepts a SHA-1
        CMS signature checked on or after 2016-07-01 (refused otherwise,
        docs/verification.md). Raises :class:`PKIError`:
        PKI-01 (no anchors, no constraints, asn1crypto missing), PKI-02 (the
        signature does not verify or the file is unsigned), PKI-03
        (untrusted), PKI-04 (constraint mismatch), PKI-05 (not valid at the
        time), PKI-06 (unsupported algorithm), PKI-07 (SHA-1 refused),
        PKI-08 (key purpose), PKI-09 (name constraints), PKI-10 (an
        unenforced critical extension): see :func:`jura_trust.pki.validate_path`.
        """
        if self.signature_der is None:
            raise PKIError("the publications file is not signed", code=ErrorCode.PKI_BAD_SIGNATURE)
        when = int(time.time()) if at_time is None else at_time
        from jura_trust import pki  # noqa: PLC0415

        return pki.verify_cms_detached(
            self.signature_der,
            self.signed_bytes,
            trust_anchors=trust_anchors,
            constraints=constraints,
            at_time=when,
            allow_sha1=allow_sha1,
        )

    def trusted(
        self,
        trust_anchors: Iterable[pki.Certificate],
        constraints: Mapping[str, str],
        at_time: int | None = None,
        *,
        allow_sha1: bool = False,
    ) -> VerifiedPublicationsFile:
        """:meth:`verify` the file and return it as a :class:`VerifiedPublicationsFile`.

        The verification policies take only that type, so a file nobody
        checked can never be trusted by accident.
        """
        verification = self.verify(trust_anchors, constraints, at_time, allow_sha1=allow_sha1)
        return VerifiedPublicationsFile(self, verification)

    def is_trusted(
        self,
        trust_anchors: Iterable[pki.Certificate],
        constraints: Mapping[str, str],
        at_time: int | None = None,
        *,
        allow_sha1: bool = False,
    ) -> bool:
        """:meth:`verify` as a boolean (any :class:`JuraError` is ``False``)."""
        try:
            self.verify(trust_anchors, constraints, at_time, allow_sha1=allow_sha1)
        except JuraError:
            return False
        return True

    # -- lookups --------------------------------------------------------------

    @property
    def creation_time(self) -> int:
        """The header's creation time in Unix seconds (milliseconds converted)."""
        return self.header.creation_time_seconds

    @property
    def repository_uri(self) -> str | None:
        """The header's repository URI, if any."""
        return self.header.repository_uri

    def find_publication(
        self, publication_time: int, published_hash: Imprint | None = None
    ) -> PublicationRecord | None:
        """The record published at exactly ``publication_time``, or ``None``.

        With ``published_hash`` the record's hash must match too.
        """
        record = self._by_time.get(publication_time)
        if record is None:
            return None
        if published_hash is not None and record.published_hash != published_hash:
            return None
        return record

    def nearest_publication(self, at_or_after: int) -> PublicationRecord | None:
        """The record with the smallest time ``>= at_or_after`` (extension target)."""
        index = bisect.bisect_left(self._times, at_or_after)
        if index == len(self._times):
            return None
        return self._by_time[self._times[index]]

    def latest_publication(self) -> PublicationRecord | None:
        """The record with the largest publication time, or ``None``."""
        if not self._times:
            return None
        return self._by_time[self._times[-1]]

    def find_certificate(self, certificate_id: bytes) -> pki.Certificate | None:
        """The certificate with this id (first match), or ``None``."""
        record = self.find_certificate_record(certificate_id)
        return None if record is None else record.certificate

    def find_certificate_record(self, certificate_id: bytes) -> CertificateRecord | None:
        """The certificate record with this id (first match), or ``None``."""
        for record in self.certificates:
            if record.certificate_id == certificate_id:
                return record
        return None

    def __iter__(self) -> Iterator[PublicationRecord]:
        """Iterate over the publication records in file order."""
        return iter(self.publications)

    def __len__(self) -> int:
        """The number of publication records."""
        return len(self.publications)


@attrs.frozen(slots=True, eq=False)
class VerifiedPublicationsFile:
    """A publications file that the caller has decided to trust.

    Made by :meth:`PublicationsFile.trusted` (CMS signature, signer path and
    subject constraints checked) or, explicitly, by :meth:`unchecked` (for a
    file the caller trusts by other means, as the KSI reference SDK does with
    a file the user hands in). The verification policies accept only this
    type.
    """

    file: PublicationsFile
    #: How the file was checked: the CMS verification, or the caller's reason.
    verification: pki.CMSVerification | str

    @classmethod
    def unchecked(cls, file: PublicationsFile, reason: str) -> VerifiedPublicationsFile:
        """Trust ``file`` without checking its signature; ``reason`` says why."""
        if not reason.strip():
            raise ValueError("say why an unchecked publications file is trusted")
        return cls(file, reason)

    @property
    def checked(self) -> bool:
        """True if the CMS signature and trust path were verified here."""
        return not isinstance(self.verification, str)

    def find_publication(
        self, publication_time: int, published_hash: Imprint | None = None
    ) -> PublicationRecord | None:
        """See :meth:`PublicationsFile.find_publication`."""
        return self.file.find_publication(publication_time, published_hash)

    def nearest_publication(self, at_or_after: int) -> PublicationRecord | None:
        """See :meth:`PublicationsFile.nearest_publication`."""
        return self.file.nearest_publication(at_or_after)

    def latest_publication(self) -> PublicationRecord | None:
        """See :meth:`PublicationsFile.latest_publication`."""
        return self.file.latest_publication()

    def find_certificate(self, certificate_id: bytes) -> pki.Certificate | None:
        """See :meth:`PublicationsFile.find_certificate`."""
        return self.file.find_certificate(certificate_id)

    def find_certificate_record(self, certificate_id: bytes) -> CertificateRecord | None:
        """See :meth:`PublicationsFile.find_certificate_record`."""
        return self.file.find_certificate_record(certificate_id)

    def __iter__(self) -> Iterator[PublicationRecord]:
        """Iterate over the publication records."""
        return iter(self.file)

    def __len__(self) -> int:
        """The number of publication records."""
        return len(self.file)

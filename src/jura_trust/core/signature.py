"""The KSI signature (TLV 0x800): model and byte-exact codec.

CONSENSUS-CRITICAL: what this module accepts as a well-formed signature,
and the derived values it computes (document hash, signing time, RFC 3161
output hash), feed every verification rule.

A parsed :class:`Signature` keeps its exact bytes, so :meth:`Signature.encode`
reproduces the input byte for byte. A signature built in code is encoded
the way current KSI aggregators write it.

Whole-signature constraints (spec/ksi-format.md section 3), checked on load
as format errors: at least one aggregation chain; no calendar authentication
record and no publication record without a calendar chain; never both.
After parsing, aggregation chains are sorted by the length of their
chain-index list, longest first (the leaf-most chain first).
"""

from __future__ import annotations

from collections.abc import Sequence

from jura_trust._value import Value, _init
from jura_trust.core import tlv
from jura_trust.core.chains import AggregationChain, CalendarChain
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.publication import PublicationData, PublicationRecord
from jura_trust.errors import ErrorCode, FormatError

__all__ = [
    "AGGREGATION_AUTH_RECORD_TYPE",
    "CALENDAR_AUTH_RECORD_TYPE",
    "PUBLICATION_RECORD_TYPE",
    "RFC3161_RECORD_TYPE",
    "SIGNATURE_TYPE",
    "CalendarAuthRecord",
    "RFC3161Record",
    "Signature",
    "SignatureData",
]

#: TLV type of a KSI signature.
SIGNATURE_TYPE = 0x800
#: TLV type of a publication record inside a signature.
PUBLICATION_RECORD_TYPE = 0x803
#: TLV type of the (unused) aggregation authentication record.
AGGREGATION_AUTH_RECORD_TYPE = 0x804
#: TLV type of a calendar authentication record.
CALENDAR_AUTH_RECORD_TYPE = 0x805
#: TLV type of an RFC 3161 compatibility record.
RFC3161_RECORD_TYPE = 0x806

_SIGNATURE_DATA_TEMPLATE = tlv.Template(
    "signature data",
    {
        0x01: tlv.Field("signature_type", tlv.Kind.UTF8, mandatory=True),
        0x02: tlv.Field("signature_value", tlv.Kind.BYTES, mandatory=True),
        0x03: tlv.Field("certificate_id", tlv.Kind.BYTES, mandatory=True),
        0x04: tlv.Field("certificate_repository_uri", tlv.Kind.UTF8_NONEMPTY),
    },
)


class SignatureData(Value):
    """A PKI signature inside an authentication record (TLV 0x0B)."""

    __slots__ = (
        "certificate_id",
        "certificate_repository_uri",
        "raw",
        "signature_type",
        "signature_value",
    )
    _fields = (
        "signature_type",
        "signature_value",
        "certificate_id",
        "certificate_repository_uri",
    )
    #: The signature algorithm as an OID string, e.g. ``1.2.840.113549.1.1.11``.
    signature_type: str
    signature_value: bytes
    #: The signing certificate's id, looked up in the publications file.
    certificate_id: bytes
    certificate_repository_uri: str | None
    #: The element's bytes as parsed (empty when built in code).
    raw: bytes

    def __init__(
        self,
        signature_type: str,
        signature_value: bytes,
        certificate_id: bytes,
        certificate_repository_uri: str | None = None,
    ) -> None:
        _init(self, "signature_type", signature_type)
        _init(self, "signature_value", signature_value)
        _init(self, "certificate_id", certificate_id)
        _init(self, "certificate_repository_uri", certificate_repository_uri)
        _init(self, "raw", b"")

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> SignatureData:
        """Parse a 0x0B element."""
        parsed = tlv.parse_composite(element, _SIGNATURE_DATA_TEMPLATE)
        return tlv.keep_raw(
            cls(
                signature_type=parsed["signature_type"],
                signature_value=parsed["signature_value"],
                certificate_id=parsed["certificate_id"],
                certificate_repository_uri=parsed.get("certificate_repository_uri"),
            ),
            element.raw,
        )

    def encode(self) -> bytes:
        """The 0x0B element as bytes."""
        if self.raw:
            return self.raw
        body = tlv.encode(0x01, tlv.encode_utf8(self.signature_type))
        body += tlv.encode(0x02, self.signature_value)
        body += tlv.encode(0x03, self.certificate_id)
        if self.certificate_repository_uri is not None:
            body += tlv.encode(0x04, tlv.encode_utf8(self.certificate_repository_uri))
        return tlv.encode(0x0B, body)


_CALENDAR_AUTH_TEMPLATE = tlv.Template(
    "calendar authentication record",
    {
        0x10: tlv.Field("published_data", tlv.Kind.ELEMENT, mandatory=True),
        0x0B: tlv.Field("signature_data", tlv.Kind.ELEMENT, mandatory=True),
    },
)


class CalendarAuthRecord(Value):
    """A calendar authentication record (TLV 0x805): key-based trust.

    The PKI signature covers :attr:`signed_bytes`: the exact bytes of the
    published-data element, header included.
    """

    __slots__ = ("published_data", "raw", "signature_data", "unknown")
    _fields = ("published_data", "signature_data", "unknown")
    _compare = ("published_data", "signature_data")
    published_data: PublicationData
    signature_data: SignatureData
    #: Unknown non-critical children, as parsed (not compared).
    unknown: tuple[tlv.TLV, ...]
    #: The element's bytes as parsed (empty when built in code).
    raw: bytes

    def __init__(
        self,
        published_data: PublicationData,
        signature_data: SignatureData,
        unknown: tuple[tlv.TLV, ...] = (),
    ) -> None:
        _init(self, "published_data", published_data)
        _init(self, "signature_data", signature_data)
        _init(self, "unknown", unknown)
        _init(self, "raw", b"")

    @property
    def signed_bytes(self) -> bytes:
        """The bytes the PKI signature covers."""
        return self.published_data.raw

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> CalendarAuthRecord:
        """Parse a 0x805 element."""
        parsed = tlv.parse_composite(element, _CALENDAR_AUTH_TEMPLATE)
        return tlv.keep_raw(
            cls(
                published_data=PublicationData.from_tlv(parsed["published_data"]),
                signature_data=SignatureData.from_tlv(parsed["signature_data"]),
                unknown=parsed.unknown,
            ),
            element.raw,
        )

    def encode(self) -> bytes:
        """The 0x805 element as bytes."""
        if self.raw:
            return self.raw
        body = self.published_data.raw + self.signature_data.encode()
        body += b"".join(u.raw for u in self.unknown)
        return tlv.encode(CALENDAR_AUTH_RECORD_TYPE, body)


_RFC3161_TEMPLATE = tlv.Template(
    "RFC 3161 record",
    {
        0x02: tlv.Field("aggregation_time", tlv.Kind.UINT, mandatory=True),
        0x03: tlv.Field("chain_index", tlv.Kind.UINT, mandatory=True, multiple=True),
        0x05: tlv.Field("input_hash", tlv.Kind.IMPRINT, mandatory=True),
        0x10: tlv.Field("tst_info_prefix", tlv.Kind.BYTES, mandatory=True),
        0x11: tlv.Field("tst_info_suffix", tlv.Kind.BYTES, mandatory=True),
        0x12: tlv.Field("tst_info_algorithm", tlv.Kind.UINT, mandatory=True),
        0x13: tlv.Field("signed_attributes_prefix", tlv.Kind.BYTES, mandatory=True),
        0x14: tlv.Field("signed_attributes_suffix", tlv.Kind.BYTES, mandatory=True),
        0x15: tlv.Field("signed_attributes_algorithm", tlv.Kind.UINT, mandatory=True),
    },
)


def _algorithm(value: int, what: str) -> HashAlgorithm:
    try:
        return HashAlgorithm.from_id(value)
    except FormatError:
        raise FormatError(
            f"{what}: unknown hash algorithm id {value}",
            code=ErrorCode.FMT_UNSUPPORTED_ALGORITHM,
        ) from None


class RFC3161Record(Value):
    """An RFC 3161 compatibility record (TLV 0x806): a converted legacy timestamp."""

    __slots__ = (
        "aggregation_time",
        "chain_index",
        "input_hash",
        "raw",
        "signed_attributes_algorithm",
        "signed_attributes_prefix",
        "signed_attributes_suffix",
        "tst_info_algorithm",
        "tst_info_prefix",
        "tst_info_suffix",
        "unknown",
    )
    _fields = (
        "aggregation_time",
        "chain_index",
        "input_hash",
        "tst_info_prefix",
        "tst_info_suffix",
        "tst_info_algorithm",
        "signed_attributes_prefix",
        "signed_attributes_suffix",
        "signed_attributes_algorithm",
        "unknown",
    )
    _compare = _fields[:-1]
    aggregation_time: int
    chain_index: tuple[int, ...]
    #: The document's imprint.
    input_hash: Imprint
    tst_info_prefix: bytes
    tst_info_suffix: bytes
    tst_info_algorithm: HashAlgorithm
    signed_attributes_prefix: bytes
    signed_attributes_suffix: bytes
    signed_attributes_algorithm: HashAlgorithm
    #: Unknown non-critical children, as parsed (not compared).
    unknown: tuple[tlv.TLV, ...]
    #: The element's bytes as parsed (empty when built in code).
    raw: bytes

    def __init__(  # noqa: PLR0917 - positional, as before
        self,
        aggregation_time: int,
        chain_index: tuple[int, ...],
        input_hash: Imprint,
        tst_info_prefix: bytes,
        tst_info_suffix: bytes,
        tst_info_algorithm: HashAlgorithm,
        signed_attributes_prefix: bytes,
        signed_attributes_suffix: bytes,
        signed_attributes_algorithm: HashAlgorithm,
        unknown: tuple[tlv.TLV, ...] = (),
    ) -> None:
        _init(self, "aggregation_time", aggregation_time)
        _init(self, "chain_index", chain_index)
        _init(self, "input_hash", input_hash)
        _init(self, "tst_info_prefix", tst_info_prefix)
        _init(self, "tst_info_suffix", tst_info_suffix)
        _init(self, "tst_info_algorithm", tst_info_algorithm)
        _init(self, "signed_attributes_prefix", signed_attributes_prefix)
        _init(self, "signed_attributes_suffix", signed_attributes_suffix)
        _init(self, "signed_attributes_algorithm", signed_attributes_algorithm)
        _init(self, "unknown", unknown)
        _init(self, "raw", b"")

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> RFC3161Record:
        """Parse a 0x806 element."""
        p = tlv.parse_composite(element, _RFC3161_TEMPLATE)
        return tlv.keep_raw(
            cls(
                aggregation_time=p["aggregation_time"],
                chain_index=tuple(p["chain_index"]),
                input_hash=p["input_hash"],
                tst_info_prefix=p["tst_info_prefix"],
                tst_info_suffix=p["tst_info_suffix"],
                tst_info_algorithm=_algorithm(p["tst_info_algorithm"], "RFC 3161 record"),
                signed_attributes_prefix=p["signed_attributes_prefix"],
                signed_attributes_suffix=p["signed_attributes_suffix"],
                signed_attributes_algorithm=_algorithm(
                    p["signed_attributes_algorithm"], "RFC 3161 record"
                ),
                unknown=p.unknown,
            ),
            element.raw,
        )

    def output_hash(self, algorithm: HashAlgorithm) -> Imprint:
        """The record's output imprint under ``algorithm`` (spec section 6).

        ``algorithm`` is that of the first aggregation chain's input hash.
        """
        tst = self.tst_info_algorithm.digest(
            self.tst_info_prefix + self.input_hash.digest + self.tst_info_suffix
        )
        sig_alg = self.signed_attributes_algorithm
        sigattr = sig_alg.digest(
            self.signed_attributes_prefix + tst + self.signed_attributes_suffix
        )
        return Imprint(algorithm.imprint_of(bytes((sig_alg.value,)) + sigattr))

    def encode(self) -> bytes:
        """The 0x806 element as bytes."""
        if self.raw:
            return self.raw
        parts = [tlv.encode(0x02, tlv.encode_uint(self.aggregation_time))]
        parts.extend(tlv.encode(0x03, tlv.encode_uint(i)) for i in self.chain_index)
        parts.append(tlv.encode(0x05, self.input_hash.value))
        parts.append(tlv.encode(0x10, self.tst_info_prefix))
        parts.append(tlv.encode(0x11, self.tst_info_suffix))
        parts.append(tlv.encode(0x12, tlv.encode_uint(self.tst_info_algorithm.value)))
        parts.append(tlv.encode(0x13, self.signed_attributes_prefix))
        parts.append(tlv.encode(0x14, self.signed_attributes_suffix))
        parts.append(tlv.encode(0x15, tlv.encode_uint(self.signed_attributes_algorithm.value)))
        return tlv.encode(RFC3161_RECORD_TYPE, b"".join(parts))


_AGGREGATION_AUTH_TEMPLATE = tlv.Template(
    "aggregation authentication record",
    {
        0x02: tlv.Field("aggregation_time", tlv.Kind.UINT, mandatory=True),
        0x03: tlv.Field("chain_index", tlv.Kind.UINT, mandatory=True, multiple=True),
        0x05: tlv.Field("input_hash", tlv.Kind.IMPRINT, mandatory=True),
        0x0B: tlv.Field(
            "signature_data", tlv.Kind.COMPOSITE, mandatory=True, template=_SIGNATURE_DATA_TEMPLATE
        ),
    },
)


_SIGNATURE_TEMPLATE = tlv.Template(
    "signature",
    {
        0x801: tlv.Field("aggregation_chains", tlv.Kind.ELEMENT, mandatory=True, multiple=True),
        0x802: tlv.Field("calendar_chain", tlv.Kind.ELEMENT),
        0x803: tlv.Field("publication_record", tlv.Kind.ELEMENT),
        0x804: tlv.Field("aggregation_auth_record", tlv.Kind.ELEMENT),
        0x805: tlv.Field("calendar_auth_record", tlv.Kind.ELEMENT),
        0x806: tlv.Field("rfc3161_record", tlv.Kind.ELEMENT),
    },
)


def _sort_chains(chains: Sequence[AggregationChain]) -> tuple[AggregationChain, ...]:
    # Stable: equal lengths keep file order (the internal policy then
    # reports the inconsistency).
    return tuple(sorted(chains, key=lambda c: -len(c.chain_index)))


class Signature(Value):
    """A KSI signature.

    Build one with :meth:`from_bytes` (parsing) or :meth:`build`; change one
    with :meth:`extended` or :func:`jura_trust.evolve` (which drops the raw
    bytes, so the result is re-encoded).

    Not every field is authenticated. KSI covers no hash or signature over
    the publication record's references and repository URIs, the
    certificate repository URI of an authentication record, unknown
    non-critical elements, or the aggregation authentication record: they
    are hints for people and tools, and a verified signature vouches for
    none of them (``tests/verify/test_bit_flips.py`` establishes that every
    other bit is covered under the anchored policies).
    """

    __slots__ = (
        "aggregation_auth_record",
        "aggregation_chains",
        "calendar_auth_record",
        "calendar_chain",
        "publication_record",
        "raw",
        "rfc3161_record",
        "unknown",
    )
    _fields = (
        "aggregation_chains",
        "calendar_chain",
        "publication_record",
        "calendar_auth_record",
        "rfc3161_record",
        "aggregation_auth_record",
        "unknown",
    )
    _compare = (
        "aggregation_chains",
        "calendar_chain",
        "publication_record",
        "calendar_auth_record",
        "rfc3161_record",
    )
    #: Aggregation chains, leaf-most first.
    aggregation_chains: tuple[AggregationChain, ...]
    calendar_chain: CalendarChain | None
    publication_record: PublicationRecord | None
    calendar_auth_record: CalendarAuthRecord | None
    rfc3161_record: RFC3161Record | None
    #: The aggregation authentication record, checked against its template
    #: and kept as an element (unused by verification, as in KSI; not compared).
    aggregation_auth_record: tlv.TLV | None
    #: Unknown non-critical children, as parsed (not compared).
    unknown: tuple[tlv.TLV, ...]
    #: The signature's bytes as parsed (empty when built in code).
    raw: bytes

    def __init__(  # noqa: PLR0917 - positional, as before
        self,
        aggregation_chains: tuple[AggregationChain, ...],
        calendar_chain: CalendarChain | None = None,
        publication_record: PublicationRecord | None = None,
        calendar_auth_record: CalendarAuthRecord | None = None,
        rfc3161_record: RFC3161Record | None = None,
        aggregation_auth_record: tlv.TLV | None = None,
        unknown: tuple[tlv.TLV, ...] = (),
    ) -> None:
        _check_constraints(
            bool(aggregation_chains),
            calendar_chain is not None,
            publication_record is not None,
            calendar_auth_record is not None,
        )
        _init(self, "aggregation_chains", tuple(aggregation_chains))
        _init(self, "calendar_chain", calendar_chain)
        _init(self, "publication_record", publication_record)
        _init(self, "calendar_auth_record", calendar_auth_record)
        _init(self, "rfc3161_record", rfc3161_record)
        _init(self, "aggregation_auth_record", aggregation_auth_record)
        _init(self, "unknown", unknown)
        _init(self, "raw", b"")

    # -- codec ---------------------------------------------------------------

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """Parse a signature; any defect raises :class:`FormatError`.

        Common signatures are read by a one-pass fast path
        (:mod:`jura_trust.core._sigparse`) that builds the same values; any
        other input, and every malformed one, goes through the reference
        parser (:meth:`from_tlv`), which alone decides the error.
        """
        if type(data) is not bytes:
            data = bytes(data)
        if cls is Signature:
            fast = _fast_parse(data)
            if fast is not None:
                return fast
        element = tlv.decode(data)
        if element.type != SIGNATURE_TYPE:
            raise FormatError(
                f"not a KSI signature (element type 0x{element.type:x})",
                code=ErrorCode.FMT_STRUCTURE,
                type=element.type,
            )
        return cls.from_tlv(element)

    @classmethod
    def from_tlv(cls, element: tlv.TLV) -> Signature:
        """Parse a 0x800 element."""
        p = tlv.parse_composite(element, _SIGNATURE_TEMPLATE)
        cal = p.get("calendar_chain")
        pub = p.get("publication_record")
        auth = p.get("calendar_auth_record")
        rfc = p.get("rfc3161_record")
        _check_constraints(True, cal is not None, pub is not None, auth is not None)
        aggr_auth = p.get("aggregation_auth_record")
        if aggr_auth is not None:
            # Not used by verification (as in KSI), but parsed strictly, so a
            # corrupted element cannot hide in it.
            tlv.parse_composite(aggr_auth, _AGGREGATION_AUTH_TEMPLATE)
        return tlv.keep_raw(
            cls(
                aggregation_chains=_sort_chains(
                    [AggregationChain.from_tlv(e) for e in p["aggregation_chains"]]
                ),
                calendar_chain=CalendarChain.from_tlv(cal) if cal is not None else None,
                publication_record=PublicationRecord.from_tlv(pub) if pub is not None else None,
                calendar_auth_record=CalendarAuthRecord.from_tlv(auth)
                if auth is not None
                else None,
                rfc3161_record=RFC3161Record.from_tlv(rfc) if rfc is not None else None,
                aggregation_auth_record=aggr_auth,
                unknown=p.unknown,
            ),
            element.raw,
        )

    @classmethod
    def build(
        cls,
        aggregation_chains: Sequence[AggregationChain],
        calendar_chain: CalendarChain | None = None,
        *,
        publication_record: PublicationRecord | None = None,
        calendar_auth_record: CalendarAuthRecord | None = None,
        rfc3161_record: RFC3161Record | None = None,
    ) -> Signature:
        """Assemble a signature from its parts (encoded canonically)."""
        if not aggregation_chains:
            raise ValueError("a signature needs at least one aggregation chain")
        return cls(
            aggregation_chains=_sort_chains(aggregation_chains),
            calendar_chain=calendar_chain,
            publication_record=publication_record,
            calendar_auth_record=calendar_auth_record,
            rfc3161_record=rfc3161_record,
        )

    def encode(self) -> bytes:
        """The signature as bytes: the parsed bytes when parsed."""
        if self.raw:
            return self.raw
        parts: list[bytes] = []
        if self.rfc3161_record is not None:
            parts.append(self.rfc3161_record.encode())
        parts.extend(c.encode() for c in self.aggregation_chains)
        if self.calendar_chain is not None:
            parts.append(self.calendar_chain.encode())
        if self.publication_record is not None:
            parts.append(self.publication_record.encode())
        if self.aggregation_auth_record is not None:
            parts.append(self.aggregation_auth_record.raw)
        if self.calendar_auth_record is not None:
            parts.append(self.calendar_auth_record.encode())
        parts.extend(u.raw for u in self.unknown)
        return tlv.encode(SIGNATURE_TYPE, b"".join(parts))

    def __bytes__(self) -> bytes:
        return self.encode()

    # -- derived values --------------------------------------------------------

    @property
    def document_hash(self) -> Imprint:
        """The signed document's imprint (the RFC 3161 input if present)."""
        if self.rfc3161_record is not None:
            return self.rfc3161_record.input_hash
        return self.aggregation_chains[0].input_hash

    @property
    def aggregation_time(self) -> int:
        """The signing time (Unix seconds)."""
        if self.calendar_chain is not None:
            return self.calendar_chain.aggregation_time
        return self.aggregation_chains[0].aggregation_time

    def aggregation_root(self) -> Imprint:
        """The aggregation chains' output, computed without consistency checks.

        Verification (rule INT-01) checks that each chain's input is the
        output below it; this only runs the chains, leaf-most first.
        Raises :class:`~jura_trust.core.chains.ChainComputationError`.
        """
        level = 0
        out = self.aggregation_chains[0].input_hash
        for chain in self.aggregation_chains:
            out, level = chain.evaluate(level)
        return out

    @property
    def publication_time(self) -> int | None:
        """The calendar chain's publication time, if any."""
        return self.calendar_chain.publication_time if self.calendar_chain else None

    @property
    def is_extended(self) -> bool:
        """True if the signature carries a publication record."""
        return self.publication_record is not None

    @property
    def issuer(self) -> tuple[str, ...]:
        """Client ids found in the metadata links, leaf side first.

        The first is the login that requested the signature from its
        aggregator; later ones name upstream aggregators.
        """
        ids: list[str] = []
        for chain in self.aggregation_chains:
            ids.extend(link.metadata.client_id for link in chain.links if link.metadata is not None)
        return tuple(ids)

    def extended(
        self, calendar_chain: CalendarChain, publication_record: PublicationRecord | None
    ) -> Signature:
        """A copy with a new calendar chain and publication record.

        The calendar authentication record is dropped (a signature never
        carries both anchors). The result is re-encoded canonically, except
        for the aggregation part, whose bytes are kept as parsed.
        """
        return Signature(
            aggregation_chains=self.aggregation_chains,
            calendar_chain=calendar_chain,
            publication_record=publication_record,
            calendar_auth_record=None,
            rfc3161_record=self.rfc3161_record,
            aggregation_auth_record=self.aggregation_auth_record,
            unknown=self.unknown,
        )


def _check_constraints(has_chains: bool, has_cal: bool, has_pub: bool, has_auth: bool) -> None:
    if not has_chains:
        raise FormatError("signature has no aggregation chain", code=ErrorCode.FMT_MISSING)
    if (has_pub or has_auth) and not has_cal:
        raise FormatError(
            "signature has an anchor record but no calendar chain",
            code=ErrorCode.FMT_STRUCTURE,
        )
    if has_pub and has_auth:
        raise FormatError(
            "signature has both a publication record and a calendar authentication record",
            code=ErrorCode.FMT_STRUCTURE,
        )


# At the end: the fast path builds this module's classes.
from jura_trust.core._sigparse import parse_signature as _fast_parse  # noqa: E402

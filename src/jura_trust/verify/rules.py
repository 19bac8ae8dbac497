"""KSI verification rules as data: one :class:`~jura_trust.verify.engine.Rule` per check.

Each rule has a stable name, its step in spec/ksi-format.md section 10 and
docs/verification.md, exactly one error code, and the libksi rules it stands
for (section 10.2). The rule order decides which code a signature with
several defects gets, so the policies (``policies.py``) list the rules in
exactly this order.

**The time a calendar chain proves is the time computed from its shape**
(spec section 5.2), never a TLV field: every rule that uses an extended
calendar chain requires its shape time to be the signature's aggregation
time, its input to be the aggregation root, and its publication time and
root to be the publication's. Rules marked ``stricter`` are checks that
libksi does not make (docs/verification.md).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from jura_trust._timefmt import format_time
from jura_trust.core.chains import CalendarChain, imprint_like
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.publication import (
    PublicationData,
    PublicationRecord,
    encode_publication_string,
)
from jura_trust.core.signature import Signature
from jura_trust.errors import ErrorCode, JuraError, Outcome
from jura_trust.verify.engine import Rule
from jura_trust.verify.result import NO_ANCHOR, Anchor

if TYPE_CHECKING:
    from jura_trust import pki
    from jura_trust.publications import VerifiedPublicationsFile

__all__ = ["Extender", "VerificationContext", "check_extended_chain"]

#: Extends a signature: ``(aggregation_time, publication_time or None for
#: the head) -> CalendarChain``. Raises a JuraError when it cannot. Its
#: answer is never trusted: the rules check it.
Extender = Callable[[int, int | None], CalendarChain]

_META_PAD = 0x1E
#: What a user gives to trust a publications file (the CLI's flags; the API's
#: TrustConfig.from_files takes the same things).
_FILE_HINT = (
    "(give --publications-file FILE with --trust-anchor PEM and --cert-constraint "
    "OID=VALUE, or --publications-url, or pin a service with `jura-trust trust pin URL`)"
)
_NA = Outcome.NA
_GEN_02 = ErrorCode.GEN_02


def _is_verified(value: object) -> None:
    # Imported here: a verification without a publications file (the internal
    # policy, a CLI start-up) never loads the module.
    from jura_trust.publications import VerifiedPublicationsFile  # noqa: PLC0415

    if not isinstance(value, VerifiedPublicationsFile):
        raise TypeError(
            "publications_file must be a VerifiedPublicationsFile: use "
            "PublicationsFile.trusted(anchors, constraints) to check its signature, or "
            "VerifiedPublicationsFile.unchecked(file, reason) to trust it explicitly"
        )


#: Every attribute of a context, in order: compared by ``==`` and shown by ``repr``.
_CONTEXT_ATTRIBUTES = (
    "signature",
    "document_hash",
    "input_level",
    "publications_file",
    "user_publication",
    "extending_allowed",
    "extender",
    "extender_name",
    "aggregation_root",
    "target",
    "extended",
    "anchor",
    "proven_time",
    "certificate",
    "file_record",
    "calendar_time",
    "_extended_cache",
)
_context_key = attrgetter(*_CONTEXT_ATTRIBUTES)


class VerificationContext:
    """Everything a policy may use, plus values the rules compute on the way.

    Attributes:
        signature: the signature under test.
        document_hash: the document's imprint, if the caller has it.
        input_level: the level the caller claims for a local tree root.
        publications_file: a publications file the caller trusts, as a
            :class:`~jura_trust.publications.VerifiedPublicationsFile` (its CMS
            signature checked, or trusted explicitly).
        user_publication: a publication the caller trusts (e.g. decoded from
            a printed publication string).
        extending_allowed: whether the policies may extend the signature.
        extender: how to extend; ``None`` means no extender is reachable.
        extender_name: how to name the extender in a result (e.g. its URL).

    A context is mutable (the rules record what they compute in it) and so
    not hashable; contexts compare equal when every attribute is.
    """

    __slots__ = _CONTEXT_ATTRIBUTES

    signature: Signature
    document_hash: Imprint | None
    input_level: int
    #: Checked when the context is made (no rule ever replaces it).
    publications_file: VerifiedPublicationsFile | None
    user_publication: PublicationData | None
    extending_allowed: bool
    extender: Extender | None
    extender_name: str
    #: Computed by the rules: the aggregation root (rule 9).
    aggregation_root: Imprint | None
    #: Computed by the rules: the publication a path checks against.
    target: PublicationData | None
    #: Computed by the rules: the extended calendar chain of a path.
    extended: CalendarChain | None
    #: Computed by the rules: what an OK rests on.
    anchor: Anchor
    #: Computed by the rules: the time the anchored chain proves.
    proven_time: int | None
    #: Found by the key-based rules: the calendar certificate.
    certificate: pki.Certificate | None
    #: Found by the publications-file branch: the file's record for the signature's time.
    file_record: PublicationRecord | None
    #: Computed by rule 11c: the time the signature's calendar chain's shape proves.
    calendar_time: int | None
    _extended_cache: dict[int | None, CalendarChain | JuraError]

    def __init__(  # noqa: PLR0917 - the positional signature the attrs class had
        self,
        signature: Signature,
        document_hash: Imprint | None = None,
        input_level: int = 0,
        publications_file: VerifiedPublicationsFile | None = None,
        user_publication: PublicationData | None = None,
        extending_allowed: bool = False,
        extender: Extender | None = None,
        extender_name: str = "the extender",
    ) -> None:
        if publications_file is not None:
            _is_verified(publications_file)
        self.signature = signature
        self.document_hash = document_hash
        self.input_level = input_level
        self.publications_file = publications_file
        self.user_publication = user_publication
        self.extending_allowed = extending_allowed
        self.extender = extender
        self.extender_name = extender_name
        self.aggregation_root = None
        self.target = None
        self.extended = None
        self.anchor = NO_ANCHOR
        self.proven_time = None
        self.certificate = None
        self.file_record = None
        self.calendar_time = None
        self._extended_cache = {}

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(_context_key(self) == _context_key(other))

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _CONTEXT_ATTRIBUTES)
        return f"VerificationContext({shown})"

    @property
    def signing_time(self) -> int:
        """The signing time the signature claims (its aggregation chains' time)."""
        return self.signature.aggregation_chains[0].aggregation_time

    def extend(self, publication_time: int | None) -> CalendarChain:
        """The extended calendar chain (cached); raises JuraError."""
        cached = self._extended_cache.get(publication_time)
        if cached is None:
            if self.extender is None:
                raise JuraError(
                    "no extender is configured (give --extender URL or --extender-response FILE)",
                    code=ErrorCode.GEN_02,
                )
            try:
                cached = self.extender(self.signing_time, publication_time)
            except JuraError as exc:
                cached = exc
            self._extended_cache[publication_time] = cached
        if isinstance(cached, JuraError):
            raise cached
        return cached


def _rule(
    name: str,
    step: str,
    code: ErrorCode,
    *libksi: str,
    outcome: Outcome = Outcome.FAIL,
    stricter: bool = False,
) -> Callable[[Callable[[VerificationContext], str | None]], Rule[VerificationContext]]:
    """Declare a rule from its check function."""

    def make(check: Callable[[VerificationContext], str | None]) -> Rule[VerificationContext]:
        return Rule(name, step, code, check, outcome=outcome, libksi=libksi, stricter=stricter)

    return make


def _root(chain: CalendarChain) -> Imprint | None:
    try:
        return chain.root()
    except JuraError:
        return None


def _left_algorithms(chain: CalendarChain) -> list[HashAlgorithm]:
    return [HashAlgorithm.from_id(i) for i in sorted(chain.left_algorithm_ids())]


def _deprecated_left_algorithm(chain: CalendarChain, at: int) -> str | None:
    for alg in _left_algorithms(chain):
        if alg.is_deprecated_at(at):
            return f"calendar chain uses {alg}, deprecated at the publication time"
    return None


def _signing_time_problem(chain: CalendarChain, signing_time: int) -> str | None:
    """Why ``chain`` does not prove ``signing_time`` (by its shape, and its time field if any)."""
    if chain.time_from_shape() != signing_time:
        return "the extended chain's shape proves another signing time"
    field = chain.aggregation_time_field
    if field is not None and field != signing_time:
        return "the extended chain's time field differs from the time its shape proves"
    return None


def check_extended_chain(
    chain: CalendarChain,
    *,
    signing_time: int,
    aggregation_root: Imprint,
    publication: PublicationData | None,
) -> str | None:
    """Why an extended calendar chain does not belong to a signature, or ``None``.

    The chain must prove ``signing_time`` by its shape (never by its time
    field, which no hash covers), take ``aggregation_root`` as its input,
    and, when ``publication`` is given, end at its time with its hash. Used
    by the policies and by everything that writes an extended signature.
    """
    if publication is not None:
        if chain.publication_time != publication.publication_time:
            return "the extended chain ends at another publication time"
        if _root(chain) != publication.published_hash:
            return "the extended calendar root differs from the publication"
    problem = _signing_time_problem(chain, signing_time)
    if problem is not None:
        return problem
    if chain.input_hash != aggregation_root:
        return "the extended chain's input differs from the aggregation root"
    return None


# -- internal policy ------------------------------------------------------------


@_rule(
    "document_hash_algorithm",
    "1a",
    ErrorCode.GEN_04,
    "DocumentHashDoesNotExist",
    "DocumentHashExistence",
    "InputHashAlgorithmVerification",
)
def document_hash_algorithm(ctx: VerificationContext) -> str | None:
    """The given document hash uses the signature's algorithm."""
    given = ctx.document_hash
    if given is None or given.algorithm_id == ctx.signature.document_hash.algorithm_id:
        return None
    return (
        f"document hash algorithm {given.algorithm} differs from "
        f"the signature's {ctx.signature.document_hash.algorithm}"
    )


@_rule("document_hash", "1b", ErrorCode.GEN_01, "DocumentHashVerification")
def document_hash(ctx: VerificationContext) -> str | None:
    """The given document hash equals the signature's."""
    if ctx.document_hash is None or ctx.document_hash == ctx.signature.document_hash:
        return None
    return "wrong document: the document hash does not match"


@_rule("input_level", "2", ErrorCode.GEN_03, "AggregationChainInputLevelVerification")
def input_level(ctx: VerificationContext) -> str | None:
    """A claimed input level fits the first link's level correction."""
    level = ctx.input_level
    if level <= 0:
        return None
    sig = ctx.signature
    if sig.rfc3161_record is not None:
        return "an input level is not allowed with an RFC 3161 record"
    correction = sig.aggregation_chains[0].first_level_correction
    if correction < level:
        return f"input level {level} exceeds the first link's level correction {correction}"
    return None


@_rule(
    "document_hash_not_deprecated",
    "3",
    ErrorCode.INT_13,
    "AggregationChainInputHashAlgorithmVerification",
)
def document_hash_not_deprecated(ctx: VerificationContext) -> str | None:
    """The document hash algorithm is not deprecated at signing time."""
    alg = ctx.signature.document_hash.algorithm
    if alg.is_deprecated_at(ctx.signature.aggregation_time):
        return f"document hash algorithm {alg} was deprecated at signing time"
    return None


@_rule(
    "rfc3161_algorithms",
    "4a",
    ErrorCode.INT_14,
    "Rfc3161DoesNotExist",
    "Rfc3161Existence",
    "Rfc3161RecordHashAlgorithmVerification",
)
def rfc3161_algorithms(ctx: VerificationContext) -> str | None:
    """The RFC 3161 record's TSTInfo and signed-attributes algorithms are not deprecated."""
    rec = ctx.signature.rfc3161_record
    if rec is None:
        return None
    for alg in (rec.tst_info_algorithm, rec.signed_attributes_algorithm):
        if alg.is_deprecated_at(rec.aggregation_time):
            return f"RFC 3161 algorithm {alg} deprecated at {rec.aggregation_time}"
    return None


@_rule(
    "rfc3161_output_algorithm",
    "4b",
    ErrorCode.INT_17,
    "Rfc3161RecordOutputHashAlgorithmVerification",
)
def rfc3161_output_algorithm(ctx: VerificationContext) -> str | None:
    """The RFC 3161 output algorithm is not deprecated."""
    sig = ctx.signature
    rec = sig.rfc3161_record
    if rec is None:
        return None
    out_alg = sig.aggregation_chains[0].input_hash.algorithm
    if out_alg.is_deprecated_at(rec.aggregation_time):
        return f"RFC 3161 output algorithm {out_alg} deprecated"
    return None


@_rule("rfc3161_output", "4c", ErrorCode.INT_01, "AggregationChainInputHashVerification")
def rfc3161_output(ctx: VerificationContext) -> str | None:
    """The RFC 3161 record's output is the first chain's input."""
    sig = ctx.signature
    rec = sig.rfc3161_record
    if rec is None:
        return None
    first_input = sig.aggregation_chains[0].input_hash
    try:
        output = rec.output_hash(first_input.algorithm)
    except JuraError as exc:
        return f"RFC 3161 output cannot be computed: {exc.message}"
    if output != first_input:
        return "RFC 3161 record output differs from the first chain's input"
    return None


def _metadata_problem(value: bytes, child_types: tuple[int, ...], padding: tuple) -> str | None:  # type: ignore[type-arg]
    if not padding:
        if imprint_like(value):
            return "metadata without padding could be read as an imprint"
        return None
    if len(padding) > 1:
        return "metadata padding occurs more than once"
    if not child_types or child_types[0] != _META_PAD:
        return "metadata padding is not the first element"
    pad = padding[0]
    if pad.tlv16:
        return "metadata padding is TLV16-encoded"
    if not (pad.non_critical and pad.forward):
        return "metadata padding lacks the N or F flag"
    if pad.value not in (b"\x01", b"\x01\x01"):
        return "metadata padding value is neither 01 nor 0101"
    if len(value) % 2:
        return "metadata value length is odd"
    return None


@_rule("metadata", "5", ErrorCode.INT_11, "AggregationChainMetaDataVerification")
def metadata(ctx: VerificationContext) -> str | None:
    """Metadata padding and imprint ambiguity on every link."""
    for chain in ctx.signature.aggregation_chains:
        for meta in chain.metadata_siblings:
            problem = _metadata_problem(meta.value, meta.child_types, meta.padding)
            if problem is not None:
                return problem
    return None


@_rule("aggregation_algorithms", "6", ErrorCode.INT_15, "AggregationChainHashAlgorithmVerification")
def aggregation_algorithms(ctx: VerificationContext) -> str | None:
    """No aggregation algorithm is deprecated at its chain's time."""
    for chain in ctx.signature.aggregation_chains:
        if chain.algorithm.is_deprecated_at(chain.aggregation_time):
            return f"aggregation algorithm {chain.algorithm} deprecated at {chain.aggregation_time}"
    return None


@_rule("chain_index_continuation", "7", ErrorCode.INT_12, "AggregationHashChainIndexContinuation")
def chain_index_continuation(ctx: VerificationContext) -> str | None:
    """Each chain index list extends the next one by one element."""
    sig = ctx.signature
    chains = sig.aggregation_chains
    for lower, upper in itertools.pairwise(chains):
        if lower.chain_index[:-1] != upper.chain_index:
            return "chain index lists are not a prefix sequence"
    rec = sig.rfc3161_record
    if rec is not None and rec.chain_index != chains[0].chain_index:
        return "RFC 3161 chain index differs from the first chain's"
    return None


@_rule("aggregation_times", "8", ErrorCode.INT_02, "AggregationHashChainTimeConsistency")
def aggregation_times(ctx: VerificationContext) -> str | None:
    """All aggregation chains (and the RFC 3161 record) share one time."""
    sig = ctx.signature
    t = sig.aggregation_chains[0].aggregation_time
    if any(c.aggregation_time != t for c in sig.aggregation_chains):
        return "aggregation chains carry different times"
    rec = sig.rfc3161_record
    if rec is not None and rec.aggregation_time != t:
        return "RFC 3161 record time differs from the chains'"
    return None


@_rule("aggregation_chains", "9", ErrorCode.INT_01, "AggregationHashChainConsistency")
def aggregation_chains(ctx: VerificationContext) -> str | None:
    """Each chain's output is the next one's input; computes the aggregation root."""
    level = 0
    expected: Imprint | None = None
    for chain in ctx.signature.aggregation_chains:
        if expected is not None and chain.input_hash != expected:
            return "an aggregation chain's input differs from the output below"
        try:
            expected, level = chain.evaluate(level)
        except JuraError as exc:
            return f"aggregation chain cannot be computed: {exc.message}"
    ctx.aggregation_root = expected
    return None


@_rule("chain_index_shape", "10", ErrorCode.INT_10, "AggregationHashChainIndexConsistency")
def chain_index_shape(ctx: VerificationContext) -> str | None:
    """Each chain index's last element encodes the chain's shape."""
    for chain in ctx.signature.aggregation_chains:
        if chain.chain_index[-1] != chain.shape_index:
            return "chain index does not match the chain's shape"
    return None


def _aggregation_root(ctx: VerificationContext) -> Imprint:
    root = ctx.aggregation_root
    if root is None:  # pragma: no cover - rule 9 always runs first
        raise JuraError("aggregation root not computed", code=ErrorCode.INT_01)
    return root


@_rule(
    "calendar_input",
    "11a",
    ErrorCode.INT_03,
    "CalendarHashChainDoesNotExist",
    "CalendarHashChainExistence",
    "CalendarHashChainInputHashVerification",
)
def calendar_input(ctx: VerificationContext) -> str | None:
    """The calendar chain's input is the aggregation root."""
    cal = ctx.signature.calendar_chain
    if cal is None or cal.input_hash == _aggregation_root(ctx):
        return None
    return "calendar chain input differs from the aggregation root"


@_rule("calendar_aggregation_time", "11b", ErrorCode.INT_04, "CalendarHashChainAggregationTime")
def calendar_aggregation_time(ctx: VerificationContext) -> str | None:
    """The calendar's aggregation time equals the chains' time."""
    cal = ctx.signature.calendar_chain
    if cal is None or cal.aggregation_time == ctx.signing_time:
        return None
    return "calendar aggregation time differs from the chains' time"


@_rule("calendar_shape", "11c", ErrorCode.INT_05, "CalendarHashChainRegistrationTime")
def calendar_shape(ctx: VerificationContext) -> str | None:
    """The calendar chain's shape reproduces its aggregation time.

    A shape that encodes no time at all is FAIL here (libksi: NA GEN-02);
    docs/verification.md argues why.
    """
    cal = ctx.signature.calendar_chain
    if cal is None:
        return None
    t = cal.time_from_shape()
    if t is None:
        return "the calendar chain's shape encodes no time"
    if t != cal.aggregation_time:
        return "calendar chain shape does not reproduce its aggregation time"
    ctx.calendar_time = t
    return None


@_rule(
    "calendar_algorithms_not_obsolete",
    "11d",
    ErrorCode.INT_16,
    "CalendarChainHashAlgorithmObsoleteAtPubTime",
)
def calendar_algorithms_not_obsolete(ctx: VerificationContext) -> str | None:
    """No left-link algorithm is obsolete at the publication time."""
    cal = ctx.signature.calendar_chain
    if cal is None:
        return None
    for alg in _left_algorithms(cal):
        if alg.is_obsolete_at(cal.publication_time):
            return f"calendar algorithm {alg} obsolete"
    return None


@_rule(
    "publication_record_hash",
    "11e",
    ErrorCode.INT_09,
    "SignaturePublicationRecordExistence",
    "SignaturePublicationRecordPublicationHash",
)
def publication_record_hash(ctx: VerificationContext) -> str | None:
    """The calendar root is the publication record's hash."""
    sig = ctx.signature
    rec, cal = sig.publication_record, sig.calendar_chain
    if rec is None or cal is None or _root(cal) == rec.published_hash:
        return None
    return "calendar root differs from the publication record"


@_rule(
    "publication_record_time", "11f", ErrorCode.INT_07, "SignaturePublicationRecordPublicationTime"
)
def publication_record_time(ctx: VerificationContext) -> str | None:
    """The publication record's time is the calendar chain's publication time."""
    sig = ctx.signature
    rec, cal = sig.publication_record, sig.calendar_chain
    if rec is None or cal is None or rec.publication_time == cal.publication_time:
        return None
    return "publication record time differs from the calendar's"


@_rule(
    "auth_record_hash",
    "11g",
    ErrorCode.INT_08,
    "SignatureDoesNotContainPublication",
    "CalendarAuthenticationRecordDoesNotExist",
    "CalendarAuthenticationRecordExistence",
    "CalendarAuthenticationRecordAggregationHash",
)
def auth_record_hash(ctx: VerificationContext) -> str | None:
    """The calendar root is the calendar auth record's hash."""
    sig = ctx.signature
    rec, cal = sig.calendar_auth_record, sig.calendar_chain
    if rec is None or cal is None or _root(cal) == rec.published_data.published_hash:
        return None
    return "calendar root differs from the auth record's hash"


@_rule("auth_record_time", "11h", ErrorCode.INT_06, "CalendarAuthenticationRecordAggregationTime")
def auth_record_time(ctx: VerificationContext) -> str | None:
    """The calendar auth record's time is the calendar chain's publication time."""
    sig = ctx.signature
    rec, cal = sig.calendar_auth_record, sig.calendar_chain
    if rec is None or cal is None:
        return None
    if rec.published_data.publication_time == cal.publication_time:
        return None
    return "auth record time differs from the calendar's"


#: The internal policy's rules, in order.
INTERNAL_RULES: tuple[Rule[VerificationContext], ...] = (
    document_hash_algorithm,
    document_hash,
    input_level,
    document_hash_not_deprecated,
    rfc3161_algorithms,
    rfc3161_output_algorithm,
    rfc3161_output,
    metadata,
    aggregation_algorithms,
    chain_index_continuation,
    aggregation_times,
    aggregation_chains,
    chain_index_shape,
    calendar_input,
    calendar_aggregation_time,
    calendar_shape,
    calendar_algorithms_not_obsolete,
    publication_record_hash,
    publication_record_time,
    auth_record_hash,
    auth_record_time,
)


# -- key-based policy -------------------------------------------------------------


@_rule(
    "calendar_chain_present",
    "K1",
    _GEN_02,
    "CalendarHashChainPresenceVerification",
    outcome=_NA,
)
def calendar_chain_present(ctx: VerificationContext) -> str | None:
    """The signature has a calendar chain."""
    if ctx.signature.calendar_chain is None:
        return "the signature has no calendar chain"
    return None


@_rule(
    "calendar_algorithms_not_deprecated",
    "K2",
    _GEN_02,
    "CalendarHashChainHashAlgorithmDeprecatedAtPubTime",
    "PublicationsFileSignatureCalendarChainHashAlgorithmDeprecatedAtPubTime",
    "UserProvidedPublicationSignatureCalendarChainHashAlgorithmDeprecatedAtPubTime",
    outcome=_NA,
)
def calendar_algorithms_not_deprecated(ctx: VerificationContext) -> str | None:
    """No left-link algorithm of the signature's calendar chain is deprecated."""
    cal = ctx.signature.calendar_chain
    if cal is None:
        return "the signature has no calendar chain"
    return _deprecated_left_algorithm(cal, cal.publication_time)


@_rule(
    "calendar_auth_record_present",
    "K3",
    _GEN_02,
    "CalendarAuthenticationRecordPresenceVerification",
    outcome=_NA,
)
def calendar_auth_record_present(ctx: VerificationContext) -> str | None:
    """The signature has a calendar authentication record."""
    if ctx.signature.calendar_auth_record is not None:
        return None
    if ctx.signature.publication_record is not None:
        return (
            "the signature has no calendar auth record: it is extended to a publication, "
            "so verify it with a publications file or a publication string " + _FILE_HINT
        )
    return "the signature has no calendar auth record"


def _calendar_certificate(ctx: VerificationContext) -> pki.Certificate | None:
    cert = ctx.certificate
    if cert is not None:
        return cert
    auth = ctx.signature.calendar_auth_record
    pubfile = ctx.publications_file
    if auth is None or pubfile is None:
        return None
    found = _find_calendar_certificate(auth.signature_data.certificate_id, pubfile)
    if found is not None:
        ctx.certificate = found
    return found


def _find_calendar_certificate(
    certificate_id: bytes, pubfile: VerifiedPublicationsFile
) -> pki.Certificate | None:
    """The calendar certificate ``certificate_id`` from the trusted file, or ``None``."""
    found = pubfile.find_certificate(certificate_id)
    # An X.509 certificate exists only once cryptography.x509 is loaded: no import here.
    x509 = sys.modules.get("cryptography.x509")
    if found is None or x509 is None:
        return None
    return found if isinstance(found, x509.Certificate) else None


@_rule("certificate_found", "K4", _GEN_02, "CertificateExistence", outcome=_NA)
def certificate_found(ctx: VerificationContext) -> str | None:
    """The calendar certificate is in a trusted publications file."""
    if _calendar_certificate(ctx) is not None:
        return None
    auth = ctx.signature.calendar_auth_record
    cert_id = auth.signature_data.certificate_id.hex() if auth is not None else "?"
    if ctx.publications_file is None:
        return (
            f"certificate {cert_id} not found: no trusted publications file is configured "
            + _FILE_HINT
        )
    return f"certificate {cert_id} not found in the trusted publications file"


@_rule("certificate_validity", "K5", ErrorCode.KEY_03, "CertificateValidity", stricter=True)
def certificate_validity(ctx: VerificationContext) -> str | None:
    """The calendar certificate was valid at the signing time and when it signed.

    The key signs the auth record at its publication time (libksi checks
    the certificate there); the signing time is what the result claims.
    Both must lie in the validity (stricter than libksi, which checks only
    the publication time): a key used after its certificate expired proves
    nothing, even for an earlier second.
    """
    cert = _calendar_certificate(ctx)
    auth = ctx.signature.calendar_auth_record
    assert cert is not None
    assert auth is not None
    from jura_trust import pki  # noqa: PLC0415

    if not pki.certificate_valid_at(cert, ctx.signing_time):
        return "the calendar certificate was not valid at the aggregation time"
    if not pki.certificate_valid_at(cert, auth.published_data.publication_time):
        return "the calendar certificate was not valid when it signed the auth record"
    return None


@_rule(
    "calendar_auth_signature",
    "K6",
    ErrorCode.KEY_02,
    "CalendarAuthenticationRecordSignatureVerification",
)
def calendar_auth_signature(ctx: VerificationContext) -> str | None:
    """The calendar auth record's signature verifies with the certificate."""
    cert = _calendar_certificate(ctx)
    auth = ctx.signature.calendar_auth_record
    cal = ctx.signature.calendar_chain
    assert cert is not None
    assert auth is not None
    assert cal is not None
    from jura_trust import pki  # noqa: PLC0415

    try:
        pki.verify_signature(
            auth.signature_data.signature_type,
            auth.signature_data.signature_value,
            auth.signed_bytes,
            cert,
        )
    except JuraError as exc:
        return exc.message
    ctx.anchor = _calendar_key_anchor(cert, auth.signature_data.certificate_id)
    ctx.proven_time = ctx.calendar_time
    return None


#: The calendar-key anchors in use, by certificate object and id (anchors are
#: immutable, so results share them): ``(id(cert), certificate id) -> (cert, anchor)``.
_KEY_ANCHORS: dict[tuple[int, bytes], tuple[pki.Certificate, Anchor]] = {}


def _calendar_key_anchor(cert: pki.Certificate, certificate_id: bytes) -> Anchor:
    """The anchor of a result resting on the calendar key ``cert`` (made on first use)."""
    key = (id(cert), certificate_id)
    found = _KEY_ANCHORS.get(key)
    if found is not None and found[0] is cert:
        return found[1]
    anchor = _new_calendar_key_anchor(cert, certificate_id)
    if len(_KEY_ANCHORS) >= 64:
        _KEY_ANCHORS.clear()
    _KEY_ANCHORS[key] = (cert, anchor)
    return anchor


def _new_calendar_key_anchor(cert: pki.Certificate, certificate_id: bytes) -> Anchor:
    cert_id = certificate_id.hex()

    def build() -> tuple[str, dict[str, Any]]:
        from jura_trust import pki  # noqa: PLC0415

        subject = pki.display_name(cert.subject)
        return f"calendar key {cert_id} ({subject})", {
            "certificate_id": cert_id,
            "subject": subject,
            "not_before": format_time(int(cert.not_valid_before_utc.timestamp())),
            "not_after": format_time(int(cert.not_valid_after_utc.timestamp())),
        }

    return Anchor("calendar-key", build=build)


# -- publication-based policies ---------------------------------------------------


def _publication_anchor(
    ctx: VerificationContext, data: PublicationData, *, user: bool, extended: bool
) -> None:
    ctx.anchor = _publication_anchor_of(ctx.publications_file, data, user=user, extended=extended)


def _publication_anchor_of(
    pubfile: VerifiedPublicationsFile | None,
    data: PublicationData,
    *,
    user: bool,
    extended: bool,
) -> Anchor:
    """The anchor of a result resting on the publication ``data`` (made on first use)."""

    def build() -> tuple[str, dict[str, Any]]:
        details: dict[str, Any] = {
            "publication_time": data.publication_time,
            "publication_date": format_time(data.publication_time),
            "published_hash": str(data.published_hash),
            "publication_string": encode_publication_string(data),
            "extended": extended,
        }
        if user:
            source = "publication string given by the user"
            details["source"] = "user"
        else:
            assert pubfile is not None
            verification = pubfile.verification
            if isinstance(verification, str):
                signer = f"not checked: {verification}"
            else:
                from jura_trust import pki  # noqa: PLC0415

                signer = pki.display_name(verification.signer.subject)
            source = f"publications file signed by {signer}"
            details["source"] = "publications-file"
            details["publications_file_signer"] = signer
        return f"publication {details['publication_string']} ({source})", details

    return Anchor("publication", build=build)


@_rule(
    "publications_file_present",
    "P1",
    _GEN_02,
    outcome=_NA,
)
def publications_file_present(ctx: VerificationContext) -> str | None:
    """A trusted publications file is configured."""
    if ctx.publications_file is not None:
        return None
    return "no trusted publications file " + _FILE_HINT


def signature_publication_in_file(ctx: VerificationContext) -> bool:
    """The signature's own publication time is in the trusted file (a branch)."""
    sig = ctx.signature
    rec = sig.publication_record
    pubfile = ctx.publications_file
    if rec is None or sig.calendar_chain is None or pubfile is None:
        return False
    ctx.file_record = pubfile.find_publication(rec.publication_time)
    return ctx.file_record is not None


@_rule(
    "publication_in_file",
    "P2",
    ErrorCode.PUB_05,
    "PublicationsFileContainsSignaturePublication",
    "PublicationsFileSignaturePublicationVerification",
)
def publication_in_file(ctx: VerificationContext) -> str | None:
    """The signature's publication record equals the file's for that time."""
    rec = ctx.signature.publication_record
    found = ctx.file_record
    assert rec is not None
    assert found is not None
    if found.published_hash != rec.published_hash:
        return "the signature's publication differs from the file's"
    ctx.target = found.published_data
    return None


@_rule(
    "suitable_publication",
    "P3",
    _GEN_02,
    "SignaturePublicationRecordMissing",
    "PublicationsFileDoesNotContainSignaturePublication",
    "PublicationsFileContainsSuitablePublication",
    outcome=_NA,
)
def suitable_publication(ctx: VerificationContext) -> str | None:
    """The file has a publication at or after the signing time."""
    pubfile = ctx.publications_file
    assert pubfile is not None
    target = pubfile.nearest_publication(ctx.signing_time)
    if target is None:
        return "no publication at or after the signing time"
    ctx.target = target.published_data
    return None


def has_user_publication_of_signature(ctx: VerificationContext) -> bool:
    """The signature carries the user's publication (same time; a branch)."""
    sig = ctx.signature
    rec, user = sig.publication_record, ctx.user_publication
    if rec is None or user is None or sig.calendar_chain is None:
        return False
    return rec.publication_time == user.publication_time


@_rule(
    "user_publication_present",
    "U1",
    _GEN_02,
    outcome=_NA,
)
def user_publication_present(ctx: VerificationContext) -> str | None:
    """A user publication is given."""
    if ctx.user_publication is None:
        return "no user publication given (--publication-string)"
    ctx.target = ctx.user_publication
    return None


@_rule(
    "user_publication_hash",
    "U2",
    ErrorCode.PUB_04,
    "UserProvidedPublicationTimeVerification",
    "UserProvidedPublicationHashVerification",
)
def user_publication_hash(ctx: VerificationContext) -> str | None:
    """The signature's publication hash equals the user's."""
    rec, user = ctx.signature.publication_record, ctx.user_publication
    assert rec is not None
    assert user is not None
    if rec.published_hash != user.published_hash:
        return "the signature's publication differs from the user's"
    return None


@_rule(
    "user_publication_time",
    "U3",
    _GEN_02,
    "UserProvidedPublicationTimeDoesNotSuit",
    "UserProvidedPublicationCreationTimeVerification",
    outcome=_NA,
)
def user_publication_time(ctx: VerificationContext) -> str | None:
    """The user publication is later than the signing time."""
    user = ctx.user_publication
    assert user is not None
    if user.publication_time <= ctx.signing_time:
        return "the user publication is not after the signing time"
    return None


def _signature_publication_anchor(*, user: bool) -> Callable[[VerificationContext], str | None]:
    """Record the anchor of a signature that already holds its publication."""

    def check(ctx: VerificationContext) -> str | None:
        """No calendar algorithm deprecated at publication time; anchors on the publication."""
        problem = calendar_algorithms_not_deprecated.check(ctx)
        if problem is not None:
            return problem
        cal = ctx.signature.calendar_chain
        rec = ctx.signature.publication_record
        assert cal is not None
        assert rec is not None
        _publication_anchor(ctx, rec.published_data, user=user, extended=False)
        ctx.proven_time = ctx.calendar_time
        return None

    return check


#: The signature's own publication, in the file: algorithms, then the anchor.
file_publication_algorithms: Rule[VerificationContext] = Rule(
    "file_publication_algorithms",
    "P4",
    _GEN_02,
    _signature_publication_anchor(user=False),
    outcome=_NA,
    libksi=("PublicationsFileSignatureCalendarChainHashAlgorithmDeprecatedAtPubTime",),
)
#: The signature's own publication, the user's: algorithms, then the anchor.
user_publication_algorithms: Rule[VerificationContext] = Rule(
    "user_publication_algorithms",
    "U4",
    _GEN_02,
    _signature_publication_anchor(user=True),
    outcome=_NA,
    libksi=("UserProvidedPublicationSignatureCalendarChainHashAlgorithmDeprecatedAtPubTime",),
)


@_rule(
    "extending_allowed",
    "E1",
    _GEN_02,
    "PublicationsFileExtendingPermittedVerification",
    "UserProvidedPublicationExtendingPermittedVerification",
    outcome=_NA,
)
def extending_allowed(ctx: VerificationContext) -> str | None:
    """Extending is permitted."""
    return None if ctx.extending_allowed else "extending is not permitted (--extending-allowed)"


@_rule(
    "extend_to_publication",
    "E2",
    _GEN_02,
    "PublicationsFileExtendToPublication",
    "UserProvidedPublicationExtendToPublication",
    outcome=_NA,
)
def extend_to_publication(ctx: VerificationContext) -> str | None:
    """The extender returns a calendar chain to the target publication."""
    target = ctx.target
    assert target is not None
    try:
        ctx.extended = ctx.extend(target.publication_time)
    except JuraError as exc:
        return f"extending failed: {exc.message}"
    return None


def _extended(ctx: VerificationContext) -> CalendarChain:
    chain = ctx.extended
    assert chain is not None
    return chain


@_rule(
    "extended_algorithms",
    "E3",
    _GEN_02,
    "PublicationsFileExtendedCalendarChainHashAlgorithmDeprecatedAtPubTime",
    "UserProvidedPublicationExtendedCalendarChainHashAlgorithmDeprecatedAtPubTime",
    outcome=_NA,
)
def extended_algorithms(ctx: VerificationContext) -> str | None:
    """No left-link algorithm of the extended chain is deprecated at publication time."""
    target = ctx.target
    assert target is not None
    return _deprecated_left_algorithm(_extended(ctx), target.publication_time)


@_rule(
    "extended_root",
    "E4",
    ErrorCode.PUB_01,
    "PublicationsFilePublicationHashMatchesExtenderResponse",
    "UserProvidedPublicationHashMatchesExtendedResponse",
)
def extended_root(ctx: VerificationContext) -> str | None:
    """The extended calendar root is the published hash."""
    target = ctx.target
    assert target is not None
    if _root(_extended(ctx)) != target.published_hash:
        return "the extended calendar root differs from the publication"
    return None


@_rule(
    "extended_publication_time",
    "E5",
    ErrorCode.PUB_02,
    "PublicationsFilePublicationTimeMatchesExtenderResponse",
    "UserProvidedPublicationTimeMatchesExtendedResponse",
)
def extended_publication_time(ctx: VerificationContext) -> str | None:
    """The extended chain ends at the publication's time."""
    target = ctx.target
    assert target is not None
    if _extended(ctx).publication_time != target.publication_time:
        return "the extended chain ends at another publication time"
    return None


@_rule(
    "extended_signing_time",
    "E6",
    ErrorCode.PUB_02,
    "UserProvidedPublicationTimeMatchesExtendedResponse",
    stricter=True,
)
def extended_signing_time(ctx: VerificationContext) -> str | None:
    """The extended chain's shape proves the signing time (stricter than libksi).

    libksi compares only publication times in the publications-file path, and
    the unauthenticated time field in the user-publication path; either lets
    an extender response for a later second backdate a signature.
    """
    chain = _extended(ctx)
    problem = _signing_time_problem(chain, ctx.signing_time)
    if problem is not None:
        return problem
    ctx.proven_time = ctx.signing_time
    return None


def _extended_input(ctx: VerificationContext, *, user: bool) -> str | None:
    chain = _extended(ctx)
    if chain.input_hash != _aggregation_root(ctx):
        return "the extended chain's input differs from the aggregation root"
    target = ctx.target
    assert target is not None
    _publication_anchor(ctx, target, user=user, extended=True)
    return None


@_rule("file_extended_input", "E7", ErrorCode.PUB_03, "PublicationsFileExtendedSignatureInputHash")
def file_extended_input(ctx: VerificationContext) -> str | None:
    """The extended chain's input is the aggregation root; anchors on the file's publication."""
    return _extended_input(ctx, user=False)


@_rule(
    "user_extended_input",
    "E7",
    ErrorCode.PUB_03,
    "UserProvidedPublicationExtendedSignatureInputHash",
)
def user_extended_input(ctx: VerificationContext) -> str | None:
    """The extended chain's input is the aggregation root; anchors on the user's publication."""
    return _extended_input(ctx, user=True)


# -- calendar-based policy -----------------------------------------------------------


@_rule(
    "extend_calendar",
    "C1",
    _GEN_02,
    "ExtendSignatureCalendarChainInputHashToHead",
    "ExtendSignatureCalendarChainInputHashToSamePubTime",
    outcome=_NA,
)
def extend_calendar(ctx: VerificationContext) -> str | None:
    """The extender returns a chain (to the head, or to the signature's publication time)."""
    cal = ctx.signature.calendar_chain
    try:
        ctx.extended = ctx.extend(cal.publication_time if cal is not None else None)
    except JuraError as exc:
        return f"extending failed: {exc.message}"
    return None


@_rule(
    "calendar_right_links",
    "C2",
    ErrorCode.CAL_04,
    "SignatureDoesNotContainPublication",
    "ExtendedSignatureCalendarChainRightLinksMatch",
)
def calendar_right_links(ctx: VerificationContext) -> str | None:
    """The right links of the signature's and the extender's chains are the same."""
    cal = ctx.signature.calendar_chain
    assert cal is not None
    if _extended(ctx).right_siblings() != cal.right_siblings():
        return "right links differ from the extender's calendar"
    return None


@_rule(
    "calendar_root",
    "C3",
    ErrorCode.CAL_01,
    "SignaturePublicationRecordExistence",
    "ExtendedSignatureCalendarChainRootHash",
)
def calendar_root(ctx: VerificationContext) -> str | None:
    """The extender's calendar root is the signature's publication."""
    rec = ctx.signature.publication_record
    assert rec is not None
    if _root(_extended(ctx)) != rec.published_hash:
        return "the extender's calendar root differs from the publication record"
    return None


@_rule("calendar_extended_input", "C4", ErrorCode.CAL_02, "ExtendedSignatureCalendarChainInputHash")
def calendar_extended_input(ctx: VerificationContext) -> str | None:
    """The extender's chain takes the aggregation root as its input."""
    if _extended(ctx).input_hash != _aggregation_root(ctx):
        return "the extended chain's input differs from the aggregation root"
    return None


@_rule(
    "calendar_extended_time",
    "C5",
    ErrorCode.CAL_03,
    "ExtendedSignatureCalendarChainAggregationTime",
)
def calendar_extended_time(ctx: VerificationContext) -> str | None:
    """The extender's chain proves the signing time by its shape (not its time field)."""
    chain = _extended(ctx)
    problem = _signing_time_problem(chain, ctx.signing_time)
    if problem is not None:
        return problem
    ctx.proven_time = ctx.signing_time
    name, published = ctx.extender_name, chain.publication_time
    ctx.anchor = Anchor(
        "extender",
        build=lambda: (
            f"the calendar of {name}, consulted online",
            {"extender": name, "calendar_publication_time": published},
        ),
    )
    return None

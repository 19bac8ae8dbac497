"""KSI verification rules, one function per check, in the spec's order.

Each rule takes a :class:`VerificationContext` and returns a
:class:`RuleResult`. The numbering in the docstrings follows
spec/ksi-format.md section 10 and docs/verification.md; the rule order
decides which code a signature with several defects gets, so policies call
the rules in exactly this order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import attrs

from jura_trust.core.chains import CalendarChain, Direction, imprint_like
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.publication import PublicationData
from jura_trust.core.signature import Signature
from jura_trust.errors import ErrorCode, JuraError, Outcome
from jura_trust.publications import VerifiedPublicationsFile
from jura_trust.verify.result import RuleResult

__all__ = ["Extender", "VerificationContext"]

#: Extends a signature: ``(aggregation_time, publication_time or None for
#: the head) -> CalendarChain``. Raises a JuraError when it cannot.
Extender = Callable[[int, int | None], CalendarChain]

_META_PAD = 0x1E


def _is_verified(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, VerifiedPublicationsFile):
        raise TypeError(
            "publications_file must be a VerifiedPublicationsFile: use "
            "PublicationsFile.trusted(anchors, constraints) to check its signature, or "
            "VerifiedPublicationsFile.unchecked(file, reason) to trust it explicitly"
        )


@attrs.define(slots=True)
class VerificationContext:
    """Everything a policy may use, plus caches of computed values.

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
    """

    signature: Signature
    document_hash: Imprint | None = None
    input_level: int = 0
    publications_file: VerifiedPublicationsFile | None = attrs.field(
        default=None, validator=attrs.validators.optional(_is_verified)
    )
    user_publication: PublicationData | None = None
    extending_allowed: bool = False
    extender: Extender | None = None
    _aggregation_root: Imprint | None = attrs.field(default=None, init=False)
    _extended: dict[int | None, CalendarChain | JuraError] = attrs.field(factory=dict, init=False)

    def extend(self, publication_time: int | None) -> CalendarChain:
        """The extended calendar chain (cached); raises JuraError."""
        cached = self._extended.get(publication_time)
        if cached is None:
            if self.extender is None:
                raise JuraError("no extender is configured", code=ErrorCode.GEN_02)
            try:
                cached = self.extender(self.signature.aggregation_time, publication_time)
            except JuraError as exc:
                cached = exc
            self._extended[publication_time] = cached
        if isinstance(cached, JuraError):
            raise cached
        return cached


_OK: dict[str, RuleResult] = {}


def ok(rule: str) -> RuleResult:
    """An OK result (results are immutable, so one per rule name is shared)."""
    result = _OK.get(rule)
    if result is None:
        result = _OK[rule] = RuleResult(rule, Outcome.OK)
    return result


def fail(rule: str, code: ErrorCode, message: str) -> RuleResult:
    """A FAIL result."""
    return RuleResult(rule, Outcome.FAIL, code, message)


def na(rule: str, message: str) -> RuleResult:
    """An NA (inconclusive) result, always GEN-02."""
    return RuleResult(rule, Outcome.NA, ErrorCode.GEN_02, message)


# -- internal policy ------------------------------------------------------------


def document_hash_algorithm(ctx: VerificationContext) -> RuleResult:
    """1a. The given document hash uses the signature's algorithm (GEN-04)."""
    name = "document_hash_algorithm"
    if ctx.document_hash is None:
        return ok(name)
    if ctx.document_hash.algorithm_id != ctx.signature.document_hash.algorithm_id:
        return fail(
            name,
            ErrorCode.GEN_04,
            f"document hash algorithm {ctx.document_hash.algorithm} differs from "
            f"the signature's {ctx.signature.document_hash.algorithm}",
        )
    return ok(name)


def document_hash(ctx: VerificationContext) -> RuleResult:
    """1b. The given document hash equals the signature's (GEN-01)."""
    name = "document_hash"
    if ctx.document_hash is None:
        return ok(name)
    if ctx.document_hash != ctx.signature.document_hash:
        return fail(name, ErrorCode.GEN_01, "wrong document: the document hash does not match")
    return ok(name)


def input_level(ctx: VerificationContext) -> RuleResult:
    """2. A claimed input level fits the first link's level correction (GEN-03)."""
    name = "input_level"
    level = ctx.input_level
    if level <= 0:
        return ok(name)
    sig = ctx.signature
    if sig.rfc3161_record is not None:
        return fail(name, ErrorCode.GEN_03, "an input level is not allowed with an RFC 3161 record")
    first = sig.aggregation_chains[0].links[0]
    if first.level_correction < level:
        return fail(
            name,
            ErrorCode.GEN_03,
            f"input level {level} exceeds the first link's level correction "
            f"{first.level_correction}",
        )
    return ok(name)


def document_hash_not_deprecated(ctx: VerificationContext) -> RuleResult:
    """3. The document hash algorithm is not deprecated at signing time (INT-13)."""
    name = "document_hash_not_deprecated"
    sig = ctx.signature
    alg = sig.document_hash.algorithm
    if alg.is_deprecated_at(sig.aggregation_time):
        return fail(
            name, ErrorCode.INT_13, f"document hash algorithm {alg} was deprecated at signing time"
        )
    return ok(name)


def rfc3161_record(ctx: VerificationContext) -> RuleResult:
    """4. RFC 3161 record: algorithms (INT-14, INT-17) and output (INT-01)."""
    name = "rfc3161_record"
    sig = ctx.signature
    rec = sig.rfc3161_record
    if rec is None:
        return ok(name)
    t = rec.aggregation_time
    for alg in (rec.tst_info_algorithm, rec.signed_attributes_algorithm):
        if alg.is_deprecated_at(t):
            return fail(name, ErrorCode.INT_14, f"RFC 3161 algorithm {alg} deprecated at {t}")
    first_input = sig.aggregation_chains[0].input_hash
    out_alg = first_input.algorithm
    if out_alg.is_deprecated_at(t):
        return fail(name, ErrorCode.INT_17, f"RFC 3161 output algorithm {out_alg} deprecated")
    try:
        output = rec.output_hash(out_alg)
    except JuraError as exc:
        return fail(name, ErrorCode.INT_01, f"RFC 3161 output cannot be computed: {exc.message}")
    if output != first_input:
        return fail(
            name, ErrorCode.INT_01, "RFC 3161 record output differs from the first chain's input"
        )
    return ok(name)


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


def metadata(ctx: VerificationContext) -> RuleResult:
    """5. Metadata padding and imprint ambiguity on every link (INT-11)."""
    name = "metadata"
    for chain in ctx.signature.aggregation_chains:
        for link in chain.links:
            meta = link.metadata
            if meta is None:
                continue
            problem = _metadata_problem(meta.value, meta.child_types, meta.padding)
            if problem is not None:
                return fail(name, ErrorCode.INT_11, problem)
    return ok(name)


def aggregation_algorithms(ctx: VerificationContext) -> RuleResult:
    """6. No aggregation algorithm deprecated at its chain's time (INT-15)."""
    name = "aggregation_algorithms"
    for chain in ctx.signature.aggregation_chains:
        if chain.algorithm.is_deprecated_at(chain.aggregation_time):
            return fail(
                name,
                ErrorCode.INT_15,
                f"aggregation algorithm {chain.algorithm} deprecated at {chain.aggregation_time}",
            )
    return ok(name)


def chain_index_continuation(ctx: VerificationContext) -> RuleResult:
    """7. Each chain index list extends the next one by one element (INT-12)."""
    name = "chain_index_continuation"
    sig = ctx.signature
    chains = sig.aggregation_chains
    for lower, upper in itertools.pairwise(chains):
        if lower.chain_index[:-1] != upper.chain_index:
            return fail(name, ErrorCode.INT_12, "chain index lists are not a prefix sequence")
    rec = sig.rfc3161_record
    if rec is not None and rec.chain_index != chains[0].chain_index:
        return fail(name, ErrorCode.INT_12, "RFC 3161 chain index differs from the first chain's")
    return ok(name)


def aggregation_times(ctx: VerificationContext) -> RuleResult:
    """8. All aggregation chains (and the RFC 3161 record) share one time (INT-02)."""
    name = "aggregation_times"
    sig = ctx.signature
    t = sig.aggregation_chains[0].aggregation_time
    if any(c.aggregation_time != t for c in sig.aggregation_chains):
        return fail(name, ErrorCode.INT_02, "aggregation chains carry different times")
    rec = sig.rfc3161_record
    if rec is not None and rec.aggregation_time != t:
        return fail(name, ErrorCode.INT_02, "RFC 3161 record time differs from the chains'")
    return ok(name)


def aggregation_chains(ctx: VerificationContext) -> RuleResult:
    """9. Each chain's output is the next one's input; computes the root (INT-01)."""
    name = "aggregation_chains"
    level = 0
    expected: Imprint | None = None
    for chain in ctx.signature.aggregation_chains:
        if expected is not None and chain.input_hash != expected:
            return fail(
                name, ErrorCode.INT_01, "an aggregation chain's input differs from the output below"
            )
        try:
            expected, level = chain.evaluate(level)
        except JuraError as exc:
            return fail(
                name, ErrorCode.INT_01, f"aggregation chain cannot be computed: {exc.message}"
            )
    ctx._aggregation_root = expected
    return ok(name)


def chain_index_shape(ctx: VerificationContext) -> RuleResult:
    """10. Each chain index's last element encodes the chain's shape (INT-10)."""
    name = "chain_index_shape"
    for chain in ctx.signature.aggregation_chains:
        if chain.chain_index[-1] != chain.shape_index:
            return fail(name, ErrorCode.INT_10, "chain index does not match the chain's shape")
    return ok(name)


def aggregation_root(ctx: VerificationContext) -> Imprint:
    """The aggregation root (computed by rule 9)."""
    root = ctx._aggregation_root
    if root is None:
        raise JuraError("aggregation root not computed", code=ErrorCode.INT_01)
    return root


def calendar_input(ctx: VerificationContext) -> RuleResult:
    """11a. The calendar chain's input is the aggregation root (INT-03)."""
    name = "calendar_input"
    cal = ctx.signature.calendar_chain
    if cal is None:
        return ok(name)
    if cal.input_hash != aggregation_root(ctx):
        return fail(
            name, ErrorCode.INT_03, "calendar chain input differs from the aggregation root"
        )
    return ok(name)


def calendar_aggregation_time(ctx: VerificationContext) -> RuleResult:
    """11b. The calendar's aggregation time equals the chains' (INT-04)."""
    name = "calendar_aggregation_time"
    sig = ctx.signature
    cal = sig.calendar_chain
    if cal is None:
        return ok(name)
    if cal.aggregation_time != sig.aggregation_chains[0].aggregation_time:
        return fail(
            name, ErrorCode.INT_04, "calendar aggregation time differs from the chains' time"
        )
    return ok(name)


def calendar_shape(ctx: VerificationContext) -> RuleResult:
    """11c. The calendar chain's shape reproduces its aggregation time (INT-05)."""
    name = "calendar_shape"
    cal = ctx.signature.calendar_chain
    if cal is None:
        return ok(name)
    t = cal.time_from_shape()
    if t is None or t != cal.aggregation_time:
        return fail(
            name, ErrorCode.INT_05, "calendar chain shape does not reproduce its aggregation time"
        )
    return ok(name)


def _left_algorithms(chain: CalendarChain) -> list[HashAlgorithm]:
    left = Direction.LEFT
    ids = {link.sibling.value[0] for link in chain.links if link.direction is left}
    return [HashAlgorithm.from_id(i) for i in sorted(ids)]


def calendar_algorithms_not_obsolete(ctx: VerificationContext) -> RuleResult:
    """11d. No left-link algorithm obsolete at publication time (INT-16)."""
    name = "calendar_algorithms_not_obsolete"
    cal = ctx.signature.calendar_chain
    if cal is None:
        return ok(name)
    for alg in _left_algorithms(cal):
        if alg.is_obsolete_at(cal.publication_time):
            return fail(name, ErrorCode.INT_16, f"calendar algorithm {alg} obsolete")
    return ok(name)


def _calendar_root(cal: CalendarChain) -> Imprint | None:
    try:
        return cal.root()
    except JuraError:
        return None


def publication_record(ctx: VerificationContext) -> RuleResult:
    """11e. The publication record matches the calendar (INT-09, then INT-07)."""
    name = "publication_record"
    sig = ctx.signature
    rec = sig.publication_record
    cal = sig.calendar_chain
    if rec is None or cal is None:
        return ok(name)
    data = rec.published_data
    if _calendar_root(cal) != data.published_hash:
        return fail(name, ErrorCode.INT_09, "calendar root differs from the publication record")
    if data.publication_time != cal.publication_time:
        return fail(name, ErrorCode.INT_07, "publication record time differs from the calendar's")
    return ok(name)


def calendar_auth_record(ctx: VerificationContext) -> RuleResult:
    """11f. The calendar auth record matches the calendar (INT-08, then INT-06)."""
    name = "calendar_auth_record"
    sig = ctx.signature
    rec = sig.calendar_auth_record
    cal = sig.calendar_chain
    if rec is None or cal is None:
        return ok(name)
    data = rec.published_data
    if _calendar_root(cal) != data.published_hash:
        return fail(name, ErrorCode.INT_08, "calendar root differs from the auth record's hash")
    if data.publication_time != cal.publication_time:
        return fail(name, ErrorCode.INT_06, "auth record time differs from the calendar's")
    return ok(name)


#: The internal policy's rules, in order.
INTERNAL_RULES: tuple[Callable[[VerificationContext], RuleResult], ...] = (
    document_hash_algorithm,
    document_hash,
    input_level,
    document_hash_not_deprecated,
    rfc3161_record,
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
    publication_record,
    calendar_auth_record,
)


def calendar_algorithms_not_deprecated(chain: CalendarChain, at: int, name: str) -> RuleResult:
    """No left-link algorithm deprecated at ``at``; else NA (GEN-02)."""
    for alg in _left_algorithms(chain):
        if alg.is_deprecated_at(at):
            return na(name, f"calendar chain uses {alg}, deprecated at the publication time")
    return ok(name)

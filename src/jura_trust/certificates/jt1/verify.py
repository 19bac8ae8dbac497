"""JT1 verification: the numbered steps of ``docs/qr.md`` as rules run by the kernel.

Step 1 (reading the text, :func:`~jura_trust.certificates.jt1.decode.decode_certificate`)
raises :class:`~jura_trust.errors.CertificateError` for text that cannot be
read. Steps 2 to 10 are :class:`~jura_trust.verify.engine.Rule` values in
:data:`JT1_POLICY`, each with a stable name, its step number and exactly one
``CRT-xx`` code, run in order by :func:`~jura_trust.verify.engine.evaluate`;
the first that is not OK decides. :func:`verify_certificate` returns the
kernel's one result type, a :class:`~jura_trust.verify.result.VerificationResult`
(policy ``"jt1"``): OK only when every rule held, FAIL where the certificate
is proven bad, NA where an input needed to decide is missing or out of date
(no seal registry for a compact text, a trust list or revocation list that
is not current, a KSI signature that cannot be proven with the trust
configuration given). Only an OK result carries facts (issuer, fields,
times...) and an ``"issuer-key"`` anchor; a non-valid result carries no
claim of the certificate at all.

Rules that only depend on the seal record (issuer known, its key, the COSE
and KSI signatures, the seal's claimed time, the key's validity at the KSI
time) are looked up in a :class:`SealCache` that the caller owns
(:class:`~jura_trust.certificates.jt1.verify.SealCache`; a fresh one per call
when none is given). A cache hit skips the computation, never the rule: the
trace is the same with or without it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import attrs

from jura_trust.certificates.jt1._common import DEFAULT_CLOCK_SKEW, _aware
from jura_trust.certificates.jt1.decode import DecodedCertificate, decode_certificate
from jura_trust.certificates.jt1.paths import path_root
from jura_trust.certificates.jt1.seal import PageRecord, SealRecord, page_record_id
from jura_trust.certificates.registry import SealRegistry
from jura_trust.certificates.trustlist import Issuer, IssuerKey, RevocationList, TrustList
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import CertificateError, ErrorCode, JuraError, Outcome
from jura_trust.publications import VerifiedPublicationsFile
from jura_trust.verify import Extender, Policy, verify_signature
from jura_trust.verify.engine import AllOf, Node, Rule, When, evaluate
from jura_trust.verify.result import Anchor, VerificationResult

__all__ = [
    "DEFAULT_SEAL_CACHE_SIZE",
    "JT1_POLICY",
    "JT1_POLICY_NAME",
    "KsiCheck",
    "SealCache",
    "iso_time",
    "verify_certificate",
]

#: The ``policy`` of every JT1 :class:`~jura_trust.verify.result.VerificationResult`.
JT1_POLICY_NAME = "jt1"
#: How many seal checks a :class:`SealCache` keeps by default.
DEFAULT_SEAL_CACHE_SIZE = 64


def iso_time(value: datetime | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC), or ``None``."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KsiCheck(Protocol):
    """Verifies the KSI signature of a seal (a custom policy hook)."""

    def __call__(self, signature: Signature, seal: Imprint) -> tuple[bool, str]:
        """``(ok, message)``: ok only when the signature is proven good."""
        ...


@attrs.frozen(slots=True)
class _KsiVerdict:
    """The outcome of the seal's KSI check: what it proved and what it rests on."""

    outcome: Outcome
    message: str
    time: datetime | None = None
    anchor: dict[str, Any] | None = None


_KsiRunner = Callable[[bytes, Imprint], _KsiVerdict]


def _read_signature(data: bytes) -> Signature | str:
    try:
        return Signature.from_bytes(data)
    except JuraError as exc:
        return f"unreadable KSI signature: {exc}"


def _default_ksi(
    policy: Policy, publications_file: VerifiedPublicationsFile | None, extender: Extender | None
) -> _KsiRunner:
    def run(data: bytes, seal: Imprint) -> _KsiVerdict:
        signature = _read_signature(data)
        if isinstance(signature, str):
            return _KsiVerdict(Outcome.FAIL, signature)
        result = verify_signature(
            signature,
            policy=policy,
            document_hash=seal,
            publications_file=publications_file,
            extending_allowed=extender is not None,
            extender=extender,
        )
        if result.outcome is not Outcome.OK:
            code = result.code.value if result.code else "-"
            message = f"{result.policy} policy: {result.outcome.value} [{code}] {result.message}"
            return _KsiVerdict(result.outcome, message)
        proven = result.aggregation_time
        if proven is None:
            proven = signature.aggregation_time
        return _KsiVerdict(
            Outcome.OK,
            f"{result.policy} policy: OK",
            datetime.fromtimestamp(proven, UTC),
            result.anchor.as_dict(),
        )

    return run


def _custom_ksi(check: KsiCheck) -> _KsiRunner:
    def run(data: bytes, seal: Imprint) -> _KsiVerdict:
        signature = _read_signature(data)
        if isinstance(signature, str):
            return _KsiVerdict(Outcome.FAIL, signature)
        ok, message = check(signature, seal)
        if not ok:
            return _KsiVerdict(Outcome.FAIL, f"KSI signature: {message}")
        return _KsiVerdict(
            Outcome.OK, message, datetime.fromtimestamp(signature.aggregation_time, UTC)
        )

    return run


# -- seal cache ------------------------------------------------------------------------


@attrs.frozen(slots=True)
class _SealVerdict:
    """Seal checks that passed: issuer known (4), key and COSE (5), KSI (6), key valid (7)."""

    record: SealRecord
    issuer: Issuer
    key: IssuerKey
    ksi: _KsiVerdict


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

    There is no shared module-level cache: whoever verifies many
    certificates (a scanner, a service, the trust module's ``Verifier``)
    owns one and passes it to :func:`verify_certificate`.

    Identity keys assume the trust list and publications file are not
    changed in place (jura_trust's own are frozen); do not pass a cache
    with a mutable publications source.

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


# -- the context the rules read and fill ---------------------------------------------------


@attrs.define(slots=True, eq=False)
class _Jt1Context:
    """Internal: the inputs of the rules and what earlier rules established.

    Rules run in order (``AllOf``): a rule only reads what the rules before
    it set, and only when they held.
    """

    decoded: DecodedCertificate
    at: datetime
    trust_list: TrustList
    seals: SealRegistry | None
    revocations: RevocationList | None
    ksi: _KsiRunner
    clock_skew: timedelta
    cache: SealCache
    cache_key: tuple[Hashable, ...]
    cache_refs: tuple[object, ...]
    leaf: Imprint = attrs.field(init=False)
    record_bytes: bytes = b""
    page_bytes: bytes | None = None
    record: SealRecord | None = None
    seal: Imprint | None = None
    cached: _SealVerdict | None = None
    issuer: Issuer | None = None
    key: IssuerKey | None = None
    cose_error: CertificateError | None = None
    cose_checked: bool = False
    ksi_verdict: _KsiVerdict | None = None

    def __attrs_post_init__(self) -> None:
        self.leaf = self.decoded.leaf  # hashed once

    @property
    def paged(self) -> bool:
        return self.decoded.page is not None

    def the_record(self) -> SealRecord:
        assert self.record is not None, "rules run in order"
        return self.record

    def the_issuer(self) -> Issuer:
        assert self.issuer is not None, "rules run in order"
        return self.issuer

    def the_key(self) -> IssuerKey:
        assert self.key is not None, "rules run in order"
        return self.key

    def ksi_time(self) -> datetime:
        assert self.ksi_verdict is not None
        assert self.ksi_verdict.time is not None
        return self.ksi_verdict.time


# -- step 2: the records --------------------------------------------------------------------


def _embedded(ctx: _Jt1Context) -> bool:
    decoded = ctx.decoded
    return decoded.seal_record is not None and (
        decoded.page is None or decoded.page_record is not None
    )


def _registry_given(ctx: _Jt1Context) -> str | None:
    if _embedded(ctx) or ctx.seals is not None:
        return None
    return "cannot check: seal registry needed (--seals)"


def _seal_record_found(ctx: _Jt1Context) -> str | None:
    decoded = ctx.decoded
    data = decoded.seal_record
    if data is None:
        assert ctx.seals is not None
        data = ctx.seals.get(decoded.seal_id)
        if data is None:
            return f"seal {decoded.seal_id.hex()} is not in the registry"
    ctx.record_bytes = data
    ctx.cached = ctx.cache._get(_cache_key(ctx), ctx.cache_refs)
    ctx.record = ctx.cached.record if ctx.cached is not None else SealRecord.from_bytes(data)
    return None


def _page_record_found(ctx: _Jt1Context) -> str | None:
    decoded = ctx.decoded
    assert decoded.page is not None
    data = decoded.page_record
    if data is None:
        assert ctx.seals is not None
        data = ctx.seals.get(page_record_id(decoded.seal_id, decoded.page))
        if data is None:
            return f"page {decoded.page} of seal {decoded.seal_id.hex()} is not in the registry"
    ctx.page_bytes = data
    return None


# -- step 3: the paths ----------------------------------------------------------------------


def _page_record_matches(ctx: _Jt1Context) -> str | None:
    decoded = ctx.decoded
    assert ctx.page_bytes is not None
    page = PageRecord.from_bytes(ctx.page_bytes)
    if page.seal_id != decoded.seal_id or page.page != decoded.page:
        return f"the page record is not the one of page {decoded.page} of this seal"
    ctx.seal = path_root(path_root(ctx.leaf, decoded.path), page.path)
    return None


def _path_leads_to_seal(ctx: _Jt1Context) -> str | None:
    decoded = ctx.decoded
    if ctx.seal is None:
        ctx.seal = path_root(ctx.leaf, decoded.path)
    record = ctx.the_record()
    if record.seal != ctx.seal or record.seal_id != decoded.seal_id:
        return "the document's hash path does not lead to the seal"
    return None


# -- steps 4 to 7: trust list, issuer, signatures, times -------------------------------------


def _cache_key(ctx: _Jt1Context) -> Hashable:
    return (ctx.record_bytes, *ctx.cache_key, *(id(ref) for ref in ctx.cache_refs))


def _trust_list_current(ctx: _Jt1Context) -> str | None:
    if ctx.trust_list.is_current(ctx.at):
        return None
    return "cannot tell: the trust list is not current at the validation time"


def _issuer_known(ctx: _Jt1Context) -> str | None:
    if ctx.cached is not None:
        ctx.issuer = ctx.cached.issuer
        return None
    try:
        ctx.issuer = ctx.trust_list.issuer_by_id(ctx.the_record().issuer_id)
    except CertificateError as exc:
        return exc.message
    return None


def _issuer_matches_payload(ctx: _Jt1Context) -> str | None:
    claimed, sealed = ctx.decoded.payload.issuer_id, ctx.the_record().issuer_id
    if claimed != sealed:
        return f"the payload names issuer {claimed!r}, the seal {sealed!r}"
    return None


def _issuer_key_known(ctx: _Jt1Context) -> str | None:
    if ctx.cached is not None:
        ctx.key = ctx.cached.key
        return None
    issuer, kid = ctx.the_issuer(), ctx.the_record().kid
    for key in issuer.keys:
        if key.kid == kid:
            ctx.key = key
            return None
    return f"issuer {issuer.id!r} has no key {kid.hex()}"


def _cose_error(ctx: _Jt1Context) -> CertificateError | None:
    if ctx.cached is None and not ctx.cose_checked:
        ctx.cose_checked = True
        try:
            ctx.the_record().cose.verify(ctx.the_key().public_key)
        except CertificateError as exc:
            ctx.cose_error = exc
    return None if ctx.cached is not None else ctx.cose_error


def _cose_failed_with(code: ErrorCode | None) -> Callable[[_Jt1Context], str | None]:
    """A check that reports the COSE verification's error when it has ``code``.

    ``None`` reports any error left (the last of the three rules).
    """

    def check(ctx: _Jt1Context) -> str | None:
        error = _cose_error(ctx)
        if error is None or (code is not None and error.code is not code):
            return None
        return f"issuer signature: {error.message}"

    return check


def _ksi(ctx: _Jt1Context) -> _KsiVerdict:
    if ctx.cached is not None:
        ctx.ksi_verdict = ctx.cached.ksi
    elif ctx.ksi_verdict is None:
        ctx.ksi_verdict = ctx.ksi(ctx.the_record().ksi_signature, ctx.the_record().seal)
    return ctx.ksi_verdict


def _ksi_not_failed(ctx: _Jt1Context) -> str | None:
    verdict = _ksi(ctx)
    return verdict.message if verdict.outcome is Outcome.FAIL else None


def _ksi_proven(ctx: _Jt1Context) -> str | None:
    verdict = _ksi(ctx)
    if verdict.outcome is Outcome.OK:
        return None
    return f"cannot tell: the seal's KSI signature is not proven: {verdict.message}"


def _claim_problem(claimed: datetime, ctx: _Jt1Context, whose: str) -> str | None:
    ksi_time = ctx.ksi_time()
    if claimed > ksi_time + ctx.clock_skew:
        return (
            f"{whose} claimed issuance {claimed.isoformat()} is after the KSI time "
            f"{ksi_time.isoformat()}"
        )
    return None


def _payload_claim(ctx: _Jt1Context) -> str | None:
    return _claim_problem(ctx.decoded.payload.issued_at, ctx, "the payload's")


def _seal_claim(ctx: _Jt1Context) -> str | None:
    if ctx.cached is not None:
        return None
    return _claim_problem(ctx.the_record().issued_at, ctx, "the seal's")


def _key_valid(ctx: _Jt1Context) -> str | None:
    if ctx.cached is not None:
        return None
    key, ksi_time = ctx.the_key(), ctx.ksi_time()
    if not key.valid_at(ksi_time):
        return f"issuer key {key.kid.hex()} was not valid at {ksi_time.isoformat()}"
    assert ctx.ksi_verdict is not None
    verdict = _SealVerdict(ctx.the_record(), ctx.the_issuer(), key, ctx.ksi_verdict)
    ctx.cache._put(_cache_key(ctx), ctx.cache_refs, verdict)
    return None


# -- steps 8 to 10: per document ------------------------------------------------------------


def _type_allowed(ctx: _Jt1Context) -> str | None:
    issuer, document_type = ctx.the_issuer(), ctx.decoded.payload.document_type
    if not issuer.allows(document_type):
        return f"issuer {issuer.id!r} may not issue {document_type!r}"
    return None


def _revocations_current(ctx: _Jt1Context) -> str | None:
    assert ctx.revocations is not None
    if ctx.revocations.is_current(ctx.at):
        return None
    return "cannot tell: the revocation list is not current"


def _not_revoked(ctx: _Jt1Context) -> str | None:
    assert ctx.revocations is not None
    if ctx.revocations.is_revoked(ctx.leaf):
        return "the certificate is revoked"
    if ctx.revocations.is_revoked(ctx.the_record().seal):
        return "the certificate's whole batch (its seal) is revoked"
    return None


def _started(ctx: _Jt1Context) -> str | None:
    starts = ctx.decoded.payload.starts_at
    if ctx.at + ctx.clock_skew < starts:
        return f"not valid before {starts.isoformat()}"
    return None


def _not_expired(ctx: _Jt1Context) -> str | None:
    until = ctx.decoded.payload.valid_until
    if until is not None and ctx.at > until:
        return f"expired at {until.isoformat()}"
    return None


_R = Rule[_Jt1Context]


def _all_of(*members: Node[_Jt1Context]) -> AllOf[_Jt1Context]:
    return AllOf(members)


_NA = Outcome.NA

#: The JT1 verification policy: steps 2 to 10 of ``docs/qr.md`` as rules.
JT1_POLICY: Node[_Jt1Context] = _all_of(
    _R("seal_registry_given", "2", ErrorCode.CRT_SEAL_NOT_FOUND, _registry_given, _NA),
    _R("seal_record_found", "2", ErrorCode.CRT_SEAL_NOT_FOUND, _seal_record_found),
    When[_Jt1Context](
        "the batch has a page level",
        lambda ctx: ctx.paged,
        _all_of(
            _R("page_record_found", "2", ErrorCode.CRT_SEAL_NOT_FOUND, _page_record_found),
            _R(
                "page_record_matches",
                "3",
                ErrorCode.CRT_PATH_MISMATCH,
                _page_record_matches,
            ),
        ),
    ),
    _R("path_leads_to_seal", "3", ErrorCode.CRT_PATH_MISMATCH, _path_leads_to_seal),
    _R("trust_list_current", "4", ErrorCode.CRT_TRUST_LIST_INVALID, _trust_list_current, _NA),
    _R("issuer_known", "4", ErrorCode.CRT_UNKNOWN_ISSUER, _issuer_known),
    _R("issuer_matches_payload", "4", ErrorCode.CRT_ISSUER_MISMATCH, _issuer_matches_payload),
    _R("issuer_key_known", "5", ErrorCode.CRT_UNKNOWN_ISSUER, _issuer_key_known),
    _R(
        "seal_signature_algorithm",
        "5",
        ErrorCode.CRT_UNSUPPORTED_ALGORITHM,
        _cose_failed_with(ErrorCode.CRT_UNSUPPORTED_ALGORITHM),
    ),
    _R(
        "seal_signature_key_fits",
        "5",
        ErrorCode.CRT_ALGORITHM_MISMATCH,
        _cose_failed_with(ErrorCode.CRT_ALGORITHM_MISMATCH),
    ),
    _R("seal_signature", "5", ErrorCode.CRT_BAD_SIGNATURE, _cose_failed_with(None)),
    _R("ksi_signature", "6", ErrorCode.CRT_KSI_INVALID, _ksi_not_failed),
    _R("ksi_signature_proven", "6", ErrorCode.CRT_KSI_INVALID, _ksi_proven, _NA),
    _R("payload_issued_before_ksi_time", "6", ErrorCode.CRT_KSI_INVALID, _payload_claim),
    _R("seal_issued_before_ksi_time", "6", ErrorCode.CRT_KSI_INVALID, _seal_claim),
    _R("issuer_key_valid_at_ksi_time", "7", ErrorCode.CRT_KEY_NOT_VALID, _key_valid),
    _R("document_type_allowed", "8", ErrorCode.CRT_TYPE_NOT_ALLOWED, _type_allowed),
    When[_Jt1Context](
        "a revocation list is given",
        lambda ctx: ctx.revocations is not None,
        _all_of(
            _R(
                "revocation_list_current",
                "9",
                ErrorCode.CRT_TRUST_LIST_INVALID,
                _revocations_current,
                _NA,
            ),
            _R("not_revoked", "9", ErrorCode.CRT_REVOKED, _not_revoked),
        ),
    ),
    _R("validity_started", "10", ErrorCode.CRT_NOT_YET_VALID, _started),
    _R("not_expired", "10", ErrorCode.CRT_EXPIRED, _not_expired),
)

# -- the entry point --------------------------------------------------------------------------


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
    seal_cache: SealCache | None = None,
) -> VerificationResult:
    """Verify a JT1 certificate at time ``at`` (steps of ``docs/qr.md``).

    Step 1 reads the text (raises ``CRT-01``..``CRT-04``, ``CRT-15``); steps
    2 to 10 are the rules of :data:`JT1_POLICY` (see the table in
    ``docs/qr.md``). The result's ``outcome`` is OK only when every rule
    held; its ``facts`` (only then) hold the issuer's id and name from the
    trust list, the document type, fields, language, times (ISO 8601 UTC
    strings), seal, leaf, page and whether the seal record was embedded,
    and its ``anchor`` (kind ``"issuer-key"``) names the issuer, the key
    and, nested under ``"ksi"``, what the seal's KSI signature rests on.

    Args:
        text: the QR text, or an already decoded certificate.
        trust_list: the verified trust list.
        at: the validation time (aware datetime).
        seals: where to find seal and page records of compact certificates.
        revocations: a verified revocation list, if any.
        publications_file: a *trusted* KSI publications file.
        ksi_policy: the KSI verification policy (default ``general``; the
            ``internal`` policy proves no time and is refused).
        extender: a KSI extender, if extending is allowed.
        ksi_check: replaces the KSI policy run entirely (custom policies).
        clock_skew: tolerance for clocks.
        seal_cache: the caller's cache of seal checks that passed; a fresh
            one (used for this call only) when ``None``.

    Raises:
        CertificateError: in step 1, for text that cannot be read, and
            ``CRT-04`` for a seal or page record from the registry that
            cannot be read.
        JuraError: from the registry (``SVC-xx`` for an HTTP registry that
            is down, ``FMT-19`` for an unreadable file).
        ValueError: if ``at`` is naive or the KSI policy is ``internal``.
    """
    at = _aware(at, "at")
    if not isinstance(trust_list, TrustList):
        raise TypeError("trust_list must be a TrustList")
    if seal_cache is None:
        seal_cache = SealCache(maxsize=1)
    elif not isinstance(seal_cache, SealCache):
        raise TypeError("seal_cache must be a SealCache or None")
    policy = Policy(ksi_policy)
    if policy is Policy.INTERNAL and ksi_check is None:
        raise ValueError("the internal KSI policy proves no time: a seal needs an anchored one")
    decoded = text if isinstance(text, DecodedCertificate) else decode_certificate(text)
    ctx = _Jt1Context(
        decoded=decoded,
        at=at,
        trust_list=trust_list,
        seals=seals,
        revocations=revocations,
        ksi=(
            _custom_ksi(ksi_check)
            if ksi_check is not None
            else _default_ksi(policy, publications_file, extender)
        ),
        clock_skew=clock_skew,
        cache=seal_cache,
        cache_key=(policy, clock_skew),
        cache_refs=(trust_list, publications_file, extender, ksi_check),
    )
    outcome, code, message, steps = evaluate(JT1_POLICY, ctx)
    if outcome is not Outcome.OK:
        return VerificationResult(JT1_POLICY_NAME, outcome, code, message, steps)
    return _valid(ctx, steps)


def _valid(ctx: _Jt1Context, steps: tuple[Any, ...]) -> VerificationResult:
    payload, record, issuer, key = (
        ctx.decoded.payload,
        ctx.the_record(),
        ctx.the_issuer(),
        ctx.the_key(),
    )
    ksi_time = ctx.ksi_time()
    assert ctx.ksi_verdict is not None
    ksi_anchor = ctx.ksi_verdict.anchor
    who = {"id": issuer.id, "name": issuer.name}
    facts: dict[str, Any] = {
        "issuer": who,
        "document_type": payload.document_type,
        "fields": dict(payload.fields),
        "language": payload.language,
        "issued_at": iso_time(payload.issued_at),
        "valid_from": iso_time(payload.valid_from),
        "valid_until": iso_time(payload.valid_until),
        "ksi_time": iso_time(ksi_time),
        "seal": str(record.seal),
        "leaf": str(ctx.leaf),
        "page": ctx.decoded.page,
        "self_contained": ctx.decoded.self_contained,
    }
    rests_on = ksi_anchor.get("description") if ksi_anchor else "a custom KSI check"
    anchor = Anchor(
        "issuer-key",
        f"issuer {issuer.id} ({issuer.name}), key {key.kid.hex()}, seal signed in KSI at "
        f"{iso_time(ksi_time)} ({rests_on})",
        {"issuer": who, "kid": key.kid.hex(), "ksi_time": iso_time(ksi_time), "ksi": ksi_anchor},
    )
    return VerificationResult(
        JT1_POLICY_NAME,
        Outcome.OK,
        None,
        "valid",
        steps,
        anchor=anchor,
        aggregation_time=int(ksi_time.timestamp()),
        facts=facts,
    )

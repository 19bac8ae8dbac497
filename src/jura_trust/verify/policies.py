"""KSI verification policies (spec/ksi-format.md section 10).

* :func:`internal`: the signature is consistent with itself.
* :func:`key_based`: plus the calendar authentication record's PKI
  signature, with the certificate from a trusted publications file.
* :func:`publications_file_based`: plus a publication in a trusted
  publications file (extending to it if needed and allowed).
* :func:`user_publication_based`: plus a publication the user trusts
  (usually from a printed publication string).
* :func:`calendar_based`: plus the extender's calendar (online).
* :func:`general`: the default: user publication if given, else
  publications file, falling back to key-based.

Combinators follow KSI: in a sequence the first FAIL or NA stops and is the
result; in an alternative, NA moves on to the next one. The result's code
is that of the last rule run.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Protocol

from jura_trust import pki
from jura_trust.core.chains import CalendarChain
from jura_trust.core.publication import PublicationRecord
from jura_trust.errors import ErrorCode, JuraError, Outcome
from jura_trust.verify import rules as r
from jura_trust.verify.result import RuleResult, VerificationResult
from jura_trust.verify.rules import VerificationContext

__all__ = [
    "Policy",
    "TrustedPublications",
    "calendar_based",
    "general",
    "internal",
    "key_based",
    "publications_file_based",
    "run_policy",
    "user_publication_based",
]


class TrustedPublications(Protocol):
    """What the policies need from a (trusted) publications file."""

    def find_publication(self, publication_time: int) -> PublicationRecord | None:
        """The publication at exactly ``publication_time``."""
        ...

    def nearest_publication(self, at_or_after: int) -> PublicationRecord | None:
        """The earliest publication at or after ``at_or_after``."""
        ...

    def find_certificate(self, certificate_id: bytes) -> object | None:
        """The calendar certificate with that id (a cryptography Certificate)."""
        ...


class Policy(enum.Enum):
    """The named policies, as the CLI spells them."""

    INTERNAL = "internal"
    KEY = "key"
    PUBLICATIONS_FILE = "publications-file"
    USER_PUBLICATION = "user-publication"
    CALENDAR = "calendar"
    GENERAL = "general"


class _Trace:
    """Runs rules in sequence and records every result."""

    __slots__ = ("last", "steps")

    def __init__(self) -> None:
        self.steps: list[RuleResult] = []
        self.last: RuleResult = RuleResult("start", Outcome.OK)

    def run(self, result: RuleResult) -> bool:
        self.steps.append(result)
        self.last = result
        return result.outcome is Outcome.OK

    def rules(
        self,
        ctx: VerificationContext,
        rules: Sequence[Callable[[VerificationContext], RuleResult]],
    ) -> bool:
        return all(self.run(rule(ctx)) for rule in rules)


def _internal(ctx: VerificationContext, trace: _Trace) -> bool:
    return trace.rules(ctx, r.INTERNAL_RULES)


# -- key-based ---------------------------------------------------------------------


def _key_rules(ctx: VerificationContext, trace: _Trace) -> bool:
    sig = ctx.signature
    cal = sig.calendar_chain
    if cal is None:
        return trace.run(r.na("calendar_chain_present", "the signature has no calendar chain"))
    if not trace.run(
        r.calendar_algorithms_not_deprecated(cal, cal.publication_time, "calendar_algorithms")
    ):
        return False
    auth = sig.calendar_auth_record
    if auth is None:
        return trace.run(
            r.na("calendar_auth_record_present", "the signature has no calendar auth record")
        )
    pubfile = ctx.publications_file
    cert = None
    if pubfile is not None:
        cert = pubfile.find_certificate(auth.signature_data.certificate_id)
    if cert is None:
        return trace.run(
            r.na(
                "certificate_found",
                f"certificate {auth.signature_data.certificate_id.hex()} not found "
                "in a trusted publications file",
            )
        )
    trace.run(r.ok("certificate_found"))
    t = cal.aggregation_time
    if not pki.certificate_valid_at(cert, t):
        return trace.run(
            r.fail(
                "certificate_validity",
                ErrorCode.KEY_03,
                "the calendar certificate was not valid at the aggregation time",
            )
        )
    trace.run(r.ok("certificate_validity"))
    try:
        pki.verify_signature(
            auth.signature_data.signature_type,
            auth.signature_data.signature_value,
            auth.signed_bytes,
            cert,
        )
    except JuraError as exc:
        return trace.run(r.fail("calendar_auth_signature", ErrorCode.KEY_02, exc.message))
    return trace.run(r.ok("calendar_auth_signature"))


# -- publication-based -----------------------------------------------------------


def _extended_checks(
    ctx: VerificationContext,
    trace: _Trace,
    extended: CalendarChain,
    publication_time: int,
    published_hash: object,
    *,
    user: bool,
) -> bool:
    if not trace.run(
        r.calendar_algorithms_not_deprecated(extended, publication_time, "extended_algorithms")
    ):
        return False
    try:
        root = extended.root()
    except JuraError as exc:
        return trace.run(r.fail("extended_root", ErrorCode.PUB_01, exc.message))
    if root != published_hash:
        return trace.run(
            r.fail("extended_root", ErrorCode.PUB_01, "extended calendar root differs")
        )
    trace.run(r.ok("extended_root"))
    time_ok = extended.publication_time == publication_time
    if user:
        time_ok = time_ok and extended.aggregation_time == ctx.signature.aggregation_time
    if not time_ok:
        return trace.run(r.fail("extended_time", ErrorCode.PUB_02, "extended chain times differ"))
    trace.run(r.ok("extended_time"))
    if extended.input_hash != r.aggregation_root(ctx):
        return trace.run(r.fail("extended_input", ErrorCode.PUB_03, "extended chain input differs"))
    return trace.run(r.ok("extended_input"))


def _extend(ctx: VerificationContext, trace: _Trace, publication_time: int) -> CalendarChain | None:
    if not ctx.extending_allowed:
        trace.run(r.na("extending_allowed", "extending is not permitted"))
        return None
    try:
        chain = ctx.extend(publication_time)
    except JuraError as exc:
        trace.run(r.na("extend", f"extending failed: {exc.message}"))
        return None
    trace.run(r.ok("extend"))
    return chain


def _pubfile_rules(ctx: VerificationContext, trace: _Trace) -> bool:
    sig = ctx.signature
    pubfile = ctx.publications_file
    if pubfile is None:
        return trace.run(r.na("publications_file", "no trusted publications file"))
    rec = sig.publication_record
    if rec is not None and sig.calendar_chain is not None:
        found = pubfile.find_publication(rec.publication_time)
        if found is not None:
            if found.published_hash != rec.published_hash:
                return trace.run(
                    r.fail(
                        "publication_in_file",
                        ErrorCode.PUB_05,
                        "the signature's publication differs from the file's",
                    )
                )
            trace.run(r.ok("publication_in_file"))
            cal = sig.calendar_chain
            return trace.run(
                r.calendar_algorithms_not_deprecated(
                    cal, cal.publication_time, "calendar_algorithms"
                )
            )
    target = pubfile.nearest_publication(sig.aggregation_time)
    if target is None:
        return trace.run(
            r.na("suitable_publication", "no publication at or after the signing time")
        )
    trace.run(r.ok("suitable_publication"))
    extended = _extend(ctx, trace, target.publication_time)
    if extended is None:
        return False
    return _extended_checks(
        ctx, trace, extended, target.publication_time, target.published_hash, user=False
    )


def _user_rules(ctx: VerificationContext, trace: _Trace) -> bool:
    sig = ctx.signature
    user = ctx.user_publication
    if user is None:
        return trace.run(r.na("user_publication", "no user publication given"))
    rec = sig.publication_record
    cal = sig.calendar_chain
    if rec is not None and cal is not None and rec.publication_time == user.publication_time:
        if rec.published_hash != user.published_hash:
            return trace.run(
                r.fail(
                    "user_publication_hash",
                    ErrorCode.PUB_04,
                    "the signature's publication differs from the user's",
                )
            )
        trace.run(r.ok("user_publication_hash"))
        return trace.run(
            r.calendar_algorithms_not_deprecated(cal, cal.publication_time, "calendar_algorithms")
        )
    if user.publication_time <= sig.aggregation_time:
        return trace.run(
            r.na("user_publication_time", "the user publication is not after the signing time")
        )
    trace.run(r.ok("user_publication_time"))
    extended = _extend(ctx, trace, user.publication_time)
    if extended is None:
        return False
    return _extended_checks(
        ctx, trace, extended, user.publication_time, user.published_hash, user=True
    )


def _calendar_rules(ctx: VerificationContext, trace: _Trace) -> bool:
    sig = ctx.signature
    cal = sig.calendar_chain
    try:
        extended = ctx.extend(cal.publication_time if cal is not None else None)
    except JuraError as exc:
        return trace.run(r.na("extend", f"extending failed: {exc.message}"))
    trace.run(r.ok("extend"))
    if cal is not None:
        rec = sig.publication_record
        if rec is None:
            if extended.right_siblings() != cal.right_siblings():
                return trace.run(
                    r.fail(
                        "calendar_right_links",
                        ErrorCode.CAL_04,
                        "right links differ from the extender's calendar",
                    )
                )
            trace.run(r.ok("calendar_right_links"))
        else:
            try:
                root = extended.root()
            except JuraError:
                root = None
            if root != rec.published_hash:
                return trace.run(
                    r.fail(
                        "calendar_root",
                        ErrorCode.CAL_01,
                        "the extender's calendar root differs from the publication record",
                    )
                )
            trace.run(r.ok("calendar_root"))
    if extended.input_hash != r.aggregation_root(ctx):
        return trace.run(r.fail("extended_input", ErrorCode.CAL_02, "extended chain input differs"))
    trace.run(r.ok("extended_input"))
    if extended.aggregation_time != sig.aggregation_time:
        return trace.run(
            r.fail("extended_time", ErrorCode.CAL_03, "extended aggregation time differs")
        )
    return trace.run(r.ok("extended_time"))


# -- entry points -------------------------------------------------------------------


def _result(policy: str, trace: _Trace) -> VerificationResult:
    last = trace.last
    return VerificationResult(
        policy=policy,
        outcome=last.outcome,
        code=last.code,
        message=last.message or ("verified" if last.outcome is Outcome.OK else ""),
        steps=tuple(trace.steps),
    )


def _with_internal(
    name: str, then: Callable[[VerificationContext, _Trace], bool] | None
) -> Callable[[VerificationContext], VerificationResult]:
    def policy(ctx: VerificationContext) -> VerificationResult:
        trace = _Trace()
        if _internal(ctx, trace) and then is not None:
            then(ctx, trace)
        return _result(name, trace)

    return policy


#: Internal policy: the signature is consistent with itself.
internal = _with_internal("internal", None)
#: Key-based policy.
key_based = _with_internal("key", _key_rules)
#: Publications-file-based policy.
publications_file_based = _with_internal("publications-file", _pubfile_rules)
#: User-provided-publication-based policy.
user_publication_based = _with_internal("user-publication", _user_rules)
#: Calendar-based policy (needs an extender).
calendar_based = _with_internal("calendar", _calendar_rules)


def general(ctx: VerificationContext) -> VerificationResult:
    """The default policy.

    With a user publication, the user-publication policy decides. Otherwise
    the publications-file policy; if that is inconclusive, the key-based one.
    """
    trace = _Trace()
    if not _internal(ctx, trace):
        return _result("general", trace)
    if ctx.user_publication is not None:
        _user_rules(ctx, trace)
        return _result("general", trace)
    if _pubfile_rules(ctx, trace) or trace.last.outcome is Outcome.FAIL:
        return _result("general", trace)
    _key_rules(ctx, trace)
    return _result("general", trace)


_POLICIES: dict[Policy, Callable[[VerificationContext], VerificationResult]] = {
    Policy.INTERNAL: internal,
    Policy.KEY: key_based,
    Policy.PUBLICATIONS_FILE: publications_file_based,
    Policy.USER_PUBLICATION: user_publication_based,
    Policy.CALENDAR: calendar_based,
    Policy.GENERAL: general,
}


def run_policy(policy: Policy | str, ctx: VerificationContext) -> VerificationResult:
    """Run a named policy."""
    return _POLICIES[Policy(policy)](ctx)

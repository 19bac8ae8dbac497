"""KSI verification policies as values composed of rules (spec/ksi-format.md section 10).

* :data:`internal`: the signature is consistent with itself (no anchor).
* :data:`key_based`: plus the calendar authentication record's PKI
  signature, with the certificate from a trusted publications file.
* :data:`publications_file_based`: plus a publication in a trusted
  publications file (extending to it if needed and allowed).
* :data:`user_publication_based`: plus a publication the user trusts
  (usually from a printed publication string).
* :data:`calendar_based`: plus the extender's calendar (online).
* :data:`general`: the default: user publication if given, else the
  publications file, falling back to key-based.

Each is a :class:`KsiPolicy`: a name and a node of the kernel
(:mod:`jura_trust.verify.engine`). In a sequence the first FAIL or NA
stops; in KSI's OR group an NA moves on to the next alternative. The
result's code is that of the last rule run.
"""

from __future__ import annotations

import enum

from jura_trust._value import Value, _init
from jura_trust.errors import Outcome
from jura_trust.verify import rules as r
from jura_trust.verify.engine import AllOf, FirstConclusive, Node, Rule, When, evaluate
from jura_trust.verify.result import Anchor, VerificationResult
from jura_trust.verify.rules import VerificationContext

__all__ = [
    "POLICIES",
    "KsiPolicy",
    "Policy",
    "calendar_based",
    "general",
    "internal",
    "key_based",
    "publications_file_based",
    "run_policy",
    "user_publication_based",
]


class Policy(enum.Enum):
    """The named policies, as the CLI spells them."""

    INTERNAL = "internal"
    KEY = "key"
    PUBLICATIONS_FILE = "publications-file"
    USER_PUBLICATION = "user-publication"
    CALENDAR = "calendar"
    GENERAL = "general"


_INTERNAL_ONLY = Anchor.none(
    "consistent, not anchored: the internal policy proves consistency only"
)


class KsiPolicy(Value, eq=False):
    """A named KSI policy: a composition of rules run by the kernel."""

    __slots__ = ("name", "node")
    _fields = ("name", "node")

    name: str
    node: Node[VerificationContext]

    def __init__(self, name: str, node: Node[VerificationContext]) -> None:
        _init(self, "name", name)
        _init(self, "node", node)

    def __call__(self, ctx: VerificationContext) -> VerificationResult:
        """Run the policy and build the result (anchor and time only on OK)."""
        outcome, code, message, steps = evaluate(self.node, ctx)
        if outcome is not Outcome.OK:
            checked = ctx.document_hash is not None
            return VerificationResult(
                self.name, outcome, code, message, steps, document_checked=checked
            )
        anchor = ctx.anchor
        proven = ctx.proven_time
        if anchor.kind == "none":
            anchor = _INTERNAL_ONLY
            proven = ctx.signing_time
        return VerificationResult(
            self.name,
            outcome,
            code,
            message,
            steps,
            anchor=anchor,
            aggregation_time=proven,
            document_checked=ctx.document_hash is not None,
        )

    def rules(self) -> list[Rule[VerificationContext]]:
        """Every rule this policy can run, in order."""
        return self.node.rules()


_INTERNAL = AllOf[VerificationContext](tuple(r.INTERNAL_RULES))

_KEY = AllOf[VerificationContext](
    (
        r.calendar_chain_present,
        r.calendar_algorithms_not_deprecated,
        r.calendar_auth_record_present,
        r.certificate_found,
        r.certificate_validity,
        r.calendar_auth_signature,
    )
)


def _extension_path(*, user: bool) -> AllOf[VerificationContext]:
    return AllOf[VerificationContext](
        (
            r.extending_allowed,
            r.extend_to_publication,
            r.extended_algorithms,
            r.extended_root,
            r.extended_publication_time,
            r.extended_signing_time,
            r.user_extended_input if user else r.file_extended_input,
        )
    )


_PUBFILE = AllOf[VerificationContext](
    (
        r.publications_file_present,
        When[VerificationContext](
            "the signature's publication is in the file",
            r.signature_publication_in_file,
            AllOf[VerificationContext]((r.publication_in_file, r.file_publication_algorithms)),
            AllOf[VerificationContext]((r.suitable_publication, _extension_path(user=False))),
        ),
    )
)

_USER = AllOf[VerificationContext](
    (
        r.user_publication_present,
        When[VerificationContext](
            "the signature holds the user's publication",
            r.has_user_publication_of_signature,
            AllOf[VerificationContext]((r.user_publication_hash, r.user_publication_algorithms)),
            AllOf[VerificationContext]((r.user_publication_time, _extension_path(user=True))),
        ),
    )
)

_CALENDAR = AllOf[VerificationContext](
    (
        r.extend_calendar,
        When[VerificationContext](
            "the signature has a calendar chain",
            lambda ctx: ctx.signature.calendar_chain is not None,
            When[VerificationContext](
                "the signature has a publication record",
                lambda ctx: ctx.signature.publication_record is not None,
                r.calendar_root,
                r.calendar_right_links,
            ),
        ),
        r.calendar_extended_input,
        r.calendar_extended_time,
    )
)

#: Internal policy: the signature is consistent with itself.
internal = KsiPolicy("internal", _INTERNAL)
#: Key-based policy.
key_based = KsiPolicy("key", AllOf[VerificationContext]((_INTERNAL, _KEY)))
#: Publications-file-based policy.
publications_file_based = KsiPolicy(
    "publications-file", AllOf[VerificationContext]((_INTERNAL, _PUBFILE))
)
#: User-provided-publication-based policy.
user_publication_based = KsiPolicy(
    "user-publication", AllOf[VerificationContext]((_INTERNAL, _USER))
)
#: Calendar-based policy (needs an extender).
calendar_based = KsiPolicy("calendar", AllOf[VerificationContext]((_INTERNAL, _CALENDAR)))
#: The default: the user's publication if given, else the publications file,
#: falling back to the key-based policy when that is inconclusive.
general = KsiPolicy(
    "general",
    AllOf(
        (
            _INTERNAL,
            When[VerificationContext](
                "a user publication is given",
                lambda ctx: ctx.user_publication is not None,
                _USER,
                FirstConclusive[VerificationContext]((_PUBFILE, _KEY)),
            ),
        )
    ),
)

#: Every named policy.
POLICIES: dict[Policy, KsiPolicy] = {
    Policy.INTERNAL: internal,
    Policy.KEY: key_based,
    Policy.PUBLICATIONS_FILE: publications_file_based,
    Policy.USER_PUBLICATION: user_publication_based,
    Policy.CALENDAR: calendar_based,
    Policy.GENERAL: general,
}


def run_policy(policy: Policy | str, ctx: VerificationContext) -> VerificationResult:
    """Run a named policy."""
    return POLICIES[Policy(policy)](ctx)

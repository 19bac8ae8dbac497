"""KSI signature verification: rules, policies and results (layer 7).

>>> from jura_trust import EmbeddedBackend, Imprint, ManualClock
>>> backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
>>> sig = backend.sign(Imprint.hash(b"document"))
>>> result = verify_signature(sig, policy="internal")
>>> result.outcome, result.code
(<Outcome.OK: 'OK'>, None)
>>> wrong = verify_signature(sig, policy="internal", document_hash=Imprint.hash(b"other"))
>>> wrong.outcome, wrong.code.value
(<Outcome.FAIL: 'FAIL'>, 'GEN-01')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import PublicationData
from jura_trust.core.signature import Signature
from jura_trust.verify.engine import AllOf, FirstConclusive, Rule, UnsafeNoOp, When, evaluate
from jura_trust.verify.policies import (
    POLICIES,
    KsiPolicy,
    Policy,
    calendar_based,
    general,
    internal,
    key_based,
    publications_file_based,
    run_policy,
    user_publication_based,
)
from jura_trust.verify.result import Anchor, RuleResult, VerificationResult
from jura_trust.verify.rules import Extender, VerificationContext, check_extended_chain

if TYPE_CHECKING:
    from jura_trust.publications import VerifiedPublicationsFile

__all__ = [
    "POLICIES",
    "AllOf",
    "Anchor",
    "Extender",
    "FirstConclusive",
    "KsiPolicy",
    "Policy",
    "Rule",
    "RuleResult",
    "UnsafeNoOp",
    "VerificationContext",
    "VerificationResult",
    "When",
    "calendar_based",
    "check_extended_chain",
    "evaluate",
    "general",
    "internal",
    "key_based",
    "publications_file_based",
    "run_policy",
    "user_publication_based",
    "verify_signature",
]


def verify_signature(
    signature: Signature,
    *,
    policy: Policy | str = Policy.GENERAL,
    document_hash: Imprint | None = None,
    input_level: int = 0,
    publications_file: VerifiedPublicationsFile | None = None,
    user_publication: PublicationData | None = None,
    extending_allowed: bool = False,
    extender: Extender | None = None,
    extender_name: str = "the extender",
) -> VerificationResult:
    """Verify ``signature`` under a named policy.

    ``publications_file`` is a
    :class:`~jura_trust.publications.VerifiedPublicationsFile`: made by
    :meth:`~jura_trust.publications.PublicationsFile.trusted` (its CMS
    signature and signer checked) or explicitly trusted with
    :meth:`~jura_trust.publications.VerifiedPublicationsFile.unchecked`;
    anything else raises :class:`TypeError`. An ``extender``'s answers are
    never trusted: the rules check every chain it returns. Returns a
    :class:`VerificationResult` saying what an OK rests on (``anchor``) and
    the time it proves; it never raises for a bad signature.
    """
    if input_level < 0:
        raise ValueError("input_level must not be negative")
    ctx = VerificationContext(
        signature=signature,
        document_hash=document_hash,
        input_level=input_level,
        publications_file=publications_file,
        user_publication=user_publication,
        extending_allowed=extending_allowed,
        extender=extender,
        extender_name=extender_name,
    )
    return run_policy(policy, ctx)

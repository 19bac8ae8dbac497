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

import sys
from typing import TYPE_CHECKING

from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import PublicationData
from jura_trust.core.signature import Signature
from jura_trust.verify import _express
from jura_trust.verify._express import verify_bytes
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
from jura_trust.verify.rules import (
    Extender,
    VerificationContext,
    check_extended_chain,
)

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
    signature: Signature | bytes,
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
    """Verify ``signature`` (parsed, or its bytes) under a named policy.

    ``publications_file`` is a
    :class:`~jura_trust.publications.VerifiedPublicationsFile`: made by
    :meth:`~jura_trust.publications.PublicationsFile.trusted` (its CMS
    signature and signer checked) or explicitly trusted with
    :meth:`~jura_trust.publications.VerifiedPublicationsFile.unchecked`;
    anything else raises :class:`TypeError`. An ``extender``'s answers are
    never trusted: the rules check every chain it returns. Returns a
    :class:`VerificationResult` saying what an OK rests on (``anchor``) and
    the time it proves; it never raises for a bad signature.

    Given the signature's bytes, it is the same as
    ``verify_signature(Signature.from_bytes(data), ...)`` in every way (bytes
    that do not parse raise that :class:`~jura_trust.errors.FormatError`
    before any argument is checked; then a negative ``input_level`` raises
    :class:`ValueError`, a ``publications_file`` of another type
    :class:`TypeError` and an unknown ``policy`` :class:`ValueError`), and faster:
    the common signatures are checked in one pass over the bytes under the
    internal, key-based and publications-file policies, and the general
    policy when its publications-file alternative is OK
    (docs/architecture.md, "The express lane").
    """
    try:
        ksi_policy = _BY_NAME.get(policy)
    except TypeError:  # unhashable: Policy() below says ValueError, as for any other
        ksi_policy = None
    if not isinstance(signature, Signature):
        data = signature if type(signature) is bytes else bytes(signature)
        if (
            input_level == 0
            and user_publication is None
            and ksi_policy is not None
            and (publications_file is None or _is_verified_file(publications_file))
        ):
            fast = verify_bytes(data, ksi_policy, document_hash, publications_file)
            if fast is not None:
                if _express.CHECK:
                    _check_express(fast, data, ksi_policy, document_hash, publications_file)
                return fast
        # As verify_signature(Signature.from_bytes(data), ...): bytes that do
        # not parse raise the parser's error before any argument is checked.
        signature = Signature.from_bytes(data)
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
    if ksi_policy is None:
        ksi_policy = POLICIES[Policy(policy)]  # ValueError for an unknown policy
    return ksi_policy(ctx)


def _is_verified_file(value: object) -> bool:
    """Whether ``value`` is a publications file the policies accept (see ``_is_verified``).

    Such a file can only exist once its module is loaded: no import here.
    """
    module = sys.modules.get("jura_trust.publications")
    return module is not None and isinstance(value, module.VerifiedPublicationsFile)


#: The policies by name and by member (a ``str`` is looked up without making a ``Policy``).
_BY_NAME: dict[object, KsiPolicy] = {}
for _member, _found in POLICIES.items():
    _BY_NAME[_member] = _BY_NAME[_member.value] = _found


def _check_express(
    fast: VerificationResult,
    data: bytes,
    policy: KsiPolicy,
    document_hash: Imprint | None,
    publications_file: VerifiedPublicationsFile | None,
) -> None:
    """Raise :class:`AssertionError` unless the engine gives ``fast`` for ``data`` too."""
    ctx = VerificationContext(
        Signature.from_bytes(data), document_hash, 0, publications_file=publications_file
    )
    slow = policy(ctx)
    if slow != fast or slow.anchor.as_dict() != fast.anchor.as_dict():
        raise AssertionError(f"express lane disagrees with the engine: {fast!r} != {slow!r}")

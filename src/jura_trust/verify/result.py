"""Verification results: one :class:`RuleResult` per rule run, and the total."""

from __future__ import annotations

from typing import Any

import attrs

from jura_trust.errors import ErrorCode, Outcome, VerificationError

__all__ = ["RuleResult", "VerificationResult"]


@attrs.frozen(slots=True)
class RuleResult:
    """The result of one verification rule.

    ``rule`` is the rule's stable name (e.g. ``"aggregation_chain_consistency"``),
    ``code`` the error code on FAIL or NA (``None`` on OK).
    """

    rule: str
    outcome: Outcome
    code: ErrorCode | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "rule": self.rule,
            "outcome": self.outcome.value,
            "code": self.code.value if self.code else None,
            "message": self.message,
        }


@attrs.frozen(slots=True)
class VerificationResult:
    """The result of a verification policy.

    ``outcome`` is OK (proven good), FAIL (proven bad) or NA (cannot tell);
    ``code`` and ``message`` are those of the last rule run, as in KSI, and
    ``steps`` is the trace of every rule run, in order.
    """

    policy: str
    outcome: Outcome
    code: ErrorCode | None
    message: str
    steps: tuple[RuleResult, ...] = ()

    @property
    def ok(self) -> bool:
        """True only for an OK outcome."""
        return self.outcome is Outcome.OK

    def __bool__(self) -> bool:
        raise TypeError("a VerificationResult has three outcomes; test .ok or .outcome explicitly")

    def raise_for_outcome(self) -> VerificationResult:
        """Return ``self`` if OK, else raise :class:`VerificationError` with the code."""
        if self.outcome is Outcome.OK:
            return self
        raise VerificationError(
            f"{self.policy} policy: {self.outcome.value}: {self.message}",
            code=self.code or ErrorCode.GEN_02,
            outcome=self.outcome.value,
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (used by the CLI's ``--json``)."""
        return {
            "policy": self.policy,
            "outcome": self.outcome.value,
            "code": self.code.value if self.code else None,
            "message": self.message,
            "rules": [s.as_dict() for s in self.steps],
        }

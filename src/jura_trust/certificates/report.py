"""The JSON form of a certificate verification result (``jura-trust qr verify --json``).

JT1 (:func:`~jura_trust.certificates.jt1.verify_certificate`) and EU DCC
(:func:`~jura_trust.certificates.dcc.verify_dcc`) both return the kernel's
:class:`~jura_trust.verify.result.VerificationResult`; :func:`certificate_report`
turns one into the object ``docs/qr.md`` promises: ``valid``, ``code``,
``reason``, ``issuer``, ``fields``... plus the trace and the anchor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jura_trust.certificates._json import json_safe
from jura_trust.certificates.dcc import DCC_POLICY, DCC_POLICY_NAME
from jura_trust.certificates.jt1.verify import JT1_POLICY, JT1_POLICY_NAME
from jura_trust.verify.result import VerificationResult

__all__ = ["FACT_KEYS", "certificate_report"]

#: Per policy, the facts a report always has: their values on an OK result,
#: ``None`` on any other (a certificate that is not valid shows no claim).
FACT_KEYS: dict[str, tuple[str, ...]] = {
    JT1_POLICY_NAME: (
        "issuer",
        "document_type",
        "fields",
        "language",
        "issued_at",
        "valid_from",
        "valid_until",
        "ksi_time",
        "seal",
        "leaf",
        "page",
        "self_contained",
    ),
    DCC_POLICY_NAME: ("issuer", "issued_at", "expires_at", "type", "fields", "signer"),
}

_STEPS: dict[str, dict[str, str]] = {
    JT1_POLICY_NAME: {rule.name: rule.step for rule in JT1_POLICY.rules()},
    DCC_POLICY_NAME: {rule.name: rule.step for rule in DCC_POLICY.rules()},
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_report(result: VerificationResult, *, at: datetime | None = None) -> dict[str, Any]:
    """The JSON object of a JT1 or DCC result.

    Keys: ``valid`` (true only for OK), ``outcome`` (``"OK"``, ``"FAIL"``,
    ``"NA"``), ``code``, ``reason`` (the deciding rule's message), ``rule``
    and ``step`` (the deciding rule's name and step number; ``null`` when
    valid), ``policy`` (``"jt1"`` or ``"dcc"``), ``rules`` (every rule run,
    in order), ``anchor``, ``at`` (the validation time) and the policy's
    facts (:data:`FACT_KEYS`), which are ``null`` unless valid. Every value
    is JSON-friendly.
    """
    last = result.steps[-1] if result.steps else None
    decided_by = None if result.ok or last is None else last.rule
    step = _STEPS.get(result.policy, {}).get(decided_by or "")
    report: dict[str, Any] = {
        "valid": result.ok,
        "outcome": result.outcome.value,
        "code": result.code.value if result.code else None,
        "reason": result.message,
        "rule": decided_by,
        "step": int(step) if step is not None and step.isdigit() else step,
        "policy": result.policy,
        "rules": [s.as_dict() for s in result.steps],
        "anchor": result.anchor.as_dict(),
        "at": _iso(at),
    }
    report.update(dict.fromkeys(FACT_KEYS.get(result.policy, ())))
    if result.ok:
        report.update(result.facts)
    return json_safe(report)  # type: ignore[no-any-return]

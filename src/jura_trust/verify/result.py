"""Verification results: one :class:`RuleResult` per rule run, the total, and its anchor.

Every verifier in jura_trust (KSI policies, JT1 certificates, EU DCCs)
returns a :class:`VerificationResult`: the outcome, the deciding code and
message, the trace of rules run, and an :class:`Anchor` saying what the
result rests on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from jura_trust._value import FrozenError, Value, _init
from jura_trust.errors import ErrorCode, Outcome, VerificationError

__all__ = ["ANCHOR_KINDS", "NO_ANCHOR", "Anchor", "RuleResult", "VerificationResult"]

#: The kinds of anchor a result can rest on.
ANCHOR_KINDS = frozenset(
    {
        # A publication: from a trusted publications file, or given by the user.
        "publication",
        # A calendar authentication record signed with a trusted calendar key.
        "calendar-key",
        # The extender's calendar, consulted online (calendar policy).
        "extender",
        # An issuer key from a verified trust list (JT1 and DCC certificates).
        "issuer-key",
        # Nothing: internally consistent only.
        "none",
    }
)


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    if value is _EMPTY or not value:
        return _EMPTY  # one shared, read-only empty mapping
    return MappingProxyType(dict(value))


_Built = tuple[str, Mapping[str, Any]]


class Anchor:
    """What a verification result rests on.

    Attributes:
        kind: one of :data:`ANCHOR_KINDS`.
        description: one sentence for people, e.g. "publication AAAA-...
            (publications file signed by E=...)".
        details: JSON-friendly facts (publication time and string,
            certificate id and subject, signer of the publications file...).

    The description and details may be given, or made on first use by
    ``build`` (a verifier runs many times; people read few results).
    Anchors compare by kind and details. An anchor is immutable (one,
    :data:`NO_ANCHOR`, is shared by every result that is not OK): setting
    an attribute raises :class:`~jura_trust.FrozenError`.
    """

    __slots__ = ("_build", "_description", "_details", "kind")

    kind: str
    _description: str | None
    _details: Mapping[str, Any] | None
    _build: Callable[[], _Built] | None

    def __init__(
        self,
        kind: str,
        description: str | None = None,
        details: Mapping[str, Any] | None = None,
        *,
        build: Callable[[], _Built] | None = None,
    ) -> None:
        if kind not in ANCHOR_KINDS:
            raise ValueError(f"unknown anchor kind {kind!r}")
        if (description is None) == (build is None):
            raise ValueError("give an anchor a description or a build function, not both")
        _init(self, "kind", kind)
        _init(self, "_description", description)
        if details is not None:
            _init(self, "_details", _frozen_mapping(details))
        else:
            _init(self, "_details", None if build is not None else _EMPTY)
        _init(self, "_build", build)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenError(f"cannot set {name!r}: an Anchor is immutable")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"cannot delete {name!r}: an Anchor is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        # Copies and pickles carry the made description and details, never ``build``.
        return (_rebuild_anchor, (self.kind, self.description, dict(self.details)))

    def _made(self) -> tuple[str, Mapping[str, Any]]:
        # Made once, on first use; the only change an anchor ever sees. Safe
        # from several threads: ``_build`` is cleared last, so whoever finds
        # it cleared finds the description and details set (at worst two
        # threads build the same thing).
        description, details = self._description, self._details
        if description is not None and details is not None:
            return description, details
        build = self._build
        if build is None:
            made_description, made_details = self._description, self._details
            assert made_description is not None
            assert made_details is not None
            return made_description, made_details
        description, raw = build()
        made = _frozen_mapping(raw)
        _init(self, "_description", description)
        _init(self, "_details", made)
        _init(self, "_build", None)
        return description, made

    @property
    def description(self) -> str:
        """One sentence for people."""
        return self._made()[0]

    @property
    def details(self) -> Mapping[str, Any]:
        """JSON-friendly facts."""
        return self._made()[1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Anchor):
            return NotImplemented
        return self.kind == other.kind and dict(self.details) == dict(other.details)

    def __hash__(self) -> int:
        return hash(self.kind)

    def __repr__(self) -> str:
        return f"Anchor({self.kind!r}, {self.description!r})"

    @classmethod
    def none(cls, description: str = "consistent, not anchored") -> Anchor:
        """No anchor: the result shows internal consistency only."""
        return cls("none", description)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form: ``kind``, ``description`` and the details."""
        return {"kind": self.kind, "description": self.description, **self.details}


def _rebuild_anchor(kind: str, description: str, details: dict[str, Any]) -> Anchor:
    return Anchor(kind, description, details)


#: The anchor of every result that is not OK.
NO_ANCHOR = Anchor.none()


class RuleResult(Value):
    """The result of one verification rule.

    ``rule`` is the rule's stable name (e.g. ``"aggregation_chains"``),
    ``code`` the error code on FAIL or NA (``None`` on OK).
    """

    __slots__ = ("code", "message", "outcome", "rule")
    _fields = ("rule", "outcome", "code", "message")

    rule: str
    outcome: Outcome
    code: ErrorCode | None
    message: str

    def __init__(
        self, rule: str, outcome: Outcome, code: ErrorCode | None = None, message: str = ""
    ) -> None:
        _init(self, "rule", rule)
        _init(self, "outcome", outcome)
        _init(self, "code", code)
        _init(self, "message", message)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "rule": self.rule,
            "outcome": self.outcome.value,
            "code": self.code.value if self.code else None,
            "message": self.message,
        }


class VerificationResult(Value):
    """The result of a verification policy.

    ``outcome`` is OK (proven good), FAIL (proven bad) or NA (cannot tell);
    ``code`` and ``message`` are those of the last rule run, as in KSI, and
    ``steps`` is the trace of every rule run, in order. ``anchor`` says what
    an OK rests on (``kind == "none"`` for anything but OK, and for the
    internal policy, which proves consistency only).

    ``aggregation_time`` is the signing time a KSI result proves (the time
    computed from the shape of the calendar chain that was checked; for the
    internal policy, the signature's consistent claim) and ``None`` unless
    the outcome is OK. ``document_checked`` says whether a document (or its
    hash) was compared. ``facts`` holds what a certificate verifier proved
    (issuer, fields...): it is empty unless the outcome is OK, so a
    non-valid result never carries claims as if they were facts.

    Results compare and hash by every field but ``facts``.
    """

    __slots__ = (
        "aggregation_time",
        "anchor",
        "code",
        "document_checked",
        "facts",
        "message",
        "outcome",
        "policy",
        "steps",
    )
    _fields = (
        "policy",
        "outcome",
        "code",
        "message",
        "steps",
        "anchor",
        "aggregation_time",
        "document_checked",
        "facts",
    )
    #: Compared and hashed: every field but ``facts`` (proven by the rules that made the rest).
    _compare = _fields[:-1]

    policy: str
    outcome: Outcome
    code: ErrorCode | None
    message: str
    steps: tuple[RuleResult, ...]
    anchor: Anchor
    aggregation_time: int | None
    document_checked: bool
    facts: Mapping[str, Any]

    def __init__(  # noqa: PLR0917 - the positional signature the attrs class had
        self,
        policy: str,
        outcome: Outcome,
        code: ErrorCode | None,
        message: str,
        steps: tuple[RuleResult, ...] = (),
        anchor: Anchor = NO_ANCHOR,
        aggregation_time: int | None = None,
        document_checked: bool = False,
        facts: Mapping[str, Any] = _EMPTY,
    ) -> None:
        facts = _frozen_mapping(facts)
        if outcome is not Outcome.OK and (
            anchor.kind != "none" or facts or aggregation_time is not None
        ):
            raise ValueError("only an OK result carries an anchor, a proven time or facts")
        _init(self, "policy", policy)
        _init(self, "outcome", outcome)
        _init(self, "code", code)
        _init(self, "message", message)
        _init(self, "steps", steps)
        _init(self, "anchor", anchor)
        _init(self, "aggregation_time", aggregation_time)
        _init(self, "document_checked", document_checked)
        _init(self, "facts", facts)

    @classmethod
    def _ok(
        cls,
        policy: str,
        steps: tuple[RuleResult, ...],
        anchor: Anchor,
        aggregation_time: int,
        document_checked: bool,
    ) -> VerificationResult:
        """An OK result as the policies make it (message "verified", no facts), unchecked.

        For the express lane, whose OK results hold ``__init__``'s checks by
        construction (an OK outcome, no code).
        """
        result: VerificationResult = object.__new__(cls)
        _init(result, "policy", policy)
        _init(result, "outcome", Outcome.OK)
        _init(result, "code", None)
        _init(result, "message", "verified")
        _init(result, "steps", steps)
        _init(result, "anchor", anchor)
        _init(result, "aggregation_time", aggregation_time)
        _init(result, "document_checked", document_checked)
        _init(result, "facts", _EMPTY)
        return result

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
            "anchor": self.anchor.as_dict(),
            "document_checked": self.document_checked,
            "rules": [s.as_dict() for s in self.steps],
        }

"""The verification kernel: rules as data, policies as values (layer 7).

Every verifier in jura_trust (KSI's six policies, JT1 certificates, EU DCCs)
is a composition of :class:`Rule` values run by :func:`evaluate`, and
returns one :class:`~jura_trust.verify.result.VerificationResult`.

* A :class:`Rule` has a stable ``name``, a ``step`` (its place in the
  documented order, ``docs/verification.md``), exactly one error ``code``
  and the ``outcome`` it reports when its check finds a problem (FAIL, or
  NA for "cannot tell"). Its ``check`` returns ``None`` when the rule
  holds, else a message.
* A policy is a value: :class:`AllOf` (a sequence: the first rule that is
  not OK stops it), :class:`FirstConclusive` (KSI's OR group: the first OK
  wins, a FAIL stops, NA moves on to the next alternative), :class:`When`
  (a branch on a fact of the context, itself no rule and not in the trace)
  and :class:`UnsafeNoOp` (checks nothing; for tests only, and named so).
  An empty :class:`AllOf` or :class:`FirstConclusive` cannot be built: a
  composition that checks nothing must never pass.
* The result's code and message are those of the last rule run, as in KSI;
  the trace lists every rule run, in order, by name.

A rule's ``libksi`` names the libksi rules it stands for (spec/ksi-format.md
section 10.2), and ``stricter`` marks checks that libksi does not make.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from jura_trust._value import Value, _init
from jura_trust.errors import ErrorCode, Outcome
from jura_trust.verify.result import RuleResult

__all__ = [
    "AllOf",
    "FirstConclusive",
    "Node",
    "Rule",
    "Trace",
    "UnsafeNoOp",
    "When",
    "evaluate",
]

C = TypeVar("C")


class Node(Protocol[C]):
    """Anything a policy is made of: a rule or a composition."""

    def run(self, ctx: C, trace: Trace) -> Outcome:
        """Run against ``ctx``, recording every rule in ``trace``."""
        ...

    def rules(self) -> list[Rule[C]]:
        """Every rule reachable from this node, in order (for docs and tests)."""
        ...


class Trace:
    """The rules run so far, in order; the last one decides the result."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps: list[RuleResult] = []

    def record(self, result: RuleResult) -> Outcome:
        """Append ``result`` and return its outcome."""
        self.steps.append(result)
        return result.outcome

    @property
    def last(self) -> RuleResult | None:
        """The last rule's result, or ``None`` before any rule ran."""
        return self.steps[-1] if self.steps else None


_OK_RESULTS: dict[str, RuleResult] = {}
_OK = Outcome.OK


def _ok(name: str) -> RuleResult:
    result = _OK_RESULTS.get(name)
    if result is None:
        result = _OK_RESULTS[name] = RuleResult(name, Outcome.OK)
    return result


def _check_outcome(value: Outcome) -> None:
    if value is Outcome.OK:
        raise ValueError("a rule's failure outcome is FAIL or NA, never OK")


def _check_name(value: str) -> None:
    if not value or not value.replace("_", "").isalnum() or value != value.lower():
        raise ValueError(f"rule names are lower_snake_case identifiers, not {value!r}")


def _shown(value: Value, hidden: str) -> str:
    """``repr`` of a value without one field (a function, shown by nothing useful)."""
    shown = ", ".join(
        f"{name}={getattr(value, name)!r}" for name in value._fields if name != hidden
    )
    return f"{type(value).__qualname__}({shown})"


class Rule(Value, Generic[C], eq=False):
    """One check with a stable name, a step number and exactly one code.

    Attributes:
        name: the stable name (lower_snake_case), shown in every trace.
        step: the rule's place in the documented order (e.g. ``"11c"``).
        code: the one error code this rule reports when it does not hold.
        check: returns ``None`` when the rule holds, else a message.
        outcome: what a problem means: ``FAIL`` (proven bad, the default)
            or ``NA`` (cannot tell).
        libksi: the libksi rule names this rule stands for.
        stricter: ``True`` for a check libksi does not make.
    """

    __slots__ = ("check", "code", "libksi", "name", "ok_result", "outcome", "step", "stricter")
    _fields = ("name", "step", "code", "check", "outcome", "libksi", "stricter")

    name: str
    step: str
    code: ErrorCode
    check: Callable[[C], str | None]
    outcome: Outcome
    libksi: tuple[str, ...]
    stricter: bool
    #: The shared OK result (results are immutable).
    ok_result: RuleResult

    def __init__(  # noqa: PLR0917 - the positional signature the attrs class had
        self,
        name: str,
        step: str,
        code: ErrorCode,
        check: Callable[[C], str | None],
        outcome: Outcome = Outcome.FAIL,
        libksi: tuple[str, ...] = (),
        stricter: bool = False,
    ) -> None:
        _check_name(name)
        _check_outcome(outcome)
        _init(self, "name", name)
        _init(self, "step", step)
        _init(self, "code", code)
        _init(self, "check", check)
        _init(self, "outcome", outcome)
        _init(self, "libksi", libksi)
        _init(self, "stricter", stricter)
        _init(self, "ok_result", _ok(name))

    def __repr__(self) -> str:
        return _shown(self, "check")

    def __call__(self, ctx: C) -> RuleResult:
        """Run the check alone and return its result."""
        problem = self.check(ctx)
        if problem is None:
            return self.ok_result
        return RuleResult(self.name, self.outcome, self.code, problem)

    def run(self, ctx: C, trace: Trace) -> Outcome:
        """Run the check and record it."""
        problem = self.check(ctx)
        if problem is None:
            trace.steps.append(self.ok_result)
            return _OK
        trace.steps.append(RuleResult(self.name, self.outcome, self.code, problem))
        return self.outcome

    def rules(self) -> list[Rule[C]]:
        """This rule."""
        return [self]


def _members(value: Sequence[object]) -> None:
    if not value:
        raise ValueError("an empty composition checks nothing and must not be built")


#: One step of an :class:`AllOf`'s precomputed plan: a rule's check, its
#: (shared) OK result and the rule; or ``None``, a placeholder never
#: recorded, and a composition.
_Step = tuple[Callable[[Any], "str | None"] | None, RuleResult, Any]


_NOT_A_RULE = RuleResult("not_a_rule", Outcome.NA)


def _flatten(members: Sequence[Node[Any]]) -> tuple[_Step, ...]:
    """The flat run plan of a sequence: rules inline, nested sequences flattened.

    A sequence inside a sequence runs the same as its members in place (the
    first member that is not OK stops both), so the plan inlines it; other
    compositions stay nodes. The plan is the hot path of every verification:
    no call through :meth:`Rule.run` and no new object for an OK rule.
    """
    steps: list[_Step] = []
    for member in members:
        if type(member) is Rule:
            steps.append((member.check, _ok(member.name), member))
        elif type(member) is AllOf:
            steps.extend(member._plan)
        else:
            steps.append((None, _NOT_A_RULE, member))
    return tuple(steps)


class AllOf(Value, Generic[C], eq=False):
    """A sequence: every member must be OK; the first that is not stops it."""

    __slots__ = ("_plan", "members")
    _fields = ("members",)

    members: tuple[Node[C], ...]
    _plan: tuple[_Step, ...]

    def __init__(self, members: tuple[Node[C], ...]) -> None:
        _members(members)
        _init(self, "members", members)
        _init(self, "_plan", _flatten(members))

    def run(self, ctx: C, trace: Trace) -> Outcome:
        """Run members in order until one is not OK."""
        record = trace.steps.append
        ok = Outcome.OK
        for check, passed, member in self._plan:
            if check is None:
                outcome: Outcome = member.run(ctx, trace)
                if outcome is not ok:
                    return outcome
                continue
            problem = check(ctx)
            if problem is None:
                record(passed)
            else:
                failed: Outcome = member.outcome
                record(RuleResult(member.name, failed, member.code, problem))
                return failed
        return ok

    def rules(self) -> list[Rule[C]]:
        """Every rule of every member, in order."""
        return [rule for member in self.members for rule in member.rules()]


class FirstConclusive(Value, Generic[C], eq=False):
    """KSI's OR group: the first OK wins, a FAIL stops, NA tries the next one.

    When every alternative is NA, the result is the last one's NA.
    """

    __slots__ = ("alternatives",)
    _fields = ("alternatives",)

    alternatives: tuple[Node[C], ...]

    def __init__(self, alternatives: tuple[Node[C], ...]) -> None:
        _members(alternatives)
        _init(self, "alternatives", alternatives)

    def run(self, ctx: C, trace: Trace) -> Outcome:
        """Run alternatives until one is conclusive."""
        outcome = Outcome.NA
        for alternative in self.alternatives:
            outcome = alternative.run(ctx, trace)
            if outcome is not Outcome.NA:
                return outcome
        return outcome

    def rules(self) -> list[Rule[C]]:
        """Every rule of every alternative, in order."""
        return [rule for alt in self.alternatives for rule in alt.rules()]


class When(Value, Generic[C], eq=False):
    """A branch on a fact of the context (``predicate``), not itself a rule.

    ``then`` runs when the predicate holds, else ``otherwise``; with no
    ``otherwise`` the branch adds nothing and is OK (the policy goes on).
    """

    __slots__ = ("description", "otherwise", "predicate", "then")
    _fields = ("description", "predicate", "then", "otherwise")

    description: str
    predicate: Callable[[C], bool]
    then: Node[C]
    otherwise: Node[C] | None

    def __init__(
        self,
        description: str,
        predicate: Callable[[C], bool],
        then: Node[C],
        otherwise: Node[C] | None = None,
    ) -> None:
        _init(self, "description", description)
        _init(self, "predicate", predicate)
        _init(self, "then", then)
        _init(self, "otherwise", otherwise)

    def __repr__(self) -> str:
        return _shown(self, "predicate")

    def run(self, ctx: C, trace: Trace) -> Outcome:
        """Run the branch the predicate picks."""
        if self.predicate(ctx):
            return self.then.run(ctx, trace)
        if self.otherwise is None:
            return Outcome.OK
        return self.otherwise.run(ctx, trace)

    def rules(self) -> list[Rule[C]]:
        """The rules of both branches."""
        rules = self.then.rules()
        if self.otherwise is not None:
            rules.extend(self.otherwise.rules())
        return rules


class UnsafeNoOp(Value, Generic[C], eq=False):
    """Checks nothing and says so: OK, with a trace entry naming it unsafe.

    For tests that need a policy object; never use it to verify anything.
    """

    __slots__ = ()

    def run(self, ctx: C, trace: Trace) -> Outcome:
        """Record an OK that rests on nothing."""
        return trace.record(
            RuleResult("unsafe_no_op", Outcome.OK, None, "UNSAFE: nothing was checked")
        )

    def rules(self) -> list[Rule[C]]:
        """No rules."""
        return []


def evaluate(
    node: Node[C], ctx: C
) -> tuple[Outcome, ErrorCode | None, str, tuple[RuleResult, ...]]:
    """Run ``node`` on ``ctx``: ``(outcome, code, message, trace)``.

    The code and message are the last rule's. A policy that ran no rule at
    all (a :class:`When` whose branch was empty) is NA, never OK.
    """
    trace = Trace()
    outcome = node.run(ctx, trace)
    last = trace.last
    if last is None:
        return Outcome.NA, ErrorCode.GEN_02, "no rule was run", ()
    if outcome is Outcome.OK:
        return Outcome.OK, None, last.message or "verified", tuple(trace.steps)
    return outcome, last.code, last.message, tuple(trace.steps)

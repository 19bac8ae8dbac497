"""The verification path's values without attrs (issue 10 item 2): same contracts as before.

The kernel's rules and compositions, the results, the policies, the context
and the trust configuration were attrs classes; they are now
:class:`jura_trust._value.Value` subclasses (the context a plain slotted
class) so that ``jura-trust verify`` never imports attrs. These tests hold
what their attrs versions guaranteed: constructor signatures, the checks the
validators made, equality and hashing, immutability, ``evolve``.
"""

from __future__ import annotations

import copy
import inspect
import pickle
from types import MappingProxyType

import pytest

import jura_trust
from jura_trust._value import FrozenError, evolve
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.hashing import Imprint
from jura_trust.errors import ErrorCode, Outcome
from jura_trust.trust import TrustConfig
from jura_trust.verify import (
    AllOf,
    Anchor,
    FirstConclusive,
    KsiPolicy,
    Rule,
    RuleResult,
    UnsafeNoOp,
    VerificationContext,
    VerificationResult,
    When,
    internal,
    verify_signature,
)
from jura_trust.verify.result import NO_ANCHOR


def _params(cls: type) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(cls).parameters.values()]


E = inspect.Parameter.empty


def test_constructor_signatures_are_those_of_the_attrs_classes():
    assert _params(Rule) == [
        ("name", E),
        ("step", E),
        ("code", E),
        ("check", E),
        ("outcome", Outcome.FAIL),
        ("libksi", ()),
        ("stricter", False),
    ]
    assert _params(AllOf) == [("members", E)]
    assert _params(FirstConclusive) == [("alternatives", E)]
    assert _params(When) == [("description", E), ("predicate", E), ("then", E), ("otherwise", None)]
    assert _params(UnsafeNoOp) == []
    assert _params(KsiPolicy) == [("name", E), ("node", E)]
    assert _params(RuleResult) == [("rule", E), ("outcome", E), ("code", None), ("message", "")]
    assert [name for name, _ in _params(VerificationResult)] == [
        "policy",
        "outcome",
        "code",
        "message",
        "steps",
        "anchor",
        "aggregation_time",
        "document_checked",
        "facts",
    ]
    assert _params(VerificationContext) == [
        ("signature", E),
        ("document_hash", None),
        ("input_level", 0),
        ("publications_file", None),
        ("user_publication", None),
        ("extending_allowed", False),
        ("extender", None),
        ("extender_name", "the extender"),
    ]
    assert _params(TrustConfig) == [
        ("publications_file", None),
        ("user_publication", None),
        ("extender", None),
        ("extender_name", "the extender"),
        ("extending_allowed", False),
        ("at", None),
        ("trust_list", None),
        ("revocations", None),
        ("seals", None),
        ("dcc_signers", ()),
        ("sources", ()),
    ]


def _rule(name: str = "a") -> Rule[object]:
    return Rule(name, "1", ErrorCode.GEN_01, lambda _ctx: None)


def test_rules_and_compositions_are_immutable_and_compare_by_identity():
    a, b = _rule(), _rule()
    assert a != b and a == a
    assert len({a, b}) == 2
    nodes = [a, AllOf[object]((a,)), FirstConclusive[object]((a,)), When[object]("w", bool, a)]
    nodes += [UnsafeNoOp[object](), KsiPolicy("p", a)]
    for node in nodes:
        with pytest.raises(FrozenError):
            node.name = "changed"  # type: ignore[misc,union-attr]
        with pytest.raises(AttributeError):  # FrozenError is one, as attrs' was
            del node.name  # type: ignore[union-attr]
    assert AllOf[object]((a,)) != AllOf[object]((a,))


def test_rule_validators_still_run_on_evolve():
    rule = _rule()
    assert rule.ok_result == RuleResult("a", Outcome.OK)
    with pytest.raises(ValueError, match="FAIL or NA"):
        evolve(rule, outcome=Outcome.OK)
    with pytest.raises(ValueError, match="lower_snake_case"):
        evolve(rule, name="Bad-Name")
    renamed = evolve(rule, name="b")
    assert (renamed.name, renamed.ok_result.rule, renamed.check) == ("b", "b", rule.check)
    with pytest.raises(ValueError, match="empty"):
        evolve(AllOf[object]((rule,)), members=())


def test_reprs_name_the_fields_but_not_the_functions():
    rule = _rule()
    assert repr(rule) == (
        "Rule(name='a', step='1', code=<ErrorCode.GEN_01: 'GEN-01'>, "
        "outcome=<Outcome.FAIL: 'FAIL'>, libksi=(), stricter=False)"
    )
    assert repr(When[object]("w", bool, rule)).startswith("When(description='w', then=Rule(")
    assert repr(RuleResult("a", Outcome.OK)) == (
        "RuleResult(rule='a', outcome=<Outcome.OK: 'OK'>, code=None, message='')"
    )
    assert repr(internal).startswith("KsiPolicy(name='internal', node=AllOf(members=(Rule(")


def test_rule_results_compare_and_hash_by_fields_and_survive_copy_and_pickle():
    one = RuleResult("a", Outcome.FAIL, ErrorCode.GEN_01, "m")
    same = RuleResult("a", Outcome.FAIL, ErrorCode.GEN_01, "m")
    assert one == same and hash(one) == hash(same)
    assert one != RuleResult("a", Outcome.FAIL, ErrorCode.GEN_01, "other")
    assert pickle.loads(pickle.dumps(one)) == one
    assert copy.deepcopy(one) == one
    with pytest.raises(FrozenError):
        one.message = "x"  # type: ignore[misc]


def test_results_compare_without_facts_and_keep_their_checks():
    steps = (RuleResult("a", Outcome.OK),)
    anchor = Anchor("issuer-key", "k")
    one = VerificationResult("p", Outcome.OK, None, "ok", steps, anchor, facts={"f": 1})
    other = VerificationResult("p", Outcome.OK, None, "ok", steps, anchor, facts={"f": 2})
    assert one == other and hash(one) == hash(other)  # as with attrs' eq=False on facts
    assert one != evolve(one, message="different")
    assert isinstance(one.facts, MappingProxyType)
    with pytest.raises(TypeError):
        one.facts["f"] = 3  # type: ignore[index]
    with pytest.raises(FrozenError):
        one.outcome = Outcome.FAIL  # type: ignore[misc]
    failed = VerificationResult("p", Outcome.FAIL, ErrorCode.GEN_01, "bad")
    with pytest.raises(ValueError, match="only an OK result"):
        evolve(failed, aggregation_time=1)
    with pytest.raises(ValueError, match="only an OK result"):
        evolve(one, outcome=Outcome.FAIL)
    with pytest.raises(TypeError, match="three outcomes"):
        bool(one)


@pytest.fixture(scope="module")
def backend() -> EmbeddedBackend:
    return EmbeddedBackend(clock=ManualClock(1_700_000_000))


def test_a_context_checks_its_publications_file_and_stays_mutable(backend: EmbeddedBackend):
    sig = backend.sign(Imprint.hash(b"document"))
    with pytest.raises(TypeError, match="VerifiedPublicationsFile"):
        VerificationContext(sig, None, 0, b"not a verified file")  # type: ignore[arg-type]
    pubfile = backend.trusted_publications_file()
    ctx = VerificationContext(sig, publications_file=pubfile)
    assert ctx.anchor.kind == "none" and ctx.aggregation_root is None
    assert ctx == VerificationContext(sig, publications_file=pubfile)
    ctx.proven_time = 5  # the rules record what they compute
    assert ctx != VerificationContext(sig, publications_file=pubfile)
    with pytest.raises(TypeError, match="unhashable"):
        hash(ctx)
    with pytest.raises(AttributeError):
        ctx.not_an_attribute = 1  # type: ignore[attr-defined]
    assert repr(ctx).startswith("VerificationContext(signature=")


def test_trust_config_checks_its_file_compares_by_what_is_trusted(backend: EmbeddedBackend):
    with pytest.raises(TypeError, match="publications_file"):
        TrustConfig(publications_file=b"raw bytes")  # type: ignore[arg-type]
    trust = TrustConfig(sources=("x",))
    with pytest.raises(TypeError, match="publications_file"):
        trust.evolve(publications_file="raw text")
    with pytest.raises(TypeError, match="no field"):
        trust.evolve(publication_file=None)
    a = TrustConfig(extender=backend.extend_calendar, sources=("x",))
    assert a == trust and hash(a) == hash(trust)  # the extender takes no part
    assert a != trust.evolve(extending_allowed=True)
    changed = a.evolve(at=7)
    assert (changed.at, changed.extender, changed.sources) == (7, a.extender, ("x",))
    with pytest.raises(FrozenError):
        a.at = 1  # type: ignore[misc]


def test_shared_no_anchor_cannot_be_mutated_attack(backend: EmbeddedBackend):
    """NO_ANCHOR is shared by every failing result: changing it must be impossible.

    Before the fix, ``NO_ANCHOR.kind = "publication"`` (or any code holding a
    result's anchor) turned the anchor of every later failing result into a
    claim that it rests on a publication.
    """
    sig = backend.sign(Imprint.hash(b"document"))
    failed = verify_signature(sig, policy="internal", document_hash=Imprint.hash(b"other"))
    assert failed.outcome is Outcome.FAIL
    assert failed.anchor is NO_ANCHOR
    for name, value in [("kind", "publication"), ("_description", "x"), ("_details", {})]:
        with pytest.raises(FrozenError):
            setattr(failed.anchor, name, value)
    with pytest.raises(FrozenError):
        del failed.anchor.kind
    again = verify_signature(sig, policy="internal", document_hash=Imprint.hash(b"other"))
    assert again.anchor.kind == "none"
    assert again.anchor.as_dict() == {"kind": "none", "description": "consistent, not anchored"}


def test_built_anchor_is_made_once_and_survives_copy_and_pickle(backend: EmbeddedBackend):
    """A lazily built anchor is immutable too; copies carry what it was built as."""
    calls: list[int] = []

    def build() -> tuple[str, dict[str, object]]:
        calls.append(1)
        return "calendar key 01 (CN=x)", {"certificate_id": "01"}

    anchor = Anchor("calendar-key", build=build)
    with pytest.raises(FrozenError):
        anchor.kind = "none"
    assert anchor.description == "calendar key 01 (CN=x)"
    assert anchor.details == {"certificate_id": "01"}
    assert calls == [1]
    for clone in (copy.copy(anchor), copy.deepcopy(anchor), pickle.loads(pickle.dumps(anchor))):
        assert clone == anchor
        assert clone.as_dict() == anchor.as_dict()
    assert calls == [1]
    assert jura_trust.FrozenError is FrozenError

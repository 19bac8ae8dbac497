"""The verification kernel: rules as data, policies as values, one result type."""

from __future__ import annotations

import pytest

from jura_trust._value import evolve
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.chains import CalendarLink, Direction
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import ErrorCode, Outcome
from jura_trust.verify import (
    AllOf,
    Anchor,
    FirstConclusive,
    Rule,
    UnsafeNoOp,
    VerificationResult,
    When,
    evaluate,
    verify_signature,
)


def rule(name: str, problem: str | None, outcome: Outcome = Outcome.FAIL) -> Rule[object]:
    return Rule(name, "1", ErrorCode.GEN_01, lambda _ctx: problem, outcome=outcome)


def test_empty_compositions_cannot_be_built():
    with pytest.raises(ValueError, match="empty"):
        AllOf[object](())
    with pytest.raises(ValueError, match="empty"):
        FirstConclusive[object](())


def test_a_rule_has_a_failure_outcome_and_a_stable_name():
    with pytest.raises(ValueError, match="FAIL or NA"):
        rule("x", None, Outcome.OK)
    with pytest.raises(ValueError, match="lower_snake_case"):
        rule("Not A Name", None)


def test_all_of_stops_at_the_first_rule_that_is_not_ok():
    node = AllOf[object]((rule("a", None), rule("b", "broken"), rule("c", None)))
    outcome, code, message, steps = evaluate(node, object())
    assert (outcome, code, message) == (Outcome.FAIL, ErrorCode.GEN_01, "broken")
    assert [s.rule for s in steps] == ["a", "b"]


def test_first_conclusive_moves_on_after_na_and_stops_at_fail():
    na = rule("na", "cannot tell", Outcome.NA)
    ok = rule("ok", None)
    bad = rule("bad", "proven bad")
    assert evaluate(FirstConclusive[object]((na, ok, bad)), object())[0] is Outcome.OK
    outcome, _, message, steps = evaluate(FirstConclusive[object]((na, bad, ok)), object())
    assert (outcome, message) == (Outcome.FAIL, "proven bad")
    assert [s.rule for s in steps] == ["na", "bad"]
    outcome, _, _, _ = evaluate(FirstConclusive[object]((na, na)), object())
    assert outcome is Outcome.NA


def test_a_policy_that_ran_no_rule_is_never_ok():
    node = When[object]("never", lambda _ctx: False, rule("a", None))
    outcome, code, _, steps = evaluate(node, object())
    assert (outcome, code, steps) == (Outcome.NA, ErrorCode.GEN_02, ())


def test_unsafe_no_op_says_so():
    outcome, _, message, steps = evaluate(UnsafeNoOp[object](), object())
    assert outcome is Outcome.OK
    assert "UNSAFE" in message
    assert steps[0].rule == "unsafe_no_op"


def test_only_an_ok_result_carries_an_anchor_time_or_facts():
    with pytest.raises(ValueError, match="only an OK result"):
        VerificationResult(
            "x", Outcome.FAIL, ErrorCode.GEN_01, "m", anchor=Anchor("publication", "p")
        )
    with pytest.raises(ValueError, match="only an OK result"):
        VerificationResult("x", Outcome.NA, ErrorCode.GEN_02, "m", aggregation_time=1)
    with pytest.raises(ValueError, match="only an OK result"):
        VerificationResult("x", Outcome.FAIL, ErrorCode.GEN_01, "m", facts={"fields": 1})
    with pytest.raises(ValueError, match="unknown anchor kind"):
        Anchor("trust-me", "no")


@pytest.fixture
def backend() -> EmbeddedBackend:
    return EmbeddedBackend(clock=ManualClock(1_700_000_000))


def test_every_result_says_what_it_rests_on(backend: EmbeddedBackend):
    sig = backend.sign(Imprint.hash(b"document"))
    t = sig.aggregation_chains[0].aggregation_time
    internal = verify_signature(sig, policy="internal")
    assert internal.anchor.kind == "none"
    assert "consistency only" in internal.anchor.description
    assert internal.aggregation_time == t
    pubfile = backend.trusted_publications_file()
    key = verify_signature(sig, policy="key", publications_file=pubfile)
    assert key.ok
    assert key.anchor.kind == "calendar-key"
    assert (
        key.anchor.details["certificate_id"]
        == sig.calendar_auth_record.signature_data.certificate_id.hex()
    )  # type: ignore[union-attr]
    assert key.aggregation_time == t
    backend.clock.advance(10)  # type: ignore[attr-defined]
    backend.sign(Imprint.hash(b"later"))
    publication = backend.publish()
    extended = backend.extend(sig)
    by_file = verify_signature(
        extended, policy="publications-file", publications_file=backend.trusted_publications_file()
    )
    assert by_file.anchor.kind == "publication"
    assert by_file.anchor.details["source"] == "publications-file"
    assert by_file.anchor.details["publication_time"] == publication.publication_time
    assert "E=" in by_file.anchor.details["publications_file_signer"]
    by_user = verify_signature(
        extended, policy="user-publication", user_publication=publication.published_data
    )
    assert by_user.anchor.kind == "publication"
    assert by_user.anchor.details["source"] == "user"
    failed = verify_signature(extended, policy="internal", document_hash=Imprint.hash(b"other"))
    assert failed.anchor.kind == "none"
    assert failed.aggregation_time is None
    assert failed.document_checked


def test_int05_unreadable_shape_is_fail(backend: EmbeddedBackend):
    """A calendar chain whose shape encodes no time: FAIL INT-05 (libksi: NA GEN-02)."""
    sig = backend.sign(Imprint.hash(b"document"))
    cal = sig.calendar_chain
    assert cal is not None
    # one more right link than the publication time's bits allow: no time fits
    sibling = Imprint(b"\x01" + bytes(32))
    broken = evolve(cal, links=(*cal.links, CalendarLink(Direction.RIGHT, sibling)) * 2)
    assert broken.time_from_shape() is None
    forged = Signature.build(sig.aggregation_chains, broken)
    result = verify_signature(forged, policy="internal")
    assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.INT_05)
    assert result.steps[-1].rule == "calendar_shape"
    assert "encodes no time" in result.message


def test_huge_calendar_time_is_a_result_not_a_crash(backend: EmbeddedBackend):
    """Very large times in a calendar chain verify to a coded result (issue 8, defect 5)."""
    sig = backend.sign(Imprint.hash(b"document"))
    cal = sig.calendar_chain
    assert cal is not None
    huge = evolve(cal, publication_time=1 << 62, aggregation_time_field=1 << 62)
    forged = Signature.build(sig.aggregation_chains, huge)
    again = Signature.from_bytes(forged.encode())
    result = verify_signature(again, policy="internal")
    assert result.outcome is Outcome.FAIL
    assert result.code in (ErrorCode.INT_04, ErrorCode.INT_05)


def test_verify_never_imports_backends_or_the_service():
    import ast
    import importlib
    from pathlib import Path

    pkg = importlib.import_module("jura_trust.verify")
    assert pkg.__file__ is not None
    for path in Path(pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert not name.startswith(
                    ("jura_trust.backends", "jura_trust.service", "jura_trust.cli")
                ), f"{path.name} imports {name}"

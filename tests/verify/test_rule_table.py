"""docs/verification.md's rule tables are the policies' own, and libksi parity is complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jura_trust.verify.policies import POLICIES
from tests.verify.rule_table import SECTIONS, render

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "verification.md").read_text(encoding="utf-8")
SPEC = ROOT.parent / "shared" / "spec" / "ksi-format.md"


@pytest.mark.parametrize("section", list(SECTIONS))
def test_rule_table_in_docs_is_generated_from_the_policy(section: str):
    begin, end = f"<!-- rules:{section}:begin -->\n", f"\n<!-- rules:{section}:end -->"
    assert begin in DOC, f"docs/verification.md lacks the {section} table"
    shown = DOC.split(begin, 1)[1].split(end, 1)[0]
    assert shown == render(section), "regenerate with: python -m tests.verify.rule_table"


def _libksi_rule_names() -> set[str]:
    text = SPEC.read_text(encoding="utf-8")
    part = text[text.index("### 10.2") : text.index("## 11.")]
    # libksi rule names as the spec lists them (without the common prefix)
    names = set(re.findall(r"\b((?:[A-Z][a-z0-9]+){3,})\b", part))
    return {n for n in names if not n.startswith(("Guardtime", "Names"))}


def test_every_libksi_rule_has_a_counterpart():
    ours = {name for policy in POLICIES.values() for rule in policy.rules() for name in rule.libksi}
    missing = _libksi_rule_names() - ours
    assert not missing, f"libksi rules without a counterpart: {sorted(missing)}"
    assert len(ours) >= 60


def test_every_rule_has_one_code_and_a_step_and_a_stable_name():
    seen: dict[str, object] = {}
    for policy in POLICIES.values():
        for rule in policy.rules():
            assert re.fullmatch(r"[a-z0-9_]+", rule.name)
            assert rule.step
            assert rule.code is not None
            # a name always means the same rule
            assert seen.setdefault(rule.name, rule) is rule

"""The rule tables of docs/verification.md, rendered from the policies themselves."""

from __future__ import annotations

from jura_trust.verify.engine import Rule
from jura_trust.verify.policies import POLICIES, Policy

#: The policies' own rules, in the order the docs list them.
SECTIONS = {
    "Internal policy": (Policy.INTERNAL, 0),
    "Key-based policy": (Policy.KEY, len(POLICIES[Policy.INTERNAL].rules())),
    "Publications-file policy": (
        Policy.PUBLICATIONS_FILE,
        len(POLICIES[Policy.INTERNAL].rules()),
    ),
    "User-publication policy": (
        Policy.USER_PUBLICATION,
        len(POLICIES[Policy.INTERNAL].rules()),
    ),
    "Calendar policy": (Policy.CALENDAR, len(POLICIES[Policy.INTERNAL].rules())),
}


def _row(rule: Rule[object]) -> str:
    libksi = ", ".join(f"`{n}`" for n in rule.libksi) or "(none: ours)"
    stricter = " **stricter**" if rule.stricter else ""
    first = (rule.check.__doc__ or "").strip().splitlines()[0] if rule.check.__doc__ else ""
    return (
        f"| {rule.step} | `{rule.name}`{stricter} | {rule.code.value} | "
        f"{rule.outcome.value} | {first} | {libksi} |"
    )


def render(section: str) -> str:
    """The markdown table of one section's rules (each rule once, in order)."""
    policy, skip = SECTIONS[section]
    seen: set[str] = set()
    rows = [
        "| step | rule | code | on failure | checks | libksi rules |",
        "|---|---|---|---|---|---|",
    ]
    for rule in POLICIES[policy].rules()[skip:]:
        if rule.name in seen:
            continue
        seen.add(rule.name)
        rows.append(_row(rule))
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    for name in SECTIONS:
        print(f"## {name}\n\n{render(name)}\n")

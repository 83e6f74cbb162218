"""docs/rules.md, generated from the rule registry (a test fails when the file is stale)."""

from __future__ import annotations

from certward.health.engine import registered_rules


def rules_markdown() -> str:
    lines = [
        "# Health rules",
        "",
        "Generated from `certward.health.rules` by `certward rules --markdown`; "
        "do not edit by hand.",
        "",
        "Each rule is a pure function of the organisation (as stored, or as observed from a "
        "real server's output) and a date: `certward health --as-of DATE` answers what will "
        "be broken then. Exit status: 0 clean, 1 warnings only, 2 errors or critical.",
        "",
        "A real organisation is judged only on what its outputs showed: a rule whose input "
        "no dump provided gives one info finding, `not judged: needs <the output>`, never a "
        "failure; each rule says what it needs. Where Exchange has a default the dumps do not "
        "contradict, the rule assumes it and says so in the finding's `assumed` evidence. "
        "How the rules cover Microsoft's HealthChecker: [healthchecker.md](healthchecker.md).",
        "",
        "| ID | Rule | Severities | Prevents |",
        "|---|---|---|---|",
    ]
    for r in registered_rules():
        severities = ", ".join(s.label for s in r.severities)
        lines.append(f"| {r.id} | {r.title} | {severities} | {r.prevents} |")
    for r in registered_rules():
        lines += ["", f"## {r.id}: {r.title}", "", r.description, "", f"Prevents: {r.prevents}"]
    return "\n".join(lines) + "\n"

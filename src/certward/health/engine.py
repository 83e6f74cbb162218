"""Running the rules over a snapshot, and what the result means (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from certward.health import rules as _rules  # noqa: F401 - importing registers the rules
from certward.health.findings import RULES, Finding, Rule, Severity
from certward.health.snapshot import OrgSnapshot
from certward.interop.powershell import DEFAULT_SCRIPT_DIR, fixes_script
from certward.model import CheckStatus

REPORT_SCHEMA_VERSION = 1


def registered_rules() -> list[Rule]:
    """Every rule, by ID (the order of docs/rules.md)."""
    return sorted(RULES, key=lambda r: r.id)


class TimelineEntry(NamedTuple):
    """One certificate's lifetime, for the expiry timeline of the HTML report (a named
    tuple: a report holds one for each certificate of each server)."""

    server: str
    thumbprint: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    in_use: bool


class HealthReport(NamedTuple):
    """The rules' findings over an organisation as of a date (worst first), the servers
    judged, how many rules ran, and each certificate's lifetime for the timeline."""

    as_of: dt.datetime
    findings: tuple[Finding, ...]
    servers: tuple[str, ...]
    rules_run: int
    timeline: tuple[TimelineEntry, ...] = ()

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    @property
    def exit_status(self) -> CheckStatus:
        """OK clean (info at most), WARNING warnings only, CRITICAL errors or critical."""
        worst = self.worst
        if worst is None or worst is Severity.INFO:
            return CheckStatus.OK
        return CheckStatus.WARNING if worst is Severity.WARNING else CheckStatus.CRITICAL

    def counts(self) -> dict[str, int]:
        return {s.label: sum(f.severity is s for f in self.findings) for s in Severity}

    def to_json(self) -> dict[str, object]:
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "as_of": self.as_of.isoformat(),
            "servers": list(self.servers),
            "rules_run": self.rules_run,
            "counts": self.counts(),
            "exit_status": int(self.exit_status),
            "findings": [f.to_json() for f in self.findings],
        }


def evaluate(
    snapshot: OrgSnapshot,
    now: dt.datetime,
    *,
    server: str | None = None,
    min_severity: Severity = Severity.INFO,
    rules: Sequence[Rule] | None = None,
) -> HealthReport:
    """Every rule over the snapshot as of ``now``; organisation-wide findings are kept when
    one server is asked for. Sorted worst first, then by server and rule."""
    chosen = list(rules) if rules is not None else registered_rules()

    def wanted(name: str | None) -> bool:
        """One rule for findings and servers: server names compare case-insensitively, as
        Exchange's do; an organisation-wide finding (no server) is always kept."""
        return server is None or name is None or name.lower() == server.lower()

    findings = []
    for r in chosen:
        for finding in r.check(snapshot, now):
            if finding.severity >= min_severity and wanted(finding.server):
                findings.append(finding)
    findings.sort(key=lambda f: (-f.severity, f.server or "", f.rule_id, f.message))
    states = [s for s in snapshot.servers if wanted(s.name)]
    timeline = []
    for state in states:
        used = {cert.thumbprint for cert, _ in snapshot.in_use(state)}
        name = state.name
        for cert in state.certificates:
            profile = cert.profile
            timeline.append(
                TimelineEntry(
                    name,
                    cert.thumbprint,
                    profile.subject_text,
                    profile.not_before,
                    profile.not_after,
                    cert.thumbprint in used,
                )
            )
    names = tuple(s.name for s in states)
    return HealthReport(now, tuple(findings), names, len(chosen), tuple(timeline))


def narrowed(
    report: HealthReport, *, server: str | None = None, min_severity: Severity = Severity.INFO
) -> HealthReport:
    """What :func:`evaluate` gives with ``server`` and ``min_severity``, from its report of
    the whole organisation at every severity (the same findings, servers and timeline)."""

    def wanted(name: str | None) -> bool:
        return server is None or name is None or name.lower() == server.lower()

    return HealthReport(
        report.as_of,
        tuple(f for f in report.findings if f.severity >= min_severity and wanted(f.server)),
        tuple(name for name in report.servers if wanted(name)),
        report.rules_run,
        tuple(entry for entry in report.timeline if wanted(entry.server)),
    )


def powershell(report: HealthReport, *, directory: str = DEFAULT_SCRIPT_DIR) -> str:
    """The findings' Exchange Management Shell fixes as one script to review, worst first;
    a fix several findings share is written once. Files are read from and written to
    ``directory``."""
    header = [
        f"certward health as of {report.as_of:%Y-%m-%d %H:%M} UTC: "
        f"{len(report.findings)} findings on {', '.join(report.servers) or 'no servers'}.",
        "Review each step before running it in the Exchange Management Shell; "
        "<placeholders> need your values.",
    ]
    findings = [
        (
            f"[{f.severity.label}] {f.rule_id}{f' {f.server}' if f.server else ''}: {f.message}",
            f.remediation.ems,
        )
        for f in report.findings
    ]
    return fixes_script(header, findings, directory=directory)

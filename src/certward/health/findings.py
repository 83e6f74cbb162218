"""Findings, rules and the registry of rules (pure)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple

from certward.health import evidence as shown
from certward.health.snapshot import OrgSnapshot, ServerState
from certward.interop.powershell import Script
from certward.model import Evidence as Dump
from certward.model import Thumbprint


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            valid = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}; valid: {valid}") from None


class Remediation(NamedTuple):
    """What to run: in certward, and in the Exchange Management Shell (built with
    :mod:`certward.interop.powershell`, so names are quoted and files sit in one directory)."""

    certward: str
    ems: Script

    @property
    def shell(self) -> str:
        """The EMS fix, its files in the default script directory."""
        return self.ems.render()

    def shell_in(self, directory: str) -> str:
        """The EMS fix, its files in ``directory``."""
        return self.ems.render(directory)


Evidence = Mapping[str, str | int | float | bool | None]


class Finding(NamedTuple):
    """What one rule found on one server (or organisation-wide), and its fix."""

    rule_id: str
    severity: Severity
    server: str | None  # None: organisation-wide
    message: str
    remediation: Remediation
    evidence: Evidence = {}  # noqa: RUF012 - read, never changed: one default is shared
    thumbprint: Thumbprint | None = None
    connector: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "rule": self.rule_id,
            "severity": self.severity.label,
            "server": self.server,
            "thumbprint": self.thumbprint,
            "connector": self.connector,
            "message": self.message,
            "evidence": dict(self.evidence),
            "remediation": {
                "certward": self.remediation.certward,
                "shell": self.remediation.shell,
            },
        }


Check = Callable[[OrgSnapshot, dt.datetime], Iterable[Finding]]
# Which servers a rule is about (the rest need not have shown what it needs).
Scope = Callable[[OrgSnapshot, ServerState], bool]


class Rule(NamedTuple):
    """A registered health rule (see :func:`rule`)."""

    id: str
    title: str
    severities: tuple[Severity, ...]  # what its findings can be
    prevents: str  # the seed story or Exchange event it prevents
    description: str
    check: Check  # judges only what was shown (see :func:`judged`); not in the repr
    needs: tuple[Dump, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Rule(id={self.id!r}, title={self.title!r}, severities={self.severities!r}, "
            f"prevents={self.prevents!r}, description={self.description!r}, needs={self.needs!r})"
        )


def not_judged(rule_id: str, server: str | None, missing: list[Dump]) -> Finding:
    """The one info finding of a rule for a server (or organisation) lacking its input."""
    return Finding(
        rule_id,
        Severity.INFO,
        server,
        shown.not_judged_message(missing),
        Remediation(shown.collect_command(), shown.collect_script(missing)),
        {"not_judged": True, "needs": shown.names(missing)},
    )


def judged(rule_id: str, check: Check, needs: tuple[Dump, ...], scope: Scope | None) -> Check:
    """``check`` judging only what was shown: an observed organisation lacking an
    organisation-wide output the rule needs gets one info finding instead of the rule's
    findings; an observed server (of the rule's scope) lacking a server output, one info
    finding instead of that server's findings. Servers certward runs show everything."""
    org_needs = [e for e in needs if shown.is_organisation_wide(e)]
    server_needs = [e for e in needs if not shown.is_organisation_wide(e)]

    def gated(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
        missing = [e for e in org_needs if not snap.shows(e)]
        if missing:
            # nothing to say about an organisation with no server the rule is about
            if scope is None or any(scope(snap, s) for s in snap.servers):
                yield not_judged(rule_id, None, missing)
            return
        unjudged: dict[str, tuple[str, list[Dump], bool]] = {}
        for state in snap.partly_shown:  # the others showed everything
            lacking = [e for e in server_needs if not snap.shows_on(state, e)]
            if lacking:
                concerned = scope is None or scope(snap, state)
                unjudged[state.name.lower()] = (state.name, lacking, concerned)
        for finding in check(snap, now):
            if finding.server is None or finding.server.lower() not in unjudged:
                yield finding
        for name, lacking, concerned in unjudged.values():
            if concerned:  # a server the rule is not about needs no word
                yield not_judged(rule_id, name, lacking)

    return gated


RULES: list[Rule] = []


def rule(
    rule_id: str,
    title: str,
    *severities: Severity,
    prevents: str,
    needs: tuple[Dump, ...] = (),
    scope: Scope | None = None,
) -> Callable[[Check], Check]:
    """Register a rule; its docstring is the description in docs/rules.md. ``needs``: the
    outputs of a real organisation it judges (per server, or organisation-wide); ``scope``:
    the servers it is about. The registered check judges only what was shown; the function
    itself is returned unchanged."""

    def register(check: Check) -> Check:
        if any(r.id == rule_id for r in RULES):
            raise ValueError(f"duplicate rule id {rule_id}")
        description = " ".join((check.__doc__ or "").split())
        if needs:
            description += f" Needs, from a real organisation: {shown.names(needs)}."
        gated = judged(rule_id, check, needs, scope)
        can_be = (
            severities if not needs or Severity.INFO in severities else (*severities, Severity.INFO)
        )
        RULES.append(Rule(rule_id, title, can_be, prevents, description, gated, needs))
        return check

    return register

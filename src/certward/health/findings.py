"""Findings, rules and the registry of rules (pure)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from certward.health.snapshot import OrgSnapshot
from certward.interop.powershell import Script
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


@dataclass(frozen=True, slots=True)
class Remediation:
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


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    server: str | None  # None: organisation-wide
    message: str
    remediation: Remediation
    evidence: Evidence = field(default_factory=dict)
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


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severities: tuple[Severity, ...]  # what its findings can be
    prevents: str  # the seed story or Exchange event it prevents
    description: str
    check: Check = field(repr=False)


RULES: list[Rule] = []


def rule(
    rule_id: str, title: str, *severities: Severity, prevents: str
) -> Callable[[Check], Check]:
    """Register a rule; its docstring is the description in docs/rules.md."""

    def register(check: Check) -> Check:
        if any(r.id == rule_id for r in RULES):
            raise ValueError(f"duplicate rule id {rule_id}")
        description = " ".join((check.__doc__ or "").split())
        RULES.append(Rule(rule_id, title, severities, prevents, description, check))
        return check

    return register

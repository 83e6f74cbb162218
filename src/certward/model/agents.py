"""Host agents (issue 15): what an agent reports and when it tries again.

An agent (``certward agent``) runs on a Linux host, pulls that host's deployments from the
REST API, deploys and verifies each with the deploy executor, and reports each outcome and
what each verified port served. Pure values and policies here: the service
(``services/agents.py``) keeps check-ins; the agent (``interfaces/agent``) runs the loop.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certward.model.deploy import DeployOutcome

HOST_PATTERN = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9._-]{0,252})")
"""A host's name as agents and deployments give it: letters, digits, dot, dash, underscore."""

FIRST_RETRY = 5.0
"""Seconds before the first retry after the API could not be reached (at most the interval)."""


def check_host(name: str) -> str:
    """The host name, stripped; ``ValueError`` naming it when it is not a host name."""
    text = name.strip()
    if not HOST_PATTERN.fullmatch(text):
        raise ValueError(
            f"host {name!r} is not 1 to 253 letters, digits, dots, dashes or underscores"
        )
    return text


def retry_wait(every: float, failures: int, *, first: float = FIRST_RETRY) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row (0: the last one
    succeeded, wait ``every``): ``first`` doubled per failure, never more than ``every``
    (an unreachable API is retried sooner than the interval, never later)."""
    if every <= 0:
        raise ValueError(f"every must be positive, not {every}")
    if failures <= 0:
        return every
    start = min(first, every)
    return float(min(every, start * 2.0 ** min(failures - 1, 32)))


@dataclass(frozen=True, slots=True)
class PortServed:
    """What a deployment's live port served when its agent last probed it."""

    deployment: str
    url: str
    served: str | None  # the thumbprint served (None: no certificate seen)
    expected: str | None  # the thumbprint the deployment should serve
    checked_at: dt.datetime

    @property
    def ok(self) -> bool:
        return self.served is not None and self.served == self.expected

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "url": self.url,
            "served": self.served,
            "expected": self.expected,
            "ok": self.ok,
            "checked_at": self.checked_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PortServed:
        when = dt.datetime.fromisoformat(str(data["checked_at"]))
        return cls(
            deployment=str(data["deployment"]),
            url=str(data["url"]),
            served=_upper_or_none(data.get("served")),
            expected=_upper_or_none(data.get("expected")),
            checked_at=when if when.tzinfo else when.replace(tzinfo=dt.UTC),
        )


@dataclass(frozen=True, slots=True)
class AgentCheckin:
    """A host's agent as the service last saw it: its last request, its last report and
    what its ports served then."""

    host: str
    token_name: str
    version: str
    seen_at: dt.datetime
    reported_at: dt.datetime | None = None
    ports: tuple[PortServed, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "token": self.token_name,
            "version": self.version,
            "seen_at": self.seen_at.isoformat(),
            "reported_at": None if self.reported_at is None else self.reported_at.isoformat(),
            "ports": [p.to_json() for p in self.ports],
        }


def _upper_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value).upper()


RETRY_FAILED = dt.timedelta(hours=1)
"""How long a certificate whose deploy failed (and was rolled back) waits before the agent
tries it again; a new certificate is deployed at once."""

CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far in the future a failure's time may be and still be believed: the agent's clock
dates its outcomes, and the service judges them by its own; a failure dated further ahead
(a clock set back since, an agent's clock running ahead) is retried now, not after the
clocks agree again."""


def deploy_reason(
    desired: str,
    *,
    last_thumbprint: str | None,
    last_ok: bool,
    last_when: dt.datetime | None,
    pending: str | None,
    served: str | None,
    now: dt.datetime,
    retry_failed: dt.timedelta = RETRY_FAILED,
) -> str | None:
    """Why the certificate ``desired`` must be deployed now, in words; None when it need
    not be. ``last_*`` is this host's last attempt, ``pending`` a deploy interrupted before
    its outcome was kept, ``served`` what the live port serves (None: not probed, or no
    certificate)."""
    if pending is not None:
        return f"the deploy of {pending} was interrupted: deploying again"
    if last_thumbprint is None:
        return f"certificate {desired} was never deployed here"
    if last_thumbprint.upper() != desired.upper():
        return f"new certificate {desired} (last deployed: {last_thumbprint})"
    if not last_ok:
        if last_when is None or not now - retry_failed < last_when <= now + CLOCK_SKEW:
            return f"trying the failed deploy of {desired} again"
        return None
    if served is None or served.upper() != desired.upper():
        return f"the port serves {served or 'no certificate'}, not {desired}: deploying again"
    return None


def reason_after(
    desired: str, last: DeployOutcome | None, *, served: str | None, now: dt.datetime
) -> str | None:
    """:func:`deploy_reason` after ``last``, the newest outcome the service recorded (no
    deploy pending: an interrupted one is the agent's own to know).

    A failure that wrote nothing (``deployed`` None: a key that is not exportable, files
    that could not be written) names no certificate. It counts as an attempt at
    ``desired``, tried again an hour after it like any failure: otherwise it would read as
    "never deployed", and the key would be released again at every agent fetch and every
    scheduled run."""
    attempted = None if last is None else last.deployed
    if last is not None and not last.ok and attempted is None:
        attempted = desired
    return deploy_reason(
        desired,
        last_thumbprint=attempted,
        last_ok=last is not None and last.ok,
        last_when=None if last is None else last.when,
        pending=None,
        served=served,
        now=now,
    )

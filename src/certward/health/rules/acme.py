"""Certificates kept alive through ACME whose last attempt failed (issue 15)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from certward.commandline import certward_command
from certward.health.findings import Finding, Remediation, rule
from certward.health.rules._common import ERROR, WARNING, day
from certward.health.snapshot import OrgSnapshot
from certward.interop.powershell import script
from certward.model import Thumbprint

URGENT_DAYS = 14  # a failing renewal this close to expiry, or a request never obtained: error


def _remedy() -> Remediation:
    return Remediation(
        certward_command("acme", "renew"),
        script("# ACME renewal is certward's own: run certward acme renew after the fix"),
    )


@rule(
    "CW-ACME-001",
    "ACME could not obtain or renew a certificate",
    ERROR,
    WARNING,
    prevents="seed 002: a renewal nobody notices has failed until the certificate expires; the "
    "CA's refusal (a problem document, a rate limit, a challenge it could not validate) is "
    "shown with the next attempt",
)
def acme_failures(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A certificate certward keeps through ACME whose last attempt failed: warning while the
    certificate in use has more than 14 days left, error when it has fewer, has expired, or
    was never obtained. The finding carries the error's code, the ACME problem type, the
    attempts so far and when the next one is due (after a capped backoff, never before the
    CA's Retry-After)."""
    for order in snap.acme_orders:
        if order.error is None:
            continue
        names = ", ".join(order.names)
        state = snap.server(order.server)
        held = (
            state.find(Thumbprint(order.thumbprint))
            if state is not None and order.thumbprint
            else None
        )
        if held is None:
            severity, left = ERROR, "no certificate was obtained yet"
        else:
            days = (held.profile.not_after - now).total_seconds() / 86400
            severity = ERROR if days < URGENT_DAYS else WARNING
            left = (
                f"the certificate in use expired on {day(held.profile.not_after)}"
                if days < 0
                else f"the certificate in use expires on {day(held.profile.not_after)}"
            )
        next_at = day(order.next_attempt) if order.next_attempt else "the next run"
        yield Finding(
            "CW-ACME-001",
            severity,
            order.server,
            f"ACME failed {order.attempts} time(s) for {names}: {order.error.detail} "
            f"({order.error.code}); {left}; next attempt {next_at}",
            _remedy(),
            {
                "code": order.error.code,
                "problem": order.error.problem,
                "attempts": order.attempts,
                "names": names,
                "next_attempt": order.next_attempt.isoformat() if order.next_attempt else None,
            },
            thumbprint=Thumbprint(order.thumbprint) if order.thumbprint else None,
        )

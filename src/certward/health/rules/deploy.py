"""Deployments to Linux daemons whose last run failed (issue 15).

A deploy that fails is rolled back: the daemon keeps serving the certificate it had, so
nothing breaks that day. It breaks when that certificate expires, which is seed 002's
"renewed, but not everywhere" found by the mail that stops; this rule finds it the day the
deploy failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from certward.commandline import OR, certward_command
from certward.health.findings import Finding, Remediation, rule
from certward.health.rules._common import ERROR, WARNING, day
from certward.health.rules.acme import URGENT_DAYS
from certward.health.snapshot import OrgSnapshot
from certward.interop.powershell import script
from certward.model import Thumbprint
from certward.model.deploy import Deployment


def _remedy(d: Deployment) -> Remediation:
    show = certward_command("deploy", "show", d.name)
    if d.host is None:  # run on the machine certward runs on
        fix = certward_command("deploy", "run", d.name) + OR + show
    else:  # the host's agent retries on its own (an hour after a failure)
        fix = show + f"  # the agent on {d.host} retries within the hour"
    return Remediation(fix, script("# a Linux daemon: no Exchange Management Shell equivalent"))


@rule(
    "CW-DEPLOY-001",
    "A certificate's deployment to a Linux daemon failed",
    ERROR,
    WARNING,
    prevents="seed 002 on Postfix, Dovecot and nginx: the renewed certificate never reached "
    "the daemon (a reload that failed, a port that kept serving the old one, a key it "
    "could not write), and mail stops when the certificate it still serves expires",
)
def deploy_failures(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A deployment (``certward deploy``, or a host's agent) whose newest outcome failed.
    The deploy was rolled back, so the daemon serves what its last report or probe saw:
    warning while that certificate has more than 14 days left; error when it has fewer,
    has expired, or is none the server holds (the port served nothing, or something else).
    The finding carries the failure's code and detail, what was deployed and what is
    served."""
    for record in snap.deployments:
        last, d = record.last, record.deployment
        if last is None or last.ok:
            continue
        state = snap.server(d.server)
        served = state.find(Thumbprint(last.served)) if state and last.served else None
        if served is None:
            severity = ERROR
            left = (
                f"the port serves {last.served}, which {d.server} does not hold"
                if last.served
                else "the port served no certificate"
            )
        else:
            days = served.profile.days_left(now)
            severity = ERROR if days < URGENT_DAYS else WARNING
            verb = "expired" if days < 0 else "expires"
            left = (
                f"the port still serves {served.thumbprint}, which {verb} on "
                f"{day(served.profile.not_after)}"
            )
        where = f"on {d.host}" if d.host else "on this machine"
        yield Finding(
            "CW-DEPLOY-001",
            severity,
            d.server,
            f"deployment {d.name} ({d.kind.value} {where}) failed on {day(last.when)}: "
            f"{last.detail or 'no detail'} ({last.code or 'no code'}); {left}",
            _remedy(d),
            {
                "deployment": d.name,
                "host": d.host,
                "code": last.code,
                "deployed": last.deployed,
                "served": last.served,
                "rolled_back": last.rolled_back,
                "when": last.when.isoformat(),
            },
            thumbprint=Thumbprint(last.deployed) if last.deployed else None,
        )

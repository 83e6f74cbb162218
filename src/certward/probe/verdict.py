"""The verdict on a probe run, in the monitoring-plugins convention (Nagios, Icinga):
OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3 (pure, over the reports).

CRITICAL: the endpoint cannot be used securely now — no address, unreachable, the dialogue
or STARTTLS failed, TLS failed, a client certificate is required, the chain is untrusted,
the name does not match, the certificate has expired; for a mail domain, no MX could be
probed, a DNSSEC-validated TLSA record that matches nothing (DANE senders refuse delivery)
or an MX outside an enforced MTA-STS policy.
WARNING: it works, but should be fixed — expiring within 30 days, TLS 1.0/1.1 accepted, a
SHA-1/MD5 signature, the name only in the subject CN, a client-CA list over Schannel's 16 KB;
for a mail domain, MTA-STS, TLS-RPT or DANE errors that stop no delivery.
UNKNOWN: nothing could be judged — the server is rate limiting (SMTP 421: try later) or
the prober failed; a usage error is UNKNOWN too (the command line).
Several endpoints: the worst, CRITICAL over WARNING over UNKNOWN over OK (monitoring-plugins'
``max_state_alt``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certward.model import CheckStatus
from certward.probe.report import EndpointReport, NameMatch

if TYPE_CHECKING:
    from certward.probe.domain import DomainReport


# The checks' one verdict type (health, auth monitor and the prober share it).
Status = CheckStatus


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reasons: tuple[str, ...] = ()


def worst(statuses: Iterable[Status]) -> Status:
    return CheckStatus.worst(statuses)


def endpoint(report: EndpointReport) -> Verdict:
    failure = report.failure
    certificate = report.certificate
    if certificate is None:
        if failure is None:  # a handshake with no certificate: nothing to trust
            return Verdict(Status.CRITICAL, ("no certificate presented",))
        status = Status.CRITICAL if failure.reason.judged else Status.UNKNOWN
        return Verdict(status, (f"{failure.stage}: {failure.detail}",))
    critical: list[str] = []
    if not certificate.trusted:
        critical.append(f"untrusted: {certificate.trust_error}")
    if certificate.expired and certificate.trusted:  # untrusted already says "expired"
        critical.append("expired")
    if certificate.name_match is NameMatch.NONE:
        critical.append(f"the certificate does not name {report.host}")
    if failure is not None and failure.reason.judged:
        critical.append(f"{failure.stage}: {failure.detail}")
    if critical:
        return Verdict(Status.CRITICAL, tuple(critical))
    if failure is not None:  # e.g. rate limited after TLS: the rest could not be judged
        return Verdict(Status.UNKNOWN, (f"{failure.stage}: {failure.detail}",))
    if report.warnings:
        return Verdict(Status.WARNING, report.warnings)
    return Verdict(Status.OK)


def domain(report: DomainReport) -> Verdict:
    """The domain's own findings (its MX endpoints are judged one by one)."""
    critical: list[str] = []
    warning: list[str] = list(report.errors)
    if not report.probed:
        critical.append("no MX could be probed")
    for dane in report.dane:
        if dane.authenticated and dane.usable and not dane.matched:
            critical.append(f"DANE: no TLSA record of {dane.mx} matches its certificate")
        elif dane.errors:
            warning += [f"DANE {dane.mx}: {e}" for e in dane.errors]
    sts = report.mta_sts
    uncovered = [mx for mx, covered in sts.mx_covered.items() if not covered]
    if sts.policy_ok is False and sts.mode == "enforce" and uncovered:
        critical.append(f"MTA-STS enforces a policy that does not cover {', '.join(uncovered)}")
    else:
        warning += [f"MTA-STS: {e}" for e in sts.errors]
    warning += [f"TLS-RPT: {e}" for e in report.tls_rpt.errors]
    if critical:
        return Verdict(Status.CRITICAL, tuple(critical))
    if warning:
        return Verdict(Status.WARNING, tuple(warning))
    return Verdict(Status.OK)


def run(endpoints: Sequence[EndpointReport], domains: Sequence[DomainReport] = ()) -> Status:
    """The status of a whole run: the worst of every endpoint's and every domain's."""
    return worst([endpoint(r).status for r in endpoints] + [domain(d).status for d in domains])

"""What ``/metrics`` reads from the scheduler's run history (the watch service): each
probe target's last run, each job's last successful run, and the open findings.

Until the scheduler's first health run, findings come from a health check of the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from certward.interfaces.server.metrics import FindingCounts, TargetSample
from certward.interfaces.server.versioned import ByVersion, store_generation

if TYPE_CHECKING:
    from certward.compose import App
    from certward.model.watch import FindingHistory, JobRun

_PASSED = ("OK", "WARNING")


def _open_findings(app: App) -> list[FindingHistory]:
    return app.watch.findings_history(open_only=True)


open_findings: ByVersion[list[FindingHistory]] = ByVersion(_open_findings, store_generation)
"""The open findings of every scheduled job, read once per change of the store (``/metrics``
counts them, the console's findings page shows when each was first seen)."""


def read_watch(
    app: App,
) -> tuple[FindingCounts | None, Iterable[TargetSample], Mapping[str, dt.datetime]]:
    """(the open findings by (rule, severity, server) once health has run, else None; each
    probe target's endpoints as its last run saw them; each job's last successful run).

    A successful run is one that reached a verdict (OK, WARNING or CRITICAL: the job ran
    and judged; a health run that finds critical findings succeeded as a run). UNKNOWN —
    the prober could not judge, the store was unreadable — is not a success."""
    from certward.model.watch import JobKind

    watch = app.watch
    last = {name: when for name, when in watch.last_successes().items() if when is not None}
    targets: list[TargetSample] = []
    for job in watch.jobs():
        if job.kind is JobKind.PROBE:
            latest = watch.runs(job.kind, target=job.target, limit=1)  # newest first
            if latest:
                targets += probe_samples(latest[0])
    findings: FindingCounts | None = None
    if JobKind.HEALTH.value in last:
        counts: dict[tuple[str, str, str], int] = {}
        for f in open_findings.get(app):
            key = (f.rule, f.severity, f.server or "")
            counts[key] = counts.get(key, 0) + 1
        findings = counts
    return findings, targets, last


def probe_samples(run: JobRun) -> Iterator[TargetSample]:
    """One sample per endpoint a probe run reported (a domain target has one per MX host);
    a run that reached no verdict gives one failed sample for the target."""
    target = run.target or ""
    reports: list[Mapping[str, Any]] = [
        judged.get("report", {})
        for judged in run.summary.get("targets", ())
        if isinstance(judged, Mapping)
    ]
    endpoints = [r for r in reports if isinstance(r, Mapping) and "tls" in r]
    if not endpoints:
        yield TargetSample(target, target, run.status.name in _PASSED)
        return
    for report in endpoints:
        tls = report.get("tls") or {}
        certificate = report.get("certificate") or {}
        client = report.get("client_auth") or {}
        days = certificate.get("days_left")
        size = client.get("ca_names_size")
        yield TargetSample(
            target=target,
            endpoint=str(report.get("target") or target),
            success=str(report.get("status")) in _PASSED,
            tls_version=tls.get("negotiated_version"),
            days_to_expiry=float(days) if isinstance(days, int | float) else None,
            client_ca_list_bytes=int(size) if isinstance(size, int) else None,
        )

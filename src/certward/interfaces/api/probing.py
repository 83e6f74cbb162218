"""Probing from inside the web service.

The prober runs on Twisted, whose reactor runs once per process and owns its thread; the
web service runs on its own event loop. So each probe request runs the prober in a child
process (spawned, so nothing of the service's state is inherited) and gets its JSON report
back: the same report as ``certward probe --json``.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from certward.errors import CertwardError, lookup


def probe_json(targets: list[str], *, timeout: float) -> dict[str, Any]:
    """Probe ``targets`` (URLs and mail domains) in a child process; the report as the
    command line prints it. A coded error of the prober is raised here again."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        outcome = pool.submit(_probe, list(targets), timeout).result()
    if "error" in outcome:
        error = outcome["error"]
        raise lookup(error["code"])(error["message"], **error["facts"])
    return outcome


def _probe(targets: list[str], timeout: float) -> dict[str, Any]:
    """In the child: run the prober; a coded error comes back as data (it cannot be
    pickled as an exception)."""
    try:
        return _run(targets, timeout)
    except CertwardError as exc:
        return {"error": exc.as_dict()}


def _run(targets: list[str], timeout: float) -> dict[str, Any]:
    from certward.clock import SystemClock
    from certward.services.probe import load_roots, probe_document, run_probes, split_targets

    parsed, domains = split_targets(targets, None)
    reports, domain_reports = run_probes(
        parsed,
        clock=SystemClock(),
        roots=load_roots(None),
        timeout=timeout,
        concurrency=4,
        domains=domains,
    )
    return probe_document(reports, domain_reports)

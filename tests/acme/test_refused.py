"""A refused order: the CA's problem document becomes a coded error, stays stored with the
next attempt (capped backoff), and surfaces as a health finding and a notification."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from certward.errors import CertwardError
from tests.acme.helpers import at, listener, register, services
from tests.acme.pebble import ChallTestSrv, Pebble, start_pebble
from tests.conftest import Cli, error_line

BLOCKED = "blocked.contoso.test"


@pytest.fixture(scope="module")
def pebble(
    tmp_path_factory: pytest.TempPathFactory, challtestsrv: ChallTestSrv
) -> Iterator[Pebble]:
    """This module's Pebble refuses BLOCKED (rejectedIdentifier)."""
    server = start_pebble(
        tmp_path_factory.mktemp("pebble-blocklist"),
        dns_server=challtestsrv.dns_address,
        domain_blocklist=[BLOCKED],
    )
    try:
        yield server
    finally:
        server.stop()


def test_a_refused_request_is_stored_found_and_notified(org: Cli, pebble: Pebble) -> None:
    org("notify", "add", "webhook", "ops", "--url", "https://hooks.contoso.test/certward")
    app, acme = services()
    try:
        register(acme, pebble)
        before = {v.thumbprint for v in app.certificates.list_certificates("EXCH01")}
        with pytest.raises(CertwardError) as refused:
            acme.request(
                "EXCH01",
                subject=f"CN={BLOCKED}",
                domains=[BLOCKED],
                solver_options=listener(pebble),
            )
        assert refused.value.code.id == "acme.rejected_identifier"
        assert refused.value.facts["problem"] == "urn:ietf:params:acme:error:rejectedIdentifier"
        # the pending request the attempt made is gone: nothing half-done
        assert {v.thumbprint for v in app.certificates.list_certificates("EXCH01")} == before
        (order,) = acme.orders()
        assert order.thumbprint is None and order.attempts == 1
        assert order.error is not None and order.error.code == "acme.rejected_identifier"
        assert order.last_attempt is not None and order.next_attempt is not None
        assert order.next_attempt - order.last_attempt == dt.timedelta(minutes=5)
        with app.store.transaction() as repo:
            (notice,) = [n for _, n in repo.pending_notices("ops")]
        assert notice.event == "acme.failed" and BLOCKED in notice.subject
        first_try = order.last_attempt
    finally:
        app.store.close()

    report = json.loads(org("health", "--json", ok=False).stdout)
    findings = [f for f in report["findings"] if f["rule"] == "CW-ACME-001"]
    assert len(findings) == 1 and findings[0]["severity"] == "error"
    assert findings[0]["evidence"]["code"] == "acme.rejected_identifier"
    assert findings[0]["remediation"]["certward"] == "certward acme renew"

    # before the backoff has passed, renew waits; after it, it tries again (and fails again)
    app, acme = services(at(first_try + dt.timedelta(minutes=4)))
    try:
        (waiting,) = acme.renew().outcomes
        assert waiting.action == "waiting"
    finally:
        app.store.close()
    app, acme = services(at(first_try + dt.timedelta(minutes=6)))
    try:
        (again,) = acme.renew().outcomes
        assert again.action == "failed"
        (order,) = acme.orders()
        assert order.attempts == 2
        assert order.next_attempt == first_try + dt.timedelta(minutes=6 + 10)  # doubled
    finally:
        app.store.close()


def test_the_command_line_refuses_in_one_line(org: Cli, pebble: Pebble) -> None:
    org("acme", "account", "add", "--directory", pebble.directory_url,
        "--email", "admin@contoso.test", "--ca-bundle", str(pebble.ca_bundle))  # fmt: skip
    line = error_line(
        org, "cert", "request", "--server", "EXCH01", "--acme", "--subject", f"CN={BLOCKED}",
        "--challenge-option", f"port={pebble.http_port}",
        "--challenge-option", "address=127.0.0.1",
    )  # fmt: skip
    assert "rejectedIdentifier" in line and BLOCKED in line
    result = org("cert", "request", "--server", "EXCH01", "--acme", "--subject", f"CN={BLOCKED}",
                 "--challenge-option", "port=x", ok=False)  # fmt: skip
    assert result.exit_code == 2 and "not a whole number" in result.stderr
    orders = json.loads(org("acme", "orders", "--json").stdout)
    assert orders[0]["last_error"]["code"] == "acme.rejected_identifier"


def test_the_scheduler_runs_acme_and_records_the_finding(org: Cli, pebble: Pebble) -> None:
    from certward.model import CheckStatus
    from certward.model.watch import JobKind

    app, acme = services()
    try:
        assert JobKind.ACME not in {j.kind for j in app.watch.jobs()}  # nothing kept by ACME
        register(acme, pebble)
        with pytest.raises(CertwardError):
            acme.request("EXCH01", subject=f"CN={BLOCKED}", solver_options=listener(pebble))
        (order,) = acme.orders()
        assert order.next_attempt is not None
    finally:
        app.store.close()
    app, _ = services(at(order.next_attempt + dt.timedelta(seconds=1)))
    try:
        job = next(j for j in app.watch.jobs() if j.kind is JobKind.ACME)
        run = app.watch.run_job(job)
        assert run.status is CheckStatus.WARNING and run.summary == {"failed": 1}
        (finding,) = [f for f in app.watch.findings_history() if f.rule == "CW-ACME-001"]
        assert finding.source == "acme" and BLOCKED in finding.message and finding.open
    finally:
        app.store.close()

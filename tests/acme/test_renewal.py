"""Renewal of an ACME certificate at two thirds of its lifetime, through the organisation-wide
renewal: every server holding it and every connector naming it follows (seed 002)."""

from __future__ import annotations

import datetime as dt
import time

from certward.model import Password, Service, ServiceSet, Thumbprint
from certward.pki import certinfo
from certward.services.connectors import find_connector, resolve_on_server
from tests.acme.helpers import at, listener, register, services
from tests.acme.pebble import Pebble
from tests.conftest import Cli


def test_renewed_at_two_thirds_with_servers_and_connectors_following(
    org: Cli, pebble: Pebble
) -> None:
    app, acme = services()
    try:
        register(acme, pebble)
        obtained = acme.request(
            "EXCH01",
            subject="CN=smtp.contoso.test",
            domains=["smtp.contoso.test"],
            solver_options=listener(pebble),
            exportable=True,
        )
        old = obtained.thumbprint
        issued = dt.datetime.now(dt.UTC)  # after pebble signed it (it dates to the second)
        iis_smtp = ServiceSet(Service.IIS | Service.SMTP)
        app.certificates.enable("EXCH01", old, iis_smtp, replace_default_smtp=False)
        pfx = app.certificates.export_pfx("EXCH01", old, password=Password(b"pass"))
        app.certificates.import_file(
            "EXCH02", pfx, source="smtp.pfx", password=Password(b"pass"), exportable=True
        )
        app.certificates.enable("EXCH02", old, ServiceSet(Service.SMTP), replace_default_smtp=False)
        org("connector", "set", "Default Frontend EXCH01", "--tls-certificate", old)
        with app.store.transaction() as repo:
            der = repo.certificate("EXCH01", old).der
        assert der is not None
        cert = certinfo.load_der(der)
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    finally:
        app.store.close()

    early = start + (end - start) * 0.6
    app, acme = services(at(early))
    try:
        (outcome,) = acme.renew().outcomes
        assert outcome.action == "not-due" and "two thirds" in outcome.reason
    finally:
        app.store.close()

    # Pebble dates a certificate to the second. Renewed within the second the first was
    # issued in, both would have the same NotBefore, and the connector's name could pick
    # either (Exchange prefers the newer NotBefore); so the renewal waits for the clock.
    while dt.datetime.now(dt.UTC).replace(microsecond=0) <= issued.replace(microsecond=0):
        time.sleep(0.05)  # polling the clock, not waiting for an event
    late = start + (end - start) * 0.7
    app, acme = services(at(late))
    try:
        (planned,) = acme.renew(dry_run=True).outcomes
        assert planned.action == "due" and planned.new is None
        followers = {(f.kind, f.name) for f in planned.followers}
        assert {("server", "EXCH01"), ("server", "EXCH02")} <= followers
        assert ("connector", "EXCH01\\Default Frontend EXCH01") in followers or any(
            kind == "connector" and "Default Frontend EXCH01" in name for kind, name in followers
        )
        assert app.certificates.holders(old)  # nothing changed by the dry run
        assert planned.steps[0] == "complete the pending request on EXCH01 with the CA reply"
        assert "put the new certificate and its key on EXCH02" in planned.steps

        (renewed,) = acme.renew().outcomes
        assert renewed.action == "renewed", renewed.reason
        new = renewed.new
        assert new is not None and new != old
        holders = dict(app.certificates.holders(Thumbprint(new)))
        assert holders["EXCH01"] == iis_smtp
        assert holders["EXCH02"] == ServiceSet(Service.SMTP)
        assert any("connector" in step for step in renewed.steps)
        # the dry run's plan is the plan that ran (a connector's note aside)
        assert [s.split(" (")[0] for s in renewed.steps] == list(planned.steps)
        (order,) = acme.orders()
        assert order.thumbprint == new and order.error is None
        with app.store.transaction() as repo:
            connector = find_connector(repo, "Default Frontend EXCH01")
            resolved = resolve_on_server(repo, connector, "EXCH01", late)
        assert resolved.thumbprints[0] == new  # the connector's name now picks the new one
    finally:
        app.store.close()

"""services.health reads an observed organisation from the store as the rules should see it:
the facts a collection recorded, the real profile of a certificate whose DER a dump carried,
archived certificates left out, and HealthChecker's skipped certificates set aside."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from cryptography import x509

from certward.compose import build_app
from certward.health.engine import evaluate
from certward.model import (
    Evidence,
    ObservedCertificate,
    ObservedFacts,
    ObservedOrganisationFacts,
    Organisation,
    Role,
    Server,
    StoreName,
    Thumbprint,
)
from certward.pki import certinfo
from certward.pki.names import dotnet_x500
from certward.services.health import read_snapshot
from tests.health.builders import NOW, issued, sha1_signed, thumb


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "ab" * 32)


def _seen(cert: x509.Certificate, **changes: object) -> ObservedCertificate:
    base = ObservedCertificate(
        server="EXCH01", store=StoreName.MY, thumbprint=thumb(cert),
        subject=dotnet_x500(cert.subject), issuer=dotnet_x500(cert.issuer),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        status="Valid",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _p2p() -> ObservedCertificate:
    return ObservedCertificate(
        server="EXCH01", store=StoreName.MY, thumbprint=Thumbprint("D" * 40),
        subject="CN=5b7f1c2e-…", issuer="CN=MS-Organization-P2P-Access [2021]",
        not_before=NOW - dt.timedelta(hours=2), not_after=NOW + dt.timedelta(hours=22),
    )  # fmt: skip


def test_an_observed_server_is_read_as_its_dumps_showed_it() -> None:
    app = build_app()
    facts = ObservedFacts("EXCH01", evidence=frozenset({Evidence.MY_STORE}))
    org_facts = ObservedOrganisationFacts(evidence=frozenset({Evidence.SEND_CONNECTOR}))
    with app.store.transaction() as repo:
        repo.save_organisation(Organisation("Contoso"))
        repo.save_server(Server("EXCH01", "exch01.contoso.com", frozenset({Role.MAILBOX}),
                                observed=True))  # fmt: skip
        repo.replace_observed_certificates(
            "EXCH01",
            StoreName.MY,
            [
                # the DER says SHA-1 and 2048 bits; the printed fields, left empty, do not
                _seen(sha1_signed(), der=certinfo.to_der(sha1_signed())),
                _seen(issued(start_days_ago=400), archived=True),  # Archived!: hidden
                _p2p(),
            ],
        )
        repo.save_observed_facts(facts)
        repo.save_observed_organisation(org_facts)
    with app.store.transaction() as repo:
        snap = read_snapshot(repo)
    app.store.close()

    (state,) = snap.servers
    assert state.facts == facts and snap.observed_organisation == org_facts
    assert [c.thumbprint for c in state.certificates] == [thumb(sha1_signed())]
    (held,) = state.certificates
    assert (held.profile.signature_hash, held.profile.key_size) == ("sha1", 2048)
    assert held.status == "Valid"
    ((skipped, reason),) = state.skipped
    assert skipped.thumbprint == "D" * 40 and "P2P" in reason
    assert snap.shows(Evidence.SEND_CONNECTOR) and not snap.shows(Evidence.AUTH_CONFIG)
    messages = {(f.rule_id, f.message) for f in evaluate(snap, NOW).findings}
    assert ("CW-AUTH-001", "not judged: needs Get-AuthConfig") in messages

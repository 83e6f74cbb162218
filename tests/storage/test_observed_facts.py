"""Observed facts and the new observed-certificate columns survive the store, on both
databases; deleting an observed server takes everything that was only its."""

from __future__ import annotations

import datetime as dt

import pytest

from certward.compose import build_app
from certward.model import (
    Evidence,
    HybridConfiguration,
    IisBinding,
    NetTlsSetting,
    ObservedCertificate,
    ObservedFacts,
    ObservedOrganisationFacts,
    Organisation,
    SchannelSetting,
    Server,
    StoreName,
    Thumbprint,
    TlsRegistry,
)


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "ab" * 32)


WHEN = dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.UTC)
TP = Thumbprint("A" * 40)


def _facts() -> ObservedFacts:
    return ObservedFacts(
        server="EXCH01",
        evidence=frozenset({Evidence.MY_STORE, Evidence.IIS_BINDINGS, Evidence.SCHANNEL}),
        iis_bindings=(
            IisBinding("Default Web Site", 443, thumbprint=TP),
            IisBinding("Exchange Back End", 444, address="*", host_header=""),
        ),
        tls=TlsRegistry(
            schannel=(
                SchannelSetting("TLS 1.0", "Server", 0, 1),
                SchannelSetting("TLS 1.2", "Client"),
            ),
            net=(NetTlsSetting("v4.0.30319", True, 1, None),),
            disable_root_auto_update=1,
        ),
        exchange_build="Version 15.2 (Build 1544.4)",
        collected_at=WHEN,
        culture="en-GB",
        sources=("collection.zip:EXCH01/iis-bindings.xml",),
    )


def test_facts_and_certificate_columns_round_trip(database_url: str) -> None:
    app = build_app(database_url)
    cert = ObservedCertificate(
        server="EXCH01",
        store=StoreName.MY,
        thumbprint=TP,
        subject="CN=mail.contoso.com",
        issuer="CN=Contoso CA",
        not_before=WHEN,
        not_after=WHEN + dt.timedelta(days=365),
        archived=True,
        exportable=False,
        status="Valid",
        public_key_algorithm="RSA",
        der=b"\x30\x03\x02\x01\x01",
    )
    org_facts = ObservedOrganisationFacts(
        evidence=frozenset({Evidence.AUTH_CONFIG, Evidence.SEND_CONNECTOR}),
        hybrid=HybridConfiguration("<I>CN=CA<S>CN=mail", ("contoso.com",), ("Mailtips",), None),
        collected_at=WHEN,
    )
    with app.store.transaction() as repo:
        repo.save_organisation(Organisation("Contoso"))
        repo.save_server(Server("EXCH01", "exch01.contoso.com", observed=True))
        repo.replace_observed_certificates("EXCH01", StoreName.MY, [cert])
        repo.save_observed_facts(_facts())
        repo.save_observed_organisation(org_facts)
    with app.store.transaction() as repo:
        assert repo.observed_certificates("exch01") == [cert]
        assert repo.certificate_counts(StoreName.MY) == {"exch01": 1}  # counted by the database
        assert repo.certificate_counts(StoreName.ROOT) == {}
        assert repo.observed_facts("EXCH01") == _facts()
        assert repo.observed_organisation() == org_facts
        repo.save_observed_facts(ObservedFacts("EXCH01"))  # a newer collection replaces it
    with app.store.transaction() as repo:
        assert repo.observed_facts("EXCH01") == ObservedFacts("EXCH01")
        repo.delete_server("EXCH01")
    with app.store.transaction() as repo:
        assert not repo.has_server("EXCH01")
        repo.save_server(Server("EXCH01", "exch01.contoso.com", observed=True))
        assert repo.observed_certificates("EXCH01") == []
        assert repo.observed_facts("EXCH01") is None
    app.store.close()

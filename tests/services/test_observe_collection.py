"""ObserveService.observe_collection on collections built in the collector's layout: what a
collection that could not list the servers leaves alone, and what it refuses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from certward.compose import App, build_app
from certward.errors import CertwardError
from certward.interop.collection import read_collection
from certward.model import StoreName
from tests.interop.fixtures.collection.build import (
    Contoso,
    Entry,
    collection_zip,
    contoso_entries,
    make_contoso,
)

WHEN = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def contoso() -> Contoso:
    return make_contoso()


@pytest.fixture
def app() -> Iterator[App]:
    opened = build_app(None)
    yield opened
    opened.store.close()


def observe(app: App, entries: list[Entry], name: str = "c.zip") -> list[str]:
    data = collection_zip(entries, collected_at=WHEN)
    return list(app.observe.observe_collection(read_collection(data, source=name)).removed)


def test_without_get_exchangeserver_no_server_is_removed(app: App, contoso: Contoso) -> None:
    observe(app, contoso_entries(contoso, ["EXCH01", "EXCH02"], retired=False))
    entries = contoso_entries(contoso, ["EXCH01"], retired=False)
    entries[0] = Entry("exchange-server", None, error="Active Directory could not be reached")
    assert observe(app, entries) == []
    with app.store.transaction() as repo:
        # EDGE01 is attached: the EdgeSync send connector names it
        assert {s.name for s in repo.servers()} == {"EXCH01", "EXCH02", "EDGE01"}


def test_a_store_not_collected_this_time_is_left_as_it_was(app: App, contoso: Contoso) -> None:
    observe(app, contoso_entries(contoso, ["EXCH01"], retired=False))
    entries = [
        Entry("root-store", e.server, error="Access is denied") if e.kind == "root-store" else e
        for e in contoso_entries(contoso, ["EXCH01"], retired=False)
    ]
    observe(app, entries)
    with app.store.transaction() as repo:
        assert len(repo.observed_certificates("EXCH01", StoreName.ROOT)) == 1
        facts = repo.observed_facts("EXCH01")
    assert facts is not None and "ROOT_STORE" not in {e.name for e in facts.evidence}


def test_a_file_of_a_server_get_exchangeserver_does_not_list_is_refused(
    app: App, contoso: Contoso
) -> None:
    entries = contoso_entries(contoso, ["EXCH01"], retired=False)
    entries.append(Entry("transport-service", "EXCH09", [
        {"Name": "EXCH09", "InternalTransportCertificateThumbprint": None}
    ]))  # fmt: skip
    with pytest.raises(CertwardError) as info:
        observe(app, entries)
    assert info.value.code.id == "observe.server_not_collected"
    assert "EXCH09" in info.value.message and "c.zip" in info.value.message
    with app.store.transaction() as repo:
        assert repo.servers() == []


def test_a_server_name_in_the_manifest_is_checked_as_any_name(app: App, contoso: Contoso) -> None:
    entries = contoso_entries(contoso, ["EXCH01"], retired=False)
    entries[0] = Entry("exchange-server", None, error="failed")
    entries.append(Entry("transport-service", "EXCH$(whoami)", error="failed"))
    with pytest.raises(CertwardError) as info:
        observe(app, entries)
    assert info.value.code.id == "server.name_invalid"
    assert "c.zip" in info.value.message and "manifest.json" in info.value.message


def test_a_server_left_out_of_the_server_list_keeps_what_it_showed(
    app: App, contoso: Contoso
) -> None:
    """The script run with -Server EXCH01: Get-ExchangeServer still lists EXCH02, whose
    stores, connectors and evidence from the earlier collection stay."""
    observe(app, contoso_entries(contoso, ["EXCH01", "EXCH02"], retired=False))
    only_first = [
        e for e in contoso_entries(contoso, ["EXCH01", "EXCH02"], retired=False)
        if e.server != "EXCH02"
    ]  # fmt: skip
    assert observe(app, only_first) == []
    with app.store.transaction() as repo:
        assert len(repo.observed_certificates("EXCH02", StoreName.ROOT)) == 1
        assert any(c.identity.startswith("EXCH02\\") for c in repo.connectors())
        facts = repo.observed_facts("EXCH02")
    assert facts is not None and {e.name for e in facts.evidence} >= {"ROOT_STORE", "SCHANNEL"}

"""``certward observe collection.zip``: the whole Contoso organisation from the fixture zips
laid out as the collector's script writes them (tests/interop/fixtures/collection/build.py),
and a newer collection replacing what the older one said, in one transaction."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from certward.compose import build_app
from certward.interfaces.cli.app import app
from certward.model import Evidence, StoreName
from tests.conftest import Cli, error_line
from tests.interop.fixtures.collection.build import collection_zip

FIXTURES = Path(__file__).parents[1] / "interop" / "fixtures" / "collection"
FIRST = FIXTURES / "contoso-1.zip"
SECOND = FIXTURES / "contoso-2.zip"
THUMBS: dict[str, str] = json.loads((FIXTURES / "contoso.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def first_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding contoso-1.zip observed, made once for the module."""
    directory = tmp_path_factory.mktemp("contoso-1")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("CERTWARD_MASTER_KEY", raising=False)
        Cli(CliRunner())("observe", str(FIRST), "--db", str(directory / "certward.db"))
    return directory


@pytest.fixture
def observed(cli: Cli, isolated_store: Path, first_template: Path) -> Cli:
    """The CLI on a fresh copy of the store with contoso-1.zip observed."""
    isolated_store.parent.mkdir(parents=True, exist_ok=True)
    for name in ("certward.db", "certward.db-wal", "certward.key"):
        if (first_template / name).exists():
            shutil.copy2(first_template / name, isolated_store.parent / name)
    return cli


def servers(cli: Cli) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in cli.json("server", "list")}


def connectors(cli: Cli) -> set[str]:
    return {c["identity"] for c in cli.json("connector", "list")}


def test_a_collection_builds_the_whole_organisation(cli: Cli) -> None:
    result = cli.json("observe", str(FIRST))
    by_name = {s["server"]: s for s in result["servers"]}
    assert set(by_name) == {"EXCH01", "EXCH02", "EXCH03", "EDGE01"}
    assert by_name["EDGE01"]["roles"] == ["EdgeTransport"]
    assert by_name["EXCH02"]["version"] == 2016 and by_name["EXCH01"]["version"] == 2019
    assert "Mailbox" in by_name["EXCH01"]["roles"]
    assert by_name["EXCH01"]["fqdn"] == "exch01.contoso.com"
    assert by_name["EXCH01"]["stores"] == {"My": 4, "Root": 1, "CA": 1}
    assert by_name["EDGE01"]["stores"] == {"My": 1, "Root": 0, "CA": 0}
    assert by_name["EXCH01"]["default_smtp_thumbprint"] == THUMBS["self_signed_EXCH01"]
    # What was shown: EDGE01's stores could not be reached, EXCH02 has no Get-ClientAccessService
    assert "ROOT_STORE" not in by_name["EDGE01"]["evidence"]
    assert {"ROOT_STORE", "IIS_BINDINGS", "SCHANNEL", "EXCHANGE_SERVER"} <= set(
        by_name["EXCH01"]["evidence"]
    )
    assert any(line.startswith("EXCH02: Get-ClientAccessService does not exist")
               for line in result["not_collected"])  # fmt: skip
    assert result["removed"] == []

    listed = servers(cli)
    assert all(s["observed"] for s in listed.values()) and len(listed) == 4
    assert connectors(cli) == {
        "EXCH01\\Default EXCH01", "EXCH01\\Default Frontend EXCH01",
        "EXCH02\\Default EXCH02", "EXCH02\\Default Frontend EXCH02",
        "EXCH03\\Default EXCH03", "EXCH03\\Default Frontend EXCH03",
        "EDGE01\\Default internal receive connector EDGE01",
        "Outbound to Internet", "EdgeSync - Default-First-Site-Name to Internet",
        "Legacy partner",
    }  # fmt: skip
    assert cli.json("org", "show")["auth_thumbprint"] == THUMBS["auth"]
    (subscription,) = cli.json("edge", "list")
    assert subscription["edge"] == "EDGE01" and subscription["site"] == "Default-First-Site-Name"
    assert subscription["edge_certificate"] == THUMBS["self_signed_EDGE01"]

    app = build_app(None)
    try:
        with app.store.transaction() as repo:
            facts = repo.observed_facts("EXCH01")
            org = repo.observed_organisation()
            web = {c.thumbprint: c for c in repo.observed_certificates("EXCH01", StoreName.MY)}
            vdirs = repo.virtual_directories("EXCH01")
    finally:
        app.store.close()
    assert facts is not None and facts.exchange_build == "Version 15.2 (Build 1544.4)"
    assert facts.culture == "en-GB" and facts.collected_at is not None
    assert {(b.site, b.port) for b in facts.iis_bindings} == {
        ("Default Web Site", 443), ("Exchange Back End", 444)}  # fmt: skip
    assert facts.tls is not None and facts.tls.schannel and facts.tls.net
    assert org is not None and Evidence.AUTH_CONFIG in org.evidence
    assert Evidence.SEND_CONNECTOR in org.evidence
    cert = web[THUMBS["web"]]
    assert cert.der is not None and cert.exportable is True and cert.status == "Valid"
    assert cert.key_provider == "Microsoft Software Key Storage Provider"
    assert {v.name for v in vdirs} >= {"owa", "ecp", "mapi", "autodiscover"}


def test_a_newer_collection_replaces_what_the_older_one_said(observed: Cli) -> None:
    cli = observed
    assert len(servers(cli)) == 4
    out = cli("observe", str(SECOND)).stdout
    assert "removed: server EXCH03 (not in this collection)" in out
    assert "removed: send connector Legacy partner (not in this collection)" in out
    assert f"removed: certificate {THUMBS['retired']} from EXCH01's My store" in out
    assert "removed: receive connector EXCH03\\Default EXCH03" in out
    assert set(servers(cli)) == {"EXCH01", "EXCH02", "EDGE01"}
    left = connectors(cli)
    assert "Legacy partner" not in left and not any(c.startswith("EXCH03\\") for c in left)
    outbound = [c for c in cli.json("connector", "list") if c["identity"] == "Outbound to Internet"]
    assert outbound and "EXCH03" not in json.dumps(outbound)
    # the same collection again: nothing more to remove
    assert cli.json("observe", str(SECOND))["removed"] == []


def _replace_member(data: bytes, member: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, content if info.filename == member else src.read(info))
    return out.getvalue()


def test_a_damaged_collection_changes_nothing(observed: Cli, tmp_path: Path) -> None:
    cli = observed
    before = (servers(cli), connectors(cli))
    member = "servers/EXCH02/receive-connector.xml"
    damaged = tmp_path / "damaged.zip"
    broken = '<Objs Version="1.1.0.1"><Obj'.encode("utf-16")
    damaged.write_bytes(_replace_member(SECOND.read_bytes(), member, broken))
    line = error_line(cli, "observe", str(damaged))
    assert str(damaged) in line and member in line
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(SECOND.read_bytes()[:-200])
    assert str(truncated) in error_line(cli, "observe", str(truncated))
    assert (servers(cli), connectors(cli)) == before


def test_a_refusal_half_way_rolls_the_whole_collection_back(cli: Cli) -> None:
    """Get-AuthConfig is refused beside a server certward runs, after the servers, stores and
    connectors were written in the same transaction: none of them stays."""
    cli("org", "init", "Fabrikam", "--domain", "fabrikam.com")
    cli("server", "add", "HQ01", "--fqdn", "hq01.fabrikam.com")
    before = (servers(cli), connectors(cli))
    line = error_line(cli, "observe", str(FIRST))
    assert "Get-AuthConfig" in line and "contoso-1.zip" in line
    assert (servers(cli), connectors(cli)) == before  # HQ01 alone, untouched


def test_a_server_certward_runs_is_never_touched(org: Cli) -> None:
    line = error_line(org, "observe", str(FIRST))
    assert "EXCH01 is a server certward runs" in line
    assert not any(s["observed"] for s in servers(org).values())


def test_a_collection_is_observed_alone(cli: Cli, tmp_path: Path) -> None:
    extra = tmp_path / "my.txt"
    extra.write_text("x", encoding="utf-8")
    line = error_line(cli, "observe", str(FIRST), str(extra))
    assert "alone" in line
    line = error_line(cli, "observe", "EXCH01", str(extra), str(FIRST))
    assert "alone" in line and f"certward observe {FIRST}" in line


def test_a_zip_is_recognised_by_its_content_too(cli: Cli, tmp_path: Path) -> None:
    from tests.interop.fixtures.collection.build import BUILDS, Entry, exchange_server

    renamed = tmp_path / "collection.bin"
    renamed.write_bytes(collection_zip(
        [Entry("exchange-server", None, [exchange_server("EXCH01", *BUILDS["EXCH01"])])],
        collected_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
    ))  # fmt: skip
    assert [s["server"] for s in cli.json("observe", str(renamed))["servers"]] == ["EXCH01"]


def test_health_on_the_collection_judges_what_it_showed(observed: Cli) -> None:
    result = observed.runner.invoke(app, ["health", "--json", "--as-of", "2026-11-10"])
    report = json.loads(result.stdout)
    assert result.exit_code == report["exit_status"]
    found = report["findings"]
    edge = [f for f in found if f.get("server") == "EDGE01"]
    # EDGE01's stores, TLS registry and transport service could not be collected
    assert edge and all(f["severity"] == "info" and "not judged" in f["message"] for f in edge)
    assert any(f["thumbprint"] == THUMBS["retired"] and f["severity"] == "critical"
               for f in found if f["rule"] == "CW-CERT-001")  # fmt: skip
    assert "CW-AUTH-001" not in {f["rule"] for f in found}  # Get-AuthConfig was collected


def test_a_connector_naming_a_server_certward_runs_is_left_alone(org: Cli, tmp_path: Path) -> None:
    from tests.interop.fixtures.collection.build import (
        BUILDS,
        Entry,
        exchange_server,
        send_connector,
    )

    zip_path = tmp_path / "mixed.zip"
    zip_path.write_bytes(collection_zip(
        [
            Entry("exchange-server", None, [exchange_server("EXCH03", *BUILDS["EXCH03"])]),
            Entry("send-connector", None, [send_connector("Mixed", ["EXCH01", "EXCH03"]),
                                           send_connector("Real", ["EXCH03"])]),
        ],
        collected_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
    ))  # fmt: skip
    before = {c["identity"]: c for c in org.json("connector", "list")}
    result = org.json("observe", str(zip_path))
    assert [s["server"] for s in result["servers"]] == ["EXCH03"]
    after = {c["identity"]: c for c in org.json("connector", "list")}
    assert "Mixed" not in after and "Real" in after
    assert {k: v for k, v in after.items() if k != "Real"} == before

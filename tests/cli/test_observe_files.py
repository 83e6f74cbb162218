"""``certward observe SERVER files…``: connectors naming another server, a second observe
updating the server, CliXML files beside text dumps, the evidence each file showed, and the
culture of text dumps."""

from __future__ import annotations

from pathlib import Path

from certward.compose import build_app
from certward.model import Evidence, StoreName
from tests.conftest import Cli, error_line

FIXTURES = Path(__file__).parents[1] / "interop" / "fixtures"
CLIXML = FIXTURES / "clixml"

RECEIVE = """\
Identity                                : LON-EX01\\Default Frontend LON-EX01
Name                                    : Default Frontend LON-EX01
Server                                  : LON-EX01
TransportRole                           : FrontendTransport
Enabled                                 : True
Bindings                                : {[::]:25, 0.0.0.0:25}
RemoteIPRanges                          : {0.0.0.0-255.255.255.255}
AuthMechanism                           : Tls, Integrated, BasicAuth, ExchangeServer
PermissionGroups                        : AnonymousUsers, ExchangeServers, ExchangeLegacyServers
RequireTLS                              : False
DomainSecureEnabled                     : False
Fqdn                                    : LON-EX01.contoso.com
TlsCertificateName                      :
"""


def test_a_connector_naming_another_server_attaches_to_it(cli: Cli, tmp_path: Path) -> None:
    dump = tmp_path / "receive.txt"
    dump.write_text(RECEIVE, encoding="utf-8")
    out = cli("observe", "TESTSRV", str(dump)).stdout
    assert "added: observed server LON-EX01 (a connector names it)" in out
    assert cli.json("observe", "TESTSRV", str(dump))["attached_servers"] == []  # it exists now
    listed = {s["name"]: s for s in cli.json("server", "list")}
    assert listed["LON-EX01"]["observed"] and listed["TESTSRV"]["observed"]
    # connector list and show work for the whole database (they broke on the unknown server)
    (connector,) = cli.json("connector", "list")
    assert connector["identity"] == "LON-EX01\\Default Frontend LON-EX01"
    shown = cli("connector", "show", "LON-EX01\\Default Frontend LON-EX01").stdout
    assert "LON-EX01" in shown


def test_a_second_observe_updates_version_fqdn_and_roles(cli: Cli, tmp_path: Path) -> None:
    dump = CLIXML / "e19-GetExchangeCertificate.xml"
    first = cli.json("observe", "SOLO-E19A", str(dump))
    assert first["version"] == 2019 and first["fqdn"] == "solo-e19a"
    again = cli.json(
        "observe", "SOLO-E19A", str(dump), "--version", "2016",
        "--fqdn", "solo-e19a.solo.com", "--role", "Mailbox", "--role", "Edge",
    )  # fmt: skip
    assert again["version"] == 2016 and again["fqdn"] == "solo-e19a.solo.com"
    (server,) = cli.json("server", "list")
    assert server["version"] == 2016
    # not given: kept
    assert cli.json("observe", "SOLO-E19A", str(dump))["version"] == 2016


def test_clixml_and_text_files_together_and_what_they_showed(cli: Cli) -> None:
    files = [CLIXML / name for name in (
        "e19-GetExchangeCertificate.xml", "e19-GetAuthConfig.xml", "e19-GetWebBinding.xml",
        "e19-GetAllTlsSettings.xml", "e19-GetExchangeServer.xml",
    )]  # fmt: skip
    result = cli.json("observe", "SOLO-E19A", *map(str, files))
    assert result["version"] == 2019 and result["fqdn"] == "solo-e19a.solo.com"
    formats = {Path(f["file"]).name: f["format"] for f in result["files"]}
    assert formats["e19-GetExchangeCertificate.xml"] == "Get-ExchangeCertificate | Export-Clixml"
    assert result["stores"]["My"] == 3
    app = build_app(None)
    try:
        with app.store.transaction() as repo:
            facts = repo.observed_facts("SOLO-E19A")
            org = repo.observed_organisation()
            certs = repo.observed_certificates("SOLO-E19A", StoreName.MY)
    finally:
        app.store.close()
    assert facts is not None
    assert {
        Evidence.EXCHANGE_CERTIFICATE, Evidence.MY_STORE, Evidence.IIS_BINDINGS,
        Evidence.SCHANNEL, Evidence.NET_TLS, Evidence.EXCHANGE_SERVER,
    } <= facts.evidence  # fmt: skip
    assert Evidence.ROOT_STORE not in facts.evidence
    assert facts.exchange_build is not None and "15.2" in facts.exchange_build
    assert facts.iis_bindings and facts.tls is not None
    assert org is not None and Evidence.AUTH_CONFIG in org.evidence
    assert all(c.der for c in certs)
    # a later file adds to what was shown
    cli("observe", "SOLO-E19A", str(CLIXML / "e19-GetReceiveConnector.xml"))
    app = build_app(None)
    try:
        with app.store.transaction() as repo:
            later = repo.observed_facts("SOLO-E19A")
    finally:
        app.store.close()
    assert later is not None and facts.evidence | {Evidence.RECEIVE_CONNECTOR} <= later.evidence


def test_the_culture_reads_slash_dates(cli: Cli, tmp_path: Path) -> None:
    dump = tmp_path / "auth.txt"
    dump.write_text(
        "CurrentCertificateThumbprint  : 4C2C5D9D8D1E0F1A2B3C4D5E6F708192A3B4C5D6\n"
        "PreviousCertificateThumbprint :\n"
        "NextCertificateThumbprint     : 5D3D6E0E9E2F1A2B3C4D5E6F708192A3B4C5D6E7\n"
        "NextCertificateEffectiveDate  : 12/02/2027 00:00:00\n"
        "ServiceName                   : 00000002-0000-0ff1-ce00-000000000000\n"
        "Realm                         :\n",
        encoding="utf-8",
    )
    cli("observe", "EXCH01", str(dump), "--culture", "en-GB")
    shown = cli.json("org", "show")
    assert shown["auth_thumbprint"] == "4C2C5D9D8D1E0F1A2B3C4D5E6F708192A3B4C5D6"
    app = build_app(None)
    try:
        with app.store.transaction() as repo:
            org = repo.organisation()
    finally:
        app.store.close()
    assert org is not None and org.auth.next_effective is not None
    assert (org.auth.next_effective.month, org.auth.next_effective.day) == (2, 12)
    assert "--culture" not in error_line(cli, "observe", "EXCH01", str(dump), "--culture", "xx-XX")


def test_a_server_needs_its_files(cli: Cli) -> None:
    assert "dumps" in error_line(cli, "observe", "EXCH01")

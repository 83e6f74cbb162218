"""certward observe + health on real servers' output (issue 7's acceptance).

The dumps are the verbatim Windows fixtures and the variants built in their shapes
(tests/interop/fixtures/SOURCES.md): EXCH01 after seed 002's renewal, its default transport
certificate with a CNG key (seed 004), and a Root store of 355 roots (seed 001).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from certward.interfaces.cli.app import app
from certward.pki import clientca
from tests.conftest import Cli, error_line
from tests.interop.fixtures.windows_shapes import make_roots, render_certutil_store

FIXTURES = Path(__file__).parent / "fixtures"
BUILT = FIXTURES / "built"
CNG_TRANSPORT = "531948759D0C85466E975C5239BB8B9EA29A2ED3"
RENEWED = "392C820C6B97874E7972B93AB51D6D9EF9D7F109"  # valid 2024-09-20 .. 2025-10-21
EXPIRED = "BF9F18FD54CA7779F00153899AFA83486E16DD29"  # expired 2024-10-04
DURING_RENEWAL = "2025-06-01"


@pytest.fixture(scope="module")
def root_store_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    roots = make_roots(355, start=dt.datetime(2011, 3, 1, 9, 30, tzinfo=dt.UTC))
    path = tmp_path_factory.mktemp("roots") / "certutil-store-root.txt"
    path.write_text(render_certutil_store(roots), encoding="utf-8")
    return path


def observe_exch01(cli: Cli, *extra: Path, version: str = "2010") -> dict[str, Any]:
    files = [str(p) for p in sorted(BUILT.glob("*.txt"))] + [str(p) for p in extra]
    return dict(cli.json("observe", "EXCH01", *files, "--version", version))


def findings(cli: Cli, *args: str, server: str = "EXCH01") -> list[dict[str, Any]]:
    """``health --json`` whatever its exit status (0, 1 or 2 by the worst finding), the
    findings on ``server`` (EXCH02, which the connectors name, is observed with no files:
    its findings are all "not judged")."""
    result = cli.runner.invoke(app, ["health", "--json", *args])
    report = json.loads(result.stdout)
    assert result.exit_code == report["exit_status"]
    found = list(report["findings"])
    other = [f for f in found if f.get("server") not in (server, None)]
    assert all(f["severity"] == "info" for f in other if f.get("server") == "EXCH02")
    return [f for f in found if f.get("server") in (server, None)]


def by_rule(found: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    rules: dict[str, list[dict[str, Any]]] = {}
    for f in found:
        rules.setdefault(f["rule"], []).append(f)
    return rules


def test_observe_reads_every_dump_and_builds_the_server(cli: Cli, root_store_dump: Path) -> None:
    result = observe_exch01(cli, root_store_dump)
    assert result["observed"] is True
    assert result["default_smtp_thumbprint"] == CNG_TRANSPORT
    assert result["stores"] == {"My": 4, "Root": 355, "CA": 0}
    formats = {Path(f["file"]).name: f["format"] for f in result["files"]}
    assert formats["certutil-v-store-my-cng-transport.txt"] == "certutil -v -store"
    assert formats["get-receiveconnector-fl-renewal.txt"] == "Get-ReceiveConnector | Format-List"
    assert formats["certutil-store-root.txt"] == "certutil -store"
    # The receive and send connectors name EXCH02 too: it is attached, observed, with no files.
    assert result["attached_servers"] == ["EXCH02"]
    server, other = cli.json("server", "list")
    assert (server["name"], server["observed"], server["certificate_count"]) == ("EXCH01", True, 4)
    assert (other["name"], other["observed"], other["certificate_count"]) == ("EXCH02", True, 0)
    assert "observed" in cli("server", "list").stdout


def test_health_on_the_dumps_reports_the_seed_risks(cli: Cli, root_store_dump: Path) -> None:
    observe_exch01(cli, root_store_dump)
    rules = by_rule(findings(cli, "--as-of", DURING_RENEWAL))

    # Seed 004: the CNG key of the default transport certificate (event 1035).
    (cng,) = rules["CW-EDGE-001"]
    assert cng["thumbprint"] == CNG_TRANSPORT and cng["severity"] == "warning"
    assert cng["evidence"]["key_provider"] == "Microsoft Software Key Storage Provider"

    # Seed 001: 355 roots sent by a 2010 server that asks for client certificates.
    (roots,) = rules["CW-ROOT-001"]
    assert roots["severity"] == "critical"
    assert roots["evidence"]["roots"] == 355
    assert roots["evidence"]["bytes"] > clientca.SCHANNEL_LIMIT

    # Seed 002: during the renewal the old certificate is merely left behind...
    (left,) = [f for f in rules["CW-CERT-001"] if f["thumbprint"] == EXPIRED]
    assert left["severity"] == "info" and RENEWED in left["message"]
    assert "CW-CONN-001" not in rules
    # No CA store among the dumps: chains are not judged, and health asks for the dump.
    assert [f["severity"] for f in rules["CW-CHAIN-001"]] == ["info"]

    # ... and once the renewed one expired too, every connector names only expired ones.
    later = by_rule(findings(cli))
    conn = {f["connector"] for f in later["CW-CONN-001"] if f["severity"] == "error"}
    assert conn == {
        "EXCH01\\Default Frontend EXCH01",
        "Outbound to Office 365 - 3f1e2d4c-5b6a-4978-8c1d-2e3f4a5b6c7d",
    }
    assert any(
        f["thumbprint"] == RENEWED and f["severity"] == "critical" for f in later["CW-CERT-001"]
    )
    assert any(f["evidence"].get("event") == 12016 for f in later["CW-TRANS-002"])


def test_a_2019_server_does_not_send_its_root_list(cli: Cli, root_store_dump: Path) -> None:
    observe_exch01(cli, root_store_dump, version="2019")
    assert "CW-ROOT-001" not in by_rule(findings(cli, "--as-of", DURING_RENEWAL))


def test_a_new_dump_of_a_store_replaces_the_old_one(cli: Cli, root_store_dump: Path) -> None:
    observe_exch01(cli, root_store_dump)
    few = root_store_dump.parent / "fewer-roots.txt"
    few.write_text(
        render_certutil_store(make_roots(3, start=dt.datetime(2015, 1, 1, tzinfo=dt.UTC))),
        encoding="utf-8",
    )
    again = cli.json("observe", "EXCH01", str(few))
    assert again["stores"] == {"My": 4, "Root": 3, "CA": 0}


def test_the_verbatim_windows_dumps_are_read(cli: Cli) -> None:
    windows = FIXTURES / "windows"
    result = cli.json(
        "observe", "WIN01",
        str(windows / "certutil-store-user-my-capi-and-ksp.txt"),
        str(windows / "get-exchangecertificate-fl-ru-RU.txt"),
    )  # fmt: skip
    assert result["stores"]["My"] == 3
    custom = windows / "certutil-store-capi.txt"  # a store named TestStore
    assert "--store" in error_line(cli, "observe", "WIN01", str(custom))
    assert cli.json("observe", "WIN01", str(custom), "--store", "Root")["stores"]["Root"] == 1


def test_an_observed_server_holds_no_keys_and_takes_no_certificates(
    cli: Cli, tmp_path: Path
) -> None:
    observe_exch01(cli)
    line = error_line(
        cli, "cert", "new", "--server", "EXCH01", "--subject", "CN=x", "--domain", "x"
    )
    assert "observed server" in line
    password = tmp_path / "pw.txt"
    password.write_text("Pa55word!\n")
    out = tmp_path / "x.pfx"
    line = error_line(cli, "cert", "export", CNG_TRANSPORT, "--server", "EXCH01",
                      "--out", str(out), "--password-file", str(password))  # fmt: skip
    assert "observed server" in line and "keys" in line
    assert not out.exists()


def test_bad_input_names_the_file_and_stores_nothing(cli: Cli, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("Dear admin,\nplease renew the certificate.\n", encoding="utf-8")
    line = error_line(cli, "observe", "EXCH09", str(BUILT / "get-authconfig-fl.txt"), str(junk))
    assert str(junk) in line
    assert cli.json("server", "list") == []
    assert str(tmp_path / "missing.txt") in error_line(
        cli, "observe", "EXCH09", str(tmp_path / "missing.txt")
    )


def test_a_server_certward_runs_cannot_be_observed_over(org: Cli) -> None:
    line = error_line(org, "observe", "EXCH01", str(BUILT / "get-authconfig-fl.txt"))
    assert "certward runs" in line


def test_cert_list_and_store_list_show_what_the_dumps_showed(
    cli: Cli, root_store_dump: Path
) -> None:
    observe_exch01(cli, root_store_dump)
    certs = {c["thumbprint"]: c for c in cli.json("cert", "list", "--server", "EXCH01")}
    assert set(certs) >= {CNG_TRANSPORT, RENEWED, EXPIRED}
    transport = certs[CNG_TRANSPORT]
    assert transport["key_provider"] == "Microsoft Software Key Storage Provider"
    assert transport["is_default_smtp"] is True and transport["status"] == "Valid"
    assert transport["services_flags"] == "IP..S.."
    assert transport["private_key_exportable"] is False  # certward never holds its key
    assert certs[EXPIRED]["status"] == "DateInvalid"
    # The renewed certificate's issuer (a DigiCert intermediate) is in no observed store.
    assert certs[RENEWED]["status"] in ("Untrusted", "DateInvalid")
    assert certs[RENEWED]["certificate_domains"][0].lower().startswith("webmail.")
    roots = cli.json("store", "list", "--server", "EXCH01", "--store", "Root")
    assert len(roots) == 355 and all(r["status"] in ("Valid", "DateInvalid") for r in roots)
    shown = cli.json("cert", "show", CNG_TRANSPORT, "--server", "EXCH01")
    assert shown == transport


def test_a_real_server_beside_certward_run_ones(org: Cli) -> None:
    """Observed into a store whose organisation certward runs: certificates and connectors
    of the real server are read, but its Get-AuthConfig would replace the organisation's own
    auth configuration, so it is refused (and nothing is stored)."""
    before = org.json("auth", "show")
    line = error_line(org, "observe", "EXCH09", *[str(p) for p in sorted(BUILT.glob("*.txt"))])
    assert "get-authconfig-fl.txt" in line and "--db" in line
    assert [s["name"] for s in org.json("server", "list")] == ["EXCH01", "EXCH02"]
    files = [str(p) for p in sorted(BUILT.glob("*.txt")) if "authconfig" not in p.name]
    result = org.json("observe", "EXCH09", *files)
    assert result["stores"]["My"] == 4
    assert org.json("auth", "show") == before
    # The dumps' connectors belong to EXCH01, which certward runs here: left untouched.
    frontend = org.json("connector", "show", "EXCH01\\Default Frontend EXCH01")
    assert frontend["tls_certificate_name"] is None

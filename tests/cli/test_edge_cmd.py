"""Edge subscriptions and EdgeSync (seed 004) from the command line, on a real store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from certward.model import CNG_SOFTWARE_KSP
from tests.conftest import Cli, OpenSslCa, error_line, thumbprints


@pytest.fixture
def edge_org(org: Cli) -> Cli:
    """EXCH01 and EXCH02 (Mailbox) and EDGE01 (Edge Transport), EDGE01 subscribed."""
    org("server", "add", "EDGE01", "--fqdn", "edge01.contoso.com", "--role", "EdgeTransport")
    org("edge", "subscribe", "EDGE01", "--site", "Amsterdam")
    return org


def default_smtp(cli: Cli, server: str) -> str:
    return next(t for t, c in thumbprints(cli, server).items() if c["is_default_smtp"])


def put_key_in_cng(cli: Cli, server: str, thumbprint: str) -> None:
    """The state seed 004 starts from: the default transport certificate's key in the CNG
    Software Key Storage Provider (as an Enterprise CA template puts it)."""
    cli("cert", "convert-key-provider", thumbprint, "--server", server, "--to", "cng")
    assert thumbprints(cli, server)[thumbprint]["key_provider"] == CNG_SOFTWARE_KSP


def sync(cli: Cli, *, ok: bool = True) -> list[dict[str, Any]]:
    result = cli("edge", "sync", "--json", ok=ok)
    return list(json.loads(result.stdout))


def test_subscribe_and_sync_publish_certificates_both_ways(edge_org: Cli) -> None:
    (sub,) = edge_org.json("edge", "list")
    assert sub["edge"] == "EDGE01" and sub["site"] == "Amsterdam"
    assert sub["edge_certificate"] == default_smtp(edge_org, "EDGE01")
    assert sub["last_sync"] is None

    (result,) = sync(edge_org)
    assert result["ok"] is True
    (sub,) = edge_org.json("edge", "list")
    assert {h["server"]: h["thumbprint"] for h in sub["hub_certificates"]} == {
        "EXCH01": default_smtp(edge_org, "EXCH01"),
        "EXCH02": default_smtp(edge_org, "EXCH02"),
    }
    assert sub["last_sync_ok"] is True
    assert edge_org("health").exit_code == 0


def test_cng_transport_key_fails_with_event_1035(edge_org: Cli) -> None:
    thumbprint = default_smtp(edge_org, "EXCH01")
    put_key_in_cng(edge_org, "EXCH01", thumbprint)

    (result,) = sync(edge_org, ok=False)
    hubs = {h["server"]: h for h in result["hubs"]}
    assert hubs["EXCH01"]["event"] == 1035 and hubs["EXCH01"]["ok"] is False
    assert (
        f"default certificate with thumbprint {thumbprint} isn't a CAPI certificate"
        in (hubs["EXCH01"]["problem"])
    )
    assert hubs["EXCH02"]["ok"] is True
    text = edge_org("edge", "sync", ok=False).stdout
    assert "EXCH01: event 1035: EdgeSync failed to synchronize" in text

    events = edge_org.json("events", "--server", "EXCH01")
    assert any(e["id"] == 1035 and e["source"] == "MSExchange EdgeSync" for e in events)

    report = json.loads(edge_org("health", "--json", ok=False).stdout)
    (finding,) = [f for f in report["findings"] if f["rule"] == "CW-EDGE-001"]
    assert finding["severity"] == "critical" and finding["server"] == "EXCH01"
    assert finding["thumbprint"] == thumbprint
    assert "convert-key-provider" in finding["remediation"]["certward"]


def test_without_an_edge_subscription_a_cng_key_is_a_warning(org: Cli) -> None:
    put_key_in_cng(org, "EXCH01", default_smtp(org, "EXCH01"))
    result = org("health", "--json", ok=False)
    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)["findings"]
    assert (finding["rule"], finding["severity"]) == ("CW-EDGE-001", "warning")
    assert finding["evidence"]["edge_subscribed"] is False


def test_edge_must_hold_the_chain_of_a_ca_issued_transport_certificate(
    edge_org: Cli, openssl_ca: OpenSslCa, tmp_path: Path
) -> None:
    csr = tmp_path / "exch01.req"
    edge_org("cert", "request", "--server", "EXCH01", "--subject", "CN=exch01.contoso.com",
             "--domain", "exch01.contoso.com", "--out", str(csr))  # fmt: skip
    reply = openssl_ca.p7b(openssl_ca.sign(csr, name="exch01"), name="exch01")
    thumbprint = edge_org("cert", "import", "--server", "EXCH01", str(reply)).stdout.split()[-1]
    edge_org("cert", "enable", thumbprint, "--server", "EXCH01", "--services", "SMTP", "--force")
    assert default_smtp(edge_org, "EXCH01") == thumbprint

    (result,) = sync(edge_org, ok=False)
    (hub,) = [h for h in result["hubs"] if h["server"] == "EXCH01"]
    assert {(m["store"], m["subject"]) for m in hub["missing_chain"]} == {
        ("CA", "CN=Bar Test Issuing CA, O=Bar Test, C=US"),
        ("Root", "CN=Bar Test Root CA, O=Bar Test, C=US"),
    }
    report = json.loads(edge_org("health", "--json", ok=False).stdout)
    edge_findings = {(f["server"], f["evidence"]["store"]) for f in report["findings"]
                     if f["rule"] == "CW-EDGE-002"}  # fmt: skip
    assert edge_findings == {("EDGE01", "CA"), ("EDGE01", "Root")}

    # The seed's fix: the root into Trusted Root, the intermediate into Intermediate.
    edge_org("store", "add", "--server", "EDGE01", "--store", "Root", str(openssl_ca.root_pem))
    edge_org("store", "add", "--server", "EDGE01", "--store", "CA",
             str(openssl_ca.intermediate_pem))  # fmt: skip
    (result,) = sync(edge_org)
    assert result["ok"] is True


def test_subscription_errors(edge_org: Cli) -> None:
    assert "not an Edge Transport server" in error_line(edge_org, "edge", "subscribe", "EXCH01")
    assert "already has an Edge subscription" in error_line(edge_org, "edge", "subscribe", "EDGE01")
    edge_org("edge", "remove", "EDGE01")
    assert edge_org.json("edge", "list") == []
    assert "no Edge subscription" in error_line(edge_org, "edge", "remove", "EDGE01")
    assert "No Edge subscriptions" in edge_org("edge", "sync").stdout

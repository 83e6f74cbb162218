"""The ACME commands end to end against Pebble: account, cert request --acme, orders,
renew --dry-run."""

from __future__ import annotations

import json

from tests.acme.pebble import Pebble
from tests.conftest import Cli, error_line


def test_request_orders_and_dry_run(org: Cli, pebble: Pebble) -> None:
    assert "no ACME account" in error_line(
        org, "cert", "request", "--server", "EXCH01", "--acme", "--subject", "CN=x.contoso.test"
    )
    org("acme", "account", "add", "--directory", pebble.directory_url,
        "--email", "admin@contoso.test", "--ca-bundle", str(pebble.ca_bundle))  # fmt: skip
    again = error_line(
        org, "acme", "account", "add", "--directory", pebble.directory_url,
        "--email", "admin@contoso.test", "--ca-bundle", str(pebble.ca_bundle),
    )  # fmt: skip
    assert "already registered" in again
    listed = org("acme", "account", "list").stdout
    assert pebble.directory_url in listed and "admin@contoso.test" in listed
    done = org("cert", "request", "--server", "EXCH01", "--acme",
               "--subject", "CN=imap.contoso.test", "--domain", "pop.contoso.test",
               "--challenge", "http-01",
               "--challenge-option", f"port={pebble.http_port}",
               "--challenge-option", "address=127.0.0.1").stdout  # fmt: skip
    thumbprint = done.split()[0]
    assert "completed the pending request on EXCH01" in done
    shown = json.loads(org("cert", "show", thumbprint, "--server", "EXCH01", "--json").stdout)
    assert shown["has_private_key"] is True
    assert set(shown["certificate_domains"]) == {"imap.contoso.test", "pop.contoso.test"}
    (order,) = json.loads(org("acme", "orders", "--json").stdout)
    assert order["thumbprint"] == thumbprint and order["last_error"] is None
    assert "imap.contoso.test" in org("acme", "orders").stdout
    dry = org("acme", "renew", "--dry-run").stdout
    assert "not due" in dry and "two thirds" in dry
    report = json.loads(org("acme", "renew", "--json").stdout)
    assert report["orders"][0]["action"] == "not-due"
    # without --out or --acme, a request has nowhere to go
    result = org("cert", "request", "--server", "EXCH01", "--subject", "CN=y.test", ok=False)
    assert result.exit_code == 2

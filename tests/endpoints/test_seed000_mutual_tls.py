"""Seed 000: mutual TLS (domain security) accepts a partner whose domain is only in the SAN.

The partner's certificate has CN=webmail.fabrikam.com and carries fabrikam.com only as a
subject alternative name; the receiving connector is domain-secure for fabrikam.com.
"""

from __future__ import annotations

from pathlib import Path

from certward.endpoints.mailstore import MailStore
from certward.model import ConnectorKind, Password, ServiceSet, SmartHost, StoreName
from certward.services.connectors import ConnectorSettings
from tests.conftest import Cli, OpenSslCa
from tests.endpoints.conftest import bind, issue, run_certward, serving, store_app
from tests.ports import free_port


def test_mutual_tls_matches_the_domain_in_the_san_and_refuses_other_domains(
    org: Cli, openssl_ca: OpenSslCa, isolated_store: Path
) -> None:
    # Through the services: one opening of the store, not a command per step.
    with store_app(isolated_store) as app:
        # FAB01 stands in for the partner's mail server, with a certificate from a public CA.
        app.organisation.add_server("FAB01", fqdn="mail.fabrikam.com")
        partner = issue(app, openssl_ca, "FAB01", "CN=webmail.fabrikam.com",
                        "autodiscover.fabrikam.com", "fabrikam.com", name="fab")  # fmt: skip
        app.certificates.enable(
            "FAB01", partner, ServiceSet.parse("SMTP"), replace_default_smtp=True
        )
        # EXCH01 trusts the partner's CA and is domain-secure for fabrikam.com.
        for store, pem in ((StoreName.ROOT, openssl_ca.root_pem),
                           (StoreName.CA, openssl_ca.intermediate_pem)):  # fmt: skip
            app.stores.store_add("EXCH01", store, pem.read_bytes(), source=str(pem))
        port = free_port()
        bind(app, "Default Frontend EXCH01", port, domain_secure_enabled=True)
        for name in ("Client Frontend EXCH01", "Outbound Proxy Frontend EXCH01",
                     "Default EXCH01", "Client Proxy EXCH01"):  # fmt: skip
            app.connectors.remove(name)
        app.connectors.domain_secure("receive", "fabrikam.com", add=True)
        app.connectors.domain_secure("receive", "northwind.com", add=True)
        app.mail.add_domain("contoso.com")
        app.mail.add_mailbox("alice@contoso.com", server="EXCH01", password=Password(b"x"))
        app.connectors.add(
            ConnectorKind.SEND, "To Contoso", ["FAB01"],
            ConnectorSettings(address_spaces=("contoso.com",),
                              smart_hosts=(SmartHost.parse(f"127.0.0.1:{port}"),),
                              require_tls=True),
        )  # fmt: skip

    def send(sender: str) -> str:
        done = run_certward(
            isolated_store, "mail", "send", "--server", "FAB01", "--connector", "To Contoso",
            "--from", sender, "--to", "alice@contoso.com", ok=False,
        ) if "northwind" in sender else run_certward(
            isolated_store, "mail", "send", "--server", "FAB01", "--connector", "To Contoso",
            "--from", sender, "--to", "alice@contoso.com",
        )  # fmt: skip
        return done.stdout + done.stderr

    with serving("EXCH01", isolated_store):
        assert "Delivered" in send("partner@fabrikam.com")
        refused = send("partner@northwind.com")
    assert "530" in refused and "neither northwind.com" in refused
    messages = MailStore(isolated_store.parent / "mail").messages("alice@contoso.com")
    assert len(messages) == 1

"""Seed 000: mutual TLS (domain security) accepts a partner whose domain is only in the SAN.

The partner's certificate has CN=webmail.fabrikam.com and carries fabrikam.com only as a
subject alternative name; the receiving connector is domain-secure for fabrikam.com.
"""

from __future__ import annotations

from pathlib import Path

from certward.endpoints.mailstore import MailStore
from tests.conftest import Cli, OpenSslCa, thumbprints
from tests.endpoints.conftest import free_port, run_certward, serving


def test_mutual_tls_matches_the_domain_in_the_san_and_refuses_other_domains(
    org: Cli, openssl_ca: OpenSslCa, tmp_path: Path, isolated_store: Path
) -> None:
    cli = org
    # FAB01 stands in for the partner's mail server, with a certificate from a public CA.
    cli("server", "add", "FAB01", "--fqdn", "mail.fabrikam.com")
    csr = tmp_path / "fab.csr"
    cli("cert", "request", "--server", "FAB01", "--subject", "CN=webmail.fabrikam.com",
        "--domain", "autodiscover.fabrikam.com", "--domain", "fabrikam.com",
        "--out", str(csr))  # fmt: skip
    cli("cert", "import", "--server", "FAB01", str(openssl_ca.p7b(openssl_ca.sign(csr))))
    partner = next(t for t, c in thumbprints(cli, "FAB01").items() if "webmail" in c["subject"])
    cli("cert", "enable", partner, "--server", "FAB01", "--services", "SMTP", "--force")
    # EXCH01 trusts the partner's CA and is domain-secure for fabrikam.com.
    cli("store", "add", "--server", "EXCH01", "--store", "Root", str(openssl_ca.root_pem))
    cli("store", "add", "--server", "EXCH01", "--store", "CA", str(openssl_ca.intermediate_pem))
    port = free_port()
    cli("connector", "set", "Default Frontend EXCH01", "--bind", f"127.0.0.1:{port}",
        "--domain-secure")  # fmt: skip
    for name in ("Client Frontend EXCH01", "Outbound Proxy Frontend EXCH01",
                 "Default EXCH01", "Client Proxy EXCH01"):  # fmt: skip
        cli("connector", "remove", name)
    cli("transport", "domain-secure", "add", "receive", "fabrikam.com")
    cli("transport", "domain-secure", "add", "receive", "northwind.com")
    cli("domain", "add", "contoso.com")
    (tmp_path / "pw").write_text("x\n")
    cli("mailbox", "add", "alice@contoso.com", "--server", "EXCH01",
        "--password-file", str(tmp_path / "pw"))  # fmt: skip
    cli("connector", "add", "send", "To Contoso", "--server", "FAB01",
        "--address-space", "contoso.com", "--smart-host", f"127.0.0.1:{port}",
        "--require-tls")  # fmt: skip

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

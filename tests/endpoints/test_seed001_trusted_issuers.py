"""Seed 001 end to end: the UM server's voicemail submission to a Hub that trusts 355 roots.

The Hub (Exchange 2010, so it sends its trusted-issuer list) asks for a client certificate;
the list of 355 roots is over Schannel's 16 KB, so it is truncated (event 36885) and the
UM's CA is cut off. The UM offers its certificate only to a server that lists its issuer:
the submission fails with the TLS API failure (event 1423) and stays queued. Trimming the
Hub's Root store to 85 roots makes the list fit; the retry delivers the voicemail.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certward.compose import build_app
from certward.endpoints.mailstore import MailStore
from certward.model import (
    ConnectorKind,
    ExchangeVersion,
    Password,
    Role,
    ServiceSet,
    SmartHost,
    StoreName,
)
from certward.pki import clientca
from certward.services.connectors import ConnectorSettings
from tests.conftest import Cli, OpenSslCa, find_openssl
from tests.endpoints.conftest import bind, issue, run_certward, serving, store_app
from tests.ports import free_port

NOW = dt.datetime.now(dt.UTC)


def public_roots(count: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = []
    for i in range(count):
        name = x509.Name.from_rfc4514_string(
            f"CN=Example Trust Services Root Certification Authority {i:03},"
            "OU=Example Root Program 2013,O=Example Trust Services Inc,C=US"
        )
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(i + 1)
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        pem.append(cert.public_bytes(serialization.Encoding.PEM))
    return b"".join(pem)


def acceptable_ca_names(port: int) -> int:
    done = subprocess.run(
        [find_openssl(), "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}",
         "-tls1_2"],
        input=b"", capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    output = done.stdout.decode(errors="replace")
    assert "Acceptable client certificate CA names" in output, output
    names = output.split("Acceptable client certificate CA names")[1].split("Requested")[0]
    return sum(1 for line in names.splitlines() if line.strip().startswith("C = "))


def test_voicemail_fails_with_355_roots_and_flows_after_trimming_to_85(
    cli: Cli, openssl_ca: OpenSslCa, isolated_store: Path
) -> None:
    # Through the services: one opening of the store, not a command per step.
    isolated_store.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with store_app(isolated_store) as app:
        app.organisation.init_organisation("Contoso")
        for name, role in (("HUB01", Role.HUB_TRANSPORT), ("UM01", Role.UNIFIED_MESSAGING)):
            app.organisation.add_server(
                name, fqdn=f"{name.lower()}.contoso.com", roles=[role],
                version=ExchangeVersion.EX2010,
            )  # fmt: skip
        # The UM server's certificate from the organisation's CA, its default SMTP certificate.
        um_cert = issue(app, openssl_ca, "UM01", "CN=um01.contoso.com", name="um01")
        app.certificates.enable(
            "UM01", um_cert, ServiceSet.parse("SMTP"), replace_default_smtp=True
        )
        # The Hub trusts 354 public roots, then the organisation's root: 355 in all.
        app.stores.store_add("HUB01", StoreName.ROOT, public_roots(354), source="roots.pem")
        for store, pem in ((StoreName.ROOT, openssl_ca.root_pem),
                           (StoreName.CA, openssl_ca.intermediate_pem)):  # fmt: skip
            app.stores.store_add("HUB01", store, pem.read_bytes(), source=str(pem))
        # Mutual TLS towards the UM server on the Hub's default receive connector.
        bind(app, "Default HUB01", port, domain_secure_enabled=True)
        app.connectors.remove("Client HUB01")
        app.connectors.domain_secure("receive", "um01.contoso.com", add=True)
        app.mail.add_domain("contoso.com")
        app.mail.add_mailbox("alice@contoso.com", server="HUB01", password=Password(b"x"))
        app.connectors.add(
            ConnectorKind.SEND, "To HUB01", ["UM01"],
            ConnectorSettings(address_spaces=("contoso.com",),
                              smart_hosts=(SmartHost.parse(f"127.0.0.1:{port}"),)),
        )  # fmt: skip
    send = ["mail", "send", "--server", "UM01", "--connector", "To HUB01",
            "--from", "voicemail@um01.contoso.com", "--to", "alice@contoso.com",
            "--subject", "Voice Mail from 555-0100"]  # fmt: skip

    with serving("HUB01", isolated_store) as hub:
        sent_names = acceptable_ca_names(port)
        assert sent_names < 355
        failed = run_certward(isolated_store, *send, ok=False)
        assert "0x80090301" in failed.stderr
        queued = json.loads(cli("queue", "list", "--server", "UM01", "--json").stdout)
        assert [q["status"] for q in queued] == ["Retry"]
        um_events = json.loads(cli("events", "--server", "UM01", "--json").stdout)
        assert [e["id"] for e in um_events] == [1423]
        hub_events = json.loads(cli("events", "--server", "HUB01", "--json").stdout)
        schannel = [e for e in hub_events if e["id"] == 36885]
        assert schannel and "355 roots" in schannel[0]["message"]

        # Trim the Hub's Root store to 85 roots, keeping the organisation's root.
        app = build_app(None)
        generated = [
            v.thumbprint
            for v in app.stores.store_list("HUB01", StoreName.ROOT)
            if "Example Trust Services" in v.subject
        ]
        mark = hub.mark()
        cli("store", "remove", *generated[84:], "--server", "HUB01", "--store", "Root")
        assert len(app.stores.store_list("HUB01", StoreName.ROOT)) == 85
        hub.wait_for("configuration reloaded", timeout=5, after=mark)

        assert acceptable_ca_names(port) == 85
        retried = run_certward(isolated_store, "queue", "retry", "--server", "UM01")
        assert "delivered" in retried.stdout
    assert json.loads(cli("queue", "list", "--server", "UM01", "--json").stdout) == []
    messages = MailStore(isolated_store.parent / "mail").messages("alice@contoso.com")
    assert len(messages) == 1 and b"Voice Mail from 555-0100" in messages[0]
    assert clientca.SCHANNEL_LIMIT == 16_384

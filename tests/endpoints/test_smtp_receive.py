"""``certward serve``: receive connectors on 127.0.0.1 with real clients (smtplib, openssl)."""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from certward.clock import FixedClock
from certward.compose import build_app
from certward.endpoints.mailstore import MailStore
from certward.model import ServiceSet
from tests.conftest import Cli, OpenSslCa, find_openssl, thumbprints
from tests.endpoints.conftest import Served, free_port, serving

SUBJECT = "c=NL, O=Contoso, CN=webmail.contoso.com"


@dataclass
class Site:
    cli: Cli
    db: Path
    root: Path
    webmail: str
    own: str
    frontend: int  # Default Frontend EXCH01: TlsCertificateName = webmail
    client: int  # Client Frontend EXCH01: RequireTLS, no TlsCertificateName -> server FQDN


@pytest.fixture
def site(org: Cli, openssl_ca: OpenSslCa, tmp_path: Path, isolated_store: Path) -> Site:
    cli = org
    csr = tmp_path / "webmail.csr"
    cli("cert", "request", "--server", "EXCH01", "--subject", SUBJECT,
        "--domain", "webmail.contoso.com", "--domain", "autodiscover.contoso.com",
        "--out", str(csr))  # fmt: skip
    reply = openssl_ca.p7b(openssl_ca.sign(csr))
    cli("cert", "import", "--server", "EXCH01", str(reply))
    certs = thumbprints(cli, "EXCH01")
    webmail = next(t for t, c in certs.items() if "webmail" in c["subject"])
    own = next(t for t, c in certs.items() if c["subject"] == "CN=EXCH01")
    cli("cert", "enable", webmail, "--server", "EXCH01", "--services", "IIS,SMTP",
        "--keep-default-smtp")  # fmt: skip
    cli("domain", "add", "contoso.com")
    password = tmp_path / "alice.txt"
    password.write_text("alice-secret\n")
    cli("mailbox", "add", "alice@contoso.com", "--server", "EXCH01",
        "--password-file", str(password))  # fmt: skip
    frontend, client = free_port(), free_port()
    cli("connector", "set", "Default Frontend EXCH01", "--bind", f"127.0.0.1:{frontend}",
        "--tls-certificate", webmail)  # fmt: skip
    cli("connector", "set", "Client Frontend EXCH01", "--bind", f"127.0.0.1:{client}",
        "--require-tls")  # fmt: skip
    for name in ("Outbound Proxy Frontend EXCH01", "Default EXCH01", "Client Proxy EXCH01"):
        cli("connector", "remove", name)
    return Site(cli, isolated_store, openssl_ca.root_pem, webmail, own, frontend, client)


@pytest.fixture
def served(site: Site) -> Iterator[Served]:
    with serving("EXCH01", site.db) as running:
        yield running


def presented_subject(port: int) -> str:
    done = subprocess.run(
        [find_openssl(), "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}",
         "-servername", "webmail.contoso.com"],
        input=b"", capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    output = done.stdout.decode(errors="replace")
    line = next(ln for ln in output.splitlines() if ln.startswith("subject="))
    return line.removeprefix("subject=").strip()


def test_the_connector_tls_certificate_name_picks_the_ca_certificate(
    site: Site, served: Served
) -> None:
    assert "CN = webmail.contoso.com" in presented_subject(site.frontend)


def test_without_a_name_the_server_fqdn_picks_the_self_signed_certificate(
    site: Site, served: Served
) -> None:
    # The CA certificate does not carry exch01.contoso.com; the self-signed one does.
    assert presented_subject(site.client) == "CN = EXCH01"


def test_smtplib_delivers_over_starttls_validating_the_chain(site: Site, served: Served) -> None:
    context = ssl.create_default_context(cafile=str(site.root))
    with smtplib.SMTP("127.0.0.1", site.frontend, timeout=30) as smtp:
        smtp.ehlo("mail.fabrikam.com")
        assert smtp.has_extn("starttls")
        smtp._host = "webmail.contoso.com"  # the name the certificate must carry
        smtp.starttls(context=context)
        refused = smtp.sendmail(
            "bob@fabrikam.com", ["alice@contoso.com"], b"Subject: seed 002\r\n\r\nhello\r\n"
        )
    assert refused == {}
    messages = MailStore(site.db.parent / "mail").messages("alice@contoso.com")
    assert len(messages) == 1
    assert b"hello" in messages[0]
    assert b"with TLSv1.3" in messages[0] or b"with TLSv1.2" in messages[0]


def test_require_tls_refuses_mail_before_starttls(site: Site, served: Served) -> None:
    with smtplib.SMTP("127.0.0.1", site.client, timeout=30) as smtp:
        smtp.ehlo("mail.fabrikam.com")
        code, message = smtp.mail("bob@fabrikam.com")
    assert code == 530
    assert message.startswith(b"5.7.0")


def test_unknown_recipients_are_refused(site: Site, served: Served) -> None:
    with smtplib.SMTP("127.0.0.1", site.frontend, timeout=30) as smtp:
        smtp.ehlo("mail.fabrikam.com")
        smtp.mail("bob@fabrikam.com")
        assert smtp.rcpt("nobody@contoso.com")[0] == 550
        assert smtp.rcpt("someone@fabrikam.com")[0] == 550


def test_no_eligible_certificate_means_no_starttls_and_event_12014(site: Site) -> None:
    site.cli("connector", "set", "Client Frontend EXCH01", "--fqdn", "relay.contoso.com",
             "--no-require-tls")  # fmt: skip
    with serving("EXCH01", site.db), smtplib.SMTP("127.0.0.1", site.client, timeout=30) as smtp:
        smtp.ehlo("mail.fabrikam.com")
        assert not smtp.has_extn("starttls")
    events = json.loads(site.cli("events", "--server", "EXCH01", "--json").stdout)
    assert [e for e in events if e["id"] == 12014 and "relay.contoso.com" in e["message"]]


def test_a_binding_change_is_picked_up_without_a_restart(site: Site, served: Served) -> None:
    assert "CN = webmail.contoso.com" in presented_subject(site.frontend)
    mark = served.mark()
    site.cli("connector", "set", "Default Frontend EXCH01", "--tls-certificate-name", "")
    served.wait_for(r"configuration reloaded", timeout=5, after=mark)
    # exch01.contoso.com is only on the self-signed certificate
    assert presented_subject(site.frontend) == "CN = EXCH01"


def test_the_protocol_log_shows_the_certificate_sent(site: Site, served: Served) -> None:
    presented_subject(site.frontend)
    rows = json.loads(
        site.cli("log", "show", "--server", "EXCH01", "--connector", "Default Frontend",
                 "--json").stdout
    )  # fmt: skip
    contexts = {r["context"]: r["data"] for r in rows if r["event"] == "*"}
    assert "Sending certificate" in contexts
    assert contexts["Certificate thumbprint"] == site.webmail
    assert contexts["Certificate subject"].startswith("CN=webmail.contoso.com")
    assert any(c.startswith("TLS protocol TLSv1.") for c in contexts)
    assert rows[0]["event"] == "+" and rows[0]["connector-id"] == "EXCH01\\Default Frontend EXCH01"


def test_a_ca_certificate_for_the_fqdn_beats_the_self_signed_one(
    site: Site, openssl_ca: OpenSslCa, tmp_path: Path
) -> None:
    csr = tmp_path / "exch01.csr"
    site.cli("cert", "request", "--server", "EXCH01", "--subject", "CN=exch01.contoso.com",
             "--out", str(csr))  # fmt: skip
    site.cli("cert", "import", "--server", "EXCH01",
             str(openssl_ca.p7b(openssl_ca.sign(csr, name="exch01"), name="exch01")))  # fmt: skip
    issued = next(
        t
        for t, c in thumbprints(site.cli, "EXCH01").items()
        if c["subject"] == "CN=exch01.contoso.com"
    )
    site.cli("cert", "enable", issued, "--server", "EXCH01", "--services", "SMTP",
             "--keep-default-smtp")  # fmt: skip
    with serving("EXCH01", site.db):
        assert presented_subject(site.client) == "CN = exch01.contoso.com"


def test_an_expired_winner_is_still_used_and_logs_12016(site: Site) -> None:
    # A certificate made and enabled in 2020, for a name only it carries: expired now.
    past = build_app(None, clock=FixedClock(dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    past.certificates.new_self_signed(
        "EXCH01", subject="CN=relay.contoso.com", services=ServiceSet.parse("SMTP"),
        days=30, replace_default_smtp=False,
    )  # fmt: skip
    site.cli("connector", "set", "Client Frontend EXCH01", "--fqdn", "relay.contoso.com")
    with serving("EXCH01", site.db):
        assert presented_subject(site.client) == "CN = relay.contoso.com"
    events = json.loads(site.cli("events", "--server", "EXCH01", "--json").stdout)
    assert [e for e in events if e["id"] == 12016]

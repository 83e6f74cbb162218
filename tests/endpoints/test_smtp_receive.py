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
from typer.testing import CliRunner

from certward.clock import FixedClock
from certward.compose import build_app
from certward.endpoints.mailstore import MailStore
from certward.model import Password, ServiceSet
from tests.conftest import Cli, OpenSslCa, find_openssl
from tests.endpoints.conftest import (
    Served,
    bind,
    copy_store,
    issue,
    make_ca,
    serving,
    store_app,
    wait_until,
)
from tests.ports import free_port

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


@dataclass(frozen=True)
class Template:
    """Contoso with webmail's CA certificate enabled on EXCH01, built once for the module."""

    db: Path
    ca: OpenSslCa
    webmail: str
    own: str


@pytest.fixture(scope="module")
def template(org_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Template:
    directory = tmp_path_factory.mktemp("receive")
    db = copy_store(org_template / "certward.db", directory / "store" / "certward.db")
    ca = make_ca(directory / "ca")
    with store_app(db) as app:
        webmail = issue(app, ca, "EXCH01", SUBJECT, "webmail.contoso.com",
                        "autodiscover.contoso.com", name="webmail")  # fmt: skip
        own = next(c.thumbprint for c in app.certificates.list_certificates("EXCH01")
                   if c.subject == "CN=EXCH01")  # fmt: skip
        app.certificates.enable(
            "EXCH01", webmail, ServiceSet.parse("IIS,SMTP"), replace_default_smtp=False
        )
        app.mail.add_domain("contoso.com")
        app.mail.add_mailbox("alice@contoso.com", server="EXCH01", password=Password(b"secret"))
        for name in ("Outbound Proxy Frontend EXCH01", "Default EXCH01", "Client Proxy EXCH01"):
            app.connectors.remove(name)
    return Template(db, ca, webmail, own)


def _site(template: Template, db: Path, cli: Cli) -> Site:
    """A copy of the template at ``db``, its two connectors bound to fresh ports."""
    copy_store(template.db, db)
    frontend, client = free_port(), free_port()
    with store_app(db) as app:
        bind(app, "Default Frontend EXCH01", frontend, tls_certificate=template.webmail)
        bind(app, "Client Frontend EXCH01", client, require_tls=True)
    return Site(cli, db, template.ca.root_pem, template.webmail, template.own, frontend, client)


@pytest.fixture
def site(template: Template, cli: Cli, isolated_store: Path) -> Site:
    """The template in this test's own store (for tests that change it)."""
    return _site(template, isolated_store, cli)


@pytest.fixture(scope="module")
def shared(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One served copy of the template for the tests that change nothing in the store."""
    db = tmp_path_factory.mktemp("receive-shared") / "store" / "certward.db"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CERTWARD_DB", str(db))
        env.delenv("CERTWARD_MASTER_KEY", raising=False)
        site = _site(template, db, Cli(CliRunner()))
    with serving("EXCH01", db):
        yield site


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


def test_the_connector_tls_certificate_name_picks_the_ca_certificate(shared: Site) -> None:
    assert "CN = webmail.contoso.com" in presented_subject(shared.frontend)


def test_without_a_name_the_server_fqdn_picks_the_self_signed_certificate(shared: Site) -> None:
    # The CA certificate does not carry exch01.contoso.com; the self-signed one does.
    assert presented_subject(shared.client) == "CN = EXCH01"


def test_smtplib_delivers_over_starttls_validating_the_chain(shared: Site) -> None:
    context = ssl.create_default_context(cafile=str(shared.root))
    with smtplib.SMTP("127.0.0.1", shared.frontend, timeout=30) as smtp:
        smtp.ehlo("mail.fabrikam.com")
        assert smtp.has_extn("starttls")
        smtp._host = "webmail.contoso.com"  # the name the certificate must carry
        smtp.starttls(context=context)
        refused = smtp.sendmail(
            "bob@fabrikam.com", ["alice@contoso.com"], b"Subject: seed 002\r\n\r\nhello\r\n"
        )
    assert refused == {}
    messages = MailStore(shared.db.parent / "mail").messages("alice@contoso.com")
    assert len(messages) == 1
    assert b"hello" in messages[0]
    assert b"with TLSv1.3" in messages[0] or b"with TLSv1.2" in messages[0]


def test_require_tls_refuses_mail_before_starttls(shared: Site) -> None:
    with smtplib.SMTP("127.0.0.1", shared.client, timeout=30) as smtp:
        smtp.ehlo("mail.fabrikam.com")
        code, message = smtp.mail("bob@fabrikam.com")
    assert code == 530
    assert message.startswith(b"5.7.0")


def test_unknown_recipients_are_refused(shared: Site) -> None:
    with smtplib.SMTP("127.0.0.1", shared.frontend, timeout=30) as smtp:
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


def test_the_protocol_log_shows_the_certificate_sent(shared: Site) -> None:
    presented_subject(shared.frontend)

    def ended_sessions() -> list[dict[str, str]]:
        rows: list[dict[str, str]] = json.loads(
            shared.cli("log", "show", "--server", "EXCH01", "--connector", "Default Frontend",
                       "--json", "--db", str(shared.db)).stdout
        )  # fmt: skip
        # A session's lines are written when it ends (and once a second while it lasts).
        events = [r["event"] for r in rows]
        return rows if events.count("+") == events.count("-") > 0 else []

    rows = wait_until(ended_sessions, "every session on the log, to its end")
    contexts = {r["context"]: r["data"] for r in rows if r["event"] == "*"}
    assert "Sending certificate" in contexts
    assert contexts["Certificate thumbprint"] == shared.webmail
    assert contexts["Certificate subject"].startswith("CN=webmail.contoso.com")
    assert any(c.startswith("TLS protocol TLSv1.") for c in contexts)
    assert rows[0]["event"] == "+" and rows[0]["connector-id"] == "EXCH01\\Default Frontend EXCH01"


def test_a_ca_certificate_for_the_fqdn_beats_the_self_signed_one(
    site: Site, template: Template
) -> None:
    with store_app(site.db) as app:
        issue(app, template.ca, "EXCH01", "CN=exch01.contoso.com", name="exch01")
        issued = next(
            c.thumbprint
            for c in app.certificates.list_certificates("EXCH01")
            if c.subject == "CN=exch01.contoso.com"
        )
        app.certificates.enable(
            "EXCH01", issued, ServiceSet.parse("SMTP"), replace_default_smtp=False
        )
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

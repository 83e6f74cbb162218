"""IMAP4 and POP3: STARTTLS/STLS and implicit TLS; the mail SMTP delivered can be read."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
from pathlib import Path

from certward.model import Password
from tests.conftest import Cli
from tests.endpoints.conftest import bind, serving, store_app
from tests.ports import free_port


def test_mail_delivered_by_smtp_is_read_over_imap_and_pop3(org: Cli, isolated_store: Path) -> None:
    # EXCH01's self-signed certificate (CN=EXCH01, SAN exch01.contoso.com) is enabled for
    # IMAP and POP by setup, as on Exchange.
    # Through the services: one opening of the store, not a command per step.
    smtp_port = free_port()
    with store_app(isolated_store) as app:
        app.mail.add_domain("contoso.com")
        app.mail.add_mailbox(
            "alice@contoso.com", server="EXCH01", password=Password(b"alice-secret")
        )
        bind(app, "Default Frontend EXCH01", smtp_port)
        for name in ("Client Frontend EXCH01", "Outbound Proxy Frontend EXCH01",
                     "Default EXCH01", "Client Proxy EXCH01"):  # fmt: skip
            app.connectors.remove(name)
    ports = {name: free_port() for name in ("imap", "imaps", "pop3", "pop3s")}
    extra = [a for name, port in ports.items() for a in (f"--{name}-port", str(port))]
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # the self-signed certificate

    with serving("EXCH01", isolated_store, *extra):
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            smtp.starttls(context=tls)
            smtp.sendmail("bob@fabrikam.com", ["alice@contoso.com"],
                          b"Subject: for alice\r\n\r\nread me\r\n")  # fmt: skip

        with imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=30) as imap:
            assert "LOGINDISABLED" in imap.capabilities
            try:
                imap.login("alice@contoso.com", "alice-secret")
                raise AssertionError("LOGIN was accepted before STARTTLS")
            except imaplib.IMAP4.error as refused:
                assert "STARTTLS" in str(refused)
            imap.starttls(ssl_context=tls)
            imap.login("alice@contoso.com", "alice-secret")
            imap.select("INBOX", readonly=True)
            status, data = imap.fetch("1", "(RFC822)")
            assert status == "OK" and b"read me" in data[0][1]

        with imaplib.IMAP4_SSL("127.0.0.1", ports["imaps"], ssl_context=tls, timeout=30) as imap:
            imap.login("alice@contoso.com", "alice-secret")
            assert imap.select("INBOX", readonly=True) == ("OK", [b"1"])

        pop = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
        try:
            assert "STLS" in pop.capa()
            try:
                pop.user("alice@contoso.com")
                raise AssertionError("USER was accepted before STLS")
            except poplib.error_proto as refused:
                assert b"STLS" in refused.args[0]
            pop.stls(context=tls)
            pop.user("alice@contoso.com")
            pop.pass_("alice-secret")
            assert pop.stat()[0] == 1
            assert b"read me" in b"\n".join(pop.retr(1)[1])
        finally:
            pop.quit()

        pops = poplib.POP3_SSL("127.0.0.1", ports["pop3s"], context=tls, timeout=30)
        try:
            pops.user("alice@contoso.com")
            try:
                pops.pass_("wrong")
                raise AssertionError("a wrong password was accepted")
            except poplib.error_proto:
                pass
        finally:
            pops.close()

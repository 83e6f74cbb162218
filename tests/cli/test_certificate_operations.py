"""The Exchange certificate cmdlets as certward commands: new, show, enable, remove, renew.

Seeds 002 and 003: New-ExchangeCertificate (CN added to the SANs, default services
IMAP,POP,SMTP and the default-SMTP question), Get-ExchangeCertificate's fields and its
seven-character services string, Enable-ExchangeCertificate (additive; IIS binds one
certificate), Remove-ExchangeCertificate, and renewal (self-signed -> new certificate with
the same settings and services; CA-issued -> new request with a new key).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certward.clock import FixedClock
from certward.compose import build_app
from certward.interfaces.cli.app import app as app_cli
from certward.model import CertificateRecord, ServiceSet, StoreName, Thumbprint
from certward.pki import ca
from tests.conftest import Cli, error_line, thumbprints

AUTH_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"
SHOW_KEYS = {
    "thumbprint",
    "subject",
    "issuer",
    "certificate_domains",
    "not_before",
    "not_after",
    "services",
    "services_flags",
    "status",
    "is_self_signed",
    "has_private_key",
    "private_key_exportable",
    "public_key_size",
    "signature_algorithm",
    "serial_number",
    "friendly_name",
    "key_provider",
    "is_default_smtp",
}
FLAGS = re.compile(r"[I.][P.][U.][W.][S.][F.][C.]")


# -- fixtures and helpers ---------------------------------------------------------------------


def certs(cli: Cli, server: str = "EXCH01") -> dict[str, dict[str, Any]]:
    return thumbprints(cli, server)


def show(cli: Cli, thumb: str, server: str = "EXCH01") -> dict[str, Any]:
    return cli.json("cert", "show", thumb, "--server", server)


def by_subject(cli: Cli, subject: str, server: str = "EXCH01") -> dict[str, Any]:
    matches = [c for c in certs(cli, server).values() if c["subject"] == subject]
    assert len(matches) == 1, f"{len(matches)} certificates with subject {subject}"
    return matches[0]


def own_cert(cli: Cli, server: str = "EXCH01") -> dict[str, Any]:
    """The self-signed certificate setup made for the server (CN=server)."""
    return by_subject(cli, f"CN={server}", server)


def default_smtp(cli: Cli, server: str = "EXCH01") -> str | None:
    return cli.json("server", "show", server)["default_smtp_thumbprint"]


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1].strip()


def new_cert(cli: Cli, subject: str, *extra: str, server: str = "EXCH01") -> str:
    """`cert new` (1024-bit keys keep the suite fast); returns the new thumbprint."""
    before = set(certs(cli, server))
    cli("cert", "new", "--server", server, "--subject", subject, "--key-size", "1024", *extra)
    (thumb,) = set(certs(cli, server)) - before
    return thumb


def request(cli: Cli, directory: Path, subject: str, *domains: str) -> tuple[str, Path]:
    """`cert request`: returns the pending request's id and the CSR file."""
    out = directory / "request.csr"
    args = [a for d in domains for a in ("--domain", d)]
    result = cli(
        "cert",
        "request",
        "--server",
        "EXCH01",
        "--subject",
        subject,
        *args,
        "--key-size",
        "1024",
        "--exportable",
        "--out",
        str(out),
        "--force",  # one file name for every request of a test
    )
    return result.stdout.split()[0], out


def ca_issued(cli: Cli, authority: ca.Authority, directory: Path) -> str:
    """Request, let the CA sign it, import the reply (PEM): a CA-issued certificate."""
    _, csr_file = request(
        cli,
        directory,
        "c=NL, O=Contoso, CN=webmail.contoso.com",
        "webmail.contoso.com",
        "autodiscover.contoso.com",
    )
    csr = x509.load_pem_x509_csr(csr_file.read_bytes())
    leaf = ca.issue(authority, csr, now=dt.datetime.now(dt.UTC))
    reply = directory / "reply.cer"
    reply.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return last_line(cli("cert", "import", "--server", "EXCH01", str(reply)).stdout)


def iso_utc(value: str) -> dt.datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", value), value
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.utcoffset() == dt.timedelta(0)
    return parsed


def store_snapshot(cli: Cli, db: Path) -> tuple[str, bytes]:
    return cli("inventory", "--json").stdout, db.read_bytes()


# -- cert new ---------------------------------------------------------------------------------


def test_new_without_an_answer_to_the_smtp_question_is_refused_and_stores_nothing(
    contoso: Cli, isolated_store: Path
) -> None:
    """Default services include SMTP; EXCH01 has a default SMTP certificate; no terminal."""
    before = store_snapshot(contoso, isolated_store)

    line = error_line(
        contoso,
        "cert",
        "new",
        "--server",
        "EXCH01",
        "--subject",
        "CN=mail.contoso.com",
        "--key-size",
        "1024",
    )

    assert "--force" in line
    assert "--keep-default-smtp" in line
    assert "default SMTP" in line
    assert store_snapshot(contoso, isolated_store) == before


def test_new_with_keep_default_smtp(contoso: Cli) -> None:
    old_default = default_smtp(contoso)

    thumb = new_cert(
        contoso,
        "CN=mail.contoso.com",
        "--domain",
        "autodiscover.contoso.com",
        "--keep-default-smtp",
    )

    cert = show(contoso, thumb)
    assert cert["services"] == ["IMAP", "POP", "SMTP"]
    assert cert["services_flags"] == "IP..S.."
    assert cert["is_default_smtp"] is False
    assert default_smtp(contoso) == old_default
    assert show(contoso, old_default)["is_default_smtp"] is True
    # The CN is added to the SANs, as Exchange does.
    assert sorted(cert["certificate_domains"]) == ["autodiscover.contoso.com", "mail.contoso.com"]
    assert cert["subject"] == "CN=mail.contoso.com"
    assert cert["is_self_signed"] is True
    assert cert["status"] == "Valid"
    assert cert["has_private_key"] is True
    # New-ExchangeCertificate's defaults: not exportable unless asked.
    assert cert["private_key_exportable"] is False


def test_new_with_force_becomes_the_default_smtp_certificate(contoso: Cli) -> None:
    old_default = default_smtp(contoso)

    thumb = new_cert(contoso, "CN=mail.contoso.com", "--force")

    assert default_smtp(contoso) == thumb
    assert show(contoso, thumb)["is_default_smtp"] is True
    assert show(contoso, thumb)["services_flags"] == "IP..S.."
    assert show(contoso, old_default)["is_default_smtp"] is False


def test_new_without_a_default_smtp_certificate_asks_nothing(contoso: Cli) -> None:
    """Exchange 2007 setup gave this Mailbox server no certificate, so no default SMTP."""
    contoso("server", "add", "MBX07", "--fqdn", "mbx07.contoso.com", "--version", "2007")
    assert default_smtp(contoso, "MBX07") is None

    thumb = new_cert(contoso, "CN=mbx07.contoso.com", server="MBX07")

    assert default_smtp(contoso, "MBX07") == thumb
    assert show(contoso, thumb, "MBX07")["services_flags"] == "IP..S.."


def test_new_default_key_size_is_rsa_2048(contoso: Cli) -> None:
    contoso(
        "cert",
        "new",
        "--server",
        "EXCH01",
        "--subject",
        "CN=mail.contoso.com",
        "--keep-default-smtp",
    )
    cert = by_subject(contoso, "CN=mail.contoso.com")
    assert cert["public_key_size"] == 2048
    assert cert["signature_algorithm"] == "sha256RSA"


def test_new_honours_its_options(contoso: Cli) -> None:
    contoso(
        "cert",
        "new",
        "--server",
        "EXCH01",
        "--subject",
        "CN=web.contoso.com",
        "--services",
        "IIS",
        "--exportable",
        "--key-size",
        "3072",
        "--days",
        "30",
        "--friendly-name",
        "Contoso Web 2026",
    )

    cert = by_subject(contoso, "CN=web.contoso.com")
    assert cert["public_key_size"] == 3072
    assert cert["private_key_exportable"] is True
    assert cert["friendly_name"] == "Contoso Web 2026"
    assert iso_utc(cert["not_after"]) - iso_utc(cert["not_before"]) == dt.timedelta(days=30)
    assert cert["services_flags"] == "...W..."


def test_new_with_the_seed_003_subject_and_names(contoso: Cli) -> None:
    """Seed 003, figure 10: CN webmail.<domain>, SANs the server's host name and FQDN."""
    thumb = new_cert(
        contoso,
        "c=NL, O=Contoso, CN=webmail.proexchange.global",
        "--domain",
        "EXCH01",
        "--domain",
        "exch01.contoso.com",
        "--domain",
        "WEBMAIL.proexchange.global",
        "--services",
        "IIS",
    )

    cert = show(contoso, thumb)
    domains = [d.lower() for d in cert["certificate_domains"]]
    assert sorted(domains) == ["exch01", "exch01.contoso.com", "webmail.proexchange.global"]
    assert cert["subject"].startswith("CN=webmail.proexchange.global")
    assert "O=Contoso" in cert["subject"]


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--services", "IMAP,Telnet", "Telnet"),
        ("--key-size", "1000", "1000"),
        ("--subject", "CN=a, X=b", "X"),
    ],
)
def test_new_with_bad_input_is_refused_and_stores_nothing(
    contoso: Cli, isolated_store: Path, option: str, value: str, named: str
) -> None:
    args = {"--services": "IIS", "--key-size": "1024", "--subject": "CN=mail.contoso.com"}
    args[option] = value
    before = store_snapshot(contoso, isolated_store)

    line = error_line(
        contoso,
        "cert",
        "new",
        "--server",
        "EXCH01",
        *[part for pair in args.items() for part in pair],
    )

    assert named in line
    assert store_snapshot(contoso, isolated_store) == before


# -- cert show --------------------------------------------------------------------------------


def assert_show_fields(cert: dict[str, Any]) -> None:
    assert set(cert) >= SHOW_KEYS, SHOW_KEYS - set(cert)
    assert re.fullmatch(r"[0-9A-F]{40}", cert["thumbprint"])
    for key in ("subject", "issuer", "signature_algorithm", "serial_number", "friendly_name"):
        assert isinstance(cert[key], str), key
    assert isinstance(cert["certificate_domains"], list)
    assert all(isinstance(d, str) for d in cert["certificate_domains"])
    assert isinstance(cert["services"], list)
    assert FLAGS.fullmatch(cert["services_flags"]), cert["services_flags"]
    assert cert["status"] in {"Valid", "Untrusted", "DateInvalid", "Invalid", "PendingRequest"}
    for key in ("is_self_signed", "has_private_key", "private_key_exportable", "is_default_smtp"):
        assert isinstance(cert[key], bool), key
    assert isinstance(cert["public_key_size"], int)
    assert not isinstance(cert["public_key_size"], bool)
    assert cert["key_provider"] is None or isinstance(cert["key_provider"], str)
    if cert["status"] == "PendingRequest":
        return  # a request has no validity period yet
    assert iso_utc(cert["not_before"]) < iso_utc(cert["not_after"])
    assert re.fullmatch(r"[0-9A-Fa-f]+", cert["serial_number"])


def test_show_json_has_every_field_with_its_type(
    contoso: Cli, authority: ca.Authority, tmp_path: Path
) -> None:
    issued = ca_issued(contoso, authority, tmp_path)
    pending, _ = request(contoso, tmp_path, "CN=pending.contoso.com")

    listed = certs(contoso)
    assert {issued, pending, own_cert(contoso)["thumbprint"]} <= set(listed)
    for thumb, entry in listed.items():
        cert = show(contoso, thumb)
        assert_show_fields(cert)
        # `cert list --json` prints the same objects as `cert show --json`.
        assert entry == cert

    own = own_cert(contoso)
    assert own["public_key_size"] == 2048
    assert own["not_after"] == show(contoso, own["thumbprint"])["not_after"]
    ca_cert = show(contoso, issued)
    assert ca_cert["is_self_signed"] is False
    assert ca_cert["issuer"].startswith("CN=Fabrikam Test Issuing CA")
    assert ca_cert["has_private_key"] is True
    assert ca_cert["private_key_exportable"] is True
    assert ca_cert["status"] == "Untrusted"  # the root is not in EXCH01's Root store
    assert show(contoso, pending)["status"] == "PendingRequest"


def test_show_dates_match_the_certificate(
    contoso: Cli, authority: ca.Authority, tmp_path: Path
) -> None:
    issued = ca_issued(contoso, authority, tmp_path)
    leaf = x509.load_pem_x509_certificate((tmp_path / "reply.cer").read_bytes())

    cert = show(contoso, issued)

    assert iso_utc(cert["not_before"]) == leaf.not_valid_before_utc
    assert iso_utc(cert["not_after"]) == leaf.not_valid_after_utc
    assert int(cert["serial_number"], 16) == leaf.serial_number
    assert cert["thumbprint"] == leaf.fingerprint(hashes.SHA1()).hex().upper()


def test_show_text_is_a_format_list(contoso: Cli) -> None:
    own = own_cert(contoso)
    out = contoso("cert", "show", own["thumbprint"], "--server", "EXCH01").stdout
    assert own["thumbprint"] in out
    assert "IP.WS.." in out
    assert "CN=EXCH01" in out


def test_show_accepts_a_lower_case_thumbprint(contoso: Cli) -> None:
    own = own_cert(contoso)
    assert show(contoso, own["thumbprint"].lower())["thumbprint"] == own["thumbprint"]


# -- cert enable ------------------------------------------------------------------------------


def test_services_flags_are_seven_characters_in_exchange_order(contoso: Cli) -> None:
    """Enabling one service at a time: additive, and each letter has its own position."""
    thumb = new_cert(contoso, "CN=all.contoso.com", "--services", "None")
    assert show(contoso, thumb)["services_flags"] == "......."

    steps = [
        ("IMAP", "I......"),
        ("POP", "IP....."),
        ("UM", "IPU...."),
        ("IIS", "IPUW..."),
        ("SMTP", "IPUWS.."),
        ("Federation", "IPUWSF."),
        ("UMCallRouter", "IPUWSFC"),
    ]
    for service, flags in steps:
        contoso(
            "cert",
            "enable",
            thumb,
            "--server",
            "EXCH01",
            "--services",
            service,
            "--keep-default-smtp",
        )
        assert show(contoso, thumb)["services_flags"] == flags, service

    assert show(contoso, thumb)["services"] == [
        "IMAP",
        "POP",
        "UM",
        "IIS",
        "SMTP",
        "Federation",
        "UMCallRouter",
    ]


def test_services_flags_order_does_not_depend_on_the_order_given(contoso: Cli) -> None:
    thumb = new_cert(
        contoso,
        "CN=mix.contoso.com",
        "--services",
        "umcallrouter,smtp,Federation,IIS,POP",
        "--keep-default-smtp",
    )
    assert show(contoso, thumb)["services_flags"] == ".P.WSFC"


def test_enable_adds_services(contoso: Cli) -> None:
    thumb = new_cert(contoso, "CN=mail.contoso.com", "--services", "POP")

    contoso("cert", "enable", thumb, "--server", "EXCH01", "--services", "IMAP")

    assert show(contoso, thumb)["services"] == ["IMAP", "POP"]


def test_enable_iis_moves_the_binding(contoso: Cli) -> None:
    own = own_cert(contoso)
    assert own["services_flags"] == "IP.WS.."
    thumb = new_cert(contoso, "CN=mail.contoso.com", "--services", "None")

    out = contoso("cert", "enable", thumb, "--server", "EXCH01", "--services", "IIS").stdout

    assert show(contoso, thumb)["services_flags"] == "...W..."
    # A web site binds one certificate: the old one loses its W, keeps the rest.
    assert show(contoso, own["thumbprint"])["services_flags"] == "IP..S.."
    assert own["thumbprint"] in out
    iis = [c for c in certs(contoso).values() if "IIS" in c["services"]]
    assert [c["thumbprint"] for c in iis] == [thumb]
    # Other servers are not affected.
    assert own_cert(contoso, "EXCH02")["services_flags"] == "IP.WS.."


def test_enable_smtp_asks_about_the_default_and_refuses_without_an_answer(
    contoso: Cli, isolated_store: Path
) -> None:
    thumb = new_cert(contoso, "CN=mail.contoso.com", "--services", "None")
    before = store_snapshot(contoso, isolated_store)

    line = error_line(
        contoso, "cert", "enable", thumb, "--server", "EXCH01", "--services", "IIS,SMTP"
    )

    assert "--force" in line
    assert "--keep-default-smtp" in line
    assert thumb in line
    assert store_snapshot(contoso, isolated_store) == before


def test_enable_smtp_keeping_the_default(contoso: Cli) -> None:
    """Seed 002's choice: answer No; the certificate still gets SMTP."""
    old_default = default_smtp(contoso)
    thumb = new_cert(contoso, "CN=mail.contoso.com", "--services", "None")

    contoso(
        "cert",
        "enable",
        thumb,
        "--server",
        "EXCH01",
        "--services",
        "IIS,SMTP",
        "--keep-default-smtp",
    )

    assert show(contoso, thumb)["services_flags"] == "...WS.."
    assert show(contoso, thumb)["is_default_smtp"] is False
    assert default_smtp(contoso) == old_default


def test_enable_smtp_replacing_the_default(contoso: Cli) -> None:
    old_default = default_smtp(contoso)
    thumb = new_cert(contoso, "CN=mail.contoso.com", "--services", "None")

    contoso("cert", "enable", thumb, "--server", "EXCH01", "--services", "SMTP", "--force")

    assert default_smtp(contoso) == thumb
    assert show(contoso, thumb)["is_default_smtp"] is True
    assert show(contoso, old_default)["is_default_smtp"] is False


def test_enable_none_changes_nothing(contoso: Cli) -> None:
    own = own_cert(contoso)
    contoso("cert", "enable", own["thumbprint"], "--server", "EXCH01", "--services", "None")
    assert show(contoso, own["thumbprint"]) == own


def test_enable_an_unknown_service_is_refused(contoso: Cli, isolated_store: Path) -> None:
    own = own_cert(contoso)
    before = store_snapshot(contoso, isolated_store)

    line = error_line(
        contoso,
        "cert",
        "enable",
        own["thumbprint"],
        "--server",
        "EXCH01",
        "--services",
        "IIS,Gopher",
    )

    assert "Gopher" in line
    assert store_snapshot(contoso, isolated_store) == before


def test_a_pending_request_cannot_be_enabled(
    contoso: Cli, tmp_path: Path, isolated_store: Path
) -> None:
    pending, _ = request(contoso, tmp_path, "CN=webmail.contoso.com")
    before = store_snapshot(contoso, isolated_store)

    line = error_line(contoso, "cert", "enable", pending, "--server", "EXCH01", "--services", "IIS")

    assert pending in line
    assert "pending request" in line
    assert store_snapshot(contoso, isolated_store) == before


def test_an_expired_certificate_cannot_be_enabled(contoso: Cli, isolated_store: Path) -> None:
    """Made in 2020 for one day through the service layer with a fixed clock."""
    app = build_app(str(isolated_store), clock=FixedClock(dt.datetime(2020, 3, 1, tzinfo=dt.UTC)))
    made = app.certificates.new_self_signed(
        "EXCH01", subject="CN=old.contoso.com", services=ServiceSet(), days=1, key_size=1024
    )
    app.store.close()
    thumb = made.view.thumbprint
    assert show(contoso, thumb)["status"] == "DateInvalid"
    before = store_snapshot(contoso, isolated_store)

    line = error_line(contoso, "cert", "enable", thumb, "--server", "EXCH01", "--services", "IIS")

    assert thumb in line
    assert "expired" in line
    assert store_snapshot(contoso, isolated_store) == before
    assert own_cert(contoso)["services_flags"] == "IP.WS.."


def partner_certificate() -> x509.Certificate:
    """Someone else's certificate (no request of ours, no key of ours); EC keeps it fast."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "partner.fabrikam.com")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("partner.fabrikam.com")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def test_a_certificate_without_private_key_cannot_be_enabled(
    contoso: Cli, isolated_store: Path
) -> None:
    """The CLI may not even let such a certificate in (see the next test), so it is put in
    the My store through the storage layer, as an older import could have left it."""
    cert = partner_certificate()
    thumb = cert.fingerprint(hashes.SHA1()).hex().upper()
    app = build_app(str(isolated_store))
    with app.store.transaction() as repo:
        repo.add_certificate(
            CertificateRecord(
                server="EXCH01",
                store=StoreName.MY,
                thumbprint=Thumbprint(thumb),
                der=cert.public_bytes(serialization.Encoding.DER),
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    app.store.close()
    assert show(contoso, thumb)["has_private_key"] is False
    before = store_snapshot(contoso, isolated_store)

    line = error_line(contoso, "cert", "enable", thumb, "--server", "EXCH01", "--services", "IIS")

    assert thumb in line
    assert "private key" in line
    assert store_snapshot(contoso, isolated_store) == before


def test_importing_a_certificate_that_answers_no_request(
    contoso: Cli, tmp_path: Path, isolated_store: Path
) -> None:
    """Either refused cleanly, or stored without a key and then not enableable."""
    cert = partner_certificate()
    thumb = cert.fingerprint(hashes.SHA1()).hex().upper()
    path = tmp_path / "partner.cer"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    before = store_snapshot(contoso, isolated_store)

    imported = contoso.runner.invoke(app_cli, ["cert", "import", "--server", "EXCH01", str(path)])

    assert imported.exception is None or isinstance(imported.exception, SystemExit)
    if imported.exit_code != 0:
        lines = imported.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), imported.stderr
        assert "partner.cer" in lines[0]
        assert "private key" in lines[0]
        assert store_snapshot(contoso, isolated_store) == before
    else:
        assert last_line(imported.stdout) == thumb
        assert show(contoso, thumb)["has_private_key"] is False
        line = error_line(
            contoso, "cert", "enable", thumb, "--server", "EXCH01", "--services", "SMTP"
        )
        assert "private key" in line


def test_enable_a_certificate_of_another_server_is_refused(contoso: Cli) -> None:
    other = own_cert(contoso, "EXCH02")["thumbprint"]
    line = error_line(contoso, "cert", "enable", other, "--server", "EXCH01", "--services", "IIS")
    assert other in line


# -- cert remove ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("which", "reason"),
    [("own", "default SMTP"), ("auth", "auth certificate"), ("iis", "IIS")],
)
def test_remove_in_use_is_refused_without_force(
    contoso: Cli, isolated_store: Path, which: str, reason: str
) -> None:
    thumb = {
        "own": lambda: own_cert(contoso)["thumbprint"],
        "auth": lambda: by_subject(contoso, AUTH_SUBJECT)["thumbprint"],
        "iis": lambda: new_cert(contoso, "CN=web.contoso.com", "--services", "IIS"),
    }[which]()
    before = store_snapshot(contoso, isolated_store)

    line = error_line(contoso, "cert", "remove", thumb, "--server", "EXCH01")

    assert thumb in line
    assert reason in line
    assert "--force" in line
    assert store_snapshot(contoso, isolated_store) == before


def test_the_default_smtp_certificate_is_never_removed_even_with_force(contoso: Cli) -> None:
    # Exchange refuses to remove the internal transport certificate (issue 3): another
    # certificate must become the default first.
    own = own_cert(contoso)["thumbprint"]

    line = error_line(contoso, "cert", "remove", own, "--server", "EXCH01", "--force")

    assert "internal transport (default SMTP) certificate" in line
    assert own in certs(contoso)
    assert default_smtp(contoso) == own


def test_the_old_default_can_go_once_another_certificate_is_the_default(contoso: Cli) -> None:
    own = own_cert(contoso)["thumbprint"]
    replacement = new_cert(contoso, "CN=smtp.contoso.com", "--services", "SMTP", "--force")
    assert default_smtp(contoso) == replacement

    contoso("cert", "remove", own, "--server", "EXCH01", "--force")

    assert own not in certs(contoso)
    assert default_smtp(contoso) == replacement


def test_remove_auth_certificate_with_force_only_on_that_server(contoso: Cli) -> None:
    auth = by_subject(contoso, AUTH_SUBJECT)["thumbprint"]

    contoso("cert", "remove", auth, "--server", "EXCH01", "--force")

    assert auth not in certs(contoso, "EXCH01")
    assert auth in certs(contoso, "EXCH02")


def test_remove_an_unused_certificate_without_force(contoso: Cli) -> None:
    before = set(certs(contoso))
    thumb = new_cert(contoso, "CN=spare.contoso.com", "--services", "None")

    out = contoso("cert", "remove", thumb, "--server", "EXCH01").stdout

    assert thumb in out
    assert set(certs(contoso)) == before


def test_remove_a_pending_request_without_force(contoso: Cli, tmp_path: Path) -> None:
    before = set(certs(contoso))
    pending, _ = request(contoso, tmp_path, "CN=webmail.contoso.com")

    contoso("cert", "remove", pending, "--server", "EXCH01")

    assert set(certs(contoso)) == before


# -- cert renew -------------------------------------------------------------------------------


def test_renew_self_signed_default_certificate(contoso: Cli) -> None:
    """Seed 003, figure 8: same settings, enabled for the same services by default."""
    old = own_cert(contoso)

    out = contoso("cert", "renew", old["thumbprint"], "--server", "EXCH01").stdout
    new_thumb = last_line(out)

    assert new_thumb != old["thumbprint"]
    new = show(contoso, new_thumb)
    assert new["subject"] == old["subject"] == "CN=EXCH01"
    assert new["certificate_domains"] == old["certificate_domains"]
    assert new["services"] == old["services"]
    assert new["services_flags"] == "IP.WS.."
    assert new["public_key_size"] == old["public_key_size"]
    assert new["is_self_signed"] is True
    assert new["status"] == "Valid"
    assert new["serial_number"] != old["serial_number"]
    # Same lifetime (five years), starting now.
    assert iso_utc(new["not_after"]) - iso_utc(new["not_before"]) == iso_utc(
        old["not_after"]
    ) - iso_utc(old["not_before"])
    assert iso_utc(new["not_before"]) >= iso_utc(old["not_before"])
    # The default SMTP role moves with the renewal; IIS binds the new certificate.
    assert new["is_default_smtp"] is True
    assert default_smtp(contoso) == new_thumb
    former = show(contoso, old["thumbprint"])
    assert former["is_default_smtp"] is False
    assert "IIS" not in former["services"]


def test_renew_self_signed_keeps_someone_elses_default(contoso: Cli) -> None:
    thumb = new_cert(
        contoso,
        "CN=mail.contoso.com",
        "--domain",
        "smtp.contoso.com",
        "--keep-default-smtp",
        "--exportable",
        "--days",
        "90",
        "--friendly-name",
        "Mail",
    )
    old_default = default_smtp(contoso)
    old = show(contoso, thumb)

    new_thumb = last_line(contoso("cert", "renew", thumb, "--server", "EXCH01").stdout)

    new = show(contoso, new_thumb)
    assert new["services_flags"] == "IP..S.."
    assert new["certificate_domains"] == old["certificate_domains"]
    assert new["public_key_size"] == 1024
    assert new["private_key_exportable"] is True
    assert new["friendly_name"] == "Mail"
    assert iso_utc(new["not_after"]) - iso_utc(new["not_before"]) == dt.timedelta(days=90)
    assert default_smtp(contoso) == old_default
    assert new["is_default_smtp"] is False


def test_renew_ca_issued_certificate_needs_out(
    contoso: Cli, authority: ca.Authority, tmp_path: Path, isolated_store: Path
) -> None:
    issued = ca_issued(contoso, authority, tmp_path)
    before = store_snapshot(contoso, isolated_store)

    line = error_line(contoso, "cert", "renew", issued, "--server", "EXCH01")

    assert "--out" in line
    assert store_snapshot(contoso, isolated_store) == before


def test_renew_ca_issued_certificate_makes_a_new_request(
    contoso: Cli, authority: ca.Authority, tmp_path: Path
) -> None:
    issued = ca_issued(contoso, authority, tmp_path)
    old = show(contoso, issued)
    leaf = x509.load_pem_x509_certificate((tmp_path / "reply.cer").read_bytes())
    out = tmp_path / "renewal.csr"

    new_id = last_line(
        contoso("cert", "renew", issued, "--server", "EXCH01", "--out", str(out)).stdout
    )

    pending = show(contoso, new_id)
    assert pending["status"] == "PendingRequest"
    assert pending["subject"] == old["subject"]
    assert pending["certificate_domains"] == old["certificate_domains"]
    assert pending["has_private_key"] is True
    # The request on disk: same subject (same order) and SANs, a new key, a valid signature.
    csr = x509.load_pem_x509_csr(out.read_bytes())
    assert csr.is_signature_valid
    assert csr.subject == leaf.subject
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        "webmail.contoso.com",
        "autodiscover.contoso.com",
    ]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    assert csr.public_key().public_bytes(der, spki) != leaf.public_key().public_bytes(der, spki)
    # The old certificate stays until the new one is installed.
    assert show(contoso, issued)["status"] == old["status"]


def test_renew_a_pending_request_is_refused(contoso: Cli, tmp_path: Path) -> None:
    pending, _ = request(contoso, tmp_path, "CN=webmail.contoso.com")
    line = error_line(contoso, "cert", "renew", pending, "--server", "EXCH01")
    assert pending in line

"""`certward org init` and `certward server add|list|show`.

The organisation's OAuth auth certificate (seed 002: on every Exchange server, the same
certificate, enabled for SMTP, five years) and the self-signed certificate Exchange setup
creates for each server (seed 003: CN=host, SANs host and FQDN, IIS/SMTP/POP/IMAP, one year
on Exchange 2007, five years later; seed 002: `IP.WS..` in Get-ExchangeCertificate).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.conftest import Cli, error_line, thumbprints

AUTH_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"


def iso(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.utcoffset() == dt.timedelta(0), f"{value} is not UTC"
    return parsed


def lifetime_days(cert: dict[str, Any]) -> int:
    return (iso(cert["not_after"]) - iso(cert["not_before"])).days


def by_subject(cli: Cli, server: str) -> dict[str, dict[str, Any]]:
    return {c["subject"]: c for c in thumbprints(cli, server).values()}


def auth_thumbprint(cli: Cli) -> str:
    return cli.json("org", "show")["auth_thumbprint"]


# -- org init ------------------------------------------------------------------------------


def test_org_init_creates_the_auth_certificate_like_exchange(org: Cli) -> None:
    auth = org.json("cert", "show", auth_thumbprint(org), "--server", "EXCH01")

    assert auth["subject"] == AUTH_SUBJECT
    assert auth["issuer"] == AUTH_SUBJECT
    assert auth["is_self_signed"] is True
    assert auth["status"] == "Valid"
    assert auth["services"] == ["SMTP"]
    assert auth["services_flags"] == "....S.."
    assert auth["public_key_size"] == 2048
    assert auth["signature_algorithm"] == "sha256RSA"
    assert auth["has_private_key"] is True
    # Five years: 1826 or 1827 days depending on leap years.
    assert 5 * 365 <= lifetime_days(auth) <= 5 * 366
    assert iso(auth["not_before"]) <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    # The seed's Get-ExchangeCertificate table: the auth certificate is not the server's
    # default SMTP certificate (the server's own self-signed one is).
    assert auth["is_default_smtp"] is False


def test_auth_certificate_is_a_real_rsa2048_sha256_certificate(
    org: Cli, tmp_path: Path, password_file: Path
) -> None:
    """Cross-check the JSON against the certificate itself, exported as a PFX."""
    thumb = auth_thumbprint(org)
    pfx = tmp_path / "auth.pfx"
    org(
        "cert",
        "export",
        thumb,
        "--server",
        "EXCH01",
        "--out",
        str(pfx),
        "--password-file",
        str(password_file),
    )

    key, cert, _ = pkcs12.load_key_and_certificates(pfx.read_bytes(), b"Pa55word!")
    assert cert is not None
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert cert.subject.rfc4514_string() == AUTH_SUBJECT
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    # The thumbprint is the SHA-1 of the DER, upper-case hex.
    der = cert.public_bytes(serialization.Encoding.DER)
    assert hashlib.sha1(der).hexdigest().upper() == thumb
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 5 * 365


def test_auth_certificate_is_published_on_every_server_with_one_thumbprint(cli: Cli) -> None:
    cli("org", "init", "Contoso")
    thumb = auth_thumbprint(cli)
    cli("server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")
    cli("server", "add", "EXCH02", "--fqdn", "exch02.contoso.com")
    # A server added after other certificates exist still gets the same certificate.
    cli(
        "cert",
        "new",
        "--server",
        "EXCH01",
        "--subject",
        "CN=mail.contoso.com",
        "--services",
        "IIS",
        "--key-size",
        "1024",
    )
    cli("server", "add", "EXCH03", "--fqdn", "exch03.contoso.com", "--role", "ClientAccess")

    for server in ("EXCH01", "EXCH02", "EXCH03"):
        auth = by_subject(cli, server)[AUTH_SUBJECT]
        assert auth["thumbprint"] == thumb, server
        assert auth["services_flags"] == "....S..", server
        assert auth["has_private_key"] is True, server
    # Exactly one auth certificate per server.
    for server in ("EXCH01", "EXCH02", "EXCH03"):
        subjects = [c["subject"] for c in cli.json("cert", "list", "--server", server)]
        assert subjects.count(AUTH_SUBJECT) == 1


def test_org_init_prints_the_auth_thumbprint(cli: Cli) -> None:
    out = cli("org", "init", "Contoso").stdout
    shown = cli.json("org", "show")
    assert shown["name"] == "Contoso"
    assert len(shown["auth_thumbprint"]) == 40
    assert shown["auth_thumbprint"] in out


def test_org_init_twice_is_refused_and_keeps_the_first_organisation(org: Cli) -> None:
    before = org.json("org", "show")

    line = error_line(org, "org", "init", "Fabrikam")

    assert "Contoso" in line
    assert "already exists" in line
    assert org.json("org", "show") == before
    auth = [
        c for c in org.json("cert", "list", "--server", "EXCH01") if c["subject"] == AUTH_SUBJECT
    ]
    assert [c["thumbprint"] for c in auth] == [before["auth_thumbprint"]]


def test_server_add_before_org_init_is_refused(cli: Cli) -> None:
    line = error_line(cli, "server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")

    assert "org init" in line
    assert cli.json("server", "list") == []


# -- server add ------------------------------------------------------------------------------


def test_server_add_creates_the_setup_self_signed_certificate(org: Cli) -> None:
    server = org.json("server", "show", "EXCH01")
    own = by_subject(org, "EXCH01")["CN=EXCH01"]

    assert own["issuer"] == "CN=EXCH01"
    assert own["is_self_signed"] is True
    assert own["status"] == "Valid"
    assert sorted(own["certificate_domains"]) == ["EXCH01", "exch01.contoso.com"]
    assert own["services"] == ["IMAP", "POP", "IIS", "SMTP"]
    assert own["services_flags"] == "IP.WS.."
    assert own["public_key_size"] == 2048
    assert own["signature_algorithm"] == "sha256RSA"
    assert own["has_private_key"] is True
    assert 5 * 365 <= lifetime_days(own) <= 5 * 366
    assert own["is_default_smtp"] is True
    assert server["default_smtp_thumbprint"] == own["thumbprint"]


def test_server_add_prints_the_self_signed_thumbprint(cli: Cli) -> None:
    cli("org", "init", "Contoso")
    out = cli("server", "add", "EXCH01", "--fqdn", "exch01.contoso.com").stdout
    own = by_subject(cli, "EXCH01")["CN=EXCH01"]
    assert own["thumbprint"] in out


def test_each_server_gets_its_own_self_signed_certificate(org: Cli) -> None:
    one = by_subject(org, "EXCH01")
    two = by_subject(org, "EXCH02")
    assert "CN=EXCH02" not in one
    assert "CN=EXCH01" not in two
    assert sorted(two["CN=EXCH02"]["certificate_domains"]) == ["EXCH02", "exch02.contoso.com"]
    assert one["CN=EXCH01"]["thumbprint"] != two["CN=EXCH02"]["thumbprint"]


@pytest.mark.parametrize(
    ("version", "years"),
    [("2007", 1), ("2010", 5), ("2013", 5), ("2016", 5), ("2019", 5)],
)
def test_self_signed_lifetime_depends_on_the_exchange_version(
    cli: Cli, version: str, years: int
) -> None:
    cli("org", "init", "Contoso")
    # ClientAccess: on Exchange 2007 setup makes no certificate for a Mailbox-only server.
    cli(
        "server",
        "add",
        "CAS01",
        "--fqdn",
        "cas01.contoso.com",
        "--role",
        "ClientAccess",
        "--version",
        version,
    )

    own = by_subject(cli, "CAS01")["CN=CAS01"]
    assert cli.json("server", "show", "CAS01")["version"] == int(version)
    assert years * 365 <= lifetime_days(own) <= years * 366
    assert own["services_flags"] == "IP.WS.."
    assert own["is_default_smtp"] is True


def test_exchange_2007_mailbox_only_server_gets_no_self_signed_certificate(cli: Cli) -> None:
    """Seed 003: "any Exchange 2007 Server role, except for the Mailbox Server role"."""
    cli("org", "init", "Contoso")
    cli("server", "add", "MBX01", "--fqdn", "mbx01.contoso.com", "--version", "2007")

    subjects = set(by_subject(cli, "MBX01"))
    assert subjects == {AUTH_SUBJECT}
    assert cli.json("server", "show", "MBX01")["default_smtp_thumbprint"] is None


def test_edge_transport_certificate_is_for_smtp_only(cli: Cli) -> None:
    cli("org", "init", "Contoso")
    cli("server", "add", "EDGE01", "--fqdn", "edge01.contoso.com", "--role", "EdgeTransport")

    own = by_subject(cli, "EDGE01")["CN=EDGE01"]
    assert own["services"] == ["SMTP"]
    assert own["services_flags"] == "....S.."
    assert own["is_default_smtp"] is True
    assert sorted(own["certificate_domains"]) == ["EDGE01", "edge01.contoso.com"]
    assert cli.json("server", "show", "EDGE01")["roles"] == ["EdgeTransport"]


@pytest.mark.parametrize("name", ["EXCH01", "exch01"])
def test_duplicate_server_is_refused(org: Cli, name: str) -> None:
    before = org.json("server", "list")
    certs_before = thumbprints(org, "EXCH01")

    line = error_line(org, "server", "add", name, "--fqdn", "other.contoso.com")

    assert "EXCH01" in line
    assert "already exists" in line
    assert org.json("server", "list") == before
    assert thumbprints(org, "EXCH01") == certs_before


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--fqdn", "exch03.contoso.com", "--role", "Janitor"], "Janitor"),
        (["--fqdn", "exch03.contoso.com", "--version", "2003"], "2003"),
        (["--fqdn", "exch03.contoso.com", "--version", "latest"], "latest"),
        (["--fqdn", "not a host name"], "not a host name"),
        (["--fqdn", "-bad-.contoso.com"], "-bad-.contoso.com"),
        (["--fqdn", "exch03..contoso.com"], "exch03..contoso.com"),
    ],
)
def test_bad_role_version_or_fqdn_is_refused(org: Cli, args: list[str], named: str) -> None:
    before = org.json("server", "list")

    line = error_line(org, "server", "add", "EXCH03", *args)

    assert named in line
    assert org.json("server", "list") == before


def test_server_list_json(org: Cli) -> None:
    org("server", "add", "EDGE01", "--fqdn", "edge01.contoso.com", "--role", "EdgeTransport")

    servers = {s["name"]: s for s in org.json("server", "list")}

    assert set(servers) == {"EXCH01", "EXCH02", "EDGE01"}
    exch01 = servers["EXCH01"]
    assert set(exch01) >= {"name", "fqdn", "roles", "version", "default_smtp_thumbprint"}
    assert exch01["fqdn"] == "exch01.contoso.com"
    assert exch01["roles"] == ["Mailbox"]
    assert exch01["version"] == 2019
    assert exch01["default_smtp_thumbprint"] == by_subject(org, "EXCH01")["CN=EXCH01"]["thumbprint"]
    assert servers["EDGE01"]["roles"] == ["EdgeTransport"]
    # The count is that of the server's My store: its own certificate and the auth
    # certificate, which an Edge (outside Active Directory) does not get.
    for name, server in servers.items():
        expected = 1 if name == "EDGE01" else 2
        assert server["certificate_count"] == len(thumbprints(org, name)) == expected, name


def test_server_list_table(org: Cli) -> None:
    out = org("server", "list").stdout
    assert "EXCH01" in out
    assert "exch02.contoso.com" in out
    assert "Mailbox" in out


def test_cert_list_is_get_exchangecertificate_table(org: Cli) -> None:
    """Seed 002's table: Thumbprint, Services, Subject; one row per certificate."""
    out = org("cert", "list", "--server", "EXCH01").stdout
    header = out.splitlines()[0]
    assert header.index("Thumbprint") < header.index("Services") < header.index("Subject")

    own = by_subject(org, "EXCH01")["CN=EXCH01"]
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "IP.WS.." in rows[own["thumbprint"]]
    assert rows[own["thumbprint"]].rstrip().endswith("CN=EXCH01")
    assert "....S.." in rows[auth_thumbprint(org)]
    assert AUTH_SUBJECT in rows[auth_thumbprint(org)]


def test_cert_list_of_an_unknown_server_is_refused(org: Cli) -> None:
    line = error_line(org, "cert", "list", "--server", "EXCH09")
    assert "EXCH09" in line


def test_auth_certificate_carries_the_org_domain_as_san(
    org: Cli, tmp_path: Path, password_file: Path
) -> None:
    """`org init --domain contoso.com` writes the domain into the auth certificate."""
    pfx = tmp_path / "auth.pfx"
    org(
        "cert",
        "export",
        auth_thumbprint(org),
        "--server",
        "EXCH02",
        "--out",
        str(pfx),
        "--password-file",
        str(password_file),
    )
    _, cert, _ = pkcs12.load_key_and_certificates(pfx.read_bytes(), b"Pa55word!")
    assert cert is not None
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["contoso.com"]

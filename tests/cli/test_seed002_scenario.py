"""Seed 002 end to end through the CLI.

EXCH01 requests webmail.p365labs.com, a CA (made with ``openssl``) answers with a .p7b, the
reply is imported on EXCH01 and enabled for IIS,SMTP while the self-signed certificate stays
the default SMTP certificate (the seed author answers 'No'), the certificate is exported to a
PFX, imported on EXCH02 and enabled there.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from typer.testing import Result

from tests.conftest import Cli, OpenSslCa, openssl, thumbprints

SUBJECT = "c=NL, S=Noord-Holland, L=Amsterdam, O=Contoso, OU=RND, CN=webmail.p365labs.com"
DOMAINS = ("webmail.p365labs.com", "Autodiscover.p365labs.com")
EXCHANGE_SUBJECT = "CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL"
AUTH_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"
# The keys of ``cert show --json`` that issue 2 lists.
SHOW_KEYS = {
    "thumbprint", "subject", "issuer", "certificate_domains", "not_before", "not_after",
    "services", "services_flags", "status", "is_self_signed", "has_private_key",
    "private_key_exportable", "public_key_size", "signature_algorithm", "serial_number",
    "friendly_name", "key_provider", "is_default_smtp",
}  # fmt: skip


# -- helpers ---------------------------------------------------------------------------------
def last_line(result: Result) -> str:
    return result.stdout.strip().splitlines()[-1].strip()


def by_subject(cli: Cli, server: str) -> dict[str, dict[str, Any]]:
    return {c["subject"]: c for c in thumbprints(cli, server).values()}


def show(cli: Cli, thumbprint: str, server: str) -> dict[str, Any]:
    return cli.json("cert", "show", thumbprint, "--server", server)


def default_smtp(cli: Cli, server: str) -> str | None:
    return cli.json("server", "show", server)["default_smtp_thumbprint"]


def openssl_field(pem: Path, *options: str) -> str:
    """``openssl x509 -noout -enddate`` and the like: the value after ``=``."""
    return openssl("x509", "-in", str(pem), "-noout", *options).strip().split("=", 1)[1]


def openssl_date(pem: Path, option: str) -> str:
    """openssl's ``Nov  5 03:49:22 2027 GMT`` as ISO 8601 UTC (``2027-11-05T03:49:22Z``)."""
    value = " ".join(openssl_field(pem, option).split())
    parsed = dt.datetime.strptime(value, "%b %d %H:%M:%S %Y GMT")
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def request_and_import_reply(cli: Cli, ca: OpenSslCa, tmp_path: Path) -> tuple[str, Path]:
    """Steps 1-3 of the seed on EXCH01: request, CA reply as .p7b, import. Returns the new
    certificate's thumbprint and the CA-issued certificate (PEM)."""
    csr = tmp_path / "SSL-Request.req"
    args = ["cert", "request", "--server", "EXCH01", "--subject", SUBJECT, "--exportable"]
    for domain in DOMAINS:
        args += ["--domain", domain]
    request_id = cli(*args, "--out", str(csr)).stdout.split()[0]
    assert thumbprints(cli, "EXCH01")[request_id]["status"] == "PendingRequest"

    leaf = ca.sign(csr, name="webmail_p365labs_com")
    p7b = ca.p7b(leaf, name="webmail_p365labs_com")
    thumbprint = last_line(cli("cert", "import", "--server", "EXCH01", str(p7b)))

    assert request_id not in thumbprints(cli, "EXCH01")
    assert openssl_field(leaf, "-fingerprint", "-sha1").replace(":", "").upper() == thumbprint
    return thumbprint, leaf


def assert_final_state(
    cli: Cli, server: str, thumbprint: str, leaf: Path, *, exportable: bool
) -> None:
    """The server after the seed: new cert serves IIS and SMTP, the self-signed one keeps
    IMAP, POP, SMTP and the default SMTP role, the auth certificate is untouched."""
    certs = by_subject(cli, server)
    assert set(certs) == {f"CN={server}", AUTH_SUBJECT, EXCHANGE_SUBJECT}

    self_signed = certs[f"CN={server}"]
    assert self_signed["services_flags"] == "IP..S.."
    assert self_signed["is_default_smtp"] is True
    assert default_smtp(cli, server) == self_signed["thumbprint"]
    assert certs[AUTH_SUBJECT]["services_flags"] == "....S.."
    assert certs[AUTH_SUBJECT]["is_default_smtp"] is False

    new = show(cli, thumbprint, server)
    assert not SHOW_KEYS - set(new), SHOW_KEYS - set(new)
    assert certs[EXCHANGE_SUBJECT] == new  # `cert list --json` holds what `cert show` prints
    assert new["thumbprint"] == thumbprint
    assert new["subject"] == EXCHANGE_SUBJECT
    assert new["issuer"] == "CN=Bar Test Issuing CA, O=Bar Test, C=US"
    assert new["certificate_domains"] == list(DOMAINS)
    assert new["not_before"] == openssl_date(leaf, "-startdate")
    assert new["not_after"] == openssl_date(leaf, "-enddate")
    assert new["services"] == ["IIS", "SMTP"]
    assert new["services_flags"] == "...WS.."
    assert new["status"] == "Valid"
    assert new["is_self_signed"] is False
    assert new["has_private_key"] is True
    assert new["private_key_exportable"] is exportable
    assert new["public_key_size"] == 2048
    assert new["signature_algorithm"] == "sha256RSA"
    assert int(new["serial_number"], 16) == int(openssl_field(leaf, "-serial"), 16)
    assert isinstance(new["friendly_name"], str)
    assert new["key_provider"]
    assert new["is_default_smtp"] is False

    # Get-ExchangeCertificate's table, as in the seed: Thumbprint, Services, Subject.
    table = cli("cert", "list", "--server", server).stdout
    row = next(line for line in table.splitlines() if line.startswith(thumbprint))
    assert row.split()[1] == "...WS.."
    assert row.rstrip().endswith(EXCHANGE_SUBJECT)


# -- the scenario ----------------------------------------------------------------------------
def test_seed_002_request_reply_enable_export_and_second_server(
    org: Cli, openssl_ca: OpenSslCa, password_file: Path, tmp_path: Path
) -> None:
    exch01_self_signed = by_subject(org, "EXCH01")["CN=EXCH01"]["thumbprint"]
    exch02_self_signed = by_subject(org, "EXCH02")["CN=EXCH02"]["thumbprint"]

    # New-ExchangeCertificate -GenerateRequest, the CA's .p7b, Import-ExchangeCertificate.
    thumbprint, leaf = request_and_import_reply(org, openssl_ca, tmp_path)

    # Enable-ExchangeCertificate -Services IIS,SMTP, answering 'No' to the SMTP question.
    enabled = org("cert", "enable", thumbprint, "--server", "EXCH01",
                  "--services", "IIS,SMTP", "--keep-default-smtp")  # fmt: skip
    assert f"IIS moved from {exch01_self_signed}" in enabled.stdout
    assert "is now the default SMTP certificate" not in enabled.stdout
    assert default_smtp(org, "EXCH01") == exch01_self_signed

    # Export-ExchangeCertificate to a password-protected PFX.
    pfx = tmp_path / "webmail_p365labs_com.pfx"
    org("cert", "export", thumbprint, "--server", "EXCH01", "--out", str(pfx),
        "--password-file", str(password_file))  # fmt: skip
    assert pfx.stat().st_size > 0

    # Import-ExchangeCertificate -Server EXCH02 with the PFX and its password.
    on_exch02 = org("cert", "import", "--server", "EXCH02", str(pfx),
                    "--password-file", str(password_file))  # fmt: skip
    assert last_line(on_exch02) == thumbprint

    # Enable-ExchangeCertificate -Server EXCH02 -Services IIS,SMTP (again keeping the default).
    org("cert", "enable", thumbprint, "--server", "EXCH02",
        "--services", "IIS,SMTP", "--keep-default-smtp")  # fmt: skip

    assert_final_state(org, "EXCH01", thumbprint, leaf, exportable=True)
    assert_final_state(org, "EXCH02", thumbprint, leaf, exportable=False)
    assert by_subject(org, "EXCH02")["CN=EXCH02"]["thumbprint"] == exch02_self_signed
    assert default_smtp(org, "EXCH02") == exch02_self_signed


def test_enable_smtp_without_an_answer_and_no_terminal_is_refused(
    org: Cli, openssl_ca: OpenSslCa, tmp_path: Path
) -> None:
    thumbprint, _ = request_and_import_reply(org, openssl_ca, tmp_path)
    before = (thumbprints(org, "EXCH01"), default_smtp(org, "EXCH01"))

    # The CLI runner gives the command no terminal, so the seed's question cannot be asked.
    result = org("cert", "enable", thumbprint, "--server", "EXCH01",
                 "--services", "IIS,SMTP", ok=False)  # fmt: skip

    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "--force" in lines[0]
    assert "--keep-default-smtp" in lines[0]
    assert (thumbprints(org, "EXCH01"), default_smtp(org, "EXCH01")) == before
    assert show(org, thumbprint, "EXCH01")["services_flags"] == "......."
    assert by_subject(org, "EXCH01")["CN=EXCH01"]["services_flags"] == "IP.WS.."


def test_enable_with_force_makes_the_new_certificate_the_default_smtp(
    org: Cli, openssl_ca: OpenSslCa, tmp_path: Path
) -> None:
    self_signed = by_subject(org, "EXCH01")["CN=EXCH01"]["thumbprint"]
    thumbprint, _ = request_and_import_reply(org, openssl_ca, tmp_path)

    result = org("cert", "enable", thumbprint, "--server", "EXCH01",
                 "--services", "IIS,SMTP", "--force")  # fmt: skip

    assert f"{thumbprint} is now the default SMTP certificate" in result.stdout
    new = show(org, thumbprint, "EXCH01")
    assert new["is_default_smtp"] is True
    assert new["services_flags"] == "...WS.."
    old = show(org, self_signed, "EXCH01")
    assert old["is_default_smtp"] is False
    assert old["services_flags"] == "IP..S.."  # keeps SMTP (services are additive), loses W
    assert default_smtp(org, "EXCH01") == thumbprint
    # Only EXCH01 changed.
    assert by_subject(org, "EXCH02")["CN=EXCH02"]["is_default_smtp"] is True

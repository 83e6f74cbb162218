"""Renewal as one transaction across the organisation (issue 3, seed 002's gotcha).

The module builds, once, seed 002's organisation grown to three servers: EXCH01 requests
webmail.p365labs.com (exportable), a CA answers, the reply is imported and enabled for
IIS,SMTP keeping the self-signed default SMTP certificate, exported to a PFX, imported on
EXCH02 and EXCH03 and enabled there; the hybrid Send connector (EXCH01 + EXCH02) and EXCH01's
``Default Frontend`` Receive connector name it with ``--tls-certificate``. Each test works on
a copy of that store.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from typer.testing import CliRunner, Result

from certward.clock import FixedClock
from certward.compose import App, build_app
from certward.model import Password, ServiceSet, StoreName
from certward.pki import ca
from certward.services.renewal import Step
from tests.conftest import Cli, OpenSslCa, database_bytes, thumbprints

SERVERS = ("EXCH01", "EXCH02", "EXCH03")
SEED_SUBJECT = "c=NL, S=Noord-Holland, L=Amsterdam, O=Contoso, OU=RND, CN=webmail.p365labs.com"
SEED_DOTNET = "CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL"
DOMAINS = ("webmail.p365labs.com", "autodiscover.p365labs.com")
HYBRID = "Outbound to Office 365"
FRONTEND = "EXCH01\\Default Frontend EXCH01"
PASSWORD = "Pa55word!"
# The issue's example: the name after renewal by the openssl CA's "Bar Test Issuing CA".
RENEWED_NAME = f"<I>CN=Bar Test Issuing CA, O=Bar Test, C=US<S>{SEED_DOTNET}"
ORIGINAL_NAME = f"<I>CN=Contoso Issuing CA, O=Contoso PKI, C=US<S>{SEED_DOTNET}"


# -- the organisation, built once -----------------------------------------------------------------
@dataclass(frozen=True)
class Template:
    store: Path  # certward.db and certward.key
    old: str  # the CA certificate on all three servers
    own: dict[str, str]  # each server's self-signed default SMTP certificate


def issue_reply(authority: ca.Authority, request: Path, out: Path) -> Path:
    """A CA's answer to ``request`` as a DER .p7b: leaf, issuing CA, root."""
    csr = x509.load_pem_x509_csr(request.read_bytes())
    leaf = ca.issue(authority, csr, now=dt.datetime.now(dt.UTC))
    chain = [leaf, authority.certificate, *authority.chain]
    out.write_bytes(pkcs7.serialize_certificates(chain, serialization.Encoding.DER))
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    work = tmp_path_factory.mktemp("renewal")
    store = work / "store"
    cli = Cli(CliRunner())
    db = ("--db", str(store / "certward.db"))

    def run(*args: str) -> Result:
        return cli(*db, *args)

    now = dt.datetime.now(dt.UTC)
    root = ca.make_root("Contoso Root CA", now=now, organisation="Contoso PKI")
    issuing = ca.make_intermediate(root, "Contoso Issuing CA", now=now)
    password = work / "password.txt"
    password.write_text(PASSWORD + "\n")
    pw = ("--password-file", str(password))

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CERTWARD_MASTER_KEY", raising=False)
        run("org", "init", "Contoso", "--domain", "contoso.com")
        for server in SERVERS:
            run("server", "add", server, "--fqdn", f"{server.lower()}.contoso.com")
        request = work / "SSL-Request.req"
        domains = [arg for d in DOMAINS for arg in ("--domain", d)]
        run("cert", "request", "--server", "EXCH01", "--subject", SEED_SUBJECT, *domains,
            "--exportable", "--out", str(request))  # fmt: skip
        reply = issue_reply(issuing, request, work / "webmail_p365labs_com.p7b")
        old = run("cert", "import", "--server", "EXCH01", str(reply)).stdout.split()[-1]
        enable = ("--services", "IIS,SMTP", "--keep-default-smtp")
        run("cert", "enable", old, "--server", "EXCH01", *enable)
        pfx = work / "webmail_p365labs_com.pfx"
        run("cert", "export", old, "--server", "EXCH01", "--out", str(pfx), *pw)
        for server in ("EXCH02", "EXCH03"):
            run("cert", "import", "--server", server, str(pfx), *pw, "--exportable")
            run("cert", "enable", old, "--server", server, *enable)
        run("connector", "add", "send", HYBRID, "--server", "EXCH01", "--server", "EXCH02",
            "--address-space", "contoso.mail.onmicrosoft.com", "--require-tls",
            "--tls-auth-level", "DomainValidation", "--tls-domain", "mail.protection.outlook.com",
            "--cloud-services-mail", "--tls-certificate", old)  # fmt: skip
        run("connector", "set", FRONTEND, "--tls-certificate", old)
        servers = cli.json(*db, "server", "list")
        own = {s["name"]: s["default_smtp_thumbprint"] for s in servers}
    yield Template(store, old, own)


@pytest.fixture
def contoso(template: Template, isolated_store: Path, cli: Cli) -> Cli:
    shutil.copytree(template.store, isolated_store.parent, dirs_exist_ok=True)
    return cli


@pytest.fixture(scope="module")
def fabrikam() -> ca.Authority:
    """Another issuing CA (in-process): renewing with it changes the TlsCertificateName."""
    now = dt.datetime.now(dt.UTC)
    root = ca.make_root("Fabrikam Root CA", now=now, organisation="Fabrikam")
    return ca.make_intermediate(root, "Fabrikam Issuing CA", now=now)


@pytest.fixture
def app(contoso: Cli) -> Iterator[App]:
    """The services on the test's store (system clock)."""
    application = build_app(None)
    yield application
    application.store.close()


# -- helpers -----------------------------------------------------------------------------------
def error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def show(cli: Cli, connector: str) -> dict[str, Any]:
    return cli.json("connector", "show", connector)


def resolution(connector: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {
        r["server"]: (r["status"], r["thumbprint"]) for r in connector["tls_certificate_resolution"]
    }


def default_smtp(cli: Cli, server: str) -> str:
    return cli.json("server", "show", server)["default_smtp_thumbprint"]


def start(cli: Cli, old: str, request: Path, *extra: str) -> str:
    """``renew start``: the id of the new pending request."""
    started = cli.json("renew", "start", old, "--out", str(request), *extra)
    assert started["old_thumbprint"] == old
    return started["request"]


def kinds_and_places(plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["step"], s["server"] or s["connector"]) for s in plan["steps"]]


def snapshot(app: App) -> dict[str, Any]:
    """Everything a renewal could touch: every server's stores and default SMTP certificate,
    every connector with its resolution, the auth config."""
    state: dict[str, Any] = {}
    for summary in app.organisation.servers():
        name = summary.server.name
        state[name] = {
            "default_smtp": summary.server.default_smtp_thumbprint,
            "My": [v.to_json() for v in app.certificates.list_certificates(name)],
            "Root": [v.to_json() for v in app.stores.store_list(name, StoreName.ROOT)],
            "CA": [v.to_json() for v in app.stores.store_list(name, StoreName.CA)],
        }
    state["connectors"] = [view.to_json() for view in app.connectors.list()]
    state["auth"] = app.auth.show().to_json()
    return state


def powershell_string(text: str) -> tuple[str, str]:
    """Read the PowerShell string literal at the start of ``text``: (its value, the rest)."""
    quote, value, i = text[0], [], 1
    assert quote in "'\"", f"not a string literal: {text!r}"
    while i < len(text):
        ch = text[i]
        if quote == '"' and ch == "`":
            value.append(text[i + 1])
            i += 2
        elif ch == quote and text[i + 1 : i + 2] == quote:
            value.append(quote)
            i += 2
        elif ch == quote:
            return "".join(value), text[i + 1 :]
        else:
            value.append(ch)
            i += 1
    raise AssertionError(f"unterminated string literal: {text!r}")


def tls_name_argument(script: str, cmdlet: str, connector: str) -> str:
    """The value PowerShell would pass as -TlsCertificateName in ``cmdlet 'connector' ...``."""
    found = []
    for line in script.splitlines():
        if not line.startswith(f"{cmdlet} "):
            continue
        name, rest = powershell_string(line.removeprefix(f"{cmdlet} "))
        if name != connector:
            continue
        assert rest.startswith(" -TlsCertificateName "), line
        value, rest = powershell_string(rest.removeprefix(" -TlsCertificateName "))
        assert rest.strip() == "", f"text after the name: {rest!r}"
        found.append(value)
    assert len(found) == 1, script
    return found[0]


# -- the acceptance scenario ----------------------------------------------------------------------
def test_renewal_reaches_every_server_and_connector(
    contoso: Cli, template: Template, openssl_ca: OpenSslCa, tmp_path: Path, isolated_store: Path
) -> None:
    cli, old = contoso, template.old
    before = {s: thumbprints(cli, s) for s in SERVERS}
    for server in SERVERS:
        assert before[server][old]["services_flags"] == "...WS.."
    hybrid_before = show(cli, HYBRID)
    assert hybrid_before["tls_certificate_name"] == ORIGINAL_NAME
    assert resolution(hybrid_before) == {"EXCH01": ("Match", old), "EXCH02": ("Match", old)}

    # 1. a new request on EXCH01: same subject and names, new key
    request_file = tmp_path / "renewal.req"
    request = start(cli, old, request_file)
    pending = thumbprints(cli, "EXCH01")[request]
    assert pending["status"] == "PendingRequest"
    assert pending["subject"] == SEED_DOTNET
    assert request not in thumbprints(cli, "EXCH02")
    csr = x509.load_pem_x509_csr(request_file.read_bytes())
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(DOMAINS)

    # 2. the reply comes from another issuing CA, so the TlsCertificateName changes
    reply = openssl_ca.p7b(openssl_ca.sign(request_file, name="renewed"), name="renewed")

    # 3. the plan, read-only
    stored = database_bytes(isolated_store)
    plan = cli.json("renew", "complete", old, "--reply", str(reply), "--plan")
    assert database_bytes(isolated_store) == stored
    new = plan["new_thumbprint"]
    assert (plan["old_thumbprint"], plan["self_signed"], plan["applied"]) == (old, False, False)
    assert plan["subject"] == SEED_DOTNET
    steps = kinds_and_places(plan)
    assert [kind for kind, _ in steps] == [
        "complete-request",
        *["copy-certificate"] * 2,
        *["enable"] * 3,
        *["set-connector"] * 2,
        *["keep-old"] * 3,
    ]
    assert steps[0] == ("complete-request", "EXCH01")
    assert {place for kind, place in steps if kind == "copy-certificate"} == {"EXCH02", "EXCH03"}
    assert {place for kind, place in steps if kind == "enable"} == set(SERVERS)
    assert {place for kind, place in steps if kind == "set-connector"} == {HYBRID, FRONTEND}
    assert {place for kind, place in steps if kind == "keep-old"} == set(SERVERS)
    for step in plan["steps"]:
        if step["step"] == "enable":
            assert (step["services"], step["default_smtp"]) == (["IIS", "SMTP"], False)
        if step["step"] == "set-connector":
            assert step["tls_certificate_name"] == RENEWED_NAME
            assert step["unchanged"] is False
            kind = "send" if step["connector"] == HYBRID else "receive"
            assert step["connector_kind"] == kind
    table = cli("renew", "complete", old, "--reply", str(reply)).stdout  # --plan is the default
    assert f"Plan: renew {old} -> {new}" in table
    assert "copy-certificate" in table and "EXCH03" in table and HYBRID in table

    # 4. apply
    applied = cli.json("renew", "complete", old, "--reply", str(reply), "--apply")
    assert applied["applied"] is True and applied["new_thumbprint"] == new
    assert kinds_and_places(applied) == steps

    for server in SERVERS:
        certs = thumbprints(cli, server)
        assert certs[new]["services_flags"] == before[server][old]["services_flags"]
        assert certs[new]["status"] == "Valid"  # the new chain went to the trust stores
        assert certs[new]["issuer"] == "CN=Bar Test Issuing CA, O=Bar Test, C=US"
        assert certs[new]["subject"] == SEED_DOTNET
        assert certs[new]["has_private_key"] is True
        assert certs[new]["private_key_exportable"] is True
        assert certs[new]["is_default_smtp"] is False
        assert certs[old]["services_flags"] == "....S.."  # kept; IIS moved to the new one
        assert default_smtp(cli, server) == template.own[server]  # the admin's choice stays
        assert not [c for c in certs.values() if c["status"] == "PendingRequest"]
        assert cli("cert", "tls-name", new, "--server", server).stdout.strip() == RENEWED_NAME

    hybrid = show(cli, HYBRID)
    assert hybrid["tls_certificate_name"] == RENEWED_NAME
    assert resolution(hybrid) == {"EXCH01": ("Match", new), "EXCH02": ("Match", new)}
    changed = {k for k in hybrid if hybrid[k] != hybrid_before[k]}
    assert changed == {"tls_certificate_name", "tls_certificate_resolution"}
    frontend = show(cli, FRONTEND)
    assert frontend["tls_certificate_name"] == RENEWED_NAME
    assert resolution(frontend) == {"EXCH01": ("Match", new)}
    assert show(cli, "EXCH02\\Default Frontend EXCH02")["tls_certificate_name"] is None

    # the reply was used up: completing again is refused and changes nothing
    stored = database_bytes(isolated_store)
    again = cli("renew", "complete", old, "--reply", str(reply), "--apply", ok=False)
    assert "no pending request" in error_line(again)
    assert database_bytes(isolated_store) == stored


def test_remove_old_removes_it_from_every_server(
    contoso: Cli, template: Template, fabrikam: ca.Authority, tmp_path: Path
) -> None:
    cli, old = contoso, template.old
    request = tmp_path / "renewal.req"
    start(cli, old, request)
    reply = issue_reply(fabrikam, request, tmp_path / "renewal.p7b")
    applied = cli.json("renew", "complete", old, "--reply", str(reply), "--apply", "--remove-old")
    new = applied["new_thumbprint"]
    assert [p for k, p in kinds_and_places(applied) if k == "remove-old"] == list(SERVERS)
    assert "keep-old" not in [k for k, _ in kinds_and_places(applied)]
    for server in SERVERS:
        certs = thumbprints(cli, server)
        assert old not in certs
        assert certs[new]["services_flags"] == "...WS.."
        assert template.own[server] in certs
        assert default_smtp(cli, server) == template.own[server]
    name = show(cli, HYBRID)["tls_certificate_name"]
    assert name.startswith("<I>CN=Fabrikam Issuing CA, O=Fabrikam, C=US<S>")
    assert resolution(show(cli, HYBRID)) == {"EXCH01": ("Match", new), "EXCH02": ("Match", new)}
    assert resolution(show(cli, FRONTEND)) == {"EXCH01": ("Match", new)}


def test_powershell_renders_the_plan_with_seed_002s_forms(
    contoso: Cli, template: Template, fabrikam: ca.Authority, tmp_path: Path, isolated_store: Path
) -> None:
    cli, old = contoso, template.old
    request = tmp_path / "renewal.req"
    start(cli, old, request)
    reply = issue_reply(fabrikam, request, tmp_path / "webmail_2027.p7b")
    stored = database_bytes(isolated_store)
    new = cli.json("renew", "complete", old, "--reply", str(reply))["new_thumbprint"]
    script = cli("renew", "complete", old, "--reply", str(reply), "--powershell").stdout
    assert database_bytes(isolated_store) == stored  # rendering changes nothing

    assert "-FileName" not in script  # removed in Exchange 2019 CU12
    elsewhere = cli(
        "renew", "complete", old, "--reply", str(reply), "--powershell", "--script-dir", "D:\\Renew"
    ).stdout
    assert "'D:\\Renew\\webmail_2027.p7b'" in elsewhere and "C:\\certward" not in elsewhere
    assert (
        "Import-ExchangeCertificate -Server EXCH01 -FileData ([System.IO.File]::ReadAllBytes("
        "'C:\\certward\\webmail_2027.p7b'))"
    ) in script
    for server in ("EXCH02", "EXCH03"):
        imports = [
            line
            for line in script.splitlines()
            if line.startswith(f"Import-ExchangeCertificate -Server {server} ")
        ]
        assert len(imports) == 1
        data = "-FileData ([System.IO.File]::ReadAllBytes("
        assert imports[0].startswith(f"Import-ExchangeCertificate -Server {server} {data}")
        assert "-Password " in imports[0]
    assert f"Export-ExchangeCertificate -Server EXCH01 -Thumbprint {new} -BinaryEncoded" in script
    for server in SERVERS:
        assert (
            f"Enable-ExchangeCertificate -Server {server} -Thumbprint {new} -Services IIS,SMTP"
        ) in script
    new_name = show(cli, HYBRID)["tls_certificate_name"]  # unchanged until applied
    assert new_name == ORIGINAL_NAME
    expected = f"<I>CN=Fabrikam Issuing CA, O=Fabrikam, C=US<S>{SEED_DOTNET}"
    assert tls_name_argument(script, "Set-SendConnector", HYBRID) == expected
    assert tls_name_argument(script, "Set-ReceiveConnector", FRONTEND) == expected
    assert "Remove-ExchangeCertificate" not in script

    with_removal = cli(
        "renew", "complete", old, "--reply", str(reply), "--powershell", "--remove-old"
    ).stdout
    for server in SERVERS:
        assert f"Remove-ExchangeCertificate -Server {server} -Thumbprint {old}" in with_removal

    refused = cli(
        "renew", "complete", old, "--reply", str(reply), "--powershell", "--apply", ok=False
    )
    assert "--powershell" in error_line(refused)
    assert database_bytes(isolated_store) == stored


class InjectedFailure(Exception):
    """Raised by the test between two steps of the transaction."""


def fail_after(count: int) -> tuple[Callable[[Step], None], list[Step]]:
    done: list[Step] = []

    def hook(step: Step) -> None:
        done.append(step)
        if len(done) == count:
            raise InjectedFailure(f"after step {count}: {step.describe()}")

    return hook, done


def test_a_failure_in_the_middle_leaves_the_old_state_intact(
    contoso: Cli,
    app: App,
    template: Template,
    fabrikam: ca.Authority,
    tmp_path: Path,
    isolated_store: Path,
) -> None:
    old = template.old
    request = tmp_path / "renewal.req"
    start(contoso, old, request)
    reply_file = issue_reply(fabrikam, request, tmp_path / "renewal.p7b")
    reply = (reply_file.read_bytes(), str(reply_file))

    before = snapshot(app)
    stored = database_bytes(isolated_store)
    plan = app.renewal.plan(old, reply=reply, remove_old=True)
    assert len(plan.steps) == 11

    # the issue's example: a failure after the third step (the copy to EXCH03)
    hook, done = fail_after(3)
    with pytest.raises(InjectedFailure):
        app.renewal.apply(old, reply=reply, remove_old=True, after_step=hook)
    assert [step.kind for step in done] == ["complete-request", *["copy-certificate"] * 2]
    assert snapshot(app) == before
    assert database_bytes(isolated_store) == stored

    # ... and after a step of every other kind, up to the last removal
    for count in (1, 5, 8, len(plan.steps)):
        hook, done = fail_after(count)
        with pytest.raises(InjectedFailure):
            app.renewal.apply(old, reply=reply, remove_old=True, after_step=hook)
        assert len(done) == count
        assert snapshot(app) == before, f"changed by a failure after step {count}"
        assert database_bytes(isolated_store) == stored

    # the pending request survived every rollback, so the renewal can still be completed
    assert snapshot(app)["EXCH01"]["My"] == before["EXCH01"]["My"]
    applied = app.renewal.apply(old, reply=reply, remove_old=True)
    after = snapshot(app)
    for server in SERVERS:
        mine = {v["thumbprint"]: v for v in after[server]["My"]}
        assert old not in mine and mine[applied.new]["services_flags"] == "...WS.."


# -- self-signed renewal --------------------------------------------------------------------------
def self_signed_on_two_servers(
    contoso: Cli, subject: str, *, exportable_on_exch01: bool = True
) -> str:
    """A self-signed SMTP certificate made a month ago on the server that exports it, and
    imported (PFX) on the other; returns its thumbprint."""
    made = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=30)
    app = build_app(None, clock=FixedClock(made))
    try:
        origin, other = ("EXCH01", "EXCH02") if exportable_on_exch01 else ("EXCH02", "EXCH01")
        smtp = ServiceSet.parse("SMTP")
        created = app.certificates.new_self_signed(
            origin, subject=subject, exportable=True, services=smtp, replace_default_smtp=False
        )
        thumb = created.view.thumbprint
        password = Password(PASSWORD.encode())
        pfx = app.certificates.export_pfx(origin, thumb, password=password)
        app.certificates.import_file(
            other, pfx, source="relay.pfx", password=password, exportable=exportable_on_exch01
        )
        app.certificates.enable(other, thumb, smtp, replace_default_smtp=False)
    finally:
        app.store.close()
    return thumb


def test_self_signed_renewal_needs_no_ca(contoso: Cli, isolated_store: Path) -> None:
    cli = contoso
    old = self_signed_on_two_servers(cli, "CN=relay.contoso.com")
    cli("connector", "add", "send", "Relay out", "--server", "EXCH01", "--server", "EXCH02",
        "--address-space", "relay.example", "--tls-certificate", old)  # fmt: skip
    own = {s: default_smtp(cli, s) for s in ("EXCH01", "EXCH02")}

    stored = database_bytes(isolated_store)
    printed = cli("renew", "start", old).stdout
    assert f"Plan: renew {old} -> " in printed
    for word in ("create-self-signed", "copy-certificate", "EXCH02", "set-connector", "keep-old"):
        assert word in printed
    assert "renew complete" in printed
    planned = cli.json("renew", "complete", old)  # the same plan, as JSON
    assert planned["self_signed"] is True and planned["applied"] is False
    assert kinds_and_places(planned)[:2] == [
        ("create-self-signed", "EXCH01"),
        ("copy-certificate", "EXCH02"),
    ]
    relay = next(s for s in planned["steps"] if s["step"] == "set-connector")
    assert relay["connector"] == "Relay out"
    assert relay["unchanged"] is True  # a self-signed certificate keeps its issuer and subject
    assert database_bytes(isolated_store) == stored  # start only printed the plan

    applied = cli.json("renew", "complete", old, "--apply")
    new = applied["new_thumbprint"]
    for server in ("EXCH01", "EXCH02"):
        certs = thumbprints(cli, server)
        assert certs[new]["subject"] == certs[old]["subject"] == "CN=relay.contoso.com"
        assert certs[new]["is_self_signed"] is True
        assert certs[new]["services_flags"] == "....S.."
        assert certs[new]["not_before"] > certs[old]["not_before"]
        assert certs[new]["not_after"] > certs[old]["not_after"]
        assert default_smtp(cli, server) == own[server]
    # the name is unchanged; it now resolves to the newer certificate on both servers
    assert resolution(show(cli, "Relay out")) == {
        "EXCH01": ("Match", new),
        "EXCH02": ("Match", new),
    }

    reply = isolated_store.parent / "reply.p7b"
    reply.write_bytes(b"a self-signed renewal never reads it")
    refused = cli("renew", "complete", new, "--reply", str(reply), "--apply", ok=False)
    assert "self-signed: no CA reply is needed" in error_line(refused)


def test_renew_start_json_of_a_self_signed_certificate_is_json(contoso: Cli) -> None:
    """``renew start --json`` for a self-signed certificate prints the plan as JSON, and only
    JSON (the hint for humans belongs to the table output)."""
    own = contoso.json("server", "show", "EXCH02")["default_smtp_thumbprint"]
    result = contoso("renew", "start", own, "--json")
    plan = json.loads(result.stdout)
    assert plan["self_signed"] is True and plan["old_thumbprint"] == own


def test_renewing_a_servers_own_certificate_keeps_it_the_default(
    contoso: Cli, template: Template
) -> None:
    cli, own = contoso, template.own["EXCH03"]
    flags = thumbprints(cli, "EXCH03")[own]["services_flags"]
    assert flags == "IP..S.."  # IIS went to the CA certificate
    applied = cli.json("renew", "complete", own, "--apply", "--remove-old")
    new = applied["new_thumbprint"]
    enable = next(s for s in applied["steps"] if s["step"] == "enable")
    assert (enable["server"], enable["default_smtp"]) == ("EXCH03", True)
    certs = thumbprints(cli, "EXCH03")
    assert own not in certs
    assert certs[new]["services_flags"] == flags
    assert certs[new]["subject"] == "CN=EXCH03"
    assert default_smtp(cli, "EXCH03") == new
    assert certs[template.old]["services_flags"] == "...WS.."
    assert default_smtp(cli, "EXCH01") == template.own["EXCH01"]


def test_powershell_quotes_names_that_contain_quotes(contoso: Cli) -> None:
    """A .NET X.500 name quotes values with commas (O="Contoso, Ltd"): the rendered
    ``-TlsCertificateName`` argument must still be one PowerShell string with that value."""
    cli = contoso
    thumb = cli(
        "cert", "new", "--server", "EXCH01", "--subject",
        'C=NL, O="Contoso, Ltd", CN=relay.contoso.com', "--services", "None",
    ).stdout.split()[0]  # fmt: skip
    cli("connector", "add", "send", "Relay out", "--server", "EXCH01",
        "--address-space", "relay.example", "--tls-certificate", thumb)  # fmt: skip
    name = show(cli, "Relay out")["tls_certificate_name"]
    assert 'O="Contoso, Ltd"' in name
    script = cli("renew", "complete", thumb, "--powershell").stdout
    assert tls_name_argument(script, "Set-SendConnector", "Relay out") == name


def test_powershell_for_a_self_signed_renewal_uses_only_real_thumbprints(contoso: Cli) -> None:
    """New-ExchangeCertificate on a real server makes its own key, hence its own thumbprint:
    the commands after it cannot use the thumbprint certward drew for its plan."""
    cli = contoso
    own = default_smtp(cli, "EXCH02")
    known = set(thumbprints(cli, "EXCH02"))
    script = cli("renew", "complete", own, "--powershell").stdout
    renew = f"Get-ExchangeCertificate -Server EXCH02 -Thumbprint {own} | New-ExchangeCertificate"
    assert renew in script
    commands = [line for line in script.splitlines() if not line.startswith("#")]
    assert any(line.startswith("Enable-ExchangeCertificate -Server EXCH02 ") for line in commands)
    invented = {
        token
        for line in commands
        for token in re.findall(r"\b[0-9A-F]{40}\b", line)
        if token not in known
    }
    assert not invented, f"thumbprints no real server will have: {sorted(invented)}"


# -- refusals -----------------------------------------------------------------------------------
def test_a_key_that_cannot_travel_is_refused(contoso: Cli, isolated_store: Path) -> None:
    """EXCH01's copy was imported without --exportable: a renewal made there could not be put
    on EXCH02."""
    cli = contoso
    thumb = self_signed_on_two_servers(cli, "CN=relay.contoso.com", exportable_on_exch01=False)
    assert thumbprints(cli, "EXCH01")[thumb]["private_key_exportable"] is False
    stored = database_bytes(isolated_store)
    for args in (("renew", "start", thumb), ("renew", "complete", thumb, "--apply")):
        line = error_line(cli(*args, ok=False))
        assert "not exportable" in line and "EXCH02" in line
    assert database_bytes(isolated_store) == stored


def test_renewal_refusals(
    contoso: Cli, template: Template, fabrikam: ca.Authority, tmp_path: Path, isolated_store: Path
) -> None:
    cli, old = contoso, template.old
    stored = database_bytes(isolated_store)
    no_out = cli("renew", "start", old, ok=False)
    assert "--out" in error_line(no_out)
    no_reply = cli("renew", "complete", old, "--apply", ok=False)
    assert "--reply" in error_line(no_reply)
    unknown = cli("renew", "start", "AB" * 20, "--out", str(tmp_path / "x.req"), ok=False)
    assert "no server holds" in error_line(unknown)
    elsewhere = cli("renew", "start", template.own["EXCH01"], "--server", "EXCH02", ok=False)
    assert "not on server EXCH02" in error_line(elsewhere)
    contradiction = cli("renew", "complete", old, "--plan", "--apply", ok=False)
    assert "contradict" in error_line(contradiction)
    assert database_bytes(isolated_store) == stored

    # a reply for the pending request, but for another subject
    request = tmp_path / "renewal.req"
    start(cli, old, request)
    csr = x509.load_pem_x509_csr(request.read_bytes())
    now = dt.datetime.now(dt.UTC)
    wrong = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=mail.fabrikam.com"))
        .issuer_name(fabrikam.certificate.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=90))
        .sign(fabrikam.key, hashes.SHA256())
    )
    reply = tmp_path / "wrong.pem"
    reply.write_bytes(wrong.public_bytes(serialization.Encoding.PEM))
    stored = database_bytes(isolated_store)
    differs = cli("renew", "complete", old, "--reply", str(reply), "--apply", ok=False)
    assert "differ from the certificate being renewed" in error_line(differs)
    assert database_bytes(isolated_store) == stored

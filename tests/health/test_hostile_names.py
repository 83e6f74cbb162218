"""Every generator fed hostile names (issue 12): the health fixes (EMS and certward), the
renewal plan (``--plan`` and ``--powershell``), ``connector show`` and the hints.

The organisation is built through the command line, with names Exchange accepts but a shell
does not: connector names with ``$(...)``, quotes (straight and typographic), backticks,
``;``, ``&``, ``|``, ``<#`` and spaces; a subject and a friendly name with the same. The
measured faults of issue 12 (a mailbox address leaving the mail folder, a server name that is
a command, a line break in a name) are refused where the names enter.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from certward.codes.endpoints import TRANSPORT_NO_SMART_HOST
from certward.commandline import OR
from certward.endpoints.mailstore import MailStore
from certward.errors import InputError
from certward.interfaces.cli.hints import hint
from certward.pki import ca
from tests.conftest import Cli, error_line
from tests.interop.test_powershell import _statements, tokens

NAMES = (
    "Hybrid$(Start-Process calc.exe)",
    'O\'Brien "quoted" ; & | <# x #> && y',
    "\u2018typo\u2019 \u201cquotes\u201d `tick` $env:USERNAME # z",
)
SUBJECT = 'CN=mail.contoso.com, O="O\'Brien & $(Start-Process calc) ; | <# `x`"'
FRIENDLY = "Friendly $(Start-Process calc) 'q' \"q\" ; & |"
# Text that only a name can bring into a script: outside a quoted literal it would be code.
MARKERS = ("Start-Process", "calc", "Brien", "tick", "USERNAME", "typo", "Friendly")
SHELL_OPERATORS = {";", "&", "|", "||", "(", ")", "<", ">", ";;", "&&"}


def _reply(request: Path, out: Path, authority: ca.Authority) -> Path:
    csr = x509.load_pem_x509_csr(request.read_bytes())
    leaf = ca.issue(authority, csr, now=dt.datetime.now(dt.UTC))
    chain = [leaf, authority.certificate, *authority.chain]
    out.write_bytes(pkcs7.serialize_certificates(chain, serialization.Encoding.DER))
    return out


@pytest.fixture(scope="module")
def authority() -> ca.Authority:
    now = dt.datetime.now(dt.UTC)
    return ca.make_intermediate(ca.make_root("Hostile Root", now=now), "Hostile CA", now=now)


def _hostile_org(cli: Cli, tmp_path: Path, authority: ca.Authority) -> str:
    """Contoso with one server, three hybrid connectors and a CA certificate named by the
    first; the certificate's thumbprint."""
    cli("org", "init", "Contoso", "--domain", "contoso.com")
    cli("server", "add", "EXCH01", "--fqdn", "exch01.contoso.com", "--version", "2010")
    cli("vdir", "set", "owa", "--server", "EXCH01", "--external-url",
        "https://mail.contoso.com/owa")  # fmt: skip
    for name in NAMES:
        cli("connector", "add", "send", name, "--server", "EXCH01",
            "--address-space", "contoso.mail.onmicrosoft.com", "--require-tls",
            "--tls-auth-level", "DomainValidation", "--tls-domain", "mail.protection.outlook.com",
            "--cloud-services-mail")  # fmt: skip
    request = tmp_path / "r.req"
    cli("cert", "request", "--server", "EXCH01", "--subject", SUBJECT, "--domain",
        "mail.contoso.com", "--friendly-name", FRIENDLY, "--out", str(request))  # fmt: skip
    cli("cert", "import", "--server", "EXCH01", str(_reply(request, tmp_path / "r.p7b", authority)))
    thumb = next(c["thumbprint"] for c in cli.json("cert", "list", "--server", "EXCH01")
                 if "Brien" in c["subject"])  # fmt: skip
    cli("connector", "set", NAMES[0], "--tls-certificate", thumb)
    return str(thumb)


def assert_names_stay_literal(text: str) -> None:
    """Nothing of a name is code: every marker sits in a single-quoted literal or a comment,
    and each connector name is the whole value of one literal."""
    statements = _statements(text)
    for line in statements:
        for token in line:
            if token.kind != "single":
                assert not any(m in token.text for m in MARKERS), (token, line)
    for comment in (t for t in tokens(text) if t.kind == "comment"):
        assert "\n" not in comment.text


def certward_argvs(line: str) -> list[list[str]]:
    """The argv of each certward command in a printed fix (``&&`` and ``# or:`` join them)."""
    argvs: list[list[str]] = []
    for alternative in line.split(OR):
        lexer = shlex.shlex(alternative, posix=True, punctuation_chars=True)
        lexer.commenters = ""
        lexer.whitespace_split = False
        words = list(lexer)
        group: list[str] = []
        for word in [*words, "&&"]:
            if word == "&&":
                argvs.append(group)
                group = []
            else:
                group.append(word)
    for argv in argvs:
        assert argv and argv[0] == "certward", (line, argv)
        assert not SHELL_OPERATORS & set(argv), (line, argv)
    return argvs


def test_every_generator_keeps_hostile_names_in_one_literal(
    cli: Cli, tmp_path: Path, authority: ca.Authority
) -> None:
    thumb = _hostile_org(cli, tmp_path, authority)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=360)).strftime("%Y-%m-%d")

    # health: the EMS script and each finding's certward command
    ems = cli("health", "--powershell", "--as-of", soon, ok=False).stdout
    assert "Set-SendConnector" in ems
    assert_names_stay_literal(ems)
    literals = {t.value for line in _statements(ems) for t in line if t.kind == "single"}
    for name in NAMES[1:]:  # the two without a TlsCertificateName get Set-SendConnector
        assert name in literals, name
    report = json.loads(cli("health", "--json", "--as-of", soon, ok=False).stdout)
    fixes = [f for f in report["findings"] if f["connector"] in NAMES]
    assert {f["connector"] for f in fixes} >= set(NAMES[1:])
    for finding in report["findings"]:
        argvs = certward_argvs(finding["remediation"]["certward"])
        if finding["connector"] in NAMES:
            assert any(finding["connector"] in argv for argv in argvs), finding
    setters = [
        argv
        for f in report["findings"]
        for argv in certward_argvs(f["remediation"]["certward"])
        if argv[1:3] == ["connector", "set"]
    ]
    assert {argv[3] for argv in setters} >= set(NAMES[1:])
    assert all(len(argv) == 6 and argv[4] == "--tls-certificate" for argv in setters
               if "--tls-certificate" in argv)  # fmt: skip

    # the renewal plan: --plan (JSON) and --powershell
    request = tmp_path / "renew.req"
    cli("renew", "start", thumb, "--out", str(request))
    reply = _reply(request, tmp_path / "renew.p7b", authority)
    plan = cli.json("renew", "complete", thumb, "--reply", str(reply), "--plan")
    assert NAMES[0] in {s["connector"] for s in plan["steps"]}
    table = cli("renew", "complete", thumb, "--reply", str(reply)).stdout
    assert NAMES[0] in table
    script = cli("renew", "complete", thumb, "--reply", str(reply), "--powershell").stdout
    assert_names_stay_literal(script)
    (connector_line,) = [s for s in _statements(script) if s[0].text == "Set-SendConnector"]
    assert connector_line[1].kind == "single" and connector_line[1].value == NAMES[0]
    assert any(t.kind == "single" and "Start-Process calc" in t.value for t in connector_line)

    # connector show: each field one line, the name whole
    for name in NAMES:
        shown = cli("connector", "show", name).stdout.splitlines()
        assert f"Name                     : {name}" in shown
        assert all(re.match(r"[A-Za-z0-9]+ +: ", f"{line} ") for line in shown), shown


@pytest.mark.parametrize("name", NAMES)
def test_a_hint_quotes_the_name_for_a_shell(name: str) -> None:
    error = TRANSPORT_NO_SMART_HOST("send connector has no smart host", connector=name)
    text = hint(error)
    assert text is not None
    command = text.split(": ", 1)[1]
    assert shlex.split(command) == [
        "certward", "connector", "set", name, "--smart-host", "HOST[:PORT]"
    ]  # fmt: skip


# -- the measured faults ---------------------------------------------------------------------
def test_a_mailbox_address_cannot_leave_the_mail_folder(cli: Cli, tmp_path: Path) -> None:
    password = tmp_path / "state" / "pw.txt"
    password.parent.mkdir()
    password.write_text("Pa55word!")
    line = error_line(cli, "mailbox", "add", "../../../x@contoso.com", "--server", "EXCH01",
                      "--password-file", str(password))  # fmt: skip
    assert "local part" in line or "mail address" in line
    store = MailStore(tmp_path / "state" / "mail")
    with pytest.raises(InputError) as refused:
        store.deliver("../../../x@contoso.com", b"Subject: x\r\n\r\nx")
    assert refused.value.code.id == "mail.address_invalid"
    assert not (tmp_path / "x@contoso.com").exists()
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["pw.txt"]


def test_observe_refuses_a_server_name_that_is_a_command(cli: Cli) -> None:
    dump = Path(__file__).parents[1] / "interop" / "fixtures" / "windows"
    line = error_line(cli, "observe", "EX01;Start-Process calc.exe;",
                      str(dump / "certutil-store-capi.txt"), "--store", "My")  # fmt: skip
    assert "invalid server name" in line
    assert "EX01" not in cli("server", "list").stdout


@pytest.mark.parametrize("name", ["Hybrid\nRemove-Item C:\\", "Hybrid\r", "a\\b", "x" * 65])
def test_a_line_break_cannot_enter_a_connector_name(cli: Cli, name: str) -> None:
    line = error_line(cli, "connector", "add", "send", name, "--server", "EXCH01",
                      "--address-space", "contoso.com")  # fmt: skip
    assert "invalid connector name" in line

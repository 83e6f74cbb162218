"""Generated PowerShell: a name can never leave its string.

The checks read the generated text with a small tokenizer that follows PowerShell's rules for
the parts certward writes: single-quoted strings end at any single-quote character (' ‘ ’ ‚ ‛)
that is not doubled and expand nothing; double-quoted strings expand ``$`` and backticks;
``#`` starts a comment to the end of the line; ``;``, ``|``, ``(``, ``)``, ``+`` and ``,`` are
operators; a line break ends a statement. A hostile name must come back, whole, as the value of
one quoted expression, and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certward.health.engine import HealthReport, powershell
from certward.health.findings import Finding, Remediation, Severity
from certward.interop.powershell import (
    DEFAULT_SCRIPT_DIR,
    File,
    RenewalScript,
    argument,
    command,
    comment,
    quote,
    script,
)
from tests.conftest import Cli

SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
HOSTILE = [
    "O'Brien's connector",
    'say "hello"',
    "$(Remove-Item C:\\ -Recurse)",
    "$env:USERNAME",
    "back`tick`n",
    "semi; Remove-Item C:\\",
    "pipe | Stop-Service MSExchangeTransport",
    "line one\nRemove-Item C:\\",
    "carriage\r\nRemove-Item C:\\",
    "\nleading newline",
    "trailing newline\n",
    "\u2018curly\u2019 \u201aquotes\u201b",
    "a' ; Remove-Item 'b",
    "x'+$(whoami)+'y",
    "paragraph\u2029separator\u2028line",
    "nel\x85and null\x00",
    "# not a comment",
    "",
    "'",
    "''",
]


@dataclass(frozen=True)
class Token:
    kind: str  # "single", "double", "comment", "word", "op", "newline"
    text: str  # the source text
    value: str = ""  # a string literal's value


def tokens(source: str) -> Iterator[Token]:
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch in " \t":
            i += 1
        elif ch in "\r\n":
            yield Token("newline", ch)
            i += 1
        elif ch == "#":
            end = i
            while end < n and source[end] not in "\r\n":
                end += 1
            yield Token("comment", source[i:end])
            i = end
        elif ch in SINGLE_QUOTES:
            value, j = [], i + 1
            while True:
                assert j < n, f"unterminated string at {i}: {source[i:]!r}"
                c = source[j]
                if c in SINGLE_QUOTES:
                    if j + 1 < n and source[j + 1] in SINGLE_QUOTES:
                        value.append(source[j + 1])
                        j += 2
                        continue
                    break
                value.append(c)
                j += 1
            yield Token("single", source[i : j + 1], "".join(value))
            i = j + 1
        elif ch == '"':
            j = i + 1
            while j < n and source[j] != '"':
                j += 2 if source[j] == "`" else 1
            yield Token("double", source[i : j + 1])
            i = j + 1
        elif ch in ";|()+,{}":
            yield Token("op", ch)
            i += 1
        else:
            j = i
            while j < n and source[j] not in " \t\r\n;|()+,{}'\"#" + SINGLE_QUOTES:
                j += 1
            yield Token("word", source[i:j])
            i = j


def evaluate(expression: str) -> str:
    """The value of what :func:`quote` wrote, read token by token: one single-quoted string,
    or ``( 'a' + [char]N + 'b' ... )``. Anything else fails the test."""
    found = list(tokens(expression))
    if len(found) == 1:
        assert found[0].kind == "single", found
        return found[0].value
    assert found[0] == Token("op", "(") and found[-1] == Token("op", ")"), found
    inner = found[1:-1]
    assert inner[0].kind == "single", inner  # starts with a string, so + concatenates
    value = []
    for k, token in enumerate(inner):
        if k % 2:
            assert token == Token("op", "+"), inner
        elif token.kind == "single":
            value.append(token.value)
        else:
            assert token.kind == "word" and token.text.startswith("[char]"), inner
            value.append(chr(int(token.text.removeprefix("[char]"))))
    return "".join(value)


@pytest.mark.parametrize("name", HOSTILE)
def test_quote_gives_back_exactly_the_value_on_one_line(name: str) -> None:
    quoted = quote(name)
    assert "\n" not in quoted and "\r" not in quoted and len(quoted.splitlines()) <= 1
    assert evaluate(quoted) == name
    assert not any(t.kind in ("double", "comment", "newline") for t in tokens(quoted))


@given(st.text())
def test_quote_round_trips_any_text(name: str) -> None:
    quoted = quote(name)
    assert len(quoted.splitlines()) <= 1
    assert evaluate(quoted) == name


@pytest.mark.parametrize("name", ["EXCH01", "edge-01", "CB2EE96D1A0FF4D1882F02ED498D898B2E7821CB"])
def test_plain_names_stay_bare(name: str) -> None:
    assert argument(name) == name


@pytest.mark.parametrize("name", HOSTILE)
def test_an_argument_that_is_not_plain_is_quoted(name: str) -> None:
    assert evaluate(argument(name)) == name


@pytest.mark.parametrize("text", HOSTILE)
def test_a_comment_stays_one_comment(text: str) -> None:
    (token,) = tokens(comment(text))
    assert token.kind == "comment"


def _statements(source: str) -> list[list[Token]]:
    """Each line's tokens, comments left out, lines without code dropped."""
    lines: list[list[Token]] = [[]]
    for token in tokens(source):
        if token.kind == "newline":
            lines.append([])
        elif token.kind != "comment":
            lines[-1].append(token)
    return [line for line in lines if line]


def _renewal(connector: str, server: str, reply: str) -> str:
    s = RenewalScript(
        old="AB" * 20,
        new="CD" * 20,
        subject=f"CN={connector}",
        self_signed=False,
        reply_name=reply,
    )
    s.comment(f"point Send connector {connector} at it")
    s.complete_request(server)
    s.copy_to("EXCH02")
    s.enable(server, ["IIS", "SMTP"], default_smtp=False)
    s.set_tls_certificate_name(send=True, connector=connector, name=f"<I>CN=CA<S>CN={connector}")
    s.remove_old(server)
    return s.text()


@pytest.mark.parametrize("name", HOSTILE)
def test_a_renewal_script_keeps_every_name_inside_its_string(name: str) -> None:
    script_text = _renewal(name, name, name)
    plain = _renewal("Relay", "EXCH01", "reply.p7b")
    # the same statements, line for line: no name added a line or a command
    assert len(_statements(script_text)) == len(_statements(plain))
    assert len(script_text.splitlines()) == len(plain.splitlines())
    (connector_line,) = [
        line for line in _statements(script_text) if line[0].text == "Set-SendConnector"
    ]
    # Set-SendConnector <expr> -TlsCertificateName <expr>: the name is the value of the first
    text = script_text.splitlines()[
        next(i for i, line in enumerate(script_text.splitlines()) if line.startswith("Set-Send"))
    ]
    rest = text.removeprefix("Set-SendConnector ")
    first, _, second = rest.partition(" -TlsCertificateName ")
    if name:
        assert evaluate(first) == name
        assert evaluate(second) == f"<I>CN=CA<S>CN={name}"
    assert next(t.text for t in connector_line if t.kind == "word") == "Set-SendConnector"
    assert not any(t.kind == "double" for t in connector_line)
    # the reply file sits in the script's directory, quoted
    import_line = next(
        line for line in script_text.splitlines() if line.startswith("Import-ExchangeCertificate")
    )
    assert f"-Server {argument(name)} " in import_line
    path = import_line.split("ReadAllBytes(", 1)[1].rsplit("))", 1)[0]
    if name:
        assert evaluate(path) == DEFAULT_SCRIPT_DIR + name


def test_renewal_files_come_from_the_script_directory() -> None:
    s = RenewalScript(
        old="AB" * 20,
        new="CD" * 20,
        subject="CN=x",
        self_signed=False,
        reply_name="reply.p7b",
        directory="D:\\it's here",
    )
    s.complete_request("EXCH01")
    s.copy_to("EXCH02")
    text = s.text()
    assert "C:\\Install" not in text and "C:\\certward" not in text
    assert "'D:\\it''s here\\reply.p7b'" in text
    assert f"'D:\\it''s here\\{'CD' * 20}.pfx'" in text


@pytest.mark.parametrize("name", HOSTILE)
def test_a_health_fix_keeps_every_name_inside_its_string(name: str) -> None:
    fix = script(
        command("Set-SendConnector", name, RequireTLS=True, TlsAuthLevel="CertificateValidation"),
        command("Import-ExchangeCertificate", Server=name, RequestFile=File(name or "x")),
    )
    finding = Finding(
        "CW-TEST-001",
        Severity.ERROR,
        name,
        f"connector {name} is broken",
        Remediation("certward ...", fix),
        connector=name,
    )
    report = HealthReport(dt.datetime(2030, 1, 1, tzinfo=dt.UTC), (finding,), (name,), 1)
    text = powershell(report, directory="E:\\fixes\\")
    statements = _statements(text)
    assert len(statements) == 1, statements  # only the fix is code; the rest are comments
    (line,) = statements
    assert [t.text for t in line if t.text in (";",)] == [";"]  # the one separator certward wrote
    assert not any(t.kind == "double" for t in line)
    first = line[: line.index(Token("op", ";"))]
    assert first[0].text == "Set-SendConnector"
    rendered = fix.render("E:\\fixes\\")
    assert rendered in text
    assert "E:\\fixes\\" in rendered


def test_health_powershell_takes_the_script_directory(org: Cli) -> None:
    org("cert", "new", "--server", "EXCH01", "--subject", "CN=mail.contoso.com", "--force")
    when = ("--as-of", "2045-01-01")
    default = org("health", "--powershell", *when, ok=False).stdout
    moved = org("health", "--powershell", "--script-dir", "D:\\Fixes", *when, ok=False).stdout
    assert f"# Files are read from and written to {DEFAULT_SCRIPT_DIR}" in default
    assert "# Files are read from and written to D:\\Fixes" in moved
    assert "Get-ExchangeCertificate" in moved
    assert len(_statements(moved)) == len(_statements(default))

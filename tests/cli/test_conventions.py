"""The command line as its users expect it: help, version, completion, output off a terminal,
PascalCase labels, and exit statuses that mean one thing each (tested command by command)."""

from __future__ import annotations

import datetime as dt
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from certward.interfaces.cli.app import app
from certward.interfaces.cli.help import EXAMPLES
from tests.conftest import Cli

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDERS = ("<bool>", "<str>", "<int>", "<list[", "<float>", "<Path>", "<path>")


def _commands() -> dict[str, Any]:
    """Every leaf command of certward, by its path (``cert new``)."""
    found: dict[str, Any] = {}

    def walk(command: Any, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            found[" ".join(path)] = command
            return
        for name, sub in subcommands.items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = sorted(_commands())


def test_every_command_has_examples_and_no_type_placeholders(cli: Cli) -> None:
    assert set(COMMANDS) == set(EXAMPLES), "help.EXAMPLES must cover exactly the commands"
    commands = _commands()
    for path in COMMANDS:
        text = cli(*path.split(), "--help").stdout
        assert "Examples:" in text, path
        assert EXAMPLES[path][0].split(" --")[0] in " ".join(text.split()), path
        for placeholder in PLACEHOLDERS:
            assert placeholder not in text, f"certward {path} --help shows {placeholder}"
        purpose = commands[path].help or ""
        assert purpose.strip().splitlines()[0].strip(), f"{path} has no one-line purpose"


@pytest.mark.parametrize("path", COMMANDS)
def test_each_example_uses_options_its_command_has(cli: Cli, path: str) -> None:
    for example in EXAMPLES[path]:
        words = shlex.split(example)
        words = words[: words.index(">")] if ">" in words else words
        assert words[0] == "certward"
        # --help is eager: the options are parsed (an unknown one is a usage error, exit 2)
        # and the command stops before it runs.
        result = cli(*words[1:], "--help", ok=True)
        assert f" {path} [OPTIONS]" in " ".join(result.stdout.split()), example


def test_help_short_and_long_and_groups(cli: Cli) -> None:
    assert cli("-h").stdout == cli("--help").stdout
    assert " cert [OPTIONS] COMMAND" in cli("cert", "-h").stdout
    text = cli("--help").stdout
    assert "--install-completion" in text and "--version" in text
    for placeholder in PLACEHOLDERS:
        assert placeholder not in text


def test_version_and_python_dash_m(cli: Cli) -> None:
    from importlib.metadata import version

    assert cli("--version").stdout.strip() == f"certward {version('certward')}"
    assert cli("-V").stdout == cli("--version").stdout
    done = subprocess.run(
        [sys.executable, "-m", "certward", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == f"certward {version('certward')}"
    done = subprocess.run(
        [sys.executable, "-m", "certward", "cert", "-h"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "Usage: " in done.stdout


def test_completion_script_for_bash(tmp_path: Path) -> None:
    """``--show-completion`` typed at a bash prompt. Typer names the shell from the process
    tree (the first shell among the ancestors; ``bash`` after the flag is not read), so the
    command runs as a bash child: under pytest the nearest shell ancestor may be none (a run
    started in the background whose shell has exited) or another shell."""
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    certward = str(Path(sys.executable).parent / "certward")
    done = subprocess.run(
        # `; exit $?` keeps bash as the parent (a lone command would be exec'd in its place).
        ["bash", "-c", '"$0" --show-completion; exit $?', certward],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "_CERTWARD_COMPLETE=complete_bash" in done.stdout
    assert done.stdout.rstrip().endswith("certward")  # complete -F _certward_completion certward


# -- output that is not a terminal --------------------------------------------------------------
def test_tables_off_a_terminal_are_tab_separated(org: Cli) -> None:
    for args in (("server", "list"), ("cert", "list", "--server", "EXCH01"), ("inventory",)):
        out = org(*args).stdout
        for box in "┏━┃│└─╭╮":
            assert box not in out, args
        lines = [line for line in out.splitlines() if "\t" in line]
        assert len(lines) >= 2, out
        width = len(lines[0].split("\t"))
        assert all(len(line.split("\t")) == width for line in lines), out
        assert "…" not in out
    inventory = org("inventory").stdout.splitlines()
    header = inventory[0].split("\t")
    assert header[:2] == ["Server", "Thumbprint"]
    assert sum(line.startswith("Server\t") for line in inventory) == 1  # one header
    assert {line.split("\t")[0] for line in inventory[1:]} == {"EXCH01", "EXCH02"}


def test_health_table_off_a_terminal_is_tab_separated(org: Cli) -> None:
    org("server", "set", "EXCH02", "--tls-min-version", "1.0")
    out = org("health", ok=False).stdout
    assert "┃" not in out and "│" not in out
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    assert rows[0][:3] == ["Server", "Severity", "Rule"]
    assert rows[1][:3] == ["EXCH02", "warning", "CW-TLS-001"]


def test_show_commands_label_fields_in_pascal_case(org: Cli) -> None:
    server = org("server", "show", "EXCH01").stdout
    assert "Fqdn" in server and "InternalTransportCertificateThumbprint" in server
    assert "_" not in "".join(line.split(" : ")[0] for line in server.splitlines())
    connector = org("connector", "show", "Default Frontend EXCH01").stdout
    labels = [line.split(" : ")[0].strip() for line in connector.splitlines()]
    assert "TlsCertificateName" in labels and "RequireTLS" in labels
    assert all("_" not in label and label[0].isupper() for label in labels), labels
    transport = org("transport", "show").stdout
    assert "TLSSendDomainSecureList" in transport
    auth = org("auth", "show").stdout
    labels = [line.split(" : ")[0].strip() for line in auth.splitlines()]
    assert "CurrentCertificateThumbprint" in labels and "CurrentCertificateNotAfter" in labels
    assert all("_" not in label and " " not in label for label in labels), labels


# -- exit status: ordinary commands ----------------------------------------------------------
def test_ordinary_commands_exit_0_done_1_refused_2_usage(org: Cli, tmp_path: Path) -> None:
    assert org("server", "show", "EXCH01").exit_code == 0
    refused = org("server", "show", "NOPE", ok=False)
    assert refused.exit_code == 1 and refused.stderr.startswith("error: ")
    assert org("server", "add", "EXCH01", "--fqdn", "x.contoso.com", ok=False).exit_code == 1
    assert org("cert", "list", ok=False).exit_code == 2  # --server missing
    assert org("cert", "list", "--server", "EXCH01", "--bogus", ok=False).exit_code == 2
    missing = tmp_path / "missing.pfx"
    result = org("cert", "import", "--server", "EXCH01", str(missing), ok=False)
    assert result.exit_code == 2 and str(missing) in result.stderr
    garbage = tmp_path / "garbage.pfx"
    garbage.write_bytes(b"not a certificate")
    assert org("cert", "import", "--server", "EXCH01", str(garbage), ok=False).exit_code == 1
    assert org("cert", "show", "12", "--server", "EXCH01", ok=False).exit_code == 2


# -- exit status: the checks (monitoring-plugins convention) --------------------------------------
def test_health_exit_ok_warning_critical_unknown(org: Cli, tmp_path: Path) -> None:
    assert org("health").exit_code == 0
    org("server", "set", "EXCH02", "--tls-min-version", "1.0")
    assert org("health", ok=False).exit_code == 1
    org(
        "vdir", "set", "owa", "--server", "EXCH01", "--external-url", "https://mail.contoso.com/owa"
    )
    assert org("health", ok=False).exit_code == 2
    for args in (
        ("health", "--min-severity", "bogus"),
        ("health", "--as-of", "next spring"),
        ("health", "--no-such-option"),
        ("health", "--server"),
    ):
        result = org(*args, ok=False)
        assert result.exit_code == 3, (args, result.exit_code, result.stderr)
    unreadable = tmp_path / "a-directory.db"
    unreadable.mkdir()
    assert org("health", "--db", str(unreadable), ok=False).exit_code == 3


def test_auth_monitor_exit_ok_warning_critical_unknown(org: Cli) -> None:
    end = dt.datetime.fromisoformat(
        org.json("auth", "show")["current"]["not_after"].replace("Z", "+00:00")
    )
    assert org("auth", "monitor").exit_code == 0
    warning = org(
        "auth", "monitor", "--as-of", (end - 30 * dt.timedelta(days=1)).isoformat(), ok=False
    )
    assert warning.exit_code == 1 and "ConfigureNextAuthRequired" in warning.stdout
    critical = org(
        "auth", "monitor", "--as-of", (end + dt.timedelta(days=10)).isoformat(), ok=False
    )
    assert critical.exit_code == 2 and "ReplaceRequired" in critical.stdout
    assert org("auth", "monitor", "--as-of", "next spring", ok=False).exit_code == 3
    assert org("auth", "monitor", "--renew", "--as-of", end.isoformat(), ok=False).exit_code == 3
    assert org("auth", "monitor", "--bogus", ok=False).exit_code == 3


def test_probe_usage_errors_are_unknown(cli: Cli) -> None:
    assert cli("probe", "--no-such-option", ok=False).exit_code == 3
    assert cli("probe", "gopher://mail.contoso.com", ok=False).exit_code == 3

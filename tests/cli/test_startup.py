"""Start-up (issue 16): a command imports its own module and what it runs, nothing else.

``certward --help`` lists every command from the table in ``app.COMMANDS`` without importing
a command module; the store (SQLAlchemy), the endpoints (Twisted, pyOpenSSL) and pydantic
load only for commands that use them. Measured by the interpreter's own import log.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text

from certward.interfaces.cli import render
from certward.interfaces.cli.acme_cmd import acme_app
from certward.interfaces.cli.app import CERT_COMMANDS, COMMANDS, app, cert_app
from certward.interfaces.cli.common import _group
from tests.conftest import Cli
from tests.modules_loaded import MAIN_LISTING_MODULES

HEAVY = ("sqlalchemy", "pydantic", "twisted", "OpenSSL", "alembic", "fastapi", "acme")


def _imported(tmp_path: Path, *args: str) -> set[str]:
    """Modules a fresh ``python -m certward ARGS`` imports."""
    env = {**os.environ, "CERTWARD_DB": str(tmp_path / "certward.db"), "COLUMNS": "120"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "certward", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def _loaded(db: Path, listing: Path, *args: str) -> set[str]:
    """Every module a fresh ``certward ARGS`` on the store ``db`` has loaded when it ends."""
    env = {**os.environ, "CERTWARD_DB": str(db), "COLUMNS": "120"}
    env["CERTWARD_TEST_MODULES"] = str(listing)
    done = subprocess.run(
        [sys.executable, "-c", MAIN_LISTING_MODULES, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(listing.read_text(encoding="utf-8").split())


def _command_modules(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith("certward.interfaces.cli.") and m.endswith("_cmd")}


def _roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_every_listed_summary_starts_its_commands_own_help() -> None:
    """The listing's summaries come from the table: each must still be how the command's
    own help begins (change ``app.COMMANDS`` with the command's first sentence)."""
    root = typer.main.get_command(app)
    tables = [("", root, COMMANDS), ("cert ", root.commands["cert"], CERT_COMMANDS)]
    for prefix, group, table in tables:
        assert list(table) == [name for name in group.commands if name in table]
        for name, lazy in table.items():
            command = group.commands[name]
            own = " ".join((command.help or "").split())
            summary = " ".join(lazy.summary.split()).rstrip(".")
            assert own.startswith(summary), (
                f"certward {prefix}{name}: app.COMMANDS says {summary!r}, its help {own[:120]!r}"
            )


def test_help_and_version_import_no_command_module_and_nothing_heavy(tmp_path: Path) -> None:
    for args in (["--help"], ["--version"]):
        modules = _imported(tmp_path, *args)
        # acme_cmd names the options of `cert request --acme` that app.py declares
        assert _command_modules(modules) <= {"certward.interfaces.cli.acme_cmd"}, args
        assert not _roots(modules) & set(HEAVY), args
        assert "certward.model" not in modules and "certward.compose" not in modules, args


def test_a_command_imports_its_own_module_only(tmp_path: Path) -> None:
    modules = _imported(tmp_path, "probe", "--help")
    assert _command_modules(modules) - {"certward.interfaces.cli.acme_cmd"} == {
        "certward.interfaces.cli.probe_cmd"
    }
    modules = _imported(tmp_path, "rules")
    assert _command_modules(modules) - {"certward.interfaces.cli.acme_cmd"} == {
        "certward.interfaces.cli.health_cmd"
    }


@pytest.mark.parametrize("args", [["server", "list"], ["cert", "list", "--server", "EXCH01"]])
def test_read_commands_load_no_endpoint_stack_and_no_pydantic(
    org: Cli, isolated_store: Path, args: list[str]
) -> None:
    # The store: the session's Contoso (EXCH01, EXCH02), copied for this test by ``org``.
    modules = _imported(isolated_store.parent, *args)
    assert "sqlite3" in modules  # it did open the store: without SQLAlchemy (test_startup_reads)
    assert not _roots(modules) & set(HEAVY)


def test_cert_list_loads_no_connectors_users_or_emoji_names(
    org: Cli, isolated_store: Path, tmp_path: Path
) -> None:
    """What listing certificates does not use: the connectors and Exchange's selection rules
    (removing a certificate does), users and tokens (the command line's actor is the local
    account), rich's table of emoji names (no cell has an emoji code), health's reads of the
    whole organisation (the rows of facts, ACME orders and Edge subscriptions)."""
    modules = _loaded(isolated_store, tmp_path / "modules.txt", "cert", "list", "-s", "EXCH01")
    assert "certward.services.certificates" in modules
    unused = {"certward.services.connectors", "certward.model.access", "rich._emoji_codes",
              "certward.storage.snapshot_rows"}  # fmt: skip
    assert not modules & unused


def test_server_list_loads_no_automation_observed_or_connector_model(
    org: Cli, isolated_store: Path, tmp_path: Path
) -> None:
    """Listing servers reads servers: not ACME, deployments, Edge subscriptions, observed
    servers' facts or the connectors' rules (a new server's defaults load with ``server
    add``; the storage ports name the rest in annotations only)."""
    modules = _loaded(isolated_store, tmp_path / "modules.txt", "server", "list")
    assert "certward.services.organisation" in modules
    unused = {"certward.model.acme", "certward.model.deploy", "certward.model.edge",
              "certward.model.observed", "certward.storage.facts",
              "certward.services.connectors", "certward.pki.selection"}  # fmt: skip
    assert not modules & unused, modules & unused


def test_health_prints_its_summary_and_findings_off_a_terminal_without_rich(
    cli: Cli, isolated_store: Path, tmp_path: Path
) -> None:
    """``health`` off a terminal (a monitor, a pipe) writes its summary line and its
    findings' tab-separated lines itself: what rich's console prints there (made to print
    them with ``TTY_COMPATIBLE=0``, which leaves rich the decision), without loading it."""
    cli("quickstart")
    modules = _loaded(isolated_store, tmp_path / "healthy.txt", "health")
    assert "certward.health.engine" in modules
    assert not {m for m in modules if m.split(".")[0] == "rich"}

    def later(listing: str, **env: str) -> tuple[str, set[str]]:
        environ = {**os.environ, "CERTWARD_DB": str(isolated_store), "COLUMNS": "120", **env}
        environ["CERTWARD_TEST_MODULES"] = str(tmp_path / listing)
        done = subprocess.run(
            [sys.executable, "-c", MAIN_LISTING_MODULES, "health", "--as-of", "2040-01-01"],
            capture_output=True, text=True, env=environ, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr[-2000:]  # CRITICAL: certificates expired
        return done.stdout, set((tmp_path / listing).read_text(encoding="utf-8").split())

    ours, loaded = later("ours.txt")
    riches, rich_loaded = later("rich.txt", TTY_COMPATIBLE="0")
    assert ours == riches
    assert not {m for m in loaded if m.split(".")[0] == "rich"}
    assert "rich.table" in rich_loaded
    first, header, *rows = ours.splitlines()
    assert first.startswith("Health as of 2040-01-01 00:00 UTC: 3 servers,"), first
    assert header.split("\t") == ["Server", "Severity", "Rule", "Finding", "Fix"]
    assert rows and all(row.count("\t") == 4 for row in rows)
    assert any("\tEMS: " not in row and " EMS: " in row for row in rows)  # fix folded


@given(st.text(alphabet=st.sampled_from("ab \t\n\r\x07\x08\x0b\x0c\x1c\x1b\x85\u2028\\é")))
def test_a_flat_cell_drops_the_control_codes_rich_drops(text: str) -> None:
    """:func:`render.flat` (no rich) against rich's own ``strip_control_codes``."""
    from rich.control import strip_control_codes

    expected = " ".join(strip_control_codes(text).replace("\t", " ").splitlines())
    assert render.flat(text) == expected


def test_a_group_makes_only_the_command_that_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Making a command reads its function's signature and evaluates its annotations: a
    group makes the one that runs (and, for its help, all), listed in typer's order (the
    command modules' commands, its own, then its sub-groups)."""
    for group in (cert_app, acme_app):
        assert list(_group(group).commands) == list(typer.main.get_group(group).commands)
    made: list[str | None] = []
    make = typer.main.get_command_from_info

    def making(info: Any, **options: Any) -> Any:
        made.append(info.name)
        return make(info, **options)

    monkeypatch.setattr(typer.main, "get_command_from_info", making)
    commands = _group(cert_app).commands
    assert commands["list"].name == "list" and made == ["list"]
    assert commands["list"] is commands["list"] and made == ["list"]


@given(st.text(alphabet=st.sampled_from("ab =,.-:[]/\t\n\r\x07\x08\x0b\x0c\x1c\x85\u2028é")))
def test_a_plain_cell_is_printed_as_rich_would_print_it(cell: str) -> None:
    """Off a terminal a table's cells are plain text; a cell without markup skips rich's
    markup and must come out the same (emoji codes are never read: printed as written)."""
    try:
        expected = Text.from_markup(cell, emoji=False).plain
    except Exception:  # not markup rich reads: the cell goes to rich as before
        return
    assert render._plain(cell) == " ".join(expected.replace("\t", " ").splitlines())


def test_values_keep_typers_conversion_and_messages(cli: Cli) -> None:
    """Plain values skip pydantic; a value they cannot convert still gets typer's message."""
    bad = cli("cert", "new", "--server", "X", "--subject", "CN=x", "--key-size", "big", ok=False)
    assert bad.exit_code == 2 and "Invalid value for '--key-size'" in bad.stderr
    listed = cli("cert", "list", "--server", "NOPE", ok=False)
    assert listed.exit_code == 1 and "NOPE" in listed.stderr


@pytest.mark.parametrize("ending", [SystemExit(2), KeyboardInterrupt()])
def test_the_command_lines_objects_are_left_out_of_the_exit_collections(
    monkeypatch: pytest.MonkeyPatch, ending: BaseException
) -> None:
    """Interpreter exit would run full collections over every object a command loaded (issue
    16): ``main`` freezes them once the command has run, however it ends."""
    from certward.interfaces.cli import app as cli_app

    frozen: list[bool] = []
    monkeypatch.setattr(cli_app.gc, "freeze", lambda: frozen.append(True))

    def run() -> None:
        raise ending

    monkeypatch.setattr(cli_app, "app", run)
    with pytest.raises(type(ending)):
        cli_app.main()
    assert frozen == [True]


def test_a_command_runs_with_the_collector_off_and_one_that_runs_on_turns_it_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command loads with the collector off (a collection in the middle of its imports
    only walks objects that all live); ``serve``, ``web``, ``watch``, ``agent`` and the
    prober call ``long_running`` once loaded, and then collect what they leave in cycles.
    A caller in the same process gets the collector back as it was."""
    from certward.collector import long_running
    from certward.interfaces.cli import app as cli_app

    seen: list[bool] = []

    def run() -> None:
        seen.append(gc.isenabled())
        long_running()
        seen.append(gc.isenabled())
        gc.disable()  # a short command's own state, whatever it was, does not outlive main

    monkeypatch.setattr(cli_app, "app", run)
    assert gc.isenabled()
    try:
        cli_app.main()
    finally:
        gc.unfreeze()  # the test process's objects back into the collections
    assert seen == [False, True]
    assert gc.isenabled()

"""Read commands without SQLAlchemy (issue 16): an existing SQLite store is read through
:mod:`certward.storage.sqlite_reads`, which must answer exactly as the repository does, and
hand over to the full store for anything it cannot answer."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from certward.compose import build_app, build_read_app
from certward.errors import StoreError
from certward.model import StoreName
from certward.storage import SqlStore
from certward.storage.sqlite_reads import NotReadHere, SqliteReadStore
from tests.cli.test_observe_files import RECEIVE
from tests.conftest import Cli
from tests.interop.test_observe import BUILT

READ_COMMANDS = [
    ["server", "list"],
    ["cert", "list", "--server", "EXCH01"],
    ["cert", "list", "--server", "OBS01"],  # observed
]


@pytest.fixture
def demo(cli: Cli, isolated_store: Path, tmp_path: Path) -> Path:
    """The demo organisation, a server without certificates and two observed servers."""
    cli("quickstart")
    cli("server", "add", "EX2007", "--fqdn", "ex2007.contoso.com", "--version", "2007")
    dump = tmp_path / "receive.txt"
    dump.write_text(RECEIVE, encoding="utf-8")
    cli("observe", "TESTSRV", str(dump))
    dumps = [str(p) for p in sorted(BUILT.glob("*.txt")) if "authconfig" not in p.name]
    cli("observe", "OBS01", *dumps, "--version", "2010")
    return isolated_store


def test_the_reader_answers_as_the_repository(demo: Path) -> None:
    full = build_app(str(demo))
    reader = SqliteReadStore(demo)
    try:
        with full.store.transaction() as repo, reader.transaction() as reads:
            assert reads.meta("master_key") == repo.meta("master_key") is not None
            assert reads.meta("nothing") is repo.meta("nothing") is None
            assert reads.organisation() == repo.organisation() is not None
            servers = repo.servers()
            assert reads.servers() == servers and len(servers) >= 7
            for store in StoreName:
                assert reads.certificate_counts(store) == repo.certificate_counts(store)
            for server in servers:
                for name in (server.name, server.name.lower()):
                    assert reads.server(name) == repo.server(name)
                    assert reads.has_server(name) and repo.has_server(name)
                for store in (None, *StoreName):
                    records = repo.certificates(server.name, store)
                    assert reads.certificates(server.name, store) == records
                    seen = repo.observed_certificates(server.name, store)
                    assert reads.observed_certificates(server.name, store) == seen
                assert reads.observed_facts(server.name) == repo.observed_facts(server.name)
                vdirs = repo.virtual_directories(server.name)
                assert reads.virtual_directories(server.name) == vdirs
            assert any(repo.observed_certificates(s.name) for s in servers if s.observed)
            assert any(repo.observed_facts(s.name) for s in servers if s.observed)
            assert any(repo.virtual_directories(s.name) for s in servers)
            assert any(r.has_private_key for r in repo.certificates("EXCH01"))
            assert not reads.has_server("NOPE") and not repo.has_server("NOPE")
    finally:
        reader.close()
        full.store.close()


def test_what_the_reader_does_not_have_goes_to_the_full_store(demo: Path) -> None:
    reader = SqliteReadStore(demo)
    try:
        with reader.transaction() as reads:
            with pytest.raises(NotReadHere):
                reads.save_server  # noqa: B018 - a write: never here
            with pytest.raises(NotReadHere):  # not an AttributeError: hasattr lets it through
                hasattr(reads, "personal_certificates_of_the_future")
    finally:
        reader.close()


def test_a_store_not_yet_current_is_opened_by_the_full_store(tmp_path: Path) -> None:
    missing = tmp_path / "new" / "certward.db"
    with pytest.raises(NotReadHere):
        SqliteReadStore(missing)
    application = build_read_app(str(missing))  # made, as every command makes it
    try:
        assert isinstance(application.store, SqlStore)
        assert application.organisation.servers() == []
    finally:
        application.store.close()
    reader = build_read_app(str(missing))
    assert isinstance(reader.store, SqliteReadStore)
    reader.store.close()
    with sqlite3.connect(missing) as connection:  # as a newer certward left it
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.close()
    with pytest.raises(NotReadHere):
        SqliteReadStore(missing)
    with pytest.raises(StoreError, match="schema version 9999, which this certward"):
        build_read_app(str(missing))  # the full store's own answer


@pytest.mark.parametrize("args", READ_COMMANDS)
def test_read_commands_print_what_the_full_store_prints(
    demo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    for extra in ([], ["--json"]):
        fast = cli(*args, *extra)
        with monkeypatch.context() as full:
            full.setattr("certward.compose.build_read_app", build_app)
            slow = cli(*args, *extra)
        assert fast.stdout == slow.stdout and fast.stdout
    fast = cli("cert", "list", "--server", "NOPE", ok=False)
    with monkeypatch.context() as full:
        full.setattr("certward.compose.build_read_app", build_app)
        slow = cli("cert", "list", "--server", "NOPE", ok=False)
    assert (fast.stderr, fast.exit_code) == (slow.stderr, slow.exit_code)
    assert fast.stderr.startswith("error: server 'NOPE' not found")


@pytest.mark.parametrize("args", READ_COMMANDS)
def test_read_commands_never_import_sqlalchemy(demo: Path, args: list[str]) -> None:
    """The start-up regression test: a read command on a current SQLite store loads
    neither SQLAlchemy nor Alembic (their import alone costs 3x the floor)."""
    env = {**os.environ, "CERTWARD_DB": str(demo), "COLUMNS": "120"}
    code = (
        "import sys, runpy; sys.argv = ['certward', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('certward', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    roots = done.stdout.splitlines()[-1]
    for heavy in ("sqlalchemy", "alembic", "pydantic", "twisted", "OpenSSL"):
        assert f"'{heavy}'" not in roots, (args, heavy)


def test_the_columns_converted_by_name_are_the_schemas_booleans_and_times() -> None:
    """sqlite_reads converts columns by name (SQLite hands back 0/1 and text): every
    Boolean and DateTime column of the tables it reads must be named, and no name may mean
    another type in another of those tables, or a read would hand back the wrong type."""
    from sqlalchemy import Boolean, DateTime

    from certward.storage import (
        repository,  # noqa: F401  (imports every table's module)
        sqlite_reads,
    )
    from certward.storage.schema import Base

    source = Path(sqlite_reads.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r"(?:FROM|JOIN) ([a-z_]+)", source)) - {"alembic_version"}
    tables = Base.metadata.tables
    assert read and read <= tables.keys(), read - tables.keys()
    columns = [c for name in read for c in tables[name].columns]
    booleans = {c.name for c in columns if isinstance(c.type, Boolean)}
    times = {c.name for c in columns if isinstance(c.type, DateTime)}
    others = {c.name for c in columns if not isinstance(c.type, (Boolean, DateTime))}
    assert booleans <= sqlite_reads._BOOLEANS, booleans - sqlite_reads._BOOLEANS
    assert times <= sqlite_reads._TIMES, times - sqlite_reads._TIMES
    assert not (sqlite_reads._BOOLEANS | sqlite_reads._TIMES) & others
    assert not sqlite_reads._BOOLEANS & times

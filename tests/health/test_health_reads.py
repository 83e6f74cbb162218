"""``certward health`` without SQLAlchemy (issue 16): on an existing SQLite store the
organisation is read through :mod:`certward.storage.sqlite_reads`, which must read the same
snapshot as the repository, and hand a write (facts worked out from DER) to the full store."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from certward.compose import build_app
from certward.health.engine import evaluate
from certward.health.profiles import PROFILES
from certward.model import ServiceSet, StoreName
from certward.model.deploy import DeployKind, Deployment, DeployOutcome, DeployPaths
from certward.services.health import read_snapshot, read_snapshot_per_server
from certward.storage.sqlite_reads import STORE_ORDER, NotReadHere, SqliteReadStore
from tests.acme_records import add_failing_order
from tests.cli.test_observe_files import RECEIVE
from tests.conftest import Cli
from tests.health.builders import NOW
from tests.health.test_snapshot_scale import store_organisation
from tests.interop.test_observe import BUILT


@pytest.fixture
def organisation(cli: Cli, isolated_store: Path, tmp_path: Path) -> Path:
    """The demo organisation (its Edge subscribed), two observed servers, an accepted
    domain and an ACME order that failed: every part of the store health reads."""
    cli("quickstart")
    cli("edge", "subscribe", "EDGE01", "--site", "Amsterdam")
    dump = tmp_path / "receive.txt"
    dump.write_text(RECEIVE, encoding="utf-8")
    cli("observe", "TESTSRV", str(dump))
    dumps = [str(p) for p in sorted(BUILT.glob("*.txt")) if "authconfig" not in p.name]
    cli("observe", "OBS01", *dumps, "--version", "2010")
    cli("domain", "add", "fabrikam.com")
    application = build_app(str(isolated_store))
    try:
        with application.store.transaction() as repo:
            add_failing_order(repo, NOW)
            repo.add_deployment(
                Deployment("nginx", DeployKind.NGINX, "EXCH01", ServiceSet.parse("IIS"),
                           DeployPaths.in_directory(DeployKind.NGINX, "/etc/nginx/certward"),
                           "https://127.0.0.1:443", host="web1", reload=("nginx", "-s", "reload"))
            )  # fmt: skip
            for ok in (True, False):  # the newest, a failure, is the one health judges
                repo.add_deploy_result(
                    "nginx",
                    DeployOutcome(ok, NOW, deployed="AB" * 20, served=None, rolled_back=not ok,
                                  code=None if ok else "deploy.reload_failed", steps=("x",)),
                    source="agent:web1",
                )  # fmt: skip
    finally:
        application.store.close()
    return isolated_store


def test_the_reader_reads_the_snapshot_the_repository_reads(organisation: Path) -> None:
    full = build_app(str(organisation))
    reader = SqliteReadStore(organisation)
    try:
        PROFILES.clear()  # each read makes its profiles from the recorded facts
        with full.store.reading() as repo:
            expected = read_snapshot(repo)
        PROFILES.clear()
        with reader.reading() as reads:
            snapshot = read_snapshot(reads)
            assert reads.all_connectors() and reads.edge_subscriptions()
            assert reads.accepted_domains() and reads.acme_orders()
            assert [r.last.code for r in snapshot.deployments if r.last] == ["deploy.reload_failed"]
    finally:
        reader.close()
        full.store.close()
    assert snapshot == expected
    observed = {s.server.name for s in snapshot.servers if s.server.observed}
    assert {"TESTSRV", "OBS01"} <= observed
    assert snapshot.edge_subscriptions and snapshot.acme_orders and snapshot.auth_certificates
    assert evaluate(snapshot, NOW).to_json() == evaluate(expected, NOW).to_json()


def test_the_reader_keeps_each_trusted_store_in_the_order_it_was_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root and CA stores in other orders than their thumbprints' (shuffled, partial, a
    pending request among the roots), and a root taken out of the middle of a store and put
    back (now its last): the reader, which takes each store's order from the store-order
    index instead of reading the ids, gives the stores the repository gives (sorted by the
    ids it reads), and the snapshot read server by server. Its plan is that index alone,
    in its order (no sort: SQLite's aggregate sees each store's rows in id order)."""
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "ab" * 32)
    path = tmp_path / "scale.db"
    store_organisation(f"sqlite:///{path}", 12, seed=12)
    full = build_app(str(path))
    try:
        with full.store.transaction() as repo:
            roots = repo.certificates("EXCH03", StoreName.ROOT)
            moved = roots[len(roots) // 2]
            repo.delete_certificate(moved)
            repo.add_certificate(moved)
        with full.store.reading() as repo:
            expected_stores = repo.trusted_thumbprints()
            PROFILES.clear()
            expected = read_snapshot_per_server(repo)
    finally:
        full.store.close()
    reader = SqliteReadStore(path)
    try:
        with reader.reading() as reads:
            stores = reads.trusted_thumbprints()
            PROFILES.clear()
            snapshot = read_snapshot(reads)
            steps = reads._plain(f"EXPLAIN QUERY PLAN {STORE_ORDER}", "Root", "CA")
    finally:
        reader.close()
    assert stores == expected_stores
    assert stores[("EXCH03", StoreName.ROOT)][-1] == moved.thumbprint
    assert any(list(tps) != sorted(tps) for tps in stores.values())  # not thumbprint order
    assert snapshot == expected
    plan = " ".join(str(step[-1]) for step in steps)
    assert "COVERING INDEX ix_certificates_store_order" in plan and "TEMP B-TREE" not in plan


def test_health_prints_what_the_full_store_prints(
    organisation: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("health", "--json", "--as-of", "2027-06-01")
    fast = cli(*args, ok=False)
    with monkeypatch.context() as full:
        full.setattr("certward.compose.build_read_app", build_app)
        slow = cli(*args, ok=False)
    assert (fast.stdout, fast.exit_code) == (slow.stdout, slow.exit_code)
    assert json.loads(fast.stdout)["findings"]
    one = cli("health", "--server", "exch01", "--json", ok=False)
    assert json.loads(one.stdout)["servers"] == ["EXCH01"]
    missing = cli("health", "--server", "NOPE", ok=False)
    assert missing.stderr.startswith("error: server 'NOPE' not found")


def _facts_count(store: Path) -> int:
    with sqlite3.connect(store) as connection:
        (count,) = connection.execute("SELECT count(*) FROM certificate_facts").fetchone()
    connection.close()
    return int(count)


def test_facts_worked_out_are_recorded_after_the_read(organisation: Path, cli: Cli) -> None:
    """Certificates stored before their facts were: health works them out from DER, reads
    without writing, then records them (as the repository does), and the next run reads
    them; the findings are the same throughout."""
    before = cli("health", "--json", "--as-of", "2027-06-01", ok=False).stdout
    recorded = _facts_count(organisation)
    with sqlite3.connect(organisation) as connection:
        connection.execute("DELETE FROM certificate_facts")
    connection.close()
    reader = SqliteReadStore(organisation)
    try:
        PROFILES.clear()
        with reader.reading() as reads:
            read_snapshot(reads)  # worked out from DER; a read records nothing
        assert _facts_count(organisation) == 0
        with reader.transaction() as reads, pytest.raises(NotReadHere):
            reads.save_server  # noqa: B018 - any other write: the full store's
    finally:
        reader.close()
    PROFILES.clear()  # a fresh process
    assert cli("health", "--json", "--as-of", "2027-06-01", ok=False).stdout == before
    assert _facts_count(organisation) == recorded > 0
    PROFILES.clear()
    assert cli("health", "--json", "--as-of", "2027-06-01", ok=False).stdout == before


def test_health_never_imports_sqlalchemy(organisation: Path) -> None:
    """The start-up regression test for health, as for the other read commands."""
    env = {**os.environ, "CERTWARD_DB": str(organisation), "COLUMNS": "120"}
    code = (
        "import sys, runpy; sys.argv = ['certward', 'health']\n"
        "try:\n    runpy.run_module('certward', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert exit.code in (0, 1, 2), exit.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    roots = done.stdout.splitlines()[-1]
    for heavy in ("sqlalchemy", "alembic", "pydantic", "twisted", "OpenSSL"):
        assert f"'{heavy}'" not in roots, heavy

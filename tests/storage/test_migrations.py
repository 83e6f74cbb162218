"""Schema versions: new stores are made by the Alembic revisions, old ones upgraded in place."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from certward.compose import build_app
from certward.errors import StoreError
from certward.model import StoreName
from certward.storage.migrations import HEAD, script_head
from certward.storage.schema import Base

FIXTURES = Path(__file__).parent / "fixtures"
PREVIOUS_RELEASE = FIXTURES / "certward-0.1-3ec2978.db"
PREVIOUS_RELEASE_KEY = "fixture-master-key"


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "ab" * 32)  # used as is: no scrypt


def _version(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def test_head_names_the_newest_revision() -> None:
    assert script_head() == HEAD


def test_a_new_store_is_the_models_at_head(database_url: str) -> None:
    build_app(database_url).store.close()
    assert _version(database_url) == HEAD
    engine = create_engine(database_url)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert differences == []


def test_a_store_made_before_alembic_is_upgraded(database_url: str) -> None:
    """A database of a release before Alembic (no ``alembic_version``), even one older than
    the baseline (a column missing), is brought to the baseline and then to HEAD."""
    app = build_app(database_url)
    app.organisation.init_organisation("Contoso", domain="contoso.com")
    app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    app.store.close()
    engine = create_engine(database_url)
    with engine.begin() as conn:  # as an earlier certward left it
        for table in (
            *("alembic_version", "meta", "generation", "observed_facts"),
            *("users", "api_tokens", "web_sessions", "one_time_logins", "audit_log"),  # 0004
            *("watch_targets", "job_runs", "finding_history", "notify_channels"),  # 0005
            "notify_outbox",
            *("acme_challenges", "acme_orders", "acme_accounts"),  # 0006
            *("deployments", "deploy_results"),  # 0007
            *("agent_tokens", "agent_checkins"),  # 0008
            "certificate_facts",  # 0009
        ):
            conn.execute(text(f"DROP TABLE {table}"))
        for column in ("archived", "exportable", "status", "public_key_algorithm", "der"):
            conn.execute(text(f"ALTER TABLE observed_certificates DROP COLUMN {column}"))
        conn.execute(text("DROP INDEX ix_certificates_store_order"))  # 0010
        conn.execute(text("DROP INDEX uq_organisations_singleton"))
        conn.execute(text("ALTER TABLE organisations DROP COLUMN singleton"))
        conn.execute(text("ALTER TABLE servers DROP COLUMN observed"))
    engine.dispose()

    reopened = build_app(database_url)
    try:
        (summary,) = reopened.organisation.servers()
        assert summary.server.name == "EXCH01" and summary.server.observed is False
        assert reopened.organisation.organisation().name == "Contoso"
        with pytest.raises(StoreError, match="already exists"):
            reopened.organisation.init_organisation("Fabrikam")
    finally:
        reopened.store.close()
    assert _version(database_url) == HEAD


def _row_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        tables = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def test_the_previous_release_s_database_upgrades_and_keeps_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "certward.db"
    shutil.copyfile(PREVIOUS_RELEASE, path)
    before = _row_counts(path)
    assert "alembic_version" not in before and before["certificates"] > 0
    monkeypatch.setenv("CERTWARD_MASTER_KEY", PREVIOUS_RELEASE_KEY)

    app = build_app(str(path))
    try:
        assert app.organisation.organisation().name == "Contoso"
        assert app.organisation.organisation().transport.tls_send_domain_secure_list == (
            "fabrikam.com",
        )
        names = [s.server.name for s in app.organisation.servers()]
        assert names == ["EDGE01", "EXCH01", "EXCH02", "EXCH09"]
        views = app.certificates.list_certificates("EXCH02")
        assert any(v.services.flags == "...WS.." for v in views)
        exportable = [v for v in views if v.has_private_key]
        assert exportable  # the keys still open with the release's master key
        for view in exportable:
            with app.store.transaction() as repo:
                record = repo.certificate("EXCH02", view.thumbprint, StoreName.MY)
                assert repo.private_key(record) is not None
    finally:
        app.store.close()
    after = _row_counts(path)
    assert {t: n for t, n in after.items() if t in before} == before
    assert _version(f"sqlite:///{path}") == HEAD


def test_a_store_from_a_newer_certward_is_refused(database_url: str) -> None:
    build_app(database_url).store.close()
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="schema version 9999"):
        build_app(database_url)


def test_downgrade_to_the_baseline_and_up_again(database_url: str) -> None:
    from certward.storage.migrations import downgrade, upgrade

    app = build_app(database_url)
    app.organisation.init_organisation("Contoso")
    app.store.close()
    engine = create_engine(database_url)
    with engine.begin() as conn:
        downgrade(conn, "0001")
    assert "meta" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        upgrade(conn)
    engine.dispose()
    assert _version(database_url) == HEAD

"""Concurrent writers lose nothing: 16 processes at once, on SQLite and on PostgreSQL.

Each writer is a separate process (forked, so that it does not pay for imports) with its
own engine and connections, released together by a barrier; then the rows are counted.
The services are imported here, before the fork, so that 16 writers do not import them
16 times over on two cores.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.synchronize import Barrier

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, text

import certward.services.connectors
import certward.services.organisation
from certward.compose import App, build_app
from certward.errors import CertwardError
from certward.model import Organisation
from certward.pki import build
from certward.storage.migrations import HEAD

PRELOADED = (certward.services.connectors, certward.services.organisation)  # before the fork
WRITERS = 16
KEY = "cd" * 32  # a key used as is (no scrypt), so that 16 openings stay cheap


def _domain_secure_add(app: App, index: int) -> None:
    app.connectors.domain_secure("send", f"partner{index:02}.example", add=True)


def _org_init(app: App, index: int) -> None:
    app.organisation.init_organisation(f"Org{index:02}", domain="contoso.com")


def _first_use(app: App, index: int) -> None:
    app.organisation.servers()


def _server_add(app: App, index: int) -> None:
    app.organisation.add_server(f"EXCH{index:02}", fqdn=f"exch{index:02}.contoso.com")


def _same_server_add(app: App, index: int) -> None:
    app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")


ACTIONS: dict[str, Callable[[App, int], None]] = {
    "domain_secure_add": _domain_secure_add,
    "org_init": _org_init,
    "first_use": _first_use,
    "server_add": _server_add,
    "same_server_add": _same_server_add,
}


def _writer(
    url: str, action: str, index: int, barrier: Barrier, results: multiprocessing.Queue[str]
) -> None:
    os.environ["CERTWARD_MASTER_KEY"] = KEY
    try:
        barrier.wait(timeout=60)
        app = build_app(url)
        try:
            ACTIONS[action](app, index)
        finally:
            app.store.close()
        results.put("ok")
    except CertwardError as exc:
        results.put(f"{exc.code.id}: {exc}")
    except BaseException as exc:
        results.put(f"crash: {exc!r}")


def _run(url: str, action: str) -> list[str]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WRITERS)
    results: multiprocessing.Queue[str] = ctx.Queue()
    processes = [
        ctx.Process(target=_writer, args=(url, action, i, barrier, results)) for i in range(WRITERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert not [o for o in outcomes if "locked" in o or o.startswith("crash")], outcomes
    return outcomes


def _count(url: str, query: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(query)).scalar() or 0)
    finally:
        engine.dispose()


def _prepared(url: str) -> None:
    """A store with an organisation but no auth certificate, so that adding a server does
    not open and re-seal the auth certificate's key (what is measured is the store)."""
    os.environ["CERTWARD_MASTER_KEY"] = KEY
    app = build_app(url)
    try:
        with app.store.transaction() as repo:
            repo.save_organisation(Organisation(name="Contoso", domain="contoso.com"))
    finally:
        app.store.close()


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", KEY)


@pytest.fixture(scope="module")
def _one_rsa_key() -> rsa.RSAPrivateKey:
    return build.generate_key()


@pytest.fixture(autouse=True)
def _fast_server_keys(monkeypatch: pytest.MonkeyPatch, _one_rsa_key: rsa.RSAPrivateKey) -> None:
    """Every new server's self-signed certificate gets one key made once: what is measured
    here is the store under concurrent writers, not 16 RSA key generations in a row."""
    monkeypatch.setattr(build, "generate_key", lambda bits=2048: _one_rsa_key)


def test_domain_secure_adds_all_land(database_url: str) -> None:
    _prepared(database_url)
    assert _run(database_url, "domain_secure_add") == ["ok"] * WRITERS
    app = build_app(database_url)
    try:
        listed = app.organisation.organisation().transport.tls_send_domain_secure_list
    finally:
        app.store.close()
    assert sorted(listed) == [f"partner{i:02}.example" for i in range(WRITERS)]


def test_org_init_on_a_new_store_makes_one_organisation(database_url: str) -> None:
    outcomes = _run(database_url, "org_init")
    assert outcomes.count("ok") == 1
    assert all(o.startswith("organisation.exists:") for o in outcomes if o != "ok"), outcomes
    assert _count(database_url, "SELECT COUNT(*) FROM organisations") == 1
    assert _count(database_url, "SELECT COUNT(*) FROM published_certificates") == 1
    assert (
        _count(
            database_url,
            "SELECT COUNT(*) FROM organisations o JOIN published_certificates p "
            "ON p.thumbprint = o.auth_thumbprint",
        )
        == 1
    )


def test_first_use_of_a_new_store_succeeds_everywhere(database_url: str) -> None:
    assert _run(database_url, "first_use") == ["ok"] * WRITERS
    assert _count(database_url, "SELECT COUNT(*) FROM alembic_version") == 1
    assert _count(database_url, "SELECT COUNT(*) FROM generation") == 1
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    engine.dispose()


def test_servers_of_distinct_names_are_all_added(database_url: str) -> None:
    _prepared(database_url)
    assert _run(database_url, "server_add") == ["ok"] * WRITERS
    assert _count(database_url, "SELECT COUNT(*) FROM servers") == WRITERS
    # each got its self-signed certificate with it
    assert _count(database_url, "SELECT COUNT(DISTINCT server_id) FROM certificates") == WRITERS


def test_a_server_name_is_added_once(database_url: str) -> None:
    _prepared(database_url)
    outcomes = _run(database_url, "same_server_add")
    assert outcomes.count("ok") == 1
    assert all(o.startswith("server.exists:") for o in outcomes if o != "ok"), outcomes
    assert _count(database_url, "SELECT COUNT(*) FROM servers") == 1


def test_a_unique_constraint_is_one_coded_line(database_url: str) -> None:
    """A duplicate that gets past the services' checks is refused by the database, and the
    refusal reads as one line with a code (PostgreSQL's has a DETAIL line of its own)."""
    app = build_app(database_url)
    try:
        app.organisation.init_organisation("Contoso")
        with app.store.transaction() as repo:
            org = repo.organisation()
            assert org is not None and org.auth.current_thumbprint is not None
            der, key = repo.published_certificate(org.auth.current_thumbprint)
        with pytest.raises(CertwardError) as caught, app.store.transaction() as repo:
            repo.save_published_certificate(der, key)
    finally:
        app.store.close()
    assert caught.value.code.id == "store.object_exists"
    assert "\n" not in str(caught.value)
    assert "published certificate with that thumbprint" in str(caught.value)

"""The store's audit capture itself: one entry per changing transaction, nothing for a
transaction that changed nothing, bulk statements, very large transactions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from certward.compose import App, build_app
from certward.model.access import AccessRole, Channel
from certward.model.audit import Actor, acting
from certward.storage.audit_capture import MAX_CHANGES
from certward.storage.schema_access import UserRow
from tests.access.conftest import MASTER_KEY


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", MASTER_KEY)
    application = build_app(f"sqlite:///{tmp_path / 'certward.db'}")
    try:
        yield application
    finally:
        application.store.close()


def _count(app: App) -> int:
    return len(app.audit.entries(limit=100_000))


def test_one_entry_per_changing_transaction_and_none_otherwise(app: App) -> None:
    app.access.add_user("alice", AccessRole.ADMIN, "correct horse battery staple")
    assert _count(app) == 1
    app.access.users()  # a read
    app.access.set_role("alice", AccessRole.ADMIN)  # the same role: nothing changed
    with app.store.transaction() as repo:  # created and removed within one transaction
        repo.add_accepted_domain("fabrikam.com")
        repo._session.delete(_domain_row(repo))  # type: ignore[attr-defined]
    assert _count(app) == 1

    with acting(Actor("deploy", Channel.API, "POST /api/v1/x")), app.store.transaction() as repo:
        repo.add_accepted_domain("contoso.com")
        repo.add_accepted_domain("tailspintoys.com")
    (entry,) = app.audit.entries(limit=1)
    assert (entry.actor, entry.via, entry.action) == ("deploy", Channel.API, "POST /api/v1/x")
    assert [(c.kind, c.identity) for c in entry.changes] == [
        ("accepted domain", "contoso.com"),
        ("accepted domain", "tailspintoys.com"),
    ]

    with app.store.transaction() as repo:  # a bulk statement: its table, as a bulk change
        repo._session.execute(update(UserRow).values(disabled=False))  # type: ignore[attr-defined]
    (bulk,) = app.audit.entries(limit=1)
    assert (bulk.actor, bulk.via) == ("unknown", Channel.LIBRARY)  # no actor was set
    assert [(c.kind, c.identity, c.after) for c in bulk.changes] == [
        ("user", "(bulk change)", {"table": "users"})
    ]


def _domain_row(repo: object) -> object:
    from sqlalchemy import select

    from certward.storage.schema import AcceptedDomainRow

    session = repo._session  # type: ignore[attr-defined]
    return session.scalars(select(AcceptedDomainRow)).one()


def test_a_very_large_transaction_lists_the_first_objects_and_counts_the_rest(app: App) -> None:
    from certward.storage.schema import AcceptedDomainRow

    with app.store.transaction() as repo:
        session = repo._session  # type: ignore[attr-defined]
        session.add_all(AcceptedDomainRow(domain=f"d{i}.example") for i in range(MAX_CHANGES + 5))
    (entry,) = app.audit.entries(limit=1)
    assert len(entry.changes) == MAX_CHANGES + 1
    assert entry.changes[-1].identity == "5 more objects"
    assert entry.changes[-1].after == {"accepted domain": 5}

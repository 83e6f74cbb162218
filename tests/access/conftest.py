"""Stores on SQLite and PostgreSQL for the access and audit tests (the storage tests'
throwaway PostgreSQL cluster)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

MASTER_KEY = "cd" * 32  # used as is: no scrypt


class MovableClock:
    """A clock the test moves (session idle time, token and code expiry)."""

    def __init__(self, start: dt.datetime) -> None:
        self.instant = start

    def now(self) -> dt.datetime:
        return self.instant

    def advance(self, delta: dt.timedelta) -> None:
        self.instant += delta


@pytest.fixture(scope="session")
def postgresql_template(postgresql_url: str) -> str:
    """A database with certward's schema and this master key's check value, copied for
    each test (``CREATE DATABASE ... TEMPLATE``: much faster than migrating each)."""
    from certward.compose import build_app

    name = f"certward_access_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgresql_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CERTWARD_MASTER_KEY", MASTER_KEY)
        build_app(postgresql_url.rsplit("/", 1)[0] + f"/{name}").store.close()
    return name


def new_database(backend: str, directory: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'certward-{uuid.uuid4().hex[:8]}.db'}"
        return
    server_url: str = request.getfixturevalue("postgresql_url")
    template: str = request.getfixturevalue("postgresql_template")
    name = f"certward_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    yield server_url.rsplit("/", 1)[0] + f"/{name}"  # the cluster goes when the session ends


@pytest.fixture(params=["sqlite", "postgresql"])
def access_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A new, empty store's URL (its master key in the environment)."""
    monkeypatch.setenv("CERTWARD_MASTER_KEY", MASTER_KEY)
    yield from new_database(request.param, tmp_path, request)

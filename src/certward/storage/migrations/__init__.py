"""Schema versions of the store, as Alembic revisions in ``versions/``.

:func:`ensure_schema` runs when a :class:`~certward.storage.SqlStore` opens its database.
When ``alembic_version`` already names :data:`HEAD` it costs one short read and does not
import Alembic. Otherwise it takes the schema lock (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: ``pg_advisory_xact_lock``), looks again, and upgrades within that transaction,
so of many processes first using a new database one creates the tables and the others
wait, then find them. A database without ``alembic_version`` starts from revision 0001,
which also brings databases of releases before Alembic to the baseline.

A new revision: ``alembic -x ... revision`` is not wired up; copy the newest file in
``versions/``, set ``revision``/``down_revision``, and move :data:`HEAD` to it (a test
checks that HEAD is Alembic's head).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from certward.codes.general import STORE_UNAVAILABLE

if TYPE_CHECKING:  # SQLAlchemy loads with the store; HEAD is read without it (sqlite_reads)
    from alembic.config import Config
    from sqlalchemy import Connection, Engine

HEAD = "0010"
"""The revision this code's models are; stores are upgraded to it on opening."""

READ_ONLY = "certward_read_only"
"""Execution option: begin SQLite's transaction deferred (no write lock), for short reads."""

_SCHEMA_LOCK = 0x63657274  # "cert": pg_advisory_xact_lock key of the schema lock


def ensure_schema(engine: Engine) -> None:
    """Create or upgrade the store's schema to :data:`HEAD` (see the module docstring)."""
    from sqlalchemy import text

    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        if _version(connection) == HEAD:
            return
    with engine.begin() as connection:  # SQLite: BEGIN IMMEDIATE, the write lock
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        version = _version(connection)
        if version == HEAD:
            return
        if version is not None and version not in _known_revisions():
            url = engine.url.render_as_string(hide_password=True)
            raise STORE_UNAVAILABLE(
                f"{url}: the database has schema version {version}, which this certward "
                f"does not know (it knows up to {HEAD}): a newer certward made or upgraded it",
                database=url,
            )
        upgrade(connection)


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` on ``connection``, inside its transaction."""
    from alembic import command

    command.upgrade(_config(connection), revision)


def downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.downgrade(_config(connection), revision)


def script_head() -> str | None:
    """Alembic's head revision of ``versions/`` (what :data:`HEAD` must name)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config(None)).get_current_head()


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {
        script.revision for script in ScriptDirectory.from_config(_config(None)).walk_revisions()
    }


def _config(connection: Connection | None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def _version(connection: Connection) -> str | None:
    """The stored revision, or None when the database has no ``alembic_version`` yet."""
    from sqlalchemy import text

    if connection.dialect.name == "postgresql":
        present = connection.execute(text("SELECT to_regclass('alembic_version')")).scalar()
    else:
        present = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
        ).scalar()
    if present is None:
        return None
    version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if version is None else str(version)

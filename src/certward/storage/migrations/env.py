"""Alembic's environment for certward: run on the connection :func:`upgrade` passes in.

certward runs its migrations itself when it opens a store (no ``alembic.ini``); the
connection arrives in ``config.attributes["connection"]`` already inside the transaction
that holds the schema lock, so every revision applies within that one transaction.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()

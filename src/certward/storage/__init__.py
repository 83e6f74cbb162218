"""Persistence: SQLAlchemy repository (SQLite default, PostgreSQL by URL) and key vault.

The names below load on first use, so that a module of this package that needs no
SQLAlchemy (:mod:`~certward.storage.sqlite_reads`, :mod:`~certward.storage.vault`) can be
imported without it (issue 16: start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certward.storage.repository import Repository, SqlStore
    from certward.storage.vault import KeyVault

__all__ = ["KeyVault", "Repository", "SqlStore"]

_WHERE = {
    "KeyVault": "certward.storage.vault",
    "Repository": "certward.storage.repository",
    "SqlStore": "certward.storage.repository",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    __import__(module)
    import sys

    return getattr(sys.modules[module], name)

"""Persistence: SQLAlchemy repository (SQLite default, PostgreSQL by URL) and key vault."""

from certward.storage.repository import Repository, SqlStore
from certward.storage.vault import KeyVault

__all__ = ["KeyVault", "Repository", "SqlStore"]

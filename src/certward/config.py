"""Settings: where the database lives and where the master key comes from.

Resolution order for the database: ``--db PATH_OR_URL``, then ``$CERTWARD_DB``, then
``certward.db`` under the user's data directory. A plain path means SQLite.
The master key that encrypts private keys comes from ``$CERTWARD_MASTER_KEY``, else from a
key file ``certward.key`` beside the SQLite database (or in the data directory for a server
database), created with mode 0600 on first use.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from certward.codes.general import MASTER_KEY_INVALID

DB_ENV = "CERTWARD_DB"
MASTER_KEY_ENV = "CERTWARD_MASTER_KEY"
KEY_FILE_NAME = "certward.key"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    key_file: Path
    sqlite_path: Path | None = None  # the database file, for SQLite

    @property
    def state_dir(self) -> Path:
        """Where live endpoints keep mail and logs: beside the SQLite file, else the data
        directory (one organisation per database)."""
        return self.sqlite_path.parent if self.sqlite_path is not None else data_dir()


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir("certward", appauthor=False))


def _as_url(value: str) -> tuple[str, Path | None]:
    """Return (SQLAlchemy URL, SQLite file path or None) for a path or URL."""
    if "://" in value:
        file = value.removeprefix("sqlite:///")
        if value.startswith("sqlite:///") and file and file != ":memory:":
            return value, Path(file)
        return value, None
    path = Path(value).expanduser().resolve()
    return f"sqlite:///{path}", path


def load_settings(db: str | None = None) -> Settings:
    value = db or os.environ.get(DB_ENV) or str(data_dir() / "certward.db")
    url, sqlite_path = _as_url(value)
    key_dir = sqlite_path.parent if sqlite_path is not None else data_dir()
    return Settings(database_url=url, key_file=key_dir / KEY_FILE_NAME, sqlite_path=sqlite_path)


def master_key(settings: Settings) -> bytes:
    """The master key: from the environment, else from (a newly created) 0600 key file."""
    from_env = os.environ.get(MASTER_KEY_ENV)
    if from_env:
        return from_env.encode()
    path = settings.key_file
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        # The mode is set at creation, before any byte of the key is written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return _read_key_file(path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key


def _read_key_file(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if not key:
        raise MASTER_KEY_INVALID(f"{path}: master key file is empty", file=str(path))
    return key

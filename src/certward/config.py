"""Settings: where the database lives and where the master key comes from.

Resolution order for the database: ``--db PATH_OR_URL``, then ``$CERTWARD_DB``, then
``certward.db`` under the user's data directory. A plain path means SQLite; a new SQLite
file is created with mode 0600 (its -wal and -shm files inherit the mode).
The master key that encrypts private keys comes from ``$CERTWARD_MASTER_KEY``, else from a
key file ``certward.key`` beside the SQLite database (or in the data directory for a server
database). The key file is made (mode 0600, atomically) only for a store that holds no
sealed key yet; :mod:`certward.services.keys` decides that and checks the key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from certward.atomic import write_atomically
from certward.codes.general import MASTER_KEY_INVALID

DB_ENV = "CERTWARD_DB"
MASTER_KEY_ENV = "CERTWARD_MASTER_KEY"
NEW_MASTER_KEY_ENV = "CERTWARD_NEW_MASTER_KEY"
KEY_FILE_NAME = "certward.key"
# SQLite's companions of a database file: they hold its pages as much as the file does.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


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

    @property
    def staged_key_file(self) -> Path:
        """Where a rotation keeps the new key until the database is re-sealed under it."""
        return self.key_file.with_name(self.key_file.name + ".new")

    def own_files(self) -> dict[Path, str]:
        """The store's own files, which no output may replace: {path: what it is}."""
        files = {self.key_file: "master key file", self.staged_key_file: "master key file"}
        if self.sqlite_path is not None:
            files[self.sqlite_path] = "database"
            for suffix in SQLITE_COMPANIONS:
                files[Path(f"{self.sqlite_path}{suffix}")] = "database journal"
        return files


@dataclass(frozen=True, slots=True)
class MasterKey:
    """The master key as given (its text) and where it was read. Its repr shows no secret."""

    text: bytes = field(repr=False)
    source: str  # "$CERTWARD_MASTER_KEY" or the key file's path

    def __post_init__(self) -> None:
        if not self.text:
            raise ValueError("master key text must not be empty")

    def __repr__(self) -> str:
        return f"MasterKey(<redacted>, source={self.source!r})"


_OPENED: list[Settings] = []


def note_opened(settings: Settings) -> None:
    """Remember that this process opened the store of ``settings`` (its files are then
    protected from every output this process writes)."""
    if settings not in _OPENED:
        _OPENED.append(settings)


def opened_settings() -> tuple[Settings, ...]:
    return tuple(_OPENED)


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir("certward", appauthor=False))


def _as_url(value: str) -> tuple[str, Path | None]:
    """Return (SQLAlchemy URL, SQLite file path or None) for a path or URL."""
    if "://" in value:
        file = value.removeprefix("sqlite:///")
        if value.startswith("sqlite:///") and file and file != ":memory:":
            return value, Path(file).expanduser().resolve()
        return value, None
    path = Path(value).expanduser().resolve()
    return f"sqlite:///{path}", path


def load_settings(db: str | None = None) -> Settings:
    value = db or os.environ.get(DB_ENV) or str(data_dir() / "certward.db")
    url, sqlite_path = _as_url(value)
    key_dir = sqlite_path.parent if sqlite_path is not None else data_dir()
    return Settings(database_url=url, key_file=key_dir / KEY_FILE_NAME, sqlite_path=sqlite_path)


def prepare_database_file(settings: Settings) -> None:
    """Make the SQLite file's directory, and the file itself empty with mode 0600 when it
    does not exist yet, before the engine opens it (SQLite gives -wal/-shm its mode)."""
    note_opened(settings)
    path = settings.sqlite_path
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def read_master_key(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> MasterKey | None:
    """The master key from ``$CERTWARD_MASTER_KEY``, else from the key file; None when
    neither exists (whether a new key may be made is the caller's decision)."""
    env = os.environ if environ is None else environ
    from_env = env.get(MASTER_KEY_ENV)
    if from_env:
        return MasterKey(from_env.encode(), f"${MASTER_KEY_ENV}")
    try:
        return read_key_file(settings.key_file)
    except FileNotFoundError:
        return None


def read_key_file(path: Path) -> MasterKey:
    """A key file's key (surrounding white space is not part of it); FileNotFoundError
    propagates."""
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise MASTER_KEY_INVALID(
            f"{path}: cannot read the master key file ({exc.strerror})", file=str(path)
        ) from None
    if not key:
        raise MASTER_KEY_INVALID(f"{path}: master key file is empty", file=str(path))
    return MasterKey(key, str(path))


def new_key_text() -> bytes:
    """A new random master key in the key file's format: 32 bytes as 64 hex digits."""
    return secrets.token_hex(32).encode()


def create_key_file(path: Path) -> MasterKey:
    """A new key file with a new random key, unless one appeared meanwhile: then that one.

    The key is written to a temporary 0600 file, fsynced and linked to ``path`` (which
    fails if ``path`` exists), so processes starting at once all end up with one key and
    none ever reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another process made it first: its key
        write_atomically(path, new_key_text() + b"\n", mode=0o600, replace=False)
    return read_key_file(path)

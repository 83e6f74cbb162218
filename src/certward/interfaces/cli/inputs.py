"""Reading what the user hands the CLI: files, password files, and writing outputs."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certward.codes.general import INPUT_FILE_UNREADABLE, INPUT_INVALID, INPUT_MISSING
from certward.codes.keys import OUTPUT_EXISTS, OUTPUT_PROTECTED
from certward.interfaces.cli.common import root_db

if TYPE_CHECKING:
    from certward.model import Password

# Every command that writes an output file offers this flag (and nothing else replaces a file).
OverwriteOpt = Annotated[
    bool, typer.Option("--force", help="Replace the output file if it exists.")
]


def check_output(path: Path | None, *, force: bool) -> None:
    """Refuse an output early, before any work: a protected file always, an existing one
    without ``force``. :func:`write_file` checks again when it writes (atomically)."""
    if path is None:
        return
    target = path.expanduser()
    _refuse_own_file(path, target)
    if not force and os.path.lexists(target):
        raise OUTPUT_EXISTS(f"{path}: the file exists; it was left as it was", file=str(path))
    _require_directory(path, target)


def _require_directory(path: Path, target: Path) -> None:
    """An output's directory must exist: found before the work, nothing is done (or
    audited, as a key export is) for a file that could not be written."""
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise INPUT_INVALID(f"{path}: directory {directory} does not exist")


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise INPUT_FILE_UNREADABLE(f"{path}: no such file") from None
    except IsADirectoryError:
        raise INPUT_FILE_UNREADABLE(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise INPUT_FILE_UNREADABLE(f"{path}: cannot read ({exc.strerror})") from None


def read_password(path: Path | None, *, confirm: bool = False, required: bool) -> Password | None:
    """The password from a file (first line), else typed at a terminal, else none."""
    from certward.model import Password

    if path is not None:
        lines = read_file(path).splitlines()
        value = lines[0] if lines else b""
        if not value:
            raise INPUT_INVALID(f"{path}: the password file is empty")
        return Password(value)
    if not required:
        return None
    if not sys.stdin.isatty():
        raise INPUT_MISSING("a password is required: pass --password-file FILE")
    first = getpass.getpass("Password: ").encode()
    if confirm and getpass.getpass("Confirm password: ").encode() != first:
        raise INPUT_INVALID("the passwords do not match")
    if not first:
        raise INPUT_INVALID("the password must not be empty")
    return Password(first)


def write_file(path: Path, data: bytes, *, private: bool = False, force: bool = False) -> None:
    """Write an output file atomically (temporary file in the same directory, fsynced,
    then put in place; the directory fsynced). An existing file is replaced only with
    ``force``; the store's own database, journal and key files never. ``private`` files
    (keys) are 0600 from their creation, before any byte goes in."""
    # Imported here: only a command that writes a file needs it (and its tempfile, random).
    from certward.atomic import default_mode, write_atomically

    target = path.expanduser()
    _require_directory(path, target)
    _refuse_own_file(path, target)
    try:
        write_atomically(target, data, mode=0o600 if private else default_mode(), replace=force)
    except FileExistsError:
        raise OUTPUT_EXISTS(
            f"{path}: the file exists; it was left as it was", file=str(path)
        ) from None
    except OSError as exc:
        raise INPUT_INVALID(f"{path}: cannot write ({exc.strerror})") from None


def _refuse_own_file(path: Path, target: Path) -> None:
    """Refuse ``target`` when it is one of the store's own files, under any spelling:
    a relative path, ``./``, a symbolic link (resolved) or a hard link (same inode)."""
    from certward.config import KEY_FILE_NAME, load_settings, opened_settings

    own = load_settings(root_db.get()).own_files()
    own |= {p: w for opened in opened_settings() for p, w in opened.own_files().items()}
    resolved = Path(os.path.realpath(target))
    what = own.get(resolved)
    if what is None and resolved.name in (KEY_FILE_NAME, f"{KEY_FILE_NAME}.new"):
        what = "master key file"
    if what is None and resolved.exists():
        identity = _identity(resolved)
        for candidate, kind in own.items():
            if identity is not None and _identity(candidate) == identity:
                what = kind
                break
    if what is not None:
        raise OUTPUT_PROTECTED(
            f"{path} is the store's {what} ({resolved}); no output replaces it",
            file=str(path),
        )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino

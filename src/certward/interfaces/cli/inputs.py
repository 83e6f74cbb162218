"""Reading what the user hands the CLI: files, password files, and writing outputs."""

from __future__ import annotations

import getpass
import os
import sys
import tempfile
from pathlib import Path

from certward.codes.general import INPUT_FILE_UNREADABLE, INPUT_INVALID, INPUT_MISSING
from certward.model import Password


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


def write_file(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write atomically (temporary file + rename); ``private`` files get mode 0600 first."""
    target = path.expanduser()
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise INPUT_INVALID(f"{path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
        try:
            if private:
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise INPUT_INVALID(f"{path}: cannot write ({exc.strerror})") from None

"""Writing a file so that it is either wholly there or not at all (no I/O beyond the file).

The data goes to a temporary file in the target's directory, created with its final mode
before any byte goes in, fsynced, then put in place: linked when the target must not
exist yet (``link`` fails if it does, so two writers cannot both win), renamed over it
otherwise; the directory is fsynced last so the new name survives a crash.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

__all__ = ["default_mode", "fsync_directory", "staged_file", "write_atomically"]


def default_mode() -> int:
    """The mode an ordinary new file gets under this process's umask (0666 & ~umask)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a platform without directory handles (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def staged_file(
    path: Path, data: bytes, *, mode: int, uid: int = -1, gid: int = -1, prefix: str | None = None
) -> Path:
    """A temporary file next to ``path`` (named ``prefix`` + random + ``.tmp``; default
    ``.NAME.``) holding ``data``: owner (``-1``: the process's), group and ``mode`` are set
    while it is empty, then the bytes are written and fsynced. The caller puts it in place
    or removes it; on an error it is removed and the error propagates."""
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=prefix if prefix is not None else f".{path.name}.", suffix=".tmp"
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp made it 0600 and empty: owner and mode are settled before any byte.
            if uid != -1 or gid != -1:
                os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_atomically(path: Path, data: bytes, *, mode: int, replace: bool) -> None:
    """Put ``data`` at ``path`` with ``mode``, atomically.

    ``replace=False`` raises :class:`FileExistsError` when ``path`` exists (checked by the
    operation that creates the name, not beforehand). OSError otherwise propagates."""
    tmp = staged_file(path, data, mode=mode)
    try:
        if replace:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
        fsync_directory(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _link_new(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links: O_EXCL on the final name keeps the race shut,
        # at the price of the name existing (empty) for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, os.stat(tmp).st_mode & 0o777)
        with os.fdopen(fd, "wb") as handle:
            handle.write(tmp.read_bytes())
            handle.flush()
            os.fsync(handle.fileno())

"""Writing a deployment's files all-or-nothing, keeping the previous ones for rollback.

Each file is first *staged* (:func:`certward.atomic.staged_file`, the project's one way to
write a file atomically): a temporary file in the target's directory (``.NAME.certward-
….tmp``), given its owner, group and mode before any byte goes in (certbot's habit: a key
is never readable by others, not even for an instant), written and fsynced. Only when every
file is staged are the current files linked to ``NAME.previous`` and the staged ones renamed
over them; the directories are fsynced last. A crash before the renames leaves the old
files untouched (the stale temporaries are swept on the next run); a failed rename puts back
the ones already renamed.

Two runs of the same files never overlap: :func:`locked` holds an exclusive ``flock`` on
each target directory for the whole run (write, reload, probe, rollback). The lock is the
host's, not the store's, because what must not interleave is two writers of the same files
on this machine — ``certward deploy run`` by a person beside another ``deploy run --all``,
two agents started with different ``--root`` — and a host agent has no database. ``flock``
on the directory itself leaves no lock file behind and is released by the kernel when its
holder dies. A second run is refused at once (``deploy.busy``), not queued.

A target directory that does not exist is not created (``deploy.no_directory``): its owner
and mode are the daemon's packaging's to choose, and a mistyped ``--dir`` must not quietly
become a new directory the daemon never reads.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import os
import pwd
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from certward.atomic import fsync_directory, staged_file
from certward.codes.deploy import DEPLOY_BUSY, DEPLOY_NO_DIRECTORY

__all__ = [
    "PREVIOUS_SUFFIX",
    "FileSpec",
    "Staged",
    "ids_of",
    "locked",
    "restore",
    "stage",
    "sweep_stale",
]

PREVIOUS_SUFFIX = ".previous"
_TMP_INFIX = ".certward-"
_TMP_SUFFIX = ".tmp"


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One file to write: where, its bytes (never in ``repr``: they may be a key), its mode
    and owner (``-1``: the writing process's)."""

    path: Path
    data: bytes = field(repr=False)
    mode: int
    uid: int = -1
    gid: int = -1


def ids_of(owner: str | None, group: str | None) -> tuple[int, int]:
    """The uid and gid of a user and group given by name or number (None: ``-1``, keep the
    process's). ``KeyError`` names one that does not exist."""
    uid = gid = -1
    if owner is not None:
        uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
    if group is not None:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    return uid, gid


def previous_of(path: Path) -> Path:
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def sweep_stale(paths: Iterable[Path]) -> list[Path]:
    """Remove temporaries an interrupted earlier run left next to ``paths``; those removed."""
    removed: list[Path] = []
    for path in paths:
        with contextlib.suppress(OSError):
            for stale in path.parent.glob(f".{path.name}{_TMP_INFIX}*{_TMP_SUFFIX}"):
                with contextlib.suppress(OSError):
                    stale.unlink()
                    removed.append(stale)
    return removed


_HELD = threading.local()  # the directories this thread holds (``dirs``: a set)


@contextlib.contextmanager
def locked(paths: Iterable[Path]) -> Iterator[None]:
    """Hold an exclusive lock on the directory of each of ``paths`` (in sorted order, so two
    runs cannot deadlock) while the block runs. A directory that does not exist is
    ``deploy.no_directory``; one another run holds is ``deploy.busy``.

    Re-entrant on one thread: a directory this thread holds already (a deploy service that
    locked before releasing the key, then the executor) is not locked again; every other
    holder, another thread of this process included, is refused."""
    mine: set[Path] = _HELD.__dict__.setdefault("dirs", set())
    wanted = sorted({p.parent for p in paths} - mine)
    held: list[int] = []
    try:
        for directory in wanted:
            try:
                fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            except (FileNotFoundError, NotADirectoryError):
                raise DEPLOY_NO_DIRECTORY(
                    f"directory {directory} does not exist: create it with the owner and "
                    "mode the daemon expects, then deploy again",
                    directory=str(directory),
                ) from None
            held.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                raise DEPLOY_BUSY(
                    f"another deploy into {directory} is under way; try again when it is over",
                    directory=str(directory),
                ) from None
        mine.update(wanted)
        yield
    finally:
        mine.difference_update(wanted[: len(held)])
        for fd in held:
            os.close(fd)


def _stage_one(spec: FileSpec) -> Path:
    return staged_file(
        spec.path,
        spec.data,
        mode=spec.mode,
        uid=spec.uid,
        gid=spec.gid,
        prefix=f".{spec.path.name}{_TMP_INFIX}",
    )


@dataclass
class Staged:
    """Files written next to their targets, not yet in place: :meth:`commit` puts them there
    (keeping the current files as ``.previous``), :meth:`discard` removes them."""

    specs: tuple[FileSpec, ...]
    temporaries: list[Path]
    existed: dict[Path, bool] = field(default_factory=dict)

    def commit(self) -> None:
        """Keep each current file as ``NAME.previous`` (a hard link: same bytes, mode and
        owner), then rename each staged file over its target; on an error the targets
        already replaced are restored and the error propagates."""
        done: list[Path] = []
        try:
            for spec in self.specs:
                self.existed[spec.path] = _keep_previous(spec.path)
            for spec, tmp in zip(self.specs, self.temporaries, strict=True):
                os.replace(tmp, spec.path)
                done.append(spec.path)
            for directory in {s.path.parent for s in self.specs}:
                fsync_directory(directory)
        except BaseException:
            restore(done, self.existed)
            self.discard()
            raise

    def discard(self) -> None:
        for tmp in self.temporaries:
            tmp.unlink(missing_ok=True)


def stage(specs: Sequence[FileSpec]) -> Staged:
    """Write every file's temporary (owner, mode, bytes, fsync); none is in place yet.
    On an error the temporaries already written are removed and the error propagates."""
    sweep_stale(s.path for s in specs)
    temporaries: list[Path] = []
    try:
        for spec in specs:
            temporaries.append(_stage_one(spec))
    except BaseException:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        raise
    return Staged(tuple(specs), temporaries)


def _link_over(source: Path, target: Path, purpose: str) -> None:
    """Make ``target`` a hard link to ``source``, atomically: a link under a temporary
    name renamed over ``target``, which is therefore always wholly old or wholly new."""
    link = target.with_name(f".{target.name}{_TMP_INFIX}{purpose}{_TMP_SUFFIX}")
    link.unlink(missing_ok=True)
    os.link(source, link)
    try:
        os.replace(link, target)
    except BaseException:
        link.unlink(missing_ok=True)
        raise


def _keep_previous(path: Path) -> bool:
    """Link ``path`` to ``path.previous`` (replacing an older one); whether ``path``
    existed."""
    if not path.exists():
        return False
    _link_over(path, previous_of(path), "previous")
    return True


def restore(paths: Iterable[Path], existed: dict[Path, bool]) -> list[str]:
    """Put each file's ``.previous`` back (or remove the file when there was none before);
    the problems met, in words (empty: all restored). ``.previous`` stays, so a second
    restore does the same."""
    problems: list[str] = []
    directories: set[Path] = set()
    for path in paths:
        directories.add(path.parent)
        try:
            if existed.get(path, True):
                _link_over(previous_of(path), path, "restore")
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
    for directory in directories:
        fsync_directory(directory)
    return problems

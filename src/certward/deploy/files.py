"""Writing a deployment's files all-or-nothing, keeping the previous ones for rollback.

Each file is first *staged*: a temporary file in the target's directory (``.NAME.certward-
….tmp``), given its owner, group and mode before any byte goes in (certbot's habit: a key
is never readable by others, not even for an instant), written and fsynced. Only when every
file is staged are the current files linked to ``NAME.previous`` and the staged ones renamed
over them; the directories are fsynced last. A crash before the renames leaves the old
files untouched (the stale temporaries are swept on the next run); a failed rename puts back
the ones already renamed.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from certward.atomic import fsync_directory

__all__ = [
    "PREVIOUS_SUFFIX",
    "FileSpec",
    "Staged",
    "ids_of",
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


def _stage_one(spec: FileSpec) -> Path:
    fd, name = tempfile.mkstemp(
        dir=spec.path.parent, prefix=f".{spec.path.name}{_TMP_INFIX}", suffix=_TMP_SUFFIX
    )
    tmp = Path(name)
    try:
        # mkstemp made it 0600 and empty: owner and mode are settled before any byte.
        if spec.uid != -1 or spec.gid != -1:
            os.fchown(fd, spec.uid, spec.gid)
        os.fchmod(fd, spec.mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(spec.data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


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


def _keep_previous(path: Path) -> bool:
    """Link ``path`` to ``path.previous`` (atomically replacing an older one); whether
    ``path`` existed."""
    if not path.exists():
        return False
    previous = previous_of(path)
    link = path.with_name(f".{path.name}{_TMP_INFIX}previous{_TMP_SUFFIX}")
    link.unlink(missing_ok=True)
    os.link(path, link)
    os.replace(link, previous)
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
                link = path.with_name(f".{path.name}{_TMP_INFIX}restore{_TMP_SUFFIX}")
                link.unlink(missing_ok=True)
                os.link(previous_of(path), link)
                os.replace(link, path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
    for directory in directories:
        fsync_directory(directory)
    return problems

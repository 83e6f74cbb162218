"""The one way a name becomes part of a path (pure: no file is touched).

Server names, mailbox addresses and queue ids become directories and files under
certward's data directory. :func:`safe_join` adds each as exactly one path component and
proves the result stays under the base, whatever the name holds.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

__all__ = ["safe_join"]

_SEPARATORS = ("/", "\\")


def _check_part(part: str) -> None:
    if not part:
        raise ValueError("path part is empty")
    if part in (".", ".."):
        raise ValueError(f"path part {part!r} names a directory above or itself")
    if "\x00" in part:
        raise ValueError(f"path part {part!r} holds NUL")
    if any(sep in part for sep in _SEPARATORS):
        raise ValueError(f"path part {part!r} holds a path separator")
    if PurePosixPath(part).is_absolute() or PureWindowsPath(part).drive:
        raise ValueError(f"path part {part!r} is absolute")


def safe_join(base: Path, *parts: str) -> Path:
    """``base / part / ...`` where each part is one plain component (no separator, ``.``,
    ``..``, NUL, drive or root) and the resolved result lies inside the resolved ``base``;
    ``ValueError`` (naming the part) otherwise."""
    if not parts:
        raise ValueError("safe_join needs at least one part")
    for part in parts:
        if not isinstance(part, str):
            raise TypeError(f"path part must be str, not {type(part).__name__}")
        _check_part(part)
    joined = base.joinpath(*parts)
    root = Path(os.path.realpath(base))
    resolved = Path(os.path.realpath(joined))
    if resolved != root and root not in resolved.parents:
        raise ValueError(f"path {joined} leads outside {base}")
    return joined

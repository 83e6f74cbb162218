"""certward command lines as certward prints them (pure): each argument quoted for a POSIX
shell with :func:`shlex.quote`, so a name holding spaces, quotes, ``$(...)``, ``;`` or ``&``
stays one argument when the line is pasted into a shell.

Health fixes, hints and the renewal plan build the commands they print here; a test splits
each printed line with :func:`shlex.split` and compares it with the intended argv.
"""

from __future__ import annotations

import shlex

__all__ = ["AND", "OR", "certward_command"]

AND = " && "  # joins commands that run one after the other
OR = "  # or: "  # joins alternatives: the second is a comment to a shell


def certward_command(*args: str) -> str:
    """``certward`` followed by ``args``, each quoted for a POSIX shell when it needs it."""
    for arg in args:
        if not isinstance(arg, str):
            raise TypeError(f"argument must be str, not {type(arg).__name__}: {arg!r}")
    return shlex.join(("certward", *args))

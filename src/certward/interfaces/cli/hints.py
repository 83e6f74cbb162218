"""What the command line adds to an error: the flag or command that answers it.

Services speak the domain and never name a flag; this table is where a code meets the
command line. A hint is a format string over the error's facts (``{server}``), printed
after the message: ``error: <message> (<hint>)``. Codes without a hint print the message
alone. Each area keeps its hints in its own section.
"""

from __future__ import annotations

from certward.errors import CertwardError, ConfirmationRequired

HINTS: dict[str, str] = {
    # -- general ---------------------------------------------------------------------------
    "organisation.missing": "run 'certward org init NAME' first",
    # -- certificates, stores, organisation, renewal ----------------------------------------
    # -- pki, pfx ----------------------------------------------------------------------------
    # -- connectors, transport, auth, edge, observe, mail -------------------------------------
    # -- probe -------------------------------------------------------------------------------
}

# A confirmation's answers, as the flags that give them: {code: {answer: flag}}.
ANSWER_FLAGS: dict[str, dict[str, str]] = {
    "smtp.default_overwrite": {"replace": "--force", "keep": "--keep-default-smtp"},
}


def hint(error: CertwardError) -> str | None:
    """The command-line hint for an error, or None."""
    if isinstance(error, ConfirmationRequired):
        flags = ANSWER_FLAGS.get(error.code.id, {})
        parts = [f"pass {flags[a.name]} to {a.meaning}" for a in error.answers if a.name in flags]
        if parts:
            return " or ".join(parts)
    template = HINTS.get(error.code.id)
    if template is None:
        return None
    try:
        return template.format_map(dict(error.facts))
    except (KeyError, IndexError, ValueError):
        return template


def error_line(error: CertwardError) -> str:
    """``error: <message>`` plus the hint, as one line."""
    extra = hint(error)
    return f"error: {error.message}" + (f"; {extra}" if extra else "")

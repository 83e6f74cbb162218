"""One exception tree for certward, and the stable codes its refusals carry.

::

    CertwardError                 anything certward refuses or cannot do
    ├── PkiError                  bad certificate material: garbage file, wrong password, bad DN
    ├── StoreError                the store refuses: duplicate, rule broken
    │   ├── NotFoundError         a named object (server, certificate, connector) does not exist
    │   └── ConfirmationRequired  a question (Exchange's prompt) needs an answer
    ├── EndpointError             live listeners
    ├── ProbeError                the remote prober
    ├── InteropError              Windows / Exchange artefacts
    ├── AccessError               who acts is unknown or may not (issue 14)
    │   ├── AuthenticationError   a wrong password, token, session or one-time code
    │   └── PermissionDenied      the role does not allow the operation
    └── InputError                a value or file given by the caller that cannot be used

Every error carries an :class:`ErrorCode`: a stable identifier such as
``certificate.not_found`` that scripts and API clients test, with the structured facts
behind the message (``thumbprint``, ``server`` ...) in :attr:`CertwardError.facts`. The
message is written in Exchange's words for a person; it never names a command-line flag.
Each interface turns the code into its own form: the command line adds the flag that answers
it (``interfaces/cli/hints.py``), the API a problem document. ``docs/errors.md`` lists every
code and is generated from :func:`all_codes` (``certward errors --markdown``).

Raise an error by calling its code::

    raise CERTIFICATE_NOT_FOUND(f"certificate {thumb} is not on server {name}",
                                thumbprint=thumb, server=name)

Third-party errors are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar


class CertwardError(Exception):
    """Base of every error certward reports to a user."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, code: ErrorCode, **facts: object) -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message
        self.code = code
        self.facts: Mapping[str, object] = facts

    def as_dict(self) -> dict[str, object]:
        """The error as data: code, message and facts (JSON-ready)."""
        return {"code": self.code.id, "message": self.message, "facts": _plain(self.facts)}


class PkiError(CertwardError):
    """Certificate, key, request or file content that cannot be used."""


class StoreError(CertwardError):
    """An operation the organisation's store refuses."""


class NotFoundError(StoreError):
    """A named object (server, certificate, organisation) does not exist."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer to a confirmation question: a stable name and what it does."""

    name: str
    meaning: str


class ConfirmationRequired(StoreError):
    """An operation needs an answer to a question (Exchange's prompt) and none was given.

    The caller repeats the operation with one of :attr:`answers`; the command line offers
    them as flags, the API as a field of the repeated request.
    """

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode,
        question: str,
        answers: tuple[Answer, ...],
        **facts: object,
    ) -> None:
        super().__init__(message, code=code, **facts)
        self.question = question
        self.answers = answers

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data["question"] = self.question
        data["answers"] = [{"name": a.name, "meaning": a.meaning} for a in self.answers]
        return data


class EndpointError(CertwardError):
    """Live TLS endpoints."""


class ProbeError(CertwardError):
    """The remote prober."""


class InteropError(CertwardError):
    """Windows and Exchange artefacts."""


class AccessError(CertwardError):
    """Who is acting is not known (no or a wrong password, token or session) or may not do
    what was asked (issue 14: the API answers 401 or 403)."""


class AuthenticationError(AccessError):
    """Who is acting could not be established: a wrong password, an invalid token."""


class PermissionDenied(AccessError):
    """Who is acting is known but their role does not allow the operation."""


class InputError(CertwardError):
    """A file or value given by the caller that cannot be read or used (a usage error:
    exit status 2 on the command line, as for its own syntax errors)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """A stable error identifier: ``area.condition``, its kind and what it means."""

    id: str
    kind: type[CertwardError]
    summary: str

    def __call__(self, message: str, /, **facts: object) -> CertwardError:
        """The error for this code (raise it)."""
        return self.kind(message, code=self, **facts)

    def __str__(self) -> str:
        return self.id


_REGISTRY: dict[str, ErrorCode] = {}


def code(id: str, kind: type[CertwardError], summary: str) -> ErrorCode:
    """Register a code; each identifier exists once."""
    if id in _REGISTRY:
        raise ValueError(f"error code {id!r} is registered twice")
    if id.count(".") < 1 or id != id.lower() or " " in id:
        raise ValueError(f"error code {id!r} is not of the form area.condition")
    registered = ErrorCode(id, kind, summary)
    _REGISTRY[id] = registered
    return registered


def all_codes() -> Iterator[ErrorCode]:
    """Every registered code, sorted by identifier (the codes live in ``certward.codes``)."""
    import certward.codes  # noqa: F401  (registers them)

    yield from sorted(_REGISTRY.values(), key=lambda c: c.id)


def lookup(id: str) -> ErrorCode:
    import certward.codes  # noqa: F401

    return _REGISTRY[id]


# What str.splitlines() breaks at, and the other control characters a terminal acts on.
_LINE_BREAKS = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")


def one_line(message: str) -> str:
    """``message`` on one line: a third-party library's multi-line text (asn1crypto's "while
    parsing ..." lines) joined with spaces, other control characters shown escaped. Every
    error's message goes through it: the command line prints one ``error:`` line."""
    message = _LINE_BREAKS.sub(" ", message.strip())
    return _CONTROLS.sub(lambda m: repr(m.group())[1:-1], message)


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)

"""One exception tree for certward.

::

    CertwardError                 anything certward refuses or cannot do
    ├── PkiError                  bad certificate material: garbage file, wrong password, bad DN
    ├── StoreError                the store refuses: unknown thumbprint, duplicate, rule broken
    │   └── ConfirmationRequired  a question (Exchange's prompt) needs an answer
    ├── EndpointError             live listeners (later issues)
    ├── ProbeError                the remote prober (later issues)
    ├── InteropError              Windows / Exchange artefacts (later issues)
    └── InputError                a file or value from the command line that cannot be used

Third-party errors are translated at the boundary with ``raise ... from exc``; the CLI maps
every ``CertwardError`` to one ``error: ...`` line and a non-zero exit status.
"""

from __future__ import annotations


class CertwardError(Exception):
    """Base of every error certward reports to a user."""

    exit_code = 1


class PkiError(CertwardError):
    """Certificate, key, request or file content that cannot be used."""


class StoreError(CertwardError):
    """An operation the organisation's store refuses."""


class NotFoundError(StoreError):
    """A named object (server, certificate, organisation) does not exist."""


class ConfirmationRequired(StoreError):
    """An operation needs an answer to a question and none could be asked."""


class EndpointError(CertwardError):
    """Live TLS endpoints."""


class ProbeError(CertwardError):
    """The remote prober."""


class InteropError(CertwardError):
    """Windows and Exchange artefacts."""


class InputError(CertwardError):
    """A file or value given on the command line that cannot be read or used (a usage
    error: exit status 2, as for the command line's own syntax errors)."""

    exit_code = 2

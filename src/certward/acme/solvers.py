"""Challenge solvers: the contract every ACME challenge kind implements, and the registry that
makes one from data (a kind and an options mapping), so the command line and stored orders name
a solver without importing it.

A solver makes one challenge ready for the ACME server to validate (``perform``) and removes
what it put in place afterwards (``cleanup``). ``perform`` returns only when the server may
validate: the listener is up, the DNS record is visible on the zone's primary, the TLS-ALPN
certificate is served. A solver that cannot do that raises a :class:`certward.errors.CertwardError`
(``acme.solver_failed``, or ``acme.solver_settings`` for unusable options).

Each solver class also provides ``from_settings(options, context)``: it reads its options
(strings, as stored and as given on the command line) and the shared :class:`SolverContext`.
The registry maps a kind to the class by its dotted path, imported on first use.

Kinds and their options (all values are strings):

``http-01`` (:mod:`certward.acme.http01`)
    ``port`` (default 80), ``address`` (the listener's, default all), ``mode`` (``auto``,
    ``endpoint``, ``listener``), ``check-host`` (default 127.0.0.1). When ``certward serve``
    listens on the port, the key authorization is published in the store and the IIS
    endpoint answers ``/.well-known/acme-challenge/`` itself; else a short-lived listener.
``dns-01`` (:mod:`certward.acme.dns01`)
    RFC 2136 dynamic update with TSIG to the zone's primary (see that module).
``tls-alpn-01`` (:mod:`certward.acme.tlsalpn01`)
    A TLS listener answering ``acme-tls/1`` (see that module).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from certward.codes.acme import ACME_SOLVER_SETTINGS, ACME_SOLVER_UNKNOWN

if TYPE_CHECKING:
    from josepy import jwk as jose

    from acme import challenges

HTTP01 = "http-01"
DNS01 = "dns-01"
TLSALPN01 = "tls-alpn-01"
KINDS: tuple[str, ...] = (HTTP01, DNS01, TLSALPN01)


class ChallengeSolver(Protocol):
    """Makes one challenge of its kind ready for validation, and takes it down again."""

    kind: ClassVar[str]

    def perform(
        self,
        domain: str,
        challenge: challenges.KeyAuthorizationChallenge,
        account_key: jose.JWK,
    ) -> None:
        """Put the challenge's answer in place; on return the server may validate it."""

    def cleanup(
        self,
        domain: str,
        challenge: challenges.KeyAuthorizationChallenge,
        account_key: jose.JWK,
    ) -> None:
        """Remove what :meth:`perform` put in place (called even when validation failed)."""


class PendingChallenges(Protocol):
    """Where HTTP-01 key authorizations are published for certward's own IIS endpoint
    (``certward serve``) to answer; implemented by the store."""

    def publish(self, token: str, key_authorization: str, domain: str) -> None: ...

    def withdraw(self, token: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SolverContext:
    """What solvers may share from the service: the store's pending-challenge table (HTTP-01
    through the running IIS endpoint) and a timeout for readiness checks, in seconds."""

    pending: PendingChallenges | None = None
    timeout: float = 30.0
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SolverSettings:
    """A solver named by data: its kind and its options (stored with an order)."""

    kind: str
    options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _REGISTRY:
            raise ACME_SOLVER_UNKNOWN(
                f"no challenge solver of kind {self.kind!r} (known: {', '.join(KINDS)})",
                kind=self.kind,
            )

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "options": dict(self.options)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> SolverSettings:
        options = data.get("options") or {}
        if not isinstance(options, Mapping):
            raise ACME_SOLVER_SETTINGS("a solver's options are not a mapping")
        return cls(str(data.get("kind")), {str(k): str(v) for k, v in options.items()})


SolverFactory = Callable[[Mapping[str, str], SolverContext], ChallengeSolver]

_REGISTRY: dict[str, str] = {
    HTTP01: "certward.acme.http01:Http01Solver",
    DNS01: "certward.acme.dns01:Rfc2136Solver",
    TLSALPN01: "certward.acme.tlsalpn01:TlsAlpn01Solver",
}


def make_solver(settings: SolverSettings, context: SolverContext | None = None) -> ChallengeSolver:
    """The solver ``settings`` names, built by its class's ``from_settings``."""
    module_name, _, class_name = _REGISTRY[settings.kind].partition(":")
    try:
        solver_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ACME_SOLVER_UNKNOWN(
            f"the {settings.kind} challenge solver is not available ({exc})", kind=settings.kind
        ) from exc
    factory: SolverFactory = solver_class.from_settings
    return factory(settings.options, context or SolverContext())


def option(options: Mapping[str, str], name: str, kind: str, default: str | None = None) -> str:
    """A solver option, or ``default``; a missing required option is ``acme.solver_settings``."""
    value = options.get(name, default)
    if value is None:
        raise ACME_SOLVER_SETTINGS(
            f"the {kind} challenge solver needs the option {name!r}", kind=kind, option=name
        )
    return value


def int_option(options: Mapping[str, str], name: str, kind: str, default: int | None = None) -> int:
    """An integer solver option (a port, a timeout)."""
    raw = option(options, name, kind, None if default is None else str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ACME_SOLVER_SETTINGS(
            f"the {kind} challenge solver's option {name!r} is not a whole number: {raw!r}",
            kind=kind,
            option=name,
        ) from exc


FILE_OPTIONS = frozenset({"tsig-key-file"})
"""Options naming a file: made absolute when read from the command line."""


def parse_options(pairs: list[str], kind: str) -> dict[str, str]:
    """``NAME=VALUE`` strings (from the command line) as an options mapping."""
    options: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ACME_SOLVER_SETTINGS(
                f"a {kind} challenge option is not NAME=VALUE: {pair!r}", kind=kind
            )
        name = name.strip()
        if name in FILE_OPTIONS and value:
            # Stored with the order and read again by the scheduler, which runs elsewhere.
            value = str(Path(value).expanduser().absolute())
        options[name] = value
    return options

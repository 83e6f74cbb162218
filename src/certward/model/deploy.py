"""Deployments (issue 15): where a server's certificate lives on a Linux host, how the daemon
is reloaded and how the live port is probed to prove the new certificate is served.

Pure values: the executor (``certward.deploy.executor``) writes, reloads and probes; the
service (``certward.services.deploy``) stores deployments and their outcomes.

What is written, by kind (``paths``; ``--dir D`` gives these names under ``D``):

=========  =============================================  ==================================
kind       files                                          the daemon's settings
=========  =============================================  ==================================
postfix    ``certificate``: key, certificate, chain in    ``smtpd_tls_chain_files = FILE``
           one file (``key`` None; ``D/certward.pem``),   (or ``KEY, CERT`` when ``key`` is
           or ``key`` + ``certificate`` (cert + chain)    given)
dovecot    ``certificate`` (cert + chain), ``key``        ``ssl_cert = <CERT``,
                                                          ``ssl_key = <KEY``
nginx      ``certificate`` (cert + chain), ``key``        ``ssl_certificate``,
                                                          ``ssl_certificate_key``
files      ``certificate`` (cert only when ``chain`` is   whatever reads them
           given, else cert + chain), ``chain``, ``key``
=========  =============================================  ==================================

A file holding the key gets ``key_mode`` (0600 by default: the daemons read keys as root
before dropping privileges); certificate and chain files ``cert_mode`` (0644).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from certward.model.certificates import ServiceSet

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A deployment's name: a letter or digit, then letters, digits, dot, dash, underscore."""

DEFAULT_KEY_MODE = 0o600
DEFAULT_CERT_MODE = 0o644
DEFAULT_WAIT = 20.0
"""Seconds the live port is probed, after a reload, for the expected certificate."""


class DeployKind(enum.StrEnum):
    POSTFIX = "postfix"
    DOVECOT = "dovecot"
    NGINX = "nginx"
    FILES = "files"  # files only: no daemon of certward's knowledge (a reload command if given)


DEFAULT_RELOAD: Mapping[DeployKind, tuple[str, ...]] = {
    DeployKind.POSTFIX: ("postfix", "reload"),
    DeployKind.DOVECOT: ("doveadm", "reload"),
    DeployKind.NGINX: ("nginx", "-s", "reload"),
    DeployKind.FILES: (),
}
"""The reload command of each kind for the daemon's default configuration (a daemon with
its own configuration directory is reloaded with ``postfix -c DIR reload``, ``doveadm -c
CONF reload``, ``nginx -c CONF -s reload``: give that as the deployment's command)."""

DEFAULT_VERIFY: Mapping[DeployKind, str] = {
    DeployKind.POSTFIX: "smtp://127.0.0.1:25",
    DeployKind.DOVECOT: "imaps://127.0.0.1:993",
    DeployKind.NGINX: "https://127.0.0.1:443",
}
"""The port each kind is probed on when no URL is given (``files`` has none: give one)."""

_DIR_NAMES: Mapping[DeployKind, tuple[str, str | None, str | None]] = {
    # certificate file, key file (None: in the certificate file, first), chain file
    DeployKind.POSTFIX: ("certward.pem", None, None),
    DeployKind.DOVECOT: ("certward-cert.pem", "certward-key.pem", None),
    DeployKind.NGINX: ("certward-fullchain.pem", "certward-key.pem", None),
    DeployKind.FILES: ("cert.pem", "privkey.pem", "chain.pem"),
}


@dataclass(frozen=True, slots=True)
class DeployPaths:
    """The files a deployment writes (absolute paths).

    ``certificate`` always; ``key`` None puts the key first in the certificate file
    (Postfix's single ``smtpd_tls_chain_files`` file); ``chain`` None appends the chain to
    the certificate file (nginx's ``ssl_certificate``, Dovecot's ``ssl_cert``)."""

    certificate: str
    key: str | None = None
    chain: str | None = None

    @classmethod
    def in_directory(cls, kind: DeployKind, directory: str) -> DeployPaths:
        """The kind's usual file names in ``directory`` (the table in this module)."""
        cert, key, chain = _DIR_NAMES[kind]
        base = directory.rstrip("/") or "/"

        def at(name: str | None) -> str | None:
            return None if name is None else f"{base}/{name}" if base != "/" else f"/{name}"

        certificate = at(cert)
        assert certificate is not None
        return cls(certificate, at(key), at(chain))

    @property
    def all(self) -> tuple[str, ...]:
        """Every file written, the certificate's first."""
        return tuple(p for p in (self.certificate, self.key, self.chain) if p is not None)

    def to_json(self) -> dict[str, Any]:
        return {"certificate": self.certificate, "key": self.key, "chain": self.chain}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeployPaths:
        return cls(
            str(data["certificate"]), _str_or_none(data.get("key")), _str_or_none(data.get("chain"))
        )


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where ``server``'s certificate for ``services`` is installed and how it is proved.

    ``host`` None: this machine (``certward deploy run``); else the host name of the agent
    that deploys it (``certward agent --host``). ``reload`` is the argv run after the files
    are in place (empty: no reload). ``verify`` is the URL probed afterwards
    (``smtp://127.0.0.1:25`` with STARTTLS, ``imaps://…``, ``https://…``), ``sni`` the
    name sent in the TLS hello (None: the URL's host when it is a name)."""

    name: str
    kind: DeployKind
    server: str
    services: ServiceSet
    paths: DeployPaths
    verify: str
    host: str | None = None
    reload: tuple[str, ...] = ()
    sni: str | None = None
    owner: str | None = None  # None: the writing process's user
    group: str | None = None  # None: the writing process's group
    key_mode: int = DEFAULT_KEY_MODE
    cert_mode: int = DEFAULT_CERT_MODE
    wait: float = DEFAULT_WAIT

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "server": self.server,
            "services": self.services.names,
            "host": self.host,
            "paths": self.paths.to_json(),
            "owner": self.owner,
            "group": self.group,
            "key_mode": f"{self.key_mode:04o}",
            "cert_mode": f"{self.cert_mode:04o}",
            "reload": list(self.reload),
            "verify": self.verify,
            "sni": self.sni,
            "wait": self.wait,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Deployment:
        """The deployment ``to_json`` gave (the agent reads it from the API)."""
        return cls(
            name=str(data["name"]),
            kind=DeployKind(data["kind"]),
            server=str(data["server"]),
            services=ServiceSet.parse(list(data.get("services") or [])),
            paths=DeployPaths.from_json(data["paths"]),
            verify=str(data["verify"]),
            host=_str_or_none(data.get("host")),
            reload=tuple(str(a) for a in data.get("reload") or ()),
            sni=_str_or_none(data.get("sni")),
            owner=_str_or_none(data.get("owner")),
            group=_str_or_none(data.get("group")),
            key_mode=int(str(data.get("key_mode", "0600")), 8),
            cert_mode=int(str(data.get("cert_mode", "0644")), 8),
            wait=float(data.get("wait", DEFAULT_WAIT)),
        )


@dataclass(frozen=True, slots=True)
class DeployOutcome:
    """What one deploy did: ``ok`` only when the live port served the new certificate.

    ``deployed`` is the thumbprint written, ``served`` the one the port served last (after
    a rollback: the previous certificate, if it came back); ``code`` and ``detail`` say why
    it failed (a ``deploy.*`` code of ``certward.codes.deploy``)."""

    ok: bool
    when: dt.datetime
    deployed: str | None = None
    served: str | None = None
    previous: str | None = None  # the certificate the files held before
    rolled_back: bool = False
    code: str | None = None
    detail: str = ""
    steps: tuple[str, ...] = field(default=())  # what was done, in order, for the log

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "when": self.when.isoformat(),
            "deployed": self.deployed,
            "served": self.served,
            "previous": self.previous,
            "rolled_back": self.rolled_back,
            "code": self.code,
            "detail": self.detail,
            "steps": list(self.steps),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeployOutcome:
        when = dt.datetime.fromisoformat(str(data["when"]))
        return cls(
            ok=bool(data["ok"]),
            when=when if when.tzinfo else when.replace(tzinfo=dt.UTC),
            deployed=_str_or_none(data.get("deployed")),
            served=_str_or_none(data.get("served")),
            previous=_str_or_none(data.get("previous")),
            rolled_back=bool(data.get("rolled_back", False)),
            code=_str_or_none(data.get("code")),
            detail=str(data.get("detail") or ""),
            steps=tuple(str(s) for s in data.get("steps") or ()),
        )


@dataclass(frozen=True, slots=True)
class DeployRecord:
    """A stored deployment with its last outcome (``deploy list``/``show``)."""

    deployment: Deployment
    last: DeployOutcome | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.deployment.to_json(),
            "last": None if self.last is None else self.last.to_json(),
        }


def deploy_records(
    deployments: Iterable[Deployment], last: Mapping[str, DeployOutcome]
) -> list[DeployRecord]:
    """Each deployment with its newest outcome (``last``: by deployment name)."""
    return [DeployRecord(d, last.get(d.name)) for d in deployments]


def problems(d: Deployment) -> list[str]:
    """What is wrong with a deployment's settings, in words (empty: usable)."""
    found: list[str] = []
    if not NAME_PATTERN.fullmatch(d.name):
        found.append(f"name {d.name!r}: letters, digits, '.', '-', '_' (at most 64)")
    if not d.services:
        found.append("no service: name the services whose certificate is deployed")
    for path in d.paths.all:
        if not path.startswith("/"):
            found.append(f"{path}: not an absolute path")
    if len(set(d.paths.all)) != len(d.paths.all):
        found.append("the certificate, key and chain files must differ")
    for mode, what in ((d.key_mode, "key"), (d.cert_mode, "certificate")):
        if not 0 <= mode <= 0o777:
            found.append(f"{what} mode {mode:o}: not a file mode")
    if d.key_mode & 0o007:
        found.append(f"key mode {d.key_mode:04o}: the key would be readable by every user")
    if "://" not in d.verify:
        found.append(f"probe URL {d.verify!r}: not a URL such as smtp://127.0.0.1:25")
    if d.wait <= 0:
        found.append("the wait for the new certificate must be positive")
    return found


def certificate_blocks(pem: bytes) -> list[bytes]:
    """The ``CERTIFICATE`` PEM blocks of ``pem``, in order (other blocks skipped)."""
    return re.findall(
        rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----\r?\n?", pem, re.S
    )


def file_contents(
    paths: DeployPaths, certificate: bytes, chain: Sequence[bytes], key: bytes
) -> dict[str, tuple[bytes, bool]]:
    """Each file's bytes and whether it holds the key: the layout of :class:`DeployPaths`
    (all PEM, each block ending in a newline)."""

    def joined(*blocks: bytes) -> bytes:
        return b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blocks)

    out: dict[str, tuple[bytes, bool]] = {}
    cert_part = joined(certificate) if paths.chain is not None else joined(certificate, *chain)
    if paths.key is None:
        out[paths.certificate] = (joined(key) + cert_part, True)
    else:
        out[paths.certificate] = (cert_part, False)
        out[paths.key] = (joined(key), True)
    if paths.chain is not None:
        out[paths.chain] = (joined(*chain), False)
    return out


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)

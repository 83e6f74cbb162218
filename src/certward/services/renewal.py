"""Renewal as one transaction across the organisation (the gotcha of seed 002, closed).

A renewal is *planned* first — every step for every server and connector — then *applied*
in one transaction: the new certificate on every server that holds the old one, the same
services there (each server's default-SMTP choice kept), every connector whose
TlsCertificateName resolves to the old certificate pointed at the new one, and the old one
kept or removed. If any step fails, nothing has changed.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import PureWindowsPath
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from certward.clock import Clock
from certward.codes.renewal import (
    RENEWAL_CERTIFICATE_UNKNOWN,
    RENEWAL_KEY_NOT_EXPORTABLE,
    RENEWAL_NO_REQUEST,
    RENEWAL_NOT_ON_SERVER,
    RENEWAL_REPLY_DIFFERS,
    RENEWAL_REPLY_REQUIRED,
    RENEWAL_REPLY_UNEXPECTED,
)
from certward.interop.powershell import DEFAULT_SCRIPT_DIR, RenewalScript
from certward.model import (
    CertificateRecord,
    Connector,
    ConnectorKind,
    ServiceSet,
    Thumbprint,
)
from certward.pki import certinfo, formats, tlsname
from certward.pki.names import same_name
from certward.services._records import (
    RenewResult,
    Sink,
    add_successor,
    add_to_trust_stores,
    complete_request,
    copy_with_key,
    csr_bytes,
    renewal_request,
    self_signed_successor,
    take_over,
)
from certward.services.connectors import find_connector, resolve_on_server
from certward.services.ports import Repository, UnitOfWork


# -- the steps: each describes itself (plan text, JSON, EMS) and applies itself -------------
@dataclass(frozen=True, slots=True)
class Context:
    """What a step applies itself with: the open transaction and the plan's material."""

    repo: Repository
    old: Thumbprint
    new: Thumbprint
    cert: x509.Certificate
    key: rsa.RSAPrivateKey | None  # None: the key is the pending request's
    request: CertificateRecord | None
    chain: list[x509.Certificate]
    now: dt.datetime


class Step(abc.ABC):
    """One step of a renewal plan."""

    kind: ClassVar[str]

    @property
    def where(self) -> str:
        """The server or connector the step is about."""
        return getattr(self, "server", "")

    @abc.abstractmethod
    def describe(self) -> str:
        """The step as a line of the plan."""

    def _json(self) -> dict[str, Any]:
        """The step's own fields of :meth:`to_json`."""
        return {"server": getattr(self, "server", None)}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "step": self.kind,
            "server": None,
            "connector": None,
            "connector_kind": None,
            "services": [],
            "default_smtp": False,
            "tls_certificate_name": None,
            "unchanged": False,
        }
        data.update(self._json())
        data["description"] = self.describe()
        return data

    @abc.abstractmethod
    def apply(self, ctx: Context) -> None:
        """Make the change, inside the plan's transaction."""

    @abc.abstractmethod
    def write(self, script: RenewalScript) -> None:
        """The step as Exchange Management Shell commands."""


@dataclass(frozen=True, slots=True)
class CompleteRequest(Step):
    """The CA's reply completes the pending request on the server that made it."""

    server: str
    kind: ClassVar[str] = "complete-request"

    def describe(self) -> str:
        return f"complete the pending request on {self.server} with the CA reply"

    def apply(self, ctx: Context) -> None:
        assert ctx.request is not None
        complete_request(ctx.repo, ctx.request, ctx.cert)
        add_to_trust_stores(ctx.repo, self.server, ctx.chain, ctx.now)

    def write(self, script: RenewalScript) -> None:
        script.complete_request(self.server)


@dataclass(frozen=True, slots=True)
class CreateSelfSigned(Step):
    """The new self-signed certificate, on the first server that holds the old one."""

    server: str
    kind: ClassVar[str] = "create-self-signed"

    def describe(self) -> str:
        return f"create the new self-signed certificate on {self.server}"

    def apply(self, ctx: Context) -> None:
        assert ctx.key is not None
        old = ctx.repo.certificate(self.server, ctx.old)
        add_successor(ctx.repo, old, ctx.cert, ctx.key, ctx.now)

    def write(self, script: RenewalScript) -> None:
        script.create_self_signed(self.server)


@dataclass(frozen=True, slots=True)
class CopyCertificate(Step):
    """The new certificate and its key, from the server that made it to another one."""

    server: str
    origin: str
    kind: ClassVar[str] = "copy-certificate"

    def describe(self) -> str:
        return f"put the new certificate and its key on {self.server}"

    def apply(self, ctx: Context) -> None:
        source = ctx.repo.certificate(self.origin, ctx.new)
        copy_with_key(ctx.repo, source, self.server, ctx.now)
        add_to_trust_stores(ctx.repo, self.server, ctx.chain, ctx.now)

    def write(self, script: RenewalScript) -> None:
        script.copy_to(self.server)


@dataclass(frozen=True, slots=True)
class Enable(Step):
    """The old certificate's services on a server, and its default-SMTP role if it had it."""

    server: str
    services: ServiceSet
    default_smtp: bool
    kind: ClassVar[str] = "enable"

    def describe(self) -> str:
        default = " and make it the default SMTP certificate" if self.default_smtp else ""
        return f"enable it on {self.server} for {self.services}{default}"

    def _json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "services": self.services.names,
            "default_smtp": self.default_smtp,
        }

    def apply(self, ctx: Context) -> None:
        record = ctx.repo.certificate(self.server, ctx.new)
        take_over(ctx.repo, record, self.services, self.default_smtp, ctx.now)

    def write(self, script: RenewalScript) -> None:
        script.enable(self.server, self.services.names, default_smtp=self.default_smtp)


@dataclass(frozen=True, slots=True)
class PointConnector(Step):
    """A connector whose TlsCertificateName resolves to the old certificate names the new."""

    connector: str
    connector_kind: ConnectorKind
    tls_certificate_name: str
    unchanged: bool  # the issuer and subject are the same: the name already fits
    kind: ClassVar[str] = "set-connector"

    @property
    def where(self) -> str:
        return self.connector

    def describe(self) -> str:
        note = " (already names it: the issuer and subject are unchanged)" if self.unchanged else ""
        return f"point {self.connector_kind} connector {self.connector} at it{note}"

    def _json(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "connector_kind": self.connector_kind.value,
            "tls_certificate_name": self.tls_certificate_name,
            "unchanged": self.unchanged,
        }

    def apply(self, ctx: Context) -> None:
        connector = find_connector(ctx.repo, self.connector)
        ctx.repo.save_connector(replace(connector, tls_certificate_name=self.tls_certificate_name))

    def write(self, script: RenewalScript) -> None:
        script.set_tls_certificate_name(
            send=self.connector_kind is ConnectorKind.SEND,
            connector=self.connector,
            name=self.tls_certificate_name,
        )


@dataclass(frozen=True, slots=True)
class RemoveOld(Step):
    server: str
    kind: ClassVar[str] = "remove-old"

    def describe(self) -> str:
        return f"remove the old certificate from {self.server}"

    def apply(self, ctx: Context) -> None:
        ctx.repo.delete_certificate(ctx.repo.certificate(self.server, ctx.old))

    def write(self, script: RenewalScript) -> None:
        script.remove_old(self.server)


@dataclass(frozen=True, slots=True)
class KeepOld(Step):
    server: str
    kind: ClassVar[str] = "keep-old"

    def describe(self) -> str:
        return f"keep the old certificate on {self.server}"

    def apply(self, ctx: Context) -> None:
        """Nothing changes."""

    def write(self, script: RenewalScript) -> None:
        """No command: the old certificate stays."""


@dataclass(frozen=True)
class RenewalPlan:
    old: Thumbprint
    new: Thumbprint
    subject: str
    not_after: dt.datetime
    self_signed: bool
    steps: list[Step]
    reply_name: str | None = None
    chain: list[x509.Certificate] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "old_thumbprint": self.old,
            "new_thumbprint": self.new,
            "subject": self.subject,
            "new_not_after": self.not_after.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "self_signed": self.self_signed,
            "steps": [step.to_json() for step in self.steps],
        }

    def powershell(self, *, directory: str = DEFAULT_SCRIPT_DIR) -> str:
        """The same plan as Exchange Management Shell commands (seed 002's forms); files are
        read from and written to ``directory``."""
        script = RenewalScript(
            old=self.old,
            new=self.new,
            subject=self.subject,
            self_signed=self.self_signed,
            reply_name=self.reply_name,
            directory=directory,
        )
        for step in self.steps:
            script.comment(step.describe())
            step.write(script)
        return script.text()


StepHook = Callable[[Step], None]


@dataclass(frozen=True)
class _Material:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey | None  # None: the key is the pending request's
    request: CertificateRecord | None
    chain: list[x509.Certificate]


class RenewalService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def start(
        self, thumbprint: Thumbprint, *, server: str | None, sink: Sink, binary: bool = False
    ) -> RenewResult | RenewalPlan:
        """A CA certificate: a new request (same subject and SANs, new key) on one server.
        A self-signed one needs no CA: the plan is returned straight away."""
        now = self._clock.now()
        with self._uow.transaction() as repo:
            holders = _holders(repo, thumbprint)
            if server is not None:
                server = repo.server(server).name
                if server not in holders:
                    raise RENEWAL_NOT_ON_SERVER(
                        f"certificate {thumbprint} is not on server {server}",
                        thumbprint=thumbprint,
                        server=server,
                        holders=holders,
                    )
            record = repo.certificate(server or holders[0], thumbprint)
            assert record.der is not None
            if certinfo.is_self_signed(certinfo.load_der(record.der)):
                return _plan(repo, thumbprint, None, False, now)[0]
            request = renewal_request(repo, record, now)
            sink(csr_bytes(request, binary=binary))
            return RenewResult(thumbprint, request.thumbprint, pending_request=True)

    def plan(
        self,
        thumbprint: Thumbprint,
        *,
        reply: tuple[bytes, str] | None,
        remove_old: bool = False,
    ) -> RenewalPlan:
        now = self._clock.now()
        with self._uow.transaction() as repo:
            return _plan(repo, thumbprint, reply, remove_old, now)[0]

    def apply(
        self,
        thumbprint: Thumbprint,
        *,
        reply: tuple[bytes, str] | None,
        remove_old: bool = False,
        after_step: StepHook | None = None,
    ) -> RenewalPlan:
        """Run the plan in one transaction; ``after_step`` is called after each step (a
        failure there, as anywhere, rolls everything back)."""
        now = self._clock.now()
        with self._uow.transaction() as repo:
            plan, material = _plan(repo, thumbprint, reply, remove_old, now)
            ctx = Context(
                repo,
                plan.old,
                plan.new,
                material.cert,
                material.key,
                material.request,
                material.chain,
                now,
            )
            for step in plan.steps:
                step.apply(ctx)
                if after_step is not None:
                    after_step(step)
            return plan


def _holders(repo: Repository, thumbprint: Thumbprint) -> list[str]:
    holders = [
        s.name
        for s in repo.servers()
        if (r := repo.find_certificate(s.name, thumbprint)) is not None and r.der is not None
    ]
    if not holders:
        raise RENEWAL_CERTIFICATE_UNKNOWN(
            f"no server holds a certificate with thumbprint {thumbprint}", thumbprint=thumbprint
        )
    return holders


def _plan(
    repo: Repository,
    thumbprint: Thumbprint,
    reply: tuple[bytes, str] | None,
    remove_old: bool,
    now: dt.datetime,
) -> tuple[RenewalPlan, _Material]:
    holders = _holders(repo, thumbprint)
    records = {s: repo.certificate(s, thumbprint) for s in holders}
    old_record = records[holders[0]]
    assert old_record.der is not None
    old_cert = certinfo.load_der(old_record.der)
    self_signed = certinfo.is_self_signed(old_cert)
    steps: list[Step] = []
    if self_signed:
        if reply is not None:
            raise RENEWAL_REPLY_UNEXPECTED(
                f"certificate {thumbprint} is self-signed: no CA reply is needed",
                thumbprint=thumbprint,
            )
        material = _self_signed_material(old_cert, now)
        origin = holders[0]
        steps.append(CreateSelfSigned(origin))
    else:
        if reply is None:
            raise RENEWAL_REPLY_REQUIRED(
                f"certificate {thumbprint} is CA-issued: completing its renewal needs the "
                "CA's reply to the renewal request",
                thumbprint=thumbprint,
            )
        material = _reply_material(repo, old_cert, reply)
        assert material.request is not None
        origin = material.request.server
        steps.append(CompleteRequest(origin))
    new_thumb = certinfo.thumbprint(certinfo.to_der(material.cert))
    copies = [s for s in holders if s != origin]
    exportable = old_record.exportable if material.request is None else material.request.exportable
    if copies and not exportable:
        raise RENEWAL_KEY_NOT_EXPORTABLE(
            f"the new key is not exportable, so it cannot be put on {', '.join(copies)}; "
            "renew with an exportable key (the old certificate was not exportable either)",
            thumbprint=thumbprint,
            servers=copies,
        )
    steps += [CopyCertificate(s, origin) for s in copies]
    for server in [origin, *copies]:
        if server not in records:
            continue
        old = records[server]
        default = repo.server(server).default_smtp_thumbprint == thumbprint
        if old.services or default:
            steps.append(Enable(server, old.services, default))
    new_name = str(tlsname.tls_certificate_name(material.cert))
    for connector in repo.connectors():
        if resolves_to(repo, connector, thumbprint, now):
            steps.append(
                PointConnector(
                    connector.identity,
                    connector.kind,
                    new_name,
                    unchanged=(connector.tls_certificate_name or "").casefold()
                    == new_name.casefold(),
                )
            )
    end = RemoveOld if remove_old else KeepOld
    steps += [end(s) for s in holders]
    plan = RenewalPlan(
        old=thumbprint,
        new=new_thumb,
        subject=certinfo.facts(material.cert).subject,
        not_after=material.cert.not_valid_after_utc,
        self_signed=self_signed,
        steps=steps,
        reply_name=PureWindowsPath(reply[1]).name if reply else None,
        chain=material.chain,
    )
    return plan, material


def resolves_to(
    repo: Repository, connector: Connector, thumbprint: Thumbprint, now: dt.datetime
) -> bool:
    """Whether ``connector``'s TlsCertificateName resolves to ``thumbprint`` on any of its
    servers (then a renewal of that certificate points the connector at the new one)."""
    return any(
        thumbprint in resolve_on_server(repo, connector, server, now).thumbprints
        for server in connector.servers
    )


def _self_signed_material(old: x509.Certificate, now: dt.datetime) -> _Material:
    cert, key = self_signed_successor(old, now)
    return _Material(cert, key, None, [])


def _reply_material(repo: Repository, old: x509.Certificate, reply: tuple[bytes, str]) -> _Material:
    data, source = reply
    bundle = formats.load_bundle(data, source=source)
    spkis = {certinfo.spki(c): c for c in bundle.certificates}
    for candidate_spki, cert in spkis.items():
        requests = repo.requests_for_key(candidate_spki)
        if requests:
            if not (
                same_name(cert.subject, old.subject)
                and sorted(certinfo.dns_names(cert)) == sorted(certinfo.dns_names(old))
            ):
                raise RENEWAL_REPLY_DIFFERS(
                    f"{source}: the reply's subject or names differ from the certificate "
                    "being renewed",
                    file=source,
                )
            chain = [c for c in bundle.certificates if c is not cert]
            return _Material(cert, None, requests[0], chain)
    raise RENEWAL_NO_REQUEST(f"{source}: no pending request matches this reply", file=source)

"""Renewal as one transaction across the organisation (the gotcha of seed 002, closed).

A renewal is *planned* first — every step for every server and connector — then *applied*
in one transaction: the new certificate on every server that holds the old one, the same
services there (each server's default-SMTP choice kept), every connector whose
TlsCertificateName resolves to the old certificate pointed at the new one, and the old one
kept or removed. If any step fails, nothing has changed.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import PureWindowsPath
from typing import Any

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
    Sink,
    add_successor,
    add_to_trust_stores,
    complete_request,
    copy_with_key,
    csr_bytes,
    enable_services,
    renewal_request,
    self_signed_successor,
)
from certward.services.certificates import RenewResult
from certward.services.connectors import find_connector, resolve_on_server
from certward.services.ports import Repository, UnitOfWork


class StepKind(enum.StrEnum):
    COMPLETE_REQUEST = "complete-request"
    CREATE_SELF_SIGNED = "create-self-signed"
    COPY_CERTIFICATE = "copy-certificate"
    ENABLE = "enable"
    SET_CONNECTOR = "set-connector"
    REMOVE_OLD = "remove-old"
    KEEP_OLD = "keep-old"


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    server: str | None = None
    connector: str | None = None
    connector_kind: ConnectorKind | None = None
    services: ServiceSet = field(default_factory=ServiceSet)
    default_smtp: bool = False
    tls_certificate_name: str | None = None
    unchanged: bool = False

    def describe(self) -> str:
        k = self.kind
        if k is StepKind.COMPLETE_REQUEST:
            return f"complete the pending request on {self.server} with the CA reply"
        if k is StepKind.CREATE_SELF_SIGNED:
            return f"create the new self-signed certificate on {self.server}"
        if k is StepKind.COPY_CERTIFICATE:
            return f"put the new certificate and its key on {self.server}"
        if k is StepKind.ENABLE:
            default = " and make it the default SMTP certificate" if self.default_smtp else ""
            return f"enable it on {self.server} for {self.services}{default}"
        if k is StepKind.SET_CONNECTOR:
            note = (
                " (already names it: the issuer and subject are unchanged)"
                if self.unchanged
                else ""
            )
            return f"point {self.connector_kind} connector {self.connector} at it{note}"
        if k is StepKind.REMOVE_OLD:
            return f"remove the old certificate from {self.server}"
        return f"keep the old certificate on {self.server}"

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.kind.value,
            "server": self.server,
            "connector": self.connector,
            "connector_kind": self.connector_kind.value if self.connector_kind else None,
            "services": self.services.names,
            "default_smtp": self.default_smtp,
            "tls_certificate_name": self.tls_certificate_name,
            "unchanged": self.unchanged,
            "description": self.describe(),
        }


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

    def powershell(self, *, directory: str = "C:\\Install") -> str:
        """The same plan as Exchange Management Shell commands (seed 002's forms).

        For a self-signed certificate the new thumbprint is Exchange's to choose, so the
        commands refer to it as ``$New.Thumbprint``.
        """
        folder = PureWindowsPath(directory)
        new = "$New.Thumbprint" if self.self_signed else self.new
        pfx = folder / ("renewed.pfx" if self.self_signed else f"{self.new}.pfx")
        lines = [
            f"# Renew {self.old} ({self.subject})",
            "$Password = (Get-Credential -UserName 'pfx' -Message 'PFX password').Password",
        ]
        source: str | None = None
        exported = False
        for step in self.steps:
            lines.append(f"# {step.describe()}")
            if step.kind is StepKind.COMPLETE_REQUEST:
                source = step.server
                reply = folder / (self.reply_name or "reply.p7b")
                lines.append(
                    f"Import-ExchangeCertificate -Server {step.server} "
                    f"-FileData ([System.IO.File]::ReadAllBytes({_ps_path(reply)}))"
                )
            elif step.kind is StepKind.CREATE_SELF_SIGNED:
                source = step.server
                lines.append(
                    f"$New = Get-ExchangeCertificate -Server {step.server} -Thumbprint "
                    f"{self.old} | New-ExchangeCertificate -PrivateKeyExportable $true -Force"
                )
            elif step.kind is StepKind.COPY_CERTIFICATE:
                if source is not None and not exported:
                    lines.append(
                        f"$Cert = Export-ExchangeCertificate -Server {source} "
                        f"-Thumbprint {new} -BinaryEncoded -Password $Password"
                    )
                    lines.append(
                        f"[System.IO.File]::WriteAllBytes({_ps_path(pfx)}, $Cert.FileData)"
                    )
                    exported = True
                lines.append(
                    f"Import-ExchangeCertificate -Server {step.server} "
                    f"-FileData ([System.IO.File]::ReadAllBytes({_ps_path(pfx)})) "
                    "-Password $Password"
                )
            elif step.kind is StepKind.ENABLE:
                services = ",".join(step.services.names)
                force = " -Force" if step.default_smtp else ""
                lines.append(
                    f"Enable-ExchangeCertificate -Server {step.server} -Thumbprint {new} "
                    f"-Services {services}{force}"
                )
                if not step.default_smtp and "SMTP" in step.services.names:
                    lines.append("#   answer N to keep the server's default SMTP certificate")
            elif step.kind is StepKind.SET_CONNECTOR:
                cmdlet = (
                    "Set-SendConnector"
                    if step.connector_kind is ConnectorKind.SEND
                    else "Set-ReceiveConnector"
                )
                name = step.tls_certificate_name or ""
                lines.append(
                    f"{cmdlet} {ps_quote(step.connector or '')} "
                    f"-TlsCertificateName {ps_quote(name)}"
                )
            elif step.kind is StepKind.REMOVE_OLD:
                lines.append(
                    f"Remove-ExchangeCertificate -Server {step.server} -Thumbprint {self.old} "
                    "-Confirm:$false"
                )
        return "\n".join(lines) + "\n"


def _ps_path(path: PureWindowsPath) -> str:
    """A path as seed 002 writes it: in single quotes."""
    return "'" + str(path).replace("'", "''") + "'"


def ps_quote(value: str) -> str:
    """A PowerShell string literal: double quotes as in seed 002 when the value is plain,
    else single quotes (no expansion; each single-quote character is doubled)."""
    single_quotes = "'\u2018\u2019\u201a\u201b"
    if not any(ch in value for ch in '"`$\u201c\u201d\u201e' + single_quotes):
        return f'"{value}"'
    return "'" + "".join(ch * 2 if ch in single_quotes else ch for ch in value) + "'"


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
            for step in plan.steps:
                _execute(repo, plan, material, step, now)
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
        steps.append(Step(StepKind.CREATE_SELF_SIGNED, server=origin))
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
        steps.append(Step(StepKind.COMPLETE_REQUEST, server=origin))
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
    steps += [Step(StepKind.COPY_CERTIFICATE, server=s) for s in copies]
    for server in [origin, *copies]:
        if server not in records:
            continue
        old = records[server]
        default = repo.server(server).default_smtp_thumbprint == thumbprint
        if old.services or default:
            steps.append(
                Step(StepKind.ENABLE, server=server, services=old.services, default_smtp=default)
            )
    new_name = str(tlsname.tls_certificate_name(material.cert))
    for connector in repo.connectors():
        if _resolves_to(repo, connector, thumbprint, now):
            steps.append(
                Step(
                    StepKind.SET_CONNECTOR,
                    connector=connector.identity,
                    connector_kind=connector.kind,
                    tls_certificate_name=new_name,
                    unchanged=(connector.tls_certificate_name or "").casefold()
                    == new_name.casefold(),
                )
            )
    end = StepKind.REMOVE_OLD if remove_old else StepKind.KEEP_OLD
    steps += [Step(end, server=s) for s in holders]
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


def _resolves_to(
    repo: Repository, connector: Connector, thumbprint: Thumbprint, now: dt.datetime
) -> bool:
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


def _execute(
    repo: Repository, plan: RenewalPlan, material: _Material, step: Step, now: dt.datetime
) -> None:
    if step.kind is StepKind.COMPLETE_REQUEST:
        assert material.request is not None and step.server is not None
        complete_request(repo, material.request, material.cert)
        add_to_trust_stores(repo, step.server, plan.chain, now)
    elif step.kind is StepKind.CREATE_SELF_SIGNED:
        assert step.server is not None and material.key is not None
        old = repo.certificate(step.server, plan.old)
        add_successor(repo, old, material.cert, material.key, now)
    elif step.kind is StepKind.COPY_CERTIFICATE:
        assert step.server is not None
        origin = next(s.server for s in plan.steps if s.kind in _ORIGIN_STEPS)
        assert origin is not None
        copy_with_key(repo, repo.certificate(origin, plan.new), step.server, now)
        add_to_trust_stores(repo, step.server, plan.chain, now)
    elif step.kind is StepKind.ENABLE:
        assert step.server is not None
        record = repo.certificate(step.server, plan.new)
        enable_services(repo, record, step.services, step.default_smtp, now)
        if step.default_smtp:
            server = repo.server(step.server)
            repo.save_server(replace(server, default_smtp_thumbprint=plan.new))
    elif step.kind is StepKind.SET_CONNECTOR:
        assert step.connector is not None
        connector = find_connector(repo, step.connector)
        repo.save_connector(replace(connector, tls_certificate_name=step.tls_certificate_name))
    elif step.kind is StepKind.REMOVE_OLD:
        assert step.server is not None
        repo.delete_certificate(repo.certificate(step.server, plan.old))


_ORIGIN_STEPS = (StepKind.COMPLETE_REQUEST, StepKind.CREATE_SELF_SIGNED)

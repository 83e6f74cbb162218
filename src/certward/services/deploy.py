"""Deployments (issue 15): where a server's certificate is installed on Linux hosts, its
release from the store, the local run and the record of every outcome.

Releasing a private key to be written to a file is an export: it goes through
:meth:`DeployService.material_for` only, which refuses a key that is not exportable
(``deploy.key_not_exportable``: no path exports such a key, a deploy included — create,
import or obtain the certificate as exportable when it is meant for a Linux daemon) and
records ``key.export`` in the audit log (server, thumbprint, deployment, host, format
``pem``) in the same transaction as the read. :meth:`run` (``certward deploy run``) and
the agents' API both take the key that way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import types

from certward.clock import Clock
from certward.codes.deploy import (
    DEPLOY_INVALID,
    DEPLOY_KEY_NOT_EXPORTABLE,
    DEPLOY_NO_CERTIFICATE,
    DEPLOY_NO_DIRECTORY,
    DEPLOY_NOT_FOUND,
    DEPLOY_WRONG_HOST,
)
from certward.deploy.executor import Reloader, Verifier
from certward.deploy.material import DeployMaterial
from certward.errors import CertwardError
from certward.model import CertificateRecord, Server, Service, StoreName
from certward.model.agents import reason_after
from certward.model.audit import AuditEntry
from certward.model.deploy import (
    DEFAULT_RELOAD,
    Deployment,
    DeployOutcome,
    DeployRecord,
    deploy_records,
    problems,
)
from certward.pki import certinfo, chain
from certward.services.audit import record_in
from certward.services.views import TrustStores

__all__ = ["DeployService", "DeployStore", "ReleasedMaterial", "ScheduledDeploy"]


class DeployRepository(Protocol):
    def server(self, name: str) -> Server: ...
    def certificates(
        self, server: str, store: StoreName | None = None
    ) -> list[CertificateRecord]: ...
    def private_key(self, record: CertificateRecord) -> types.PrivateKeyTypes: ...
    def add_audit_entry(self, entry: AuditEntry) -> None: ...
    def deployments(self, *, host: str | None = None) -> list[Deployment]: ...
    def find_deployment(self, name: str) -> Deployment | None: ...
    def deployment(self, name: str) -> Deployment: ...
    def add_deployment(self, d: Deployment) -> None: ...
    def remove_deployment(self, name: str) -> Deployment: ...
    def add_deploy_result(self, name: str, outcome: DeployOutcome, *, source: str) -> None: ...
    def deploy_results(self, name: str, *, limit: int = 20) -> list[DeployOutcome]: ...
    def last_deploy_results(self) -> dict[str, DeployOutcome]: ...


class DeployStore(Protocol):
    """Opens one transaction: commits when the block ends, rolls back on an exception;
    or a read that takes no write lock."""

    def transaction(self) -> AbstractContextManager[DeployRepository]: ...

    def reading(self) -> AbstractContextManager[DeployRepository]: ...


@dataclass(frozen=True, slots=True)
class ReleasedMaterial:
    """A deployment with what it writes (the key inside ``material``: never log it)."""

    deployment: Deployment
    material: DeployMaterial
    thumbprint: str


class DeployService:
    """Add, list, show and remove deployments; release their material (audited); run them
    on this machine; record outcomes (local runs and the agents')."""

    def __init__(
        self,
        store: DeployStore,
        clock: Clock,
        *,
        verify: Verifier | None = None,
        reload: Reloader | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._verify = verify
        self._reload = reload

    # -- configuration ------------------------------------------------------------------------
    def add(self, deployment: Deployment) -> Deployment:
        """Store a deployment; the kind's reload command when none is given. The server
        must exist; the settings must be usable (``deploy.invalid`` names each problem)."""
        d = deployment
        if not d.reload:
            d = replace(d, reload=DEFAULT_RELOAD[d.kind])
        found = problems(d)
        if found:
            raise DEPLOY_INVALID(f"deployment {d.name}: " + "; ".join(found), deployment=d.name)
        with self._store.transaction() as repo:
            server = repo.server(d.server)  # raises when it does not exist
            d = replace(d, server=server.name)
            repo.add_deployment(d)
        return d

    def remove(self, name: str) -> Deployment:
        """Forget a deployment and its results (the files on the host stay)."""
        with self._store.transaction() as repo:
            return repo.remove_deployment(name)

    def deployments(self) -> list[DeployRecord]:
        """Every deployment with its newest outcome (a read: no write lock)."""
        with self._store.reading() as repo:
            last = repo.last_deploy_results()
            return deploy_records(repo.deployments(), last)

    def show(self, name: str) -> tuple[Deployment, list[DeployOutcome]]:
        """A deployment and its newest outcomes (newest first)."""
        with self._store.reading() as repo:
            d = repo.deployment(name)
            return d, repo.deploy_results(d.name)

    def has_local(self) -> bool:
        """Whether this machine carries out any deployment (one without a host)."""
        with self._store.reading() as repo:
            return any(d.host is None for d in repo.deployments())

    def for_host(self, host: str) -> list[Deployment]:
        """The deployments an agent on ``host`` carries out (host names compare without
        case)."""
        with self._store.transaction() as repo:
            return repo.deployments(host=host)

    # -- the key's release ---------------------------------------------------------------------
    def material_for(self, name: str, *, host: str | None = None) -> ReleasedMaterial:
        """The certificate the deployment's server has for its services, its chain and its
        private key, audited as ``key.export``. ``host`` is who receives it (an agent's
        host; None: this machine) and must be the deployment's."""
        now = self._clock.now()
        with self._store.transaction() as repo:
            d = repo.deployment(name)
            _check_host(d, host)
            record = _releasable(repo, d, now)
            assert record.der is not None  # current_certificate takes issued ones only
            cert = certinfo.load_der(record.der)
            trust = TrustStores.of(repo, record.server)
            pool = [*trust.intermediates, *trust.roots]
            issuers = [c for c in chain.build_chain(cert, pool) if not certinfo.is_self_signed(c)]
            key_pem = repo.private_key(record).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            record_in(
                repo,
                "key.export",
                {
                    "server": record.server,
                    "thumbprint": record.thumbprint,
                    "format": "pem",
                    "deployment": d.name,
                    "host": d.host or "local",
                    "file": d.paths.key or d.paths.certificate,
                },
                now,
            )
            material = DeployMaterial(
                cert.public_bytes(serialization.Encoding.PEM),
                tuple(c.public_bytes(serialization.Encoding.PEM) for c in issuers),
                key_pem,
            )
            return ReleasedMaterial(d, material, record.thumbprint)

    # -- running and recording -------------------------------------------------------------------
    def run(self, name: str, *, check_material: bool = True) -> DeployOutcome:
        """Deploy on this machine (a deployment without a host): release the material,
        write, reload, verify by probe, roll back on failure; the outcome is recorded. A
        refusal before anything is written (no certificate, a key not exportable) is
        raised, and recorded too.

        The target directories are locked before the key is released: a run that meets
        another (``deploy.busy``, raised, not recorded: the other run records its own)
        releases and audits no key; a missing directory is this run's outcome."""
        from certward.deploy import files

        refused: CertwardError | None = None
        with self._store.reading() as repo:
            deployment = repo.deployment(name)
            _check_host(deployment, None)  # an agent's deployment is not run here
            try:  # what would refuse the release refuses the run before any lock
                _releasable(repo, deployment, self._clock.now())
            except CertwardError as exc:
                refused = exc
        if refused is not None:
            self.record_result(deployment.name, self._refused(refused), source="local")
            raise refused
        try:
            with files.locked(Path(p) for p in deployment.paths.all):
                return self._run_locked(name, check_material)
        except CertwardError as exc:
            if exc.code is not DEPLOY_NO_DIRECTORY:
                raise
            outcome = self._refused(exc)
            self.record_result(deployment.name, outcome, source="local")
            return outcome

    def _run_locked(self, name: str, check_material: bool) -> DeployOutcome:
        try:
            released = self.material_for(name)
        except CertwardError as exc:
            if exc.code not in (DEPLOY_NOT_FOUND, DEPLOY_WRONG_HOST):  # not this host's to keep
                self.record_result(name, self._refused(exc), source="local")
            raise
        from certward.deploy.executor import apply

        outcome = apply(
            released.deployment,
            released.material,
            verify=self._verify,
            reload=self._reload,
            clock=self._clock,
            check_material=check_material,
        )
        self.record_result(released.deployment.name, outcome, source="local")
        return outcome

    def run_all(self) -> list[tuple[str, DeployOutcome]]:
        """Every deployment of this machine, one after the other, by name."""
        with self._store.transaction() as repo:
            names = [d.name for d in repo.deployments() if d.host is None]
        results: list[tuple[str, DeployOutcome]] = []
        for name in names:
            try:
                results.append((name, self.run(name)))
            except CertwardError as exc:  # recorded by run; the others still run
                results.append((name, self._refused(exc)))
        return results

    def run_due(self) -> list[ScheduledDeploy]:
        """Every deployment of this machine whose certificate is not yet deployed and
        served, run now; the others left (the scheduler's ``deploy`` job). Due, by the
        policy the host agents follow (:func:`certward.model.agents.deploy_reason`): a
        certificate never deployed, a new one (a renewal), a port that served another, or a
        failure an hour old, a run refused before anything was written (a key that is not
        exportable) included; a server with no certificate for the deployment's services
        is reported and not recorded (health finds it)."""
        now = self._clock.now()
        wanted: dict[str, str | CertwardError] = {}
        with self._store.reading() as repo:
            local = [d for d in repo.deployments() if d.host is None]
            last = repo.last_deploy_results()
            for d in local:
                try:
                    wanted[d.name] = current_certificate(repo, d, now).thumbprint
                except CertwardError as exc:
                    wanted[d.name] = exc
        done: list[ScheduledDeploy] = []
        for d in local:
            desired, previous = wanted[d.name], last.get(d.name)
            if isinstance(desired, CertwardError):
                done.append(ScheduledDeploy(d.name, d.server, "no-certificate", desired.message))
                continue
            reason = reason_after(
                desired, previous, served=None if previous is None else previous.served, now=now
            )
            if reason is None:  # ``previous`` stands: served, or a failure not an hour old
                action = "current" if previous is not None and previous.ok else "waiting"
                done.append(ScheduledDeploy(d.name, d.server, action, _why_not(previous), previous))
                continue
            try:
                outcome = self.run(d.name)
            except CertwardError as exc:  # recorded by run, but for a busy lock
                outcome = self._refused(exc)
            action = "deployed" if outcome.ok else "failed"
            done.append(ScheduledDeploy(d.name, d.server, action, reason, outcome))
        return done

    def record_result(self, name: str, outcome: DeployOutcome, *, source: str = "local") -> None:
        """Keep a run's outcome (``source``: ``local`` or ``agent:HOST``)."""
        with self._store.transaction() as repo:
            d = repo.deployment(name)
            repo.add_deploy_result(d.name, outcome, source=source)

    def results(self, name: str, *, limit: int = 20) -> Sequence[DeployOutcome]:
        with self._store.reading() as repo:
            return repo.deploy_results(repo.deployment(name).name, limit=limit)

    def _refused(self, exc: CertwardError) -> DeployOutcome:
        """A refusal before anything was written, as an outcome."""
        return DeployOutcome(ok=False, when=self._clock.now(), code=exc.code.id, detail=exc.message)


def current_certificate(
    repo: DeployRepository, d: Deployment, now: dt.datetime
) -> CertificateRecord:
    """The certificate the server uses for the deployment's services: an issued one with a
    key, enabled for all of them and valid at ``now``. For SMTP the server's default SMTP
    certificate when it qualifies (the one Exchange presents); else the newest."""
    candidates: list[tuple[dt.datetime, dt.datetime, CertificateRecord]] = []
    for record in repo.certificates(d.server, StoreName.MY):
        if record.der is None or not record.has_private_key:
            continue
        if (record.services.value & d.services.value) != d.services.value:
            continue
        cert = certinfo.load_der(record.der)
        if cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            candidates.append((cert.not_valid_before_utc, cert.not_valid_after_utc, record))
    if not candidates:
        raise DEPLOY_NO_CERTIFICATE(
            f"server {d.server} has no valid certificate with a private key enabled for "
            f"{d.services} (deployment {d.name})",
            server=d.server,
            deployment=d.name,
        )
    if Service.SMTP in d.services:
        default = repo.server(d.server).default_smtp_thumbprint
        for *_, record in candidates:
            if record.thumbprint == default:
                return record
    # The newest; of certificates issued in the same second (a self-signed default made
    # beside a new one), one whose key may leave the vault, since only it can be deployed.
    return max(candidates, key=lambda c: (c[0], c[1], c[2].exportable))[2]


def _releasable(repo: DeployRepository, d: Deployment, now: dt.datetime) -> CertificateRecord:
    """The certificate ``d`` deploys now, if its key may be released: ``deploy.no_certificate``
    or ``deploy.key_not_exportable`` otherwise."""
    record = current_certificate(repo, d, now)
    if not record.exportable:
        raise DEPLOY_KEY_NOT_EXPORTABLE(
            f"the private key of certificate {record.thumbprint} on {record.server} is "
            f"not exportable; deployment {d.name} would write it to a file",
            thumbprint=record.thumbprint,
            server=record.server,
            deployment=d.name,
        )
    return record


@dataclass(frozen=True, slots=True)
class ScheduledDeploy:
    """What :meth:`DeployService.run_due` did with one deployment: ``deployed`` or
    ``failed`` (run, with its outcome), ``current`` (deployed and served) or ``waiting`` (a
    failure less than an hour old), with the newest outcome that stands, or
    ``no-certificate``; and why."""

    name: str
    server: str
    action: str
    reason: str
    outcome: DeployOutcome | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "server": self.server,
            "action": self.action,
            "reason": self.reason,
            "outcome": None if self.outcome is None else self.outcome.to_json(),
        }


def _why_not(last: DeployOutcome | None) -> str:
    if last is not None and last.ok:
        return f"{last.deployed} is deployed and served"
    when = "" if last is None else f" on {last.when:%Y-%m-%d %H:%M} UTC"
    return f"the last deploy failed{when}: tried again an hour after it"


def _check_host(d: Deployment, host: str | None) -> None:
    """``deploy.wrong_host`` unless ``d`` is carried out by ``host`` (None: this machine)."""
    if (d.host or "").lower() != (host or "").lower():
        raise DEPLOY_WRONG_HOST(
            f"deployment {d.name} is for host {d.host or 'this machine'}, "
            f"not {host or 'this machine'}",
            deployment=d.name,
            host=d.host,
        )

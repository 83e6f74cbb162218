"""certward observe: a real Exchange server, built (or refreshed) from what it printed.

Each file is one dump (certutil, Get-ExchangeCertificate, Get-ReceiveConnector, ...). What a
dump of a store shows replaces what an earlier dump of that store showed; certificates seen
in both certutil and Get-ExchangeCertificate output are merged by thumbprint (certutil knows
the key provider, Exchange knows the services and the certificate domains). An observed
server never has private keys in certward.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from certward import interop
from certward.codes.general import INPUT_MISSING, SERVER_MANAGED
from certward.codes.interop import OBSERVE_AUTH_BESIDE_MANAGED, OBSERVE_STORE_UNKNOWN
from certward.errors import CertwardError
from certward.model import (
    AuthConfig,
    Connector,
    ExchangeVersion,
    ObservedCertificate,
    Organisation,
    Role,
    Server,
    StoreName,
    Thumbprint,
)
from certward.pki import build
from certward.services._names import connector_name, server_name
from certward.services.ports import Repository, UnitOfWork

OBSERVED_ORGANISATION = "Observed organisation"


@dataclass(frozen=True)
class Observation:
    """What one file told, in certward's model (the parsers' output, mapped)."""

    source: str
    format: str  # what the file was recognised as, e.g. "certutil -v -store"
    store: StoreName | None = None
    certificates: tuple[ObservedCertificate, ...] = ()
    exchange_view: bool = False  # Get-ExchangeCertificate: services and domains are known
    connectors: tuple[Connector, ...] = ()
    auth: AuthConfig | None = None
    transport_certificates: tuple[tuple[str, Thumbprint], ...] = ()  # Get-TransportService

    def summary(self) -> str:
        parts = []
        if self.certificates:
            where = f" ({self.store.value})" if self.store else ""
            parts.append(f"{len(self.certificates)} certificates{where}")
        if self.connectors:
            parts.append(f"{len(self.connectors)} connectors")
        if self.auth is not None:
            parts.append("auth configuration")
        if self.transport_certificates:
            parts.append("default transport certificate")
        return ", ".join(parts) or "nothing certward uses"


@dataclass(frozen=True)
class ObserveResult:
    server: Server
    observations: tuple[Observation, ...]
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server.name,
            "observed": True,
            "default_smtp_thumbprint": self.server.default_smtp_thumbprint,
            "stores": self.counts,
            "files": [
                {"file": o.source, "format": o.format, "read": o.summary()}
                for o in self.observations
            ],
        }


def merge_certificates(
    observations: Sequence[Observation], store: StoreName
) -> list[ObservedCertificate]:
    """The store's certificates from every dump of it, merged by thumbprint."""
    merged: dict[Thumbprint, ObservedCertificate] = {}
    for obs in observations:
        for cert in obs.certificates:
            if cert.store is not store:
                continue
            old = merged.get(cert.thumbprint)
            merged[cert.thumbprint] = cert if old is None else _merge(old, cert, obs.exchange_view)
    return list(merged.values())


def _merge(
    old: ObservedCertificate, new: ObservedCertificate, new_is_exchange: bool
) -> ObservedCertificate:
    """certutil knows the key provider; Get-ExchangeCertificate the services and domains."""
    exchange, certutil = (new, old) if new_is_exchange else (old, new)
    return dataclasses.replace(
        certutil,
        services=exchange.services or certutil.services,
        dns_names=exchange.dns_names or certutil.dns_names,
        key_size=exchange.key_size or certutil.key_size,
        has_private_key=exchange.has_private_key or certutil.has_private_key,
        key_provider=certutil.key_provider or exchange.key_provider,
        signature_algorithm=certutil.signature_algorithm or exchange.signature_algorithm,
        source=f"{old.source}, {new.source}",
    )


def read_observation(
    source: str, text: str, server: str, *, store: StoreName | None = None
) -> Observation:
    """Parse one dump (any supported format, told by its content) into an Observation.

    ``store`` names the store of a ``certutil -store`` dump whose header does not (a custom
    store name); raises InteropError naming ``source`` for text certward cannot read, and
    the error of a name or value the model refuses (a connector's name), naming it too."""
    try:
        dump = interop.parse(text)
        return _observation(source, dump, server, store)
    except CertwardError as exc:
        raise exc.code(f"{source}: {exc.message}", **{**exc.facts, "file": source}) from None


def _observation(
    source: str, dump: interop.ObservedDump, server: str, store: StoreName | None
) -> Observation:
    certificates: list[ObservedCertificate] = []
    where: StoreName | None = None
    if dump.certutil is not None:
        where = dump.certutil.store or store
        if where is None:
            raise OBSERVE_STORE_UNKNOWN(
                f"the dump is of store {dump.certutil.store_name!r}, which is none of My, "
                "Root and CA",
                store=dump.certutil.store_name,
            )
        certificates = [c.to_observed(server, where, source) for c in dump.certutil.certificates]
    elif dump.exchange_certificates:
        where = StoreName.MY
        certificates = [c.to_observed(server, where, source) for c in dump.exchange_certificates]
    connectors = [c.to_connector() for c in dump.receive_connectors]
    connectors += [c.to_connector() for c in dump.send_connectors]
    for connector in connectors:  # a dump's names enter the store as the command line's do
        connector_name(connector.name)
        for owner in connector.servers:
            server_name(owner)
    return Observation(
        source=source,
        format=" + ".join(
            sorted(
                f.value.replace("Format-List", "Format-Table") if dump.table else f.value
                for f in dump.formats
            )
        ),
        store=where,
        certificates=tuple(certificates),
        exchange_view=bool(dump.exchange_certificates),
        connectors=tuple(connectors),
        auth=dump.auth_config.to_auth_config() if dump.auth_config else None,
        transport_certificates=tuple(
            (t.name, t.internal_transport_certificate_thumbprint)
            for t in dump.transport_services
            if t.internal_transport_certificate_thumbprint is not None
        ),
    )


class ObserveService:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def observe(
        self,
        name: str,
        observations: Sequence[Observation],
        *,
        fqdn: str | None = None,
        roles: Sequence[Role] = (Role.MAILBOX,),
        version: ExchangeVersion = ExchangeVersion.EX2019,
    ) -> ObserveResult:
        """Build or refresh the observed server ``name``, all in one transaction."""
        server_name(name)
        if fqdn is not None:
            fqdn = build.validate_domain(fqdn).lower()
        if not observations:
            raise INPUT_MISSING("observing a server needs at least one of its dumps")
        with self._uow.transaction() as repo:
            org = repo.organisation()
            if org is None:
                org = Organisation(OBSERVED_ORGANISATION)
                repo.save_organisation(org)
            server = self._server(repo, name, fqdn, roles, version)
            for store in StoreName:
                if any(o.store is store for o in observations):
                    repo.replace_observed_certificates(
                        server.name, store, merge_certificates(observations, store)
                    )
            run_here = {s.name.lower() for s in repo.servers() if not s.observed}
            for obs in observations:
                for connector in obs.connectors:
                    # a real server's dump never rewrites a connector of a server certward runs
                    if not run_here & {s.lower() for s in connector.servers}:
                        repo.save_connector(connector)
                if obs.auth is not None:
                    if run_here:
                        raise OBSERVE_AUTH_BESIDE_MANAGED(
                            f"{obs.source}: Get-AuthConfig describes a real organisation, but "
                            "this store's organisation has servers certward runs, with its own "
                            "auth certificate",
                            file=obs.source,
                        )
                    repo.save_organisation(dataclasses.replace(org, auth=obs.auth))
                for srv, thumbprint in obs.transport_certificates:
                    if srv.lower() == server.name.lower() or len(obs.transport_certificates) == 1:
                        server = dataclasses.replace(server, default_smtp_thumbprint=thumbprint)
            repo.save_server(server)
            counts = {
                store.value: len(repo.observed_certificates(server.name, store))
                for store in StoreName
            }
            return ObserveResult(server, tuple(observations), counts)

    @staticmethod
    def _server(
        repo: Repository,
        name: str,
        fqdn: str | None,
        roles: Sequence[Role],
        version: ExchangeVersion,
    ) -> Server:
        if repo.has_server(name):
            existing = repo.server(name)
            if not existing.observed:
                raise SERVER_MANAGED(
                    f"{existing.name} is a server certward runs; a real server is observed "
                    "under its own name",
                    server=existing.name,
                )
            return dataclasses.replace(existing, fqdn=fqdn or existing.fqdn)
        server = Server(
            name=name,
            fqdn=fqdn or name.lower(),
            roles=frozenset(roles),
            version=version,
            observed=True,
        )
        repo.save_server(server)  # its connectors only as Get-ReceiveConnector shows them
        return server

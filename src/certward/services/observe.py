"""certward observe: real Exchange servers, built (or refreshed) from what they printed.

Two ways in, one transaction each:

* :meth:`ObserveService.observe` — one server from loose files (certutil, Format-List,
  Export-Clixml), told apart by content. What a dump of a store shows replaces what an
  earlier dump of that store showed; certificates seen in several dumps are merged by
  thumbprint (certutil knows the key provider, Exchange the services and the domains).
* :meth:`ObserveService.observe_collection` — the whole organisation from a collection zip
  (``certward collector``): servers with their roles and versions from Get-ExchangeServer,
  each server's stores, bindings, TLS registry and receive connectors, the organisation's
  send connectors, auth configuration and hybrid configuration. A newer collection replaces
  what the older one said: a certificate, connector or observed server gone from it is gone
  from certward, and the result says so line by line.

A connector whose ``Server`` names another server attaches to that server (created as an
observed server when certward has none of that name). Servers certward runs are never
touched; an observed server never has private keys in certward. What each server's (and
the organisation's) outputs showed is recorded as :class:`~certward.model.Evidence`, so the
health rules judge only that.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from certward.codes.collection import OBSERVE_SERVER_NOT_COLLECTED
from certward.codes.general import INPUT_MISSING, SERVER_MANAGED
from certward.codes.interop import OBSERVE_AUTH_BESIDE_MANAGED, OBSERVE_STORE_UNKNOWN
from certward.errors import CertwardError
from certward.model import (
    AuthConfig,
    Connector,
    ConnectorKind,
    EdgeSubscription,
    Evidence,
    ExchangeVersion,
    HybridConfiguration,
    IisBinding,
    ObservedCertificate,
    ObservedFacts,
    ObservedOrganisationFacts,
    Organisation,
    Role,
    Server,
    Service,
    StoreName,
    Thumbprint,
    TlsRegistry,
)
from certward.model.edge import DEFAULT_SITE
from certward.model.vdirs import VirtualDirectory
from certward.pki import build
from certward.services._names import connector_name, server_name
from certward.services.ports import Repository, UnitOfWork

if TYPE_CHECKING:
    from certward.interop.collection import Collection, ManifestEntry
    from certward.interop.dates import DateOrder
    from certward.interop.dump import ObservedDump

OBSERVED_ORGANISATION = "Observed organisation"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What Get-ExchangeServer said of one server."""

    name: str
    fqdn: str | None = None
    roles: frozenset[Role] = frozenset()
    version: ExchangeVersion | None = None
    build: str | None = None  # AdminDisplayVersion, "Version 15.2 (Build 1544.4)"


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
    evidence: frozenset[Evidence] = frozenset()  # the outputs this file showed
    servers: tuple[ServerInfo, ...] = ()  # Get-ExchangeServer
    virtual_directories: tuple[VirtualDirectory, ...] = ()
    iis_bindings: tuple[IisBinding, ...] = ()
    tls: TlsRegistry | None = None
    hybrid: HybridConfiguration | None = None
    edge_subscriptions: tuple[tuple[str, str | None], ...] = ()  # (Edge, AD site)

    def summary(self) -> str:
        parts = []
        if self.servers:
            parts.append(f"{len(self.servers)} servers")
        if self.certificates:
            where = f" ({self.store.value})" if self.store else ""
            parts.append(f"{len(self.certificates)} certificates{where}")
        if self.connectors:
            parts.append(f"{len(self.connectors)} connectors")
        if self.auth is not None:
            parts.append("auth configuration")
        if self.transport_certificates:
            parts.append("default transport certificate")
        if self.virtual_directories:
            parts.append(f"{len(self.virtual_directories)} virtual directories")
        if self.iis_bindings:
            parts.append(f"{len(self.iis_bindings)} IIS bindings")
        if self.tls is not None:
            parts.append("TLS registry settings")
        if self.hybrid is not None:
            parts.append("hybrid configuration")
        if self.edge_subscriptions:
            parts.append(f"{len(self.edge_subscriptions)} Edge subscriptions")
        if parts:
            return ", ".join(parts)
        return "nothing (none shown)" if self.evidence else "nothing certward uses"


@dataclass(frozen=True)
class ObserveResult:
    server: Server
    observations: tuple[Observation, ...]
    counts: dict[str, int] = field(default_factory=dict)
    attached: tuple[str, ...] = ()  # observed servers created for connectors naming them

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server.name,
            "observed": True,
            "version": self.server.version.value,
            "fqdn": self.server.fqdn,
            "default_smtp_thumbprint": self.server.default_smtp_thumbprint,
            "stores": self.counts,
            "attached_servers": list(self.attached),
            "files": [
                {"file": o.source, "format": o.format, "read": o.summary()}
                for o in self.observations
            ],
        }


@dataclass(frozen=True)
class ServerSummary:
    server: Server
    counts: dict[str, int]
    evidence: frozenset[Evidence]


@dataclass(frozen=True)
class CollectionResult:
    """What ``observe collection.zip`` did: the servers as now stored, and what went."""

    source: str
    collected_at: dt.datetime
    servers: tuple[ServerSummary, ...]
    connectors: int
    removed: tuple[str, ...]  # "server EXCH03 (not in this collection)"
    not_collected: tuple[str, ...]  # "EDGE01: Get-TransportService failed: ..."
    observations: tuple[Observation, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "collection": self.source,
            "collected_at": self.collected_at.isoformat(),
            "servers": [
                {
                    "server": s.server.name,
                    "fqdn": s.server.fqdn,
                    "roles": sorted(r.value for r in s.server.roles),
                    "version": s.server.version.value,
                    "default_smtp_thumbprint": s.server.default_smtp_thumbprint,
                    "stores": s.counts,
                    "evidence": sorted(e.name for e in s.evidence),
                }
                for s in self.servers
            ],
            "connectors": self.connectors,
            "removed": list(self.removed),
            "not_collected": list(self.not_collected),
            "files": [
                {"file": o.source, "format": o.format, "read": o.summary()}
                for o in self.observations
            ],
        }


# -- certificates merged from several dumps ------------------------------------------------------
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
        status=exchange.status or certutil.status,
        exportable=certutil.exportable if certutil.exportable is not None else exchange.exportable,
        public_key_algorithm=certutil.public_key_algorithm or exchange.public_key_algorithm,
        der=certutil.der or exchange.der,
        source=f"{old.source}, {new.source}",
    )


# -- one file → an Observation ------------------------------------------------------------------
def read_observation(
    source: str,
    data: str | bytes,
    server: str,
    *,
    store: StoreName | None = None,
    date_order: DateOrder | None = None,
) -> Observation:
    """Parse one file (any supported format, told by its content) into an Observation.

    ``data`` is the file's bytes (decoded as PowerShell writes text: UTF-8 or UTF-16, CliXML
    or text) or text already decoded. ``store`` names the store of a ``certutil -store`` dump
    whose header does not (a custom store name); ``date_order`` the culture's order for text
    dumps whose dates cannot tell. Raises the coded error naming ``source`` for a file
    certward cannot read, and the error of a name or value the model refuses."""
    from certward import interop
    from certward.interop.dump import parse_bytes

    try:
        if isinstance(data, bytes):
            dump = parse_bytes(data, source=source, date_order=date_order)
        else:
            dump = interop.parse(data, date_order=date_order)
        return observation_of(source, dump, server, store)
    except CertwardError as exc:
        message = exc.message if exc.message.startswith(source) else f"{source}: {exc.message}"
        raise exc.code(message, **{**exc.facts, "file": source}) from None


def _evidence(dump: ObservedDump, stores: Iterable[StoreName]) -> frozenset[Evidence]:
    from certward.interop.dump import Format

    by_format: dict[Format, frozenset[Evidence]] = {
        Format.EXCHANGE_CERTIFICATE: frozenset({Evidence.EXCHANGE_CERTIFICATE, Evidence.MY_STORE}),
        Format.EXCHANGE_CERTIFICATE_CLIXML: frozenset(
            {Evidence.EXCHANGE_CERTIFICATE, Evidence.MY_STORE}
        ),
        Format.RECEIVE_CONNECTOR: frozenset({Evidence.RECEIVE_CONNECTOR}),
        Format.RECEIVE_CONNECTOR_CLIXML: frozenset({Evidence.RECEIVE_CONNECTOR}),
        Format.SEND_CONNECTOR: frozenset({Evidence.SEND_CONNECTOR}),
        Format.SEND_CONNECTOR_CLIXML: frozenset({Evidence.SEND_CONNECTOR}),
        Format.AUTH_CONFIG: frozenset({Evidence.AUTH_CONFIG}),
        Format.AUTH_CONFIG_CLIXML: frozenset({Evidence.AUTH_CONFIG}),
        Format.TRANSPORT_SERVICE: frozenset({Evidence.TRANSPORT_SERVICE}),
        Format.TRANSPORT_SERVICE_CLIXML: frozenset({Evidence.TRANSPORT_SERVICE}),
        Format.EXCHANGE_SERVER_CLIXML: frozenset({Evidence.EXCHANGE_SERVER}),
        Format.VIRTUAL_DIRECTORY_CLIXML: frozenset({Evidence.VIRTUAL_DIRECTORIES}),
        Format.CLIENT_ACCESS_SERVICE_CLIXML: frozenset({Evidence.VIRTUAL_DIRECTORIES}),
        Format.IIS_BINDING_CLIXML: frozenset({Evidence.IIS_BINDINGS}),
        Format.TLS_SETTINGS_CLIXML: frozenset({Evidence.SCHANNEL, Evidence.NET_TLS}),
        Format.SCHANNEL_CLIXML: frozenset({Evidence.SCHANNEL}),
        Format.NET_TLS_CLIXML: frozenset({Evidence.NET_TLS}),
        Format.ROOT_AUTO_UPDATE_CLIXML: frozenset({Evidence.ROOT_AUTO_UPDATE}),
        Format.EDGE_SUBSCRIPTION_CLIXML: frozenset({Evidence.EDGE_SUBSCRIPTION}),
        Format.HYBRID_CLIXML: frozenset({Evidence.HYBRID_CONFIGURATION}),
    }
    store_evidence = {
        StoreName.MY: Evidence.MY_STORE,
        StoreName.ROOT: Evidence.ROOT_STORE,
        StoreName.CA: Evidence.CA_STORE,
    }
    shown: set[Evidence] = {store_evidence[s] for s in stores}
    for f in dump.formats:
        shown |= by_format.get(f, frozenset())
    return frozenset(shown)


def observation_of(
    source: str, dump: ObservedDump, server: str, store: StoreName | None = None
) -> Observation:
    """One parsed file in certward's model; ``store`` for a store dump that does not say."""
    certificates: list[ObservedCertificate] = []
    where: StoreName | None = None
    stores: set[StoreName] = set()
    if dump.certutil is not None:
        where = dump.certutil.store or store
        if where is None:
            raise OBSERVE_STORE_UNKNOWN(
                f"the dump is of store {dump.certutil.store_name!r}, which is none of My, "
                "Root and CA",
                store=dump.certutil.store_name,
            )
        stores.add(where)
        certificates = [c.to_observed(server, where, source) for c in dump.certutil.certificates]
    elif dump.exchange_certificates:
        where = StoreName.MY
        certificates = [c.to_observed(server, where, source) for c in dump.exchange_certificates]
    if dump.store_certificates or _is_store_file(dump):
        for entry in dump.store_certificates:
            target = store or entry.store
            if target is None:
                raise OBSERVE_STORE_UNKNOWN(
                    f"certificate {entry.certificate.thumbprint} does not say which store it "
                    "is of (no PSParentPath)",
                    thumbprint=entry.certificate.thumbprint,
                )
            stores.add(target)
            certificates.append(entry.certificate.to_observed(server, target, source))
        if store is not None:
            stores.add(store)
        where = where or (next(iter(stores)) if len(stores) == 1 else None)
    connectors = [c.to_connector() for c in dump.receive_connectors]
    connectors += [c.to_connector() for c in dump.send_connectors]
    for connector in connectors:  # a dump's names enter the store as the command line's do
        connector_name(connector.name)
        for owner in connector.servers:
            server_name(owner)
    servers = tuple(
        ServerInfo(
            name=server_name(s.name),
            fqdn=s.fqdn,
            roles=s.roles,
            version=s.version,
            build=s.admin_display_version,
        )
        for s in dump.exchange_servers
    )
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
        evidence=_evidence(dump, stores),
        servers=servers,
        virtual_directories=dump.virtual_directories,
        iis_bindings=dump.iis_bindings,
        tls=dump.tls_registry,
        hybrid=dump.hybrid,
        edge_subscriptions=tuple((e.name, e.site) for e in dump.edge_subscriptions),
    )


def _is_store_file(dump: ObservedDump) -> bool:
    from certward.interop.dump import Format

    return Format.STORE_CERTIFICATE_CLIXML in dump.formats


# -- the service ---------------------------------------------------------------------------------
class ObserveService:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def observe(
        self,
        name: str,
        observations: Sequence[Observation],
        *,
        fqdn: str | None = None,
        roles: Sequence[Role] | None = None,
        version: ExchangeVersion | None = None,
        culture: str | None = None,
    ) -> ObserveResult:
        """Build or refresh the observed server ``name``, all in one transaction.

        ``fqdn``, ``roles`` and ``version`` set the server's; when not given, a
        Get-ExchangeServer file's say, else they are kept (a new server: Mailbox, 2019). The
        files' evidence is added to what earlier files showed."""
        server_name(name)
        if fqdn is not None:
            fqdn = build.validate_domain(fqdn).lower()
        if not observations:
            raise INPUT_MISSING("observing a server needs at least one of its dumps")
        with self._uow.transaction() as repo:
            org = self._organisation(repo)
            # What a Get-ExchangeServer file says of this server, unless the caller said
            shown = next(
                (i for o in observations for i in o.servers if i.name.lower() == name.lower()),
                None,
            )
            if shown is not None:
                fqdn = fqdn or (shown.fqdn.lower() if shown.fqdn else None)
                roles = roles or (sorted(shown.roles) or None)
                version = version or shown.version
            server = self._server(repo, name, fqdn, roles, version)
            for store in StoreName:
                if any(o.store is store or _shows(o, store) for o in observations):
                    repo.replace_observed_certificates(
                        server.name, store, merge_certificates(observations, store)
                    )
            run_here = self._run_here(repo)
            attached: list[str] = []
            for obs in observations:
                for connector in obs.connectors:
                    # a real server's dump never rewrites a connector of a server certward runs
                    if run_here & {s.lower() for s in connector.servers}:
                        continue
                    attached += self._attach(repo, connector.servers)
                    repo.save_connector(connector)
                if obs.auth is not None:
                    self._save_auth(repo, org, obs.auth, obs.source, run_here)
                    org = repo.organisation() or org
                for srv, thumbprint in obs.transport_certificates:
                    if srv.lower() == server.name.lower() or len(obs.transport_certificates) == 1:
                        server = dataclasses.replace(server, default_smtp_thumbprint=thumbprint)
                for vdir in obs.virtual_directories:
                    if vdir.server.lower() == server.name.lower():
                        repo.save_virtual_directory(dataclasses.replace(vdir, server=server.name))
            repo.save_server(server)
            self._save_facts(repo, server.name, observations, culture)
            counts = {
                store.value: len(repo.observed_certificates(server.name, store))
                for store in StoreName
            }
            return ObserveResult(server, tuple(observations), counts, tuple(attached))

    def observe_collection(self, collection: Collection) -> CollectionResult:
        """The whole organisation from a collection, in one transaction (see the module)."""
        manifest = collection.manifest
        observations: list[tuple[str | None, Observation]] = []
        for name in (*manifest.servers, *(e.server for e in manifest.entries if e.server)):
            try:  # the manifest's names enter the store as the command line's do
                server_name(name)
            except CertwardError as exc:
                raise exc.code(
                    f"{collection.source}: manifest.json: {exc.message}",
                    **{**exc.facts, "file": collection.source},
                ) from None
        for f in collection.files:
            owner = f.entry.server
            store = _KIND_STORES.get(f.entry.kind.id)
            try:
                obs = observation_of(f.source, f.dump, owner or "", store)
            except CertwardError as exc:
                raise exc.code(
                    f"{f.source}: {exc.message}",
                    **{**exc.facts, "file": collection.source, "member": f.entry.file},
                ) from None
            observations.append((owner, obs))
        infos = {s.name.lower(): s for _, o in observations for s in o.servers}
        listed = bool(collection.of("exchange-server"))
        names: dict[str, str] = {s.lower(): s for s in manifest.servers}
        names.update({key: info.name for key, info in infos.items()})
        for owner, obs in observations:
            if owner is not None:
                if listed and owner.lower() not in infos:
                    raise OBSERVE_SERVER_NOT_COLLECTED(
                        f"{obs.source}: server {owner} is not among the servers "
                        "Get-ExchangeServer lists",
                        file=collection.source,
                        server=owner,
                    )
                names.setdefault(owner.lower(), owner)
        removed: list[str] = []
        with self._uow.transaction() as repo:
            org = self._organisation(repo)
            run_here = self._run_here(repo)
            for key, display in sorted(names.items()):
                if key in run_here:
                    raise SERVER_MANAGED(
                        f"{collection.source}: {display} is a server certward runs; a "
                        "collection's servers are observed under their own names",
                        server=display,
                        file=collection.source,
                    )
            # Observed servers this collection no longer lists are gone (with their rows).
            # (A server only this collection's connectors name stays: they attach it.)
            named = {s.lower() for _, o in observations for c in o.connectors for s in c.servers}
            if listed:
                for existing in repo.servers():
                    key = existing.name.lower()
                    if existing.observed and key not in names and key not in named:
                        self._remove_server(repo, existing.name, removed)
            servers: list[Server] = []
            for key, display in sorted(names.items()):
                info = infos.get(key, ServerInfo(display))
                server = self._server(
                    repo,
                    info.name,
                    info.fqdn.lower() if info.fqdn else None,
                    sorted(info.roles) or None,
                    info.version,
                )
                mine = [o for owner, o in observations if (owner or "").lower() == key]
                server = self._load_server(repo, server, mine, removed)
                servers.append(server)
            connectors = self._replace_connectors(repo, collection, observations, removed)
            if collection.of("edge-subscription"):
                self._replace_subscriptions(repo, observations, manifest.collected_at, removed)
            auth = [o for _, o in observations if o.auth is not None]
            for obs in auth:
                assert obs.auth is not None
                self._save_auth(repo, org, obs.auth, obs.source, run_here)
            hybrid = next((o.hybrid for _, o in observations if o.hybrid is not None), None)
            repo.save_observed_organisation(
                ObservedOrganisationFacts(
                    evidence=collection.evidence(None),
                    hybrid=hybrid,
                    collected_at=manifest.collected_at,
                    sources=tuple(o.source for owner, o in observations if owner is None),
                )
            )
            summaries = []
            # Servers the collection was not run for (its -Server list) keep what an earlier
            # collection showed of them; only Get-ExchangeServer's view of them is new.
            targeted = {e.server.lower() for e in manifest.entries if e.server}
            for server in servers:
                evidence = collection.evidence(server.name)
                if listed and server.name.lower() in infos:
                    evidence |= {Evidence.EXCHANGE_SERVER}
                shown = infos.get(server.name.lower())
                mine = [
                    o for owner, o in observations if (owner or "").lower() == server.name.lower()
                ]
                earlier = repo.observed_facts(server.name)
                if server.name.lower() not in targeted and earlier is not None:
                    repo.save_observed_facts(
                        dataclasses.replace(
                            earlier,
                            evidence=earlier.evidence | evidence,
                            exchange_build=shown.build if shown else earlier.exchange_build,
                        )
                    )
                    evidence = earlier.evidence | evidence
                else:
                    repo.save_observed_facts(
                        ObservedFacts(
                            server=server.name,
                            evidence=frozenset(evidence),
                            iis_bindings=tuple(b for o in mine for b in o.iis_bindings),
                            tls=_tls(o.tls for o in mine),
                            exchange_build=shown.build if shown else None,
                            collected_at=manifest.collected_at,
                            culture=manifest.culture,
                            sources=tuple(o.source for o in mine),
                        )
                    )
                counts = {
                    store.value: len(repo.observed_certificates(server.name, store))
                    for store in StoreName
                }
                summaries.append(ServerSummary(server, counts, frozenset(evidence)))
        not_collected = _not_collected(manifest.entries)
        return CollectionResult(
            source=collection.source,
            collected_at=manifest.collected_at,
            servers=tuple(summaries),
            connectors=connectors,
            removed=tuple(removed),
            not_collected=not_collected,
            observations=tuple(o for _, o in observations),
        )

    # -- the collection's parts ------------------------------------------------------------
    def _load_server(
        self, repo: Repository, server: Server, mine: list[Observation], removed: list[str]
    ) -> Server:
        """The server's stores (what the collection shows replaces what was), its default
        transport certificate and its virtual directories."""
        for store in StoreName:
            if not any(_shows(o, store) for o in mine):
                continue
            before = {c.thumbprint for c in repo.observed_certificates(server.name, store)}
            certificates = merge_certificates(mine, store)
            repo.replace_observed_certificates(server.name, store, certificates)
            for gone in sorted(before - {c.thumbprint for c in certificates}):
                removed.append(
                    f"certificate {gone} from {server.name}'s {store.value} store "
                    "(not in this collection)"
                )
        for obs in mine:
            for srv, thumbprint in obs.transport_certificates:
                if srv.lower() == server.name.lower() or len(obs.transport_certificates) == 1:
                    server = dataclasses.replace(server, default_smtp_thumbprint=thumbprint)
            for vdir in obs.virtual_directories:
                repo.save_virtual_directory(dataclasses.replace(vdir, server=server.name))
        repo.save_server(server)
        return server

    def _replace_connectors(
        self,
        repo: Repository,
        collection: Collection,
        observations: Sequence[tuple[str | None, Observation]],
        removed: list[str],
    ) -> int:
        """The collection's connectors replace those it showed before: receive connectors of
        each server whose Get-ReceiveConnector was collected, and send connectors when
        Get-SendConnector was."""
        new = [c for _, o in observations for c in o.connectors]
        receive_shown = {(f.entry.server or "").lower() for f in collection.of("receive-connector")}
        send_shown = bool(collection.of("send-connector"))
        keep = {c.identity.lower() for c in new}
        observed = {s.name.lower() for s in repo.servers() if s.observed}
        for existing in repo.connectors():
            owners = {s.lower() for s in existing.servers}
            if not owners or not owners <= observed or existing.identity.lower() in keep:
                continue
            shown = (
                send_shown if existing.kind is ConnectorKind.SEND else bool(owners & receive_shown)
            )
            if shown:
                repo.delete_connector(existing.identity)
                removed.append(
                    f"{existing.kind.value} connector {existing.identity} (not in this collection)"
                )
        run_here = self._run_here(repo)
        saved = 0
        for connector in new:
            # a real organisation's connector never rewrites one of a server certward runs
            if run_here & {s.lower() for s in connector.servers}:
                continue
            self._attach(repo, connector.servers)
            repo.save_connector(connector)
            saved += 1
        return saved

    @staticmethod
    def _replace_subscriptions(
        repo: Repository,
        observations: Sequence[tuple[str | None, Observation]],
        collected_at: dt.datetime,
        removed: list[str],
    ) -> None:
        """Get-EdgeSubscription's Edges, subscribed with the certificate the Edge presents
        (its default transport certificate, else its SMTP certificate, as the collection
        showed it with its DER); the time of the subscription is not shown: the
        collection's time stands for it. An Edge whose certificate was not shown is not
        recorded (nothing can be judged of it)."""
        listed = {
            name.lower(): (name, site)
            for _, o in observations
            for name, site in o.edge_subscriptions
        }
        for sub in repo.edge_subscriptions():
            edge = repo.server(sub.edge) if repo.has_server(sub.edge) else None
            if edge is not None and edge.observed and sub.edge.lower() not in listed:
                repo.delete_edge_subscription(sub.edge)
                removed.append(f"Edge subscription of {sub.edge} (not in this collection)")
        for name, site in listed.values():
            if not repo.has_server(name) or not repo.server(name).observed:
                continue
            edge = repo.server(name)
            mine = repo.observed_certificates(edge.name, StoreName.MY)
            cert = next(
                (c for c in mine if c.thumbprint == edge.default_smtp_thumbprint and c.der),
                None,
            ) or next((c for c in mine if Service.SMTP in c.services and c.der), None)
            if cert is None or cert.der is None:
                continue
            repo.save_edge_subscription(
                EdgeSubscription(
                    edge=edge.name,
                    site=(site or DEFAULT_SITE).rsplit("/", 1)[-1] or DEFAULT_SITE,
                    created=collected_at,
                    edge_thumbprint=cert.thumbprint,
                    edge_der=cert.der,
                )
            )

    def _remove_server(self, repo: Repository, name: str, removed: list[str]) -> None:
        """An observed server gone from the organisation: its rows, its receive connectors,
        and its name from the send connectors that list it (a send connector left with no
        source server goes too)."""
        run_here = self._run_here(repo)
        for connector in repo.connectors():
            owners = {s.lower() for s in connector.servers}
            if name.lower() not in owners or owners & run_here:
                continue
            rest = tuple(s for s in connector.servers if s.lower() != name.lower())
            if connector.kind is ConnectorKind.RECEIVE or not rest:
                repo.delete_connector(connector.identity)
                removed.append(
                    f"{connector.kind.value} connector {connector.identity} "
                    f"(its server {name} is not in this collection)"
                )
            else:
                repo.save_connector(
                    dataclasses.replace(connector, servers=rest),
                    previous_identity=connector.identity,
                )
        repo.delete_server(name)
        removed.append(f"server {name} (not in this collection)")

    # -- shared ----------------------------------------------------------------------------
    @staticmethod
    def _organisation(repo: Repository) -> Organisation:
        org = repo.organisation()
        if org is None:
            org = Organisation(OBSERVED_ORGANISATION)
            repo.save_organisation(org)
        return org

    @staticmethod
    def _run_here(repo: Repository) -> set[str]:
        return {s.name.lower() for s in repo.servers() if not s.observed}

    @staticmethod
    def _save_auth(
        repo: Repository, org: Organisation, auth: AuthConfig, source: str, run_here: set[str]
    ) -> None:
        if run_here:
            raise OBSERVE_AUTH_BESIDE_MANAGED(
                f"{source}: Get-AuthConfig describes a real organisation, but this store's "
                "organisation has servers certward runs, with its own auth certificate",
                file=source,
            )
        repo.save_organisation(dataclasses.replace(org, auth=auth))

    @staticmethod
    def _attach(repo: Repository, names: Iterable[str]) -> list[str]:
        """Observed servers for the servers a connector names that certward does not have
        (a dump of TESTSRV may list a connector of LON-EX01)."""
        created = []
        for name in names:
            if not repo.has_server(name):
                repo.save_server(
                    Server(
                        name=server_name(name),
                        fqdn=name.lower(),
                        roles=frozenset({Role.MAILBOX}),
                        observed=True,
                    )
                )
                created.append(name)
        return created

    def _save_facts(
        self,
        repo: Repository,
        name: str,
        observations: Sequence[Observation],
        culture: str | None,
    ) -> None:
        """The loose-file path: what these files showed, added to what earlier files did."""
        old = repo.observed_facts(name)
        org_shown = {e for o in observations for e in o.evidence if e in _ORGANISATION}
        evidence = {e for o in observations for e in o.evidence if e not in _ORGANISATION}
        bindings = tuple(b for o in observations for b in o.iis_bindings)
        tls = _tls(o.tls for o in observations)
        build_text = next((s.build for o in observations for s in o.servers
                           if s.name.lower() == name.lower() and s.build), None)  # fmt: skip
        sources = tuple(o.source for o in observations)
        if old is not None:
            evidence |= old.evidence
            bindings = bindings if any(o.iis_bindings for o in observations) else old.iis_bindings
            tls = _tls([old.tls, tls]) if tls is not None else old.tls
            build_text = build_text or old.exchange_build
            culture = culture or old.culture
            sources = (*old.sources, *sources)
        repo.save_observed_facts(
            ObservedFacts(
                server=name,
                evidence=frozenset(evidence),
                iis_bindings=bindings,
                tls=tls,
                exchange_build=build_text,
                culture=culture,
                sources=sources,
            )
        )
        if org_shown:
            old_org = repo.observed_organisation()
            hybrid = next((o.hybrid for o in observations if o.hybrid is not None), None)
            repo.save_observed_organisation(
                ObservedOrganisationFacts(
                    evidence=frozenset(org_shown | (old_org.evidence if old_org else set())),
                    hybrid=hybrid or (old_org.hybrid if old_org else None),
                    collected_at=old_org.collected_at if old_org else None,
                    sources=(*(old_org.sources if old_org else ()), *sources),
                )
            )

    @staticmethod
    def _server(
        repo: Repository,
        name: str,
        fqdn: str | None,
        roles: Sequence[Role] | None,
        version: ExchangeVersion | None,
    ) -> Server:
        if repo.has_server(name):
            existing = repo.server(name)
            if not existing.observed:
                raise SERVER_MANAGED(
                    f"{existing.name} is a server certward runs; a real server is observed "
                    "under its own name",
                    server=existing.name,
                )
            return dataclasses.replace(
                existing,
                fqdn=fqdn or existing.fqdn,
                roles=frozenset(roles) if roles else existing.roles,
                version=version or existing.version,
            )
        server = Server(
            name=name,
            fqdn=fqdn or name.lower(),
            roles=frozenset(roles or (Role.MAILBOX,)),
            version=version or ExchangeVersion.EX2019,
            observed=True,
        )
        repo.save_server(server)  # its connectors only as Get-ReceiveConnector shows them
        return server


_ORGANISATION = frozenset(
    {
        Evidence.SEND_CONNECTOR,
        Evidence.AUTH_CONFIG,
        Evidence.EDGE_SUBSCRIPTION,
        Evidence.HYBRID_CONFIGURATION,
    }
)
_KIND_STORES = {"my-store": StoreName.MY, "root-store": StoreName.ROOT, "ca-store": StoreName.CA}
_STORE_EVIDENCE = {
    StoreName.MY: Evidence.MY_STORE,
    StoreName.ROOT: Evidence.ROOT_STORE,
    StoreName.CA: Evidence.CA_STORE,
}


def _not_collected(entries: Iterable[ManifestEntry]) -> tuple[str, ...]:
    """One line per server and reason: "EDGE01: Get-TransportService, Get-Website failed:
    <the error>" or "EXCH02: Get-ClientAccessService does not exist there"."""
    groups: dict[tuple[str, str], list[str]] = {}
    for e in entries:
        if e.collected:
            continue
        why = "does not exist there" if e.missing else f"failed: {e.error}"
        shown = e.command if e.command.startswith("Get-ChildItem") else e.command.split()[0]
        groups.setdefault((e.server or "organisation", why), []).append(shown)
    lines = []
    for (where, why), commands in groups.items():
        unique = list(dict.fromkeys(commands))
        lines.append(f"{where}: {', '.join(unique)} {why}")
    return tuple(lines)


def _shows(obs: Observation, store: StoreName) -> bool:
    """Whether the file showed ``store`` (an empty store is shown, and empties it)."""
    return obs.store is store or _STORE_EVIDENCE[store] in obs.evidence


def _tls(parts: Iterable[TlsRegistry | None]) -> TlsRegistry | None:
    """The TLS registry from the files that showed parts of it (SCHANNEL, .NET, the root
    auto-update policy), later files' values winning."""
    shown = [p for p in parts if p is not None]
    if not shown:
        return None
    return TlsRegistry(
        schannel=next((p.schannel for p in reversed(shown) if p.schannel), ()),
        net=next((p.net for p in reversed(shown) if p.net), ()),
        disable_root_auto_update=next(
            (
                p.disable_root_auto_update
                for p in reversed(shown)
                if p.disable_root_auto_update is not None
            ),
            None,
        ),
    )

"""``Get-ReceiveConnector | Format-List`` and ``Get-SendConnector | Format-List``.

Properties read (names as the cmdlets print them): Identity, Name, Enabled, Fqdn,
TlsCertificateName (``<I>issuer<S>subject``), RequireTLS, DomainSecureEnabled; for a Receive
connector Server, TransportRole, Bindings, RemoteIPRanges, AuthMechanism, PermissionGroups,
TlsDomainCapabilities; for a Send connector AddressSpaces (``SMTP:domain;cost``),
SmartHosts, SourceTransportServers, DNSRoutingEnabled, SmartHostAuthMechanism, TlsAuthLevel,
TlsDomain, IgnoreSTARTTLS, CloudServicesMailEnabled, Port.
"""

from __future__ import annotations

from dataclasses import dataclass

from certward.codes.interop import DUMP_VALUE_MISSING
from certward.interop import _fields as f
from certward.interop.formatlist import FlRecord, split_collection
from certward.model import (
    AuthMechanism,
    Binding,
    Connector,
    ConnectorKind,
    SmartHost,
    TlsAuthLevel,
    TlsCertificateName,
)
from certward.model.connectors import parse_auth_mechanism

__all__ = [
    "AddressSpace",
    "ReceiveConnectorEntry",
    "SendConnectorEntry",
    "is_receive_connector",
    "is_send_connector",
    "read_receive",
    "read_send",
]

_CLOUD_MAIL = "acceptcloudservicesmail"


def is_receive_connector(record: FlRecord) -> bool:
    return {"bindings", "remoteipranges"} <= record.labels


def is_send_connector(record: FlRecord) -> bool:
    return "addressspaces" in record.labels and (
        "sourcetransportservers" in record.labels or "smarthosts" in record.labels
    )


@dataclass(frozen=True, slots=True)
class AddressSpace:
    """``SMTP:*.contoso.com;1``: the address type, the domain and the cost."""

    domain: str
    type: str = "SMTP"
    cost: int = 1

    @classmethod
    def parse(cls, text: str) -> AddressSpace:
        value = text.strip()
        kind, colon, rest = value.partition(":")
        if not colon:
            kind, rest = "SMTP", value
        domain, semicolon, cost = rest.rpartition(";")
        if not semicolon or not cost.strip().isdigit():
            domain, cost = rest, "1"
        if not domain.strip():
            raise ValueError(f"not an address space: {text!r}")
        return cls(domain.strip(), kind.strip() or "SMTP", int(cost))

    def __str__(self) -> str:
        return f"{self.type}:{self.domain};{self.cost}"


@dataclass(frozen=True, slots=True)
class ReceiveConnectorEntry:
    identity: str  # SERVER\Name
    name: str
    server: str | None = None
    transport_role: str | None = None  # FrontendTransport, HubTransport
    enabled: bool | None = None
    bindings: tuple[Binding, ...] = ()
    remote_ip_ranges: tuple[str, ...] = ()
    auth_mechanism: AuthMechanism | None = None
    permission_groups: tuple[str, ...] = ()
    require_tls: bool | None = None
    domain_secure_enabled: bool | None = None
    fqdn: str | None = None
    tls_certificate_name: TlsCertificateName | None = None
    tls_domain_capabilities: tuple[str, ...] = ()

    @property
    def cloud_services_mail(self) -> bool:
        """Hybrid: TlsDomainCapabilities grants AcceptCloudServicesMail to some domain."""
        return any(_CLOUD_MAIL in c.lower() for c in self.tls_domain_capabilities)

    def to_connector(self) -> Connector:
        server = self.server or self.identity.partition("\\")[0]
        return Connector(
            name=self.name,
            kind=ConnectorKind.RECEIVE,
            servers=(server,),
            fqdn=self.fqdn,
            bindings=self.bindings,
            auth_mechanism=self.auth_mechanism or AuthMechanism.NONE,
            require_tls=bool(self.require_tls),
            domain_secure_enabled=bool(self.domain_secure_enabled),
            tls_certificate_name=_tls(self.tls_certificate_name),
            cloud_services_mail_enabled=self.cloud_services_mail,
        )


@dataclass(frozen=True, slots=True)
class SendConnectorEntry:
    identity: str
    name: str
    enabled: bool | None = None
    address_spaces: tuple[AddressSpace, ...] = ()
    smart_hosts: tuple[SmartHost, ...] = ()
    source_transport_servers: tuple[str, ...] = ()
    dns_routing_enabled: bool | None = None
    smart_host_auth_mechanism: AuthMechanism | None = None
    require_tls: bool | None = None
    tls_auth_level: TlsAuthLevel | None = None
    tls_domain: str | None = None
    ignore_starttls: bool | None = None
    domain_secure_enabled: bool | None = None
    cloud_services_mail_enabled: bool | None = None
    fqdn: str | None = None
    port: int | None = None
    tls_certificate_name: TlsCertificateName | None = None

    def to_connector(self) -> Connector:
        return Connector(
            name=self.name,
            kind=ConnectorKind.SEND,
            servers=self.source_transport_servers,
            fqdn=self.fqdn,
            address_spaces=tuple(space.domain for space in self.address_spaces),
            smart_hosts=self.smart_hosts,
            auth_mechanism=self.smart_host_auth_mechanism or AuthMechanism.NONE,
            require_tls=bool(self.require_tls),
            tls_auth_level=self.tls_auth_level,
            tls_domain=self.tls_domain,
            domain_secure_enabled=bool(self.domain_secure_enabled),
            tls_certificate_name=_tls(self.tls_certificate_name),
            ignore_starttls=bool(self.ignore_starttls),
            cloud_services_mail_enabled=bool(self.cloud_services_mail_enabled),
        )


def _tls(name: TlsCertificateName | None) -> str | None:
    return None if name is None else str(name)


def _identity(record: FlRecord) -> tuple[str, str]:
    identity = f.text(record, "Identity")
    name = f.text(record, "Name")
    if identity is None and name is None:
        raise f.problem(
            record, "Identity", "a connector needs an Identity or a Name", code=DUMP_VALUE_MISSING
        )
    name = name or (identity or "").rpartition("\\")[2]
    return identity or name, name


def _bindings(text: str) -> tuple[Binding, ...]:
    return tuple(Binding.parse(b) for b in split_collection(text).items)


def read_receive(record: FlRecord) -> ReceiveConnectorEntry:
    identity, name = _identity(record)
    return ReceiveConnectorEntry(
        identity=identity,
        name=name,
        server=f.text(record, "Server"),
        transport_role=f.text(record, "TransportRole"),
        enabled=f.boolean(record, "Enabled"),
        bindings=f.parsed(record, "Bindings", _bindings) or (),
        remote_ip_ranges=f.collection(record, "RemoteIPRanges").items,
        auth_mechanism=f.parsed(record, "AuthMechanism", parse_auth_mechanism),
        permission_groups=f.collection(record, "PermissionGroups").items,
        require_tls=f.boolean(record, "RequireTLS"),
        domain_secure_enabled=f.boolean(record, "DomainSecureEnabled"),
        fqdn=f.text(record, "Fqdn"),
        tls_certificate_name=f.tls_name(record),
        tls_domain_capabilities=f.collection(record, "TlsDomainCapabilities").items,
    )


def read_send(record: FlRecord) -> SendConnectorEntry:
    identity, name = _identity(record)
    try:
        spaces = tuple(AddressSpace.parse(a) for a in f.collection(record, "AddressSpaces").items)
        hosts = tuple(SmartHost.parse(h) for h in f.collection(record, "SmartHosts").items)
        level_text = f.text(record, "TlsAuthLevel")
        level = None if level_text is None else TlsAuthLevel.parse(level_text)
    except ValueError as exc:
        raise f.problem(record, "AddressSpaces/SmartHosts/TlsAuthLevel", str(exc)) from None
    return SendConnectorEntry(
        identity=identity,
        name=name,
        enabled=f.boolean(record, "Enabled"),
        address_spaces=spaces,
        smart_hosts=hosts,
        source_transport_servers=f.collection(record, "SourceTransportServers").items,
        dns_routing_enabled=f.boolean(record, "DNSRoutingEnabled"),
        smart_host_auth_mechanism=f.parsed(record, "SmartHostAuthMechanism", parse_auth_mechanism),
        require_tls=f.boolean(record, "RequireTLS"),
        tls_auth_level=level,
        tls_domain=f.text(record, "TlsDomain"),
        ignore_starttls=f.boolean(record, "IgnoreSTARTTLS"),
        domain_secure_enabled=f.boolean(record, "DomainSecureEnabled"),
        cloud_services_mail_enabled=f.boolean(record, "CloudServicesMailEnabled"),
        fqdn=f.text(record, "Fqdn"),
        port=f.integer(record, "Port"),
        tls_certificate_name=f.tls_name(record),
    )

"""The objects of an ``Export-Clixml`` file, recognised and mapped to what certward reads
(:class:`~certward.interop.dump.ObservedDump`); pure: values in, values out.

An object is recognised by its type names (with or without PowerShell's ``Deserialized.``
and Select-Object's ``Selected.`` prefixes) or, failing that, by its properties, so the full
objects HealthChecker saves and the collector's selections read alike:

* ``Get-ExchangeCertificate``: the certificate comes from ``RawData`` (its DER): thumbprint,
  subject, issuer, dates, SANs, key size and algorithm, signature algorithm, serial number
  are computed from it (a ``Thumbprint`` property must agree); Services, Status,
  HasPrivateKey, PrivateKeyExportable, IsSelfSigned, FriendlyName, CertificateDomains,
  RootCAType and a key provider come from the properties present. HealthChecker's files
  carry only RawData (the rest is in .NET's binary ``SerializationData``, which certward
  does not read), so those read as "not shown".
* a plain ``X509Certificate2`` (``Get-ChildItem Cert:\\LocalMachine\\Root``): RawData, and
  the store from ``PSParentPath``.
* ``Get-ExchangeServer``, ``Get-ReceiveConnector``, ``Get-SendConnector``,
  ``Get-AuthConfig``, ``Get-TransportService``, the virtual directories,
  ``Get-ClientAccessService`` (Autodiscover), ``Get-EdgeSubscription``,
  ``Get-HybridConfiguration``;
* IIS bindings as ``Get-WebBinding`` returns them (HealthChecker) or as the collector
  selects them; TLS registry settings as HealthChecker's ``Get-AllTlsSettings`` returns
  them or as the collector's rows (:data:`CLIXML_SHAPES`).

Connectors reuse the Format-List readers: each property is rendered as Format-List prints
it (a collection as ``{a, b}``, an enum by its name), so one set of rules reads both.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from certward.codes.clixml import (
    CLIXML_UNRECOGNISED,
    CLIXML_VALUE_INVALID,
    CLIXML_VALUE_MISSING,
)
from certward.errors import CertwardError, InteropError
from certward.interop import connectors
from certward.interop.clixml import (
    ClixmlDict,
    ClixmlEnum,
    ClixmlObject,
    Value,
    read_clixml_text,
)
from certward.interop.connectors import ReceiveConnectorEntry, SendConnectorEntry
from certward.interop.dump import Format, ObservedDump
from certward.interop.exchange_certificate import ExchangeCertificateEntry
from certward.interop.formatlist import FlRecord
from certward.interop.transport import AuthConfigEntry, TransportServiceEntry
from certward.model import (
    ExchangeVersion,
    HybridConfiguration,
    IisBinding,
    NetTlsSetting,
    Role,
    SchannelSetting,
    ServiceSet,
    StoreName,
    Thumbprint,
    TlsRegistry,
    parse_thumbprint,
)
from certward.model.vdirs import EXCHANGE_VDIRS, VirtualDirectory
from certward.pki import certinfo

__all__ = [
    "CLIXML_SHAPES",
    "EdgeSubscriptionEntry",
    "ExchangeServerEntry",
    "StoreCertificateEntry",
    "kind_of",
    "parse_clixml",
]


# -- entries of the new kinds ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExchangeServerEntry:
    """``Get-ExchangeServer``: one Exchange server of the organisation."""

    name: str
    fqdn: str | None = None
    roles: frozenset[Role] = frozenset()
    version: ExchangeVersion | None = None  # from AdminDisplayVersion's major/minor
    build: str | None = None  # "15.2.986.5"
    admin_display_version: str | None = None  # "Version 15.2 (Build 986.5)"
    is_edge: bool = False
    site: str | None = None


@dataclass(frozen=True, slots=True)
class EdgeSubscriptionEntry:
    """``Get-EdgeSubscription``: an Edge Transport server subscribed to an AD site."""

    name: str
    site: str | None = None
    domain: str | None = None


@dataclass(frozen=True, slots=True)
class StoreCertificateEntry:
    """A certificate of a Windows store (``Get-ChildItem Cert:\\LocalMachine\\<store>``);
    ``store`` from its PSParentPath, None when the file does not say."""

    certificate: ExchangeCertificateEntry
    store: StoreName | None = None


# -- the shapes: what is read from each kind (the collector selects these) ------------------------
_CERTIFICATE_PROPS = (
    "RawData",
    "Thumbprint",
    "Services",
    "Status",
    "HasPrivateKey",
    "PrivateKeyExportable",
    "IsSelfSigned",
    "FriendlyName",
    "CertificateDomains",
    "RootCAType",
    "KeyProvider",
)
_VDIR_PROPS = ("Server", "Name", "InternalUrl", "ExternalUrl")

# Format (cmdlet or row kind) → the properties certward reads from its objects, as the
# collector must select them (``Select-Object <these> | Export-Clixml``). The registry and
# IIS rows are PSCustomObjects the collector builds with exactly these property names
# (HealthChecker's own shapes, Get-AllTlsSettings and Get-WebBinding, are read as well).
CLIXML_SHAPES: Mapping[Format, tuple[str, ...]] = {
    Format.EXCHANGE_CERTIFICATE_CLIXML: _CERTIFICATE_PROPS,
    Format.STORE_CERTIFICATE_CLIXML: (
        "RawData",
        "Thumbprint",
        "PSParentPath",
        "FriendlyName",
        "HasPrivateKey",
        "KeyProvider",
    ),
    Format.EXCHANGE_SERVER_CLIXML: (
        "Name",
        "Fqdn",
        "ServerRole",
        "AdminDisplayVersion",
        "IsEdgeServer",
        "IsMailboxServer",
        "IsClientAccessServer",
        "IsHubTransportServer",
        "Site",
    ),
    Format.RECEIVE_CONNECTOR_CLIXML: (
        "Identity",
        "Name",
        "Server",
        "TransportRole",
        "Enabled",
        "Bindings",
        "RemoteIPRanges",
        "AuthMechanism",
        "PermissionGroups",
        "RequireTLS",
        "DomainSecureEnabled",
        "Fqdn",
        "TlsCertificateName",
        "TlsDomainCapabilities",
    ),
    Format.SEND_CONNECTOR_CLIXML: (
        "Identity",
        "Name",
        "Enabled",
        "AddressSpaces",
        "SmartHosts",
        "SourceTransportServers",
        "DNSRoutingEnabled",
        "SmartHostAuthMechanism",
        "RequireTLS",
        "TlsAuthLevel",
        "TlsDomain",
        "IgnoreSTARTTLS",
        "DomainSecureEnabled",
        "CloudServicesMailEnabled",
        "Fqdn",
        "Port",
        "TlsCertificateName",
    ),
    Format.AUTH_CONFIG_CLIXML: (
        "CurrentCertificateThumbprint",
        "PreviousCertificateThumbprint",
        "NextCertificateThumbprint",
        "NextCertificateEffectiveDate",
        "ServiceName",
        "Realm",
    ),
    Format.TRANSPORT_SERVICE_CLIXML: ("Name", "InternalTransportCertificateThumbprint"),
    Format.VIRTUAL_DIRECTORY_CLIXML: _VDIR_PROPS,
    Format.CLIENT_ACCESS_SERVICE_CLIXML: ("Name", "AutoDiscoverServiceInternalUri"),
    Format.IIS_BINDING_CLIXML: (
        "Site",
        "Protocol",
        "BindingInformation",
        "CertificateHash",
        "CertificateStoreName",
    ),
    Format.SCHANNEL_CLIXML: ("Protocol", "Side", "Enabled", "DisabledByDefault"),
    Format.NET_TLS_CLIXML: (
        "Version",
        "Wow6432Node",
        "SystemDefaultTlsVersions",
        "SchUseStrongCrypto",
    ),
    Format.ROOT_AUTO_UPDATE_CLIXML: ("DisableRootAutoUpdate",),
    Format.EDGE_SUBSCRIPTION_CLIXML: ("Name", "Site", "Domain"),
    Format.HYBRID_CLIXML: ("TlsCertificateName", "Domains", "Features", "OnPremisesSmartHost"),
    Format.TLS_SETTINGS_CLIXML: ("Registry",),
}

# -- recognition ----------------------------------------------------------------------------------
_SC = "Microsoft.Exchange.Data.Directory.SystemConfiguration."
_VDIR_TYPES = {
    _SC + "ADOwaVirtualDirectory": "owa",
    _SC + "ADEcpVirtualDirectory": "ecp",
    _SC + "ADWebServicesVirtualDirectory": "ews",
    _SC + "ADMobileVirtualDirectory": "Microsoft-Server-ActiveSync",
    _SC + "ADAutodiscoverVirtualDirectory": "autodiscover",
    _SC + "ADOabVirtualDirectory": "oab",
    _SC + "ADMapiVirtualDirectory": "mapi",
}
_BY_TYPE: dict[str, Format] = {
    "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate": (
        Format.EXCHANGE_CERTIFICATE_CLIXML
    ),
    "System.Security.Cryptography.X509Certificates.X509Certificate2": (
        Format.STORE_CERTIFICATE_CLIXML
    ),
    "Microsoft.Exchange.Data.Directory.Management.ExchangeServer": Format.EXCHANGE_SERVER_CLIXML,
    _SC + "ReceiveConnector": Format.RECEIVE_CONNECTOR_CLIXML,
    _SC + "SmtpSendConnectorConfig": Format.SEND_CONNECTOR_CLIXML,
    _SC + "AuthConfig": Format.AUTH_CONFIG_CLIXML,
    _SC + "TransportServer": Format.TRANSPORT_SERVICE_CLIXML,
    "Microsoft.Exchange.Data.Directory.Management.TransportService": (
        Format.TRANSPORT_SERVICE_CLIXML
    ),
    "Microsoft.Exchange.Data.Directory.Management.ClientAccessServer": (
        Format.CLIENT_ACCESS_SERVICE_CLIXML
    ),
    "Microsoft.Exchange.Data.Directory.Management.ClientAccessService": (
        Format.CLIENT_ACCESS_SERVICE_CLIXML
    ),
    "Microsoft.IIs.PowerShell.Framework.ConfigurationElement#bindings#binding": (
        Format.IIS_BINDING_CLIXML
    ),
    _SC + "EdgeSubscription": Format.EDGE_SUBSCRIPTION_CLIXML,
    "Microsoft.Exchange.Data.Directory.Management.EdgeSubscription": (
        Format.EDGE_SUBSCRIPTION_CLIXML
    ),
    _SC + "HybridConfiguration": Format.HYBRID_CLIXML,
    **{name: Format.VIRTUAL_DIRECTORY_CLIXML for name in _VDIR_TYPES},
}

# By properties, in this order (case-folded names; all must be present).
_BY_PROPERTIES: tuple[tuple[Format, frozenset[str]], ...] = (
    (Format.EXCHANGE_CERTIFICATE_CLIXML, frozenset({"rawdata", "services"})),
    (Format.EXCHANGE_CERTIFICATE_CLIXML, frozenset({"rawdata", "status"})),
    (Format.STORE_CERTIFICATE_CLIXML, frozenset({"rawdata"})),
    (Format.AUTH_CONFIG_CLIXML, frozenset({"currentcertificatethumbprint"})),
    (Format.TRANSPORT_SERVICE_CLIXML, frozenset({"internaltransportcertificatethumbprint"})),
    (Format.RECEIVE_CONNECTOR_CLIXML, frozenset({"bindings", "remoteipranges"})),
    (Format.SEND_CONNECTOR_CLIXML, frozenset({"addressspaces", "sourcetransportservers"})),
    (Format.SEND_CONNECTOR_CLIXML, frozenset({"addressspaces", "smarthosts"})),
    (Format.EXCHANGE_SERVER_CLIXML, frozenset({"serverrole", "admindisplayversion"})),
    (Format.CLIENT_ACCESS_SERVICE_CLIXML, frozenset({"autodiscoverserviceinternaluri"})),
    (Format.HYBRID_CLIXML, frozenset({"onpremisessmarthost", "features"})),
    (Format.TLS_SETTINGS_CLIXML, frozenset({"registry"})),
    (Format.SCHANNEL_CLIXML, frozenset({"protocol", "side", "enabled", "disabledbydefault"})),
    (Format.NET_TLS_CLIXML, frozenset({"version", "systemdefaulttlsversions"})),
    (Format.NET_TLS_CLIXML, frozenset({"version", "schusestrongcrypto"})),
    (Format.ROOT_AUTO_UPDATE_CLIXML, frozenset({"disablerootautoupdate"})),
    (Format.IIS_BINDING_CLIXML, frozenset({"bindinginformation", "protocol"})),
    (Format.EDGE_SUBSCRIPTION_CLIXML, frozenset({"site", "domain", "name"})),
    (Format.VIRTUAL_DIRECTORY_CLIXML, frozenset({"internalurl", "externalurl", "server"})),
)


def kind_of(obj: ClixmlObject) -> Format | None:
    """What ``obj`` is (its type names first, then its properties); None: none certward reads."""
    for name in obj.plain_type_names:
        kind = _BY_TYPE.get(name)
        if kind is not None:
            return kind
    names = obj.names
    for kind, needed in _BY_PROPERTIES:
        if needed <= names:
            return kind
    return None


# -- rendering values as Format-List prints them -------------------------------------------------
def _text(value: Value) -> str:
    """A value as Format-List prints it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, tuple):
        return "{" + ", ".join(_text(item) for item in value) + "}"
    if isinstance(value, bytes):
        return (
            "{" + ", ".join(str(b) for b in value[:4]) + (", ..." if len(value) > 4 else "") + "}"
        )
    if isinstance(value, ClixmlDict):
        return "{" + ", ".join(_text(k) for k, _ in value.items) + "}"
    return str(value)


def _as_record(obj: ClixmlObject, index: int) -> FlRecord:
    return FlRecord(tuple((name, _text(value)) for name, value in obj.properties), index)


class _Where:
    """Places an error in the file: ``<source>: object <n> (<type>)``."""

    def __init__(self, source: str, index: int, obj: ClixmlObject) -> None:
        self.source = source
        self.index = index
        first = obj.plain_type_names[0] if obj.type_names else "object"
        self.label = f"{source}: object {index} ({first.rpartition('.')[2]})"

    def invalid(self, prop: str, message: str) -> InteropError:
        error = CLIXML_VALUE_INVALID(
            f"{self.label}, {prop}: {message}", source=self.source, object=self.index, field=prop
        )
        assert isinstance(error, InteropError)
        return error

    def missing(self, prop: str) -> InteropError:
        error = CLIXML_VALUE_MISSING(
            f"{self.label} has no {prop}", source=self.source, object=self.index, field=prop
        )
        assert isinstance(error, InteropError)
        return error

    def rewrap(self, exc: CertwardError) -> InteropError:
        """An error of a Format-List reader, placed at this object (its code kept)."""
        message = re.sub(r"^record at line \d+, ", "", exc.message)
        facts = {k: v for k, v in exc.facts.items() if k != "line"}
        return InteropError(
            f"{self.label}, {message}",
            code=exc.code,
            **{**facts, "source": self.source, "object": self.index},
        )


# -- typed property readers -----------------------------------------------------------------------
def _str(obj: ClixmlObject, prop: str) -> str | None:
    value = obj.get(prop)
    if value is None:
        return None
    text = _text(value).strip()
    return text or None


def _bool(obj: ClixmlObject, prop: str, where: _Where) -> bool | None:
    value = obj.get(prop)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value != 0
    text = _text(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False if text else None
    raise where.invalid(prop, f"expected True or False, got {_text(value)!r}")


def _int(obj: ClixmlObject, prop: str, where: _Where) -> int | None:
    value = obj.get(prop)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, ClixmlEnum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    text = _text(value).strip()
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise where.invalid(prop, f"expected a number, got {text!r}") from None


def _thumb(obj: ClixmlObject, prop: str, where: _Where) -> Thumbprint | None:
    text = _str(obj, prop)
    if text is None:
        return None
    try:
        return parse_thumbprint(text)
    except ValueError as exc:
        raise where.invalid(prop, str(exc)) from None


def _strings(value: Value) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, tuple) else (value,)
    return tuple(t for item in items if (t := _text(item).strip()))


def _date(obj: ClixmlObject, prop: str, where: _Where) -> dt.datetime | None:
    value = obj.get(prop)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    raise where.invalid(prop, f"expected a date (<DT>), got {_text(value)!r}")


# -- certificates ---------------------------------------------------------------------------------
def _key_algorithm(cert: x509.Certificate) -> str | None:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "ECC"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA"
    return None


def _certificate(obj: ClixmlObject, where: _Where, *, exchange: bool) -> ExchangeCertificateEntry:
    raw = obj.get("RawData")
    if raw is None:
        raise where.missing("RawData (the certificate itself)")
    if not isinstance(raw, bytes):
        raise where.invalid("RawData", "not a byte array (<BA>)")
    try:
        cert = x509.load_der_x509_certificate(raw)
        facts = certinfo.facts(cert)
        algorithm = _key_algorithm(cert)
    except (ValueError, TypeError, CertwardError) as exc:
        detail = exc.message if isinstance(exc, CertwardError) else str(exc).splitlines()[0]
        raise where.invalid("RawData", f"not a DER certificate ({detail[:160]})") from None
    stated = _thumb(obj, "Thumbprint", where)
    if stated is not None and stated != facts.thumbprint:
        raise where.invalid(
            "Thumbprint",
            f"{stated} is not RawData's thumbprint {facts.thumbprint}; the file was altered",
        )
    services = None
    if exchange and obj.get("Services") is not None:
        try:
            services = ServiceSet.parse(_text(obj.get("Services")))
        except ValueError as exc:
            raise where.invalid("Services", str(exc)) from None
    domains = _strings(obj.get("CertificateDomains")) or facts.certificate_domains
    self_signed = _bool(obj, "IsSelfSigned", where)
    return ExchangeCertificateEntry(
        thumbprint=facts.thumbprint,
        subject=facts.subject,
        issuer=facts.issuer,
        not_before=facts.not_before,
        not_after=facts.not_after,
        serial_number=facts.serial_number,
        services=services or ServiceSet(),
        status=_str(obj, "Status"),
        has_private_key=_bool(obj, "HasPrivateKey", where),
        is_self_signed=facts.is_self_signed if self_signed is None else self_signed,
        public_key_size=facts.public_key_size,
        certificate_domains=tuple(domains),
        root_ca_type=_str(obj, "RootCAType"),
        friendly_name=_str(obj, "FriendlyName"),
        private_key_exportable=_bool(obj, "PrivateKeyExportable", where),
        der=bytes(raw),
        public_key_algorithm=algorithm,
        signature_algorithm=facts.signature_algorithm,
        key_provider=_str(obj, "KeyProvider"),
    )


_STORE_PATH = re.compile(r"(?:LocalMachine|CurrentUser)\\(?P<store>[A-Za-z]+)\s*$")


def _store_certificate(obj: ClixmlObject, where: _Where) -> StoreCertificateEntry:
    entry = _certificate(obj, where, exchange=False)
    store = None
    match = _STORE_PATH.search(_str(obj, "PSParentPath") or "")
    if match is not None:
        try:
            store = StoreName.parse(match["store"])
        except ValueError:
            store = None
    return StoreCertificateEntry(entry, store)


# -- servers --------------------------------------------------------------------------------------
_ROLE_NAMES = {
    "mailbox": Role.MAILBOX,
    "clientaccess": Role.CLIENT_ACCESS,
    "cafe": Role.CLIENT_ACCESS,
    "hubtransport": Role.HUB_TRANSPORT,
    "edge": Role.EDGE_TRANSPORT,
    "edgetransport": Role.EDGE_TRANSPORT,
    "unifiedmessaging": Role.UNIFIED_MESSAGING,
}
_ROLE_FLAGS = {
    "IsMailboxServer": Role.MAILBOX,
    "IsClientAccessServer": Role.CLIENT_ACCESS,
    "IsHubTransportServer": Role.HUB_TRANSPORT,
    "IsEdgeServer": Role.EDGE_TRANSPORT,
    "IsUnifiedMessagingServer": Role.UNIFIED_MESSAGING,
}
_VERSION_TEXT = re.compile(r"Version\s+(\d+)\.(\d+)\s*\(Build\s+(\d+)\.(\d+)\)", re.IGNORECASE)
_VERSIONS = {
    (8, None): ExchangeVersion.EX2007,
    (14, None): ExchangeVersion.EX2010,
    (15, 0): ExchangeVersion.EX2013,
    (15, 1): ExchangeVersion.EX2016,
    (15, 2): ExchangeVersion.EX2019,
}


def _version(value: Value, where: _Where) -> tuple[ExchangeVersion | None, str | None]:
    if value is None:
        return None, None
    numbers: tuple[int, ...]
    if isinstance(value, ClixmlObject) and {"major", "minor", "build"} <= value.names:
        parts = [value.get(p) for p in ("Major", "Minor", "Build", "Revision")]
        numbers = tuple(p for p in parts if isinstance(p, int) and not isinstance(p, bool))
    else:
        match = _VERSION_TEXT.search(_text(value))
        if match is None:
            raise where.invalid("AdminDisplayVersion", f"not a version: {_text(value)!r}")
        numbers = tuple(int(g) for g in match.groups())
    if len(numbers) < 2:
        raise where.invalid("AdminDisplayVersion", f"not a version: {_text(value)!r}")
    major, minor = numbers[0], numbers[1]
    version = _VERSIONS.get((major, minor)) or _VERSIONS.get((major, None))
    return version, ".".join(str(n) for n in numbers)


def _exchange_server(obj: ClixmlObject, where: _Where) -> ExchangeServerEntry:
    name = _str(obj, "Name")
    if name is None:
        raise where.missing("Name")
    roles: set[Role] = set()
    role_value = obj.get("ServerRole")
    if role_value is not None:
        for part in _text(role_value).split(","):
            role = _ROLE_NAMES.get(part.strip().lower())
            if role is not None:
                roles.add(role)
    for prop, role in _ROLE_FLAGS.items():
        if _bool(obj, prop, where):
            roles.add(role)
    version, build = _version(obj.get("AdminDisplayVersion"), where)
    display = obj.get("AdminDisplayVersion")
    return ExchangeServerEntry(
        name=name,
        fqdn=_str(obj, "Fqdn"),
        roles=frozenset(roles),
        version=version,
        build=build,
        admin_display_version=None if display is None else _text(display),
        is_edge=Role.EDGE_TRANSPORT in roles,
        site=_str(obj, "Site"),
    )


# -- auth, transport, vdirs, hybrid, edge ---------------------------------------------------------
def _auth_config(obj: ClixmlObject, where: _Where) -> AuthConfigEntry:
    return AuthConfigEntry(
        current_certificate_thumbprint=_thumb(obj, "CurrentCertificateThumbprint", where),
        previous_certificate_thumbprint=_thumb(obj, "PreviousCertificateThumbprint", where),
        next_certificate_thumbprint=_thumb(obj, "NextCertificateThumbprint", where),
        next_certificate_effective_date=_date(obj, "NextCertificateEffectiveDate", where),
        service_name=_str(obj, "ServiceName"),
        realm=_str(obj, "Realm"),
    )


def _transport_service(obj: ClixmlObject, where: _Where) -> TransportServiceEntry:
    name = _str(obj, "Name") or _str(obj, "Identity")
    if name is None:
        raise where.missing("Name")
    return TransportServiceEntry(
        name=name,
        internal_transport_certificate_thumbprint=_thumb(
            obj, "InternalTransportCertificateThumbprint", where
        ),
    )


_VDIR_PATHS = {name.casefold(): (name, path, ssl) for name, path, ssl in EXCHANGE_VDIRS}
_VDIR_NAME = re.compile(r"^(?P<name>[^(]+?)\s*\(")  # "owa (Default Web Site)"


def _virtual_directory(obj: ClixmlObject, where: _Where) -> VirtualDirectory:
    server = _str(obj, "Server")
    if server is None:
        raise where.missing("Server")
    name = next((_VDIR_TYPES[t] for t in obj.plain_type_names if t in _VDIR_TYPES), None)
    if name is None:
        shown = _str(obj, "Name") or ""
        match = _VDIR_NAME.match(shown)
        key = (match["name"] if match else shown).strip().casefold()
        key = {"ews": "ews", "activesync": "microsoft-server-activesync"}.get(key, key)
        if key not in _VDIR_PATHS:
            raise where.invalid("Name", f"{shown!r} is none of Exchange's virtual directories")
        name = _VDIR_PATHS[key][0]
    _, path, ssl = _VDIR_PATHS[name.casefold()]
    return VirtualDirectory(
        server=server.rpartition("\\")[2],
        name=name,
        path=path,
        internal_url=_str(obj, "InternalUrl"),
        external_url=_str(obj, "ExternalUrl"),
        require_ssl=ssl,
    )


def _autodiscover(obj: ClixmlObject, where: _Where) -> VirtualDirectory:
    server = _str(obj, "Name") or _str(obj, "Identity")
    if server is None:
        raise where.missing("Name")
    _, path, ssl = _VDIR_PATHS["autodiscover"]
    return VirtualDirectory(
        server=server.rpartition("\\")[2],
        name="autodiscover",
        path=path,
        internal_url=_str(obj, "AutoDiscoverServiceInternalUri"),
        external_url=None,
        require_ssl=ssl,
    )


def _hybrid(obj: ClixmlObject, where: _Where) -> HybridConfiguration:
    return HybridConfiguration(
        tls_certificate_name=_str(obj, "TlsCertificateName"),
        domains=_strings(obj.get("Domains")),
        features=_strings(obj.get("Features")),
        on_premises_smart_host=_str(obj, "OnPremisesSmartHost"),
    )


def _edge_subscription(obj: ClixmlObject, where: _Where) -> EdgeSubscriptionEntry:
    name = _str(obj, "Name")
    if name is None:
        raise where.missing("Name")
    return EdgeSubscriptionEntry(name=name, site=_str(obj, "Site"), domain=_str(obj, "Domain"))


# -- IIS bindings ---------------------------------------------------------------------------------
_SITE_XPATH = re.compile(r"site\[@name='(?P<site>(?:[^']|'')*)'")


def _iis_binding(obj: ClixmlObject, where: _Where) -> IisBinding | None:
    """An HTTPS binding; None for another protocol (http, net.tcp …)."""
    protocol = (_str(obj, "Protocol") or "").lower()
    if protocol != "https":
        return None
    site = _str(obj, "Site")
    if site is None:
        match = _SITE_XPATH.search(_str(obj, "ItemXPath") or "")
        site = match["site"].replace("''", "'") if match else None
    if site is None:
        raise where.missing("Site (or ItemXPath)")
    info = _str(obj, "BindingInformation")
    if info is None:
        raise where.missing("BindingInformation")
    rest, sep, host = info.rpartition(":")
    address, sep2, port_text = rest.rpartition(":")
    if not sep or not sep2 or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise where.invalid("BindingInformation", f"{info!r} is not address:port:host")
    thumbprint = _thumb(obj, "CertificateHash", where)
    return IisBinding(
        site=site,
        port=int(port_text),
        address=address.strip("[]") if address not in ("", "*") else "*",
        host_header=host,
        protocol="https",
        thumbprint=thumbprint,
        store=_store_name(_str(obj, "CertificateStoreName")),
    )


def _store_name(text: str | None) -> str:
    """``MY`` (as IIS writes it) → ``My``; another store as written; none → My."""
    if text is None:
        return "My"
    try:
        return StoreName.parse(text).value
    except ValueError:
        return text


# -- TLS registry ---------------------------------------------------------------------------------
_PROTOCOL = re.compile(r"^(?:TLS\s*)?(?P<v>1\.[0-3])$|^(?P<ssl>SSL\s*[23]\.0)$", re.IGNORECASE)


def _protocol_name(text: str, where: _Where) -> str:
    match = _PROTOCOL.match(text.strip())
    if match is None:
        raise where.invalid("Protocol", f"{text!r} is none of SSL 2.0, SSL 3.0, TLS 1.0-1.3")
    if match["v"]:
        return f"TLS {match['v']}"
    return "SSL " + match["ssl"][-3:]


def _tls_settings(obj: ClixmlObject, where: _Where) -> TlsRegistry:
    """HealthChecker's Get-AllTlsSettings: Registry.TLS (version → Server/Client values) and
    Registry.NET (NETv4/NETv2 → SystemDefaultTlsVersions/SchUseStrongCrypto, and Wow)."""
    registry = obj.get("Registry")
    if not isinstance(registry, ClixmlObject):
        raise where.missing("Registry")
    schannel: list[SchannelSetting] = []
    tls = registry.get("TLS")
    for version, row in tls.items if isinstance(tls, ClixmlDict) else ():
        if not isinstance(row, ClixmlObject):
            continue
        protocol = _protocol_name(_text(version), where)
        at = _Where(where.source, where.index, row)
        for side in ("Server", "Client"):
            schannel.append(
                SchannelSetting(
                    protocol,
                    side,
                    _int(row, f"{side}EnabledValue", at),
                    _int(row, f"{side}DisabledByDefaultValue", at),
                )
            )
    net: list[NetTlsSetting] = []
    frameworks = registry.get("NET")
    for _key, row in frameworks.items if isinstance(frameworks, ClixmlDict) else ():
        if not isinstance(row, ClixmlObject):
            continue
        at = _Where(where.source, where.index, row)
        version = _str(row, "NetVersion") or _text(_key)
        for wow, prefix in ((False, ""), (True, "Wow")):
            net.append(
                NetTlsSetting(
                    version,
                    wow,
                    _int(row, f"{prefix}SystemDefaultTlsVersionsValue", at),
                    _int(row, f"{prefix}SchUseStrongCryptoValue", at),
                )
            )
    return TlsRegistry(tuple(schannel), tuple(net))


def _schannel_row(obj: ClixmlObject, where: _Where) -> SchannelSetting:
    side = (_str(obj, "Side") or "").capitalize()
    if side not in ("Server", "Client"):
        raise where.invalid("Side", f"{_str(obj, 'Side')!r} is neither Server nor Client")
    return SchannelSetting(
        _protocol_name(_str(obj, "Protocol") or "", where),
        side,
        _int(obj, "Enabled", where),
        _int(obj, "DisabledByDefault", where),
    )


def _net_row(obj: ClixmlObject, where: _Where) -> NetTlsSetting:
    version = _str(obj, "Version")
    if version is None:
        raise where.missing("Version")
    return NetTlsSetting(
        version,
        bool(_bool(obj, "Wow6432Node", where)),
        _int(obj, "SystemDefaultTlsVersions", where),
        _int(obj, "SchUseStrongCrypto", where),
    )


# -- the file -------------------------------------------------------------------------------------
def _connector(
    read: Callable[[FlRecord], ReceiveConnectorEntry | SendConnectorEntry],
) -> Callable[[ClixmlObject, _Where], ReceiveConnectorEntry | SendConnectorEntry]:
    def reader(obj: ClixmlObject, where: _Where) -> ReceiveConnectorEntry | SendConnectorEntry:
        try:
            return read(_as_record(obj, where.index))
        except CertwardError as exc:
            raise where.rewrap(exc) from None

    return reader


_read_receive = _connector(connectors.read_receive)
_read_send = _connector(connectors.read_send)


def parse_clixml(text: str, *, source: str) -> ObservedDump:
    """An Export-Clixml file (already decoded) as an :class:`ObservedDump`.

    Every object must be one certward reads (``clixml.unrecognised`` names the first that is
    not); a value that cannot be the cmdlet's is ``clixml.value_invalid`` naming the object
    and the property. A file of no objects is ``dump.empty``.
    """
    from certward.codes.interop import DUMP_AUTH_CONFIG_REPEATED, DUMP_EMPTY

    values = read_clixml_text(text, source=source)
    objects: list[tuple[int, ClixmlObject, Format]] = []
    for index, value in enumerate(values, start=1):
        if not isinstance(value, ClixmlObject):
            raise CLIXML_UNRECOGNISED(
                f"{source}: object {index} is a bare value ({_text(value)[:60]!r}), not an "
                "object of a cmdlet certward reads",
                source=source,
                object=index,
            )
        kind = kind_of(value)
        if kind is None:
            shown = value.plain_type_names[0] if value.type_names else "no type name"
            props = ", ".join(name for name, _ in value.properties[:4])
            raise CLIXML_UNRECOGNISED(
                f"{source}: object {index} ({shown}; {props or 'no properties'}) is none of "
                "the objects certward reads",
                source=source,
                object=index,
                type_name=shown,
            )
        objects.append((index, value, kind))
    if not objects:
        raise DUMP_EMPTY(f"{source}: the CliXML file holds no object", source=source)

    def each(kind: Format) -> Iterable[tuple[ClixmlObject, _Where]]:
        for index, obj, k in objects:
            if k is kind:
                yield obj, _Where(source, index, obj)

    auth = [_auth_config(o, w) for o, w in each(Format.AUTH_CONFIG_CLIXML)]
    if len(auth) > 1:
        raise DUMP_AUTH_CONFIG_REPEATED(
            f"{source}: more than one Get-AuthConfig object; the organisation has one",
            source=source,
        )
    tls_rows = [_tls_settings(o, w) for o, w in each(Format.TLS_SETTINGS_CLIXML)]
    schannel = [s for t in tls_rows for s in t.schannel]
    schannel += [_schannel_row(o, w) for o, w in each(Format.SCHANNEL_CLIXML)]
    net = [s for t in tls_rows for s in t.net]
    net += [_net_row(o, w) for o, w in each(Format.NET_TLS_CLIXML)]
    root_update = [
        _int(o, "DisableRootAutoUpdate", w) for o, w in each(Format.ROOT_AUTO_UPDATE_CLIXML)
    ]
    tls_kinds = {Format.TLS_SETTINGS_CLIXML, Format.SCHANNEL_CLIXML, Format.NET_TLS_CLIXML}
    kinds = [k for _, _, k in objects]
    tls = (
        TlsRegistry(tuple(schannel), tuple(net), next(iter(root_update), None))
        if tls_kinds & set(kinds) or root_update
        else None
    )
    hybrid = [_hybrid(o, w) for o, w in each(Format.HYBRID_CLIXML)]
    bindings = [_iis_binding(o, w) for o, w in each(Format.IIS_BINDING_CLIXML)]
    receive = [_read_receive(o, w) for o, w in each(Format.RECEIVE_CONNECTOR_CLIXML)]
    send = [_read_send(o, w) for o, w in each(Format.SEND_CONNECTOR_CLIXML)]
    return ObservedDump(
        format=kinds[0],
        formats=frozenset(kinds),
        exchange_certificates=tuple(
            _certificate(o, w, exchange=True) for o, w in each(Format.EXCHANGE_CERTIFICATE_CLIXML)
        ),
        store_certificates=tuple(
            _store_certificate(o, w) for o, w in each(Format.STORE_CERTIFICATE_CLIXML)
        ),
        receive_connectors=tuple(r for r in receive if isinstance(r, ReceiveConnectorEntry)),
        send_connectors=tuple(s for s in send if isinstance(s, SendConnectorEntry)),
        auth_config=auth[0] if auth else None,
        transport_services=tuple(
            _transport_service(o, w) for o, w in each(Format.TRANSPORT_SERVICE_CLIXML)
        ),
        exchange_servers=tuple(
            _exchange_server(o, w) for o, w in each(Format.EXCHANGE_SERVER_CLIXML)
        ),
        virtual_directories=(
            *(_virtual_directory(o, w) for o, w in each(Format.VIRTUAL_DIRECTORY_CLIXML)),
            *(_autodiscover(o, w) for o, w in each(Format.CLIENT_ACCESS_SERVICE_CLIXML)),
        ),
        iis_bindings=tuple(b for b in bindings if b is not None),
        tls_registry=tls,
        edge_subscriptions=tuple(
            _edge_subscription(o, w) for o, w in each(Format.EDGE_SUBSCRIPTION_CLIXML)
        ),
        hybrid=hybrid[0] if hybrid else None,
    )

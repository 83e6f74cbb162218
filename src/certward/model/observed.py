"""What a real Windows/Exchange organisation printed, for servers certward observes but does
not run: their certificates (certutil, Get-ExchangeCertificate, Export-Clixml: defined in
:mod:`certward.model.observed_certificate`, named here too), and what else a collection
showed (IIS bindings, SCHANNEL and .NET TLS settings, which outputs there were).

The health rules judge an observed server only on what was shown: :class:`Evidence` names
each kind of output, and :class:`ObservedFacts` / :class:`ObservedOrganisationFacts` record
which of them a server's (or the organisation's) dumps included.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from certward.model.certificates import Thumbprint

# Defined beside, so that a certificate profile does not load the rest; still named here.
from certward.model.observed_certificate import ObservedCertificate as ObservedCertificate


class Evidence(enum.StrEnum):
    """One kind of output a real organisation printed; a rule needs some of them.

    The value is how a finding names what is missing ("not judged: needs Get-AuthConfig").
    """

    EXCHANGE_SERVER = "Get-ExchangeServer"
    MY_STORE = "the Personal (My) store (certutil -store my or Get-ExchangeCertificate)"
    EXCHANGE_CERTIFICATE = "Get-ExchangeCertificate"
    ROOT_STORE = "the Root store (certutil -store root)"
    CA_STORE = "the Intermediate store (certutil -store ca)"
    TRANSPORT_SERVICE = "Get-TransportService"
    RECEIVE_CONNECTOR = "Get-ReceiveConnector"
    SEND_CONNECTOR = "Get-SendConnector"
    AUTH_CONFIG = "Get-AuthConfig"
    VIRTUAL_DIRECTORIES = "the virtual directories (Get-OwaVirtualDirectory …)"
    IIS_BINDINGS = "the IIS bindings"
    SCHANNEL = "the SCHANNEL protocol registry settings"
    NET_TLS = "the .NET Framework TLS registry settings"
    ROOT_AUTO_UPDATE = "the DisableRootAutoUpdate registry setting"
    EDGE_SUBSCRIPTION = "Get-EdgeSubscription"
    HYBRID_CONFIGURATION = "Get-HybridConfiguration"


# What an organisation-wide output shows once for all servers.
ORGANISATION_EVIDENCE = frozenset(
    {
        Evidence.SEND_CONNECTOR,
        Evidence.AUTH_CONFIG,
        Evidence.EDGE_SUBSCRIPTION,
        Evidence.HYBRID_CONFIGURATION,
    }
)


@dataclass(frozen=True, slots=True)
class IisBinding:
    """One HTTPS binding of an IIS site (Get-WebBinding / the site's bindings)."""

    site: str  # "Default Web Site", "Exchange Back End" (port 444)
    port: int
    address: str = "*"  # "*" or an IP address
    host_header: str = ""
    protocol: str = "https"
    thumbprint: Thumbprint | None = None  # certificateHash; None: no certificate bound
    store: str = "My"  # certificateStoreName


@dataclass(frozen=True, slots=True)
class SchannelSetting:
    """HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\
    <protocol>\\<side>: ``Enabled`` and ``DisabledByDefault`` as read; None: value not set
    (the Windows default applies)."""

    protocol: str  # "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"
    side: str  # "Server" or "Client"
    enabled: int | None = None
    disabled_by_default: int | None = None


@dataclass(frozen=True, slots=True)
class NetTlsSetting:
    """HKLM\\SOFTWARE[\\Wow6432Node]\\Microsoft\\.NETFramework\\<version>: None: not set."""

    version: str  # "v4.0.30319", "v2.0.50727"
    wow6432: bool = False
    system_default_tls_versions: int | None = None
    sch_use_strong_crypto: int | None = None


@dataclass(frozen=True, slots=True)
class TlsRegistry:
    """The TLS registry settings HealthChecker reads, as one server's collection showed them."""

    schannel: tuple[SchannelSetting, ...] = ()
    net: tuple[NetTlsSetting, ...] = ()
    # HKLM\SOFTWARE\Policies\Microsoft\SystemCertificates\AuthRoot DisableRootAutoUpdate
    disable_root_auto_update: int | None = None


@dataclass(frozen=True, slots=True)
class ObservedFacts:
    """What one observed server's outputs showed besides certificates and connectors."""

    server: str
    evidence: frozenset[Evidence] = frozenset()
    iis_bindings: tuple[IisBinding, ...] = ()
    tls: TlsRegistry | None = None
    exchange_build: str | None = None  # Get-ExchangeServer's AdminDisplayVersion
    collected_at: dt.datetime | None = None
    culture: str | None = None  # the Windows culture the collection was made in, e.g. en-GB
    sources: tuple[str, ...] = ()  # the files it was read from

    def shows(self, evidence: Evidence) -> bool:
        return evidence in self.evidence


@dataclass(frozen=True, slots=True)
class HybridConfiguration:
    """Get-HybridConfiguration: the certificate hybrid mail flow presents."""

    tls_certificate_name: str | None = None  # "<I>issuer<S>subject"
    domains: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    on_premises_smart_host: str | None = None


@dataclass(frozen=True, slots=True)
class ObservedOrganisationFacts:
    """What the organisation-wide outputs (send connectors, auth, hybrid) showed, and when."""

    evidence: frozenset[Evidence] = frozenset()
    hybrid: HybridConfiguration | None = None
    collected_at: dt.datetime | None = None
    sources: tuple[str, ...] = ()

    def shows(self, evidence: Evidence) -> bool:
        return evidence in self.evidence

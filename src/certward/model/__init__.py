"""Pure domain model: frozen dataclasses and enums, no I/O, no cryptography."""

from certward.model.certificates import (
    CAPI_SCHANNEL_PROVIDER,
    CNG_SOFTWARE_KSP,
    CertificateRecord,
    CertStatus,
    Password,
    Service,
    ServiceSet,
    StoreName,
    Thumbprint,
    is_cng_provider,
    parse_thumbprint,
)
from certward.model.checks import CheckStatus
from certward.model.connectors import (
    AuthMechanism,
    Binding,
    Connector,
    ConnectorKind,
    SmartHost,
    TlsAuthLevel,
    TlsCertificateName,
    TlsNameResolution,
    TlsNameStatus,
    TransportConfig,
)
from certward.model.edge import DEFAULT_SITE, EdgeSubscription, PublishedHubCertificate
from certward.model.observed import ObservedCertificate
from certward.model.organisation import (
    AuthConfig,
    ExchangeVersion,
    Mailbox,
    Organisation,
    Role,
    Server,
)
from certward.model.vdirs import VirtualDirectory

__all__ = [
    "CAPI_SCHANNEL_PROVIDER",
    "CNG_SOFTWARE_KSP",
    "DEFAULT_SITE",
    "AuthConfig",
    "AuthMechanism",
    "Binding",
    "CertStatus",
    "CertificateRecord",
    "CheckStatus",
    "Connector",
    "ConnectorKind",
    "EdgeSubscription",
    "ExchangeVersion",
    "Mailbox",
    "ObservedCertificate",
    "Organisation",
    "Password",
    "PublishedHubCertificate",
    "Role",
    "Server",
    "Service",
    "ServiceSet",
    "SmartHost",
    "StoreName",
    "Thumbprint",
    "TlsAuthLevel",
    "TlsCertificateName",
    "TlsNameResolution",
    "TlsNameStatus",
    "TransportConfig",
    "VirtualDirectory",
    "is_cng_provider",
    "parse_thumbprint",
]

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
    parse_thumbprint,
)
from certward.model.organisation import ExchangeVersion, Organisation, Role, Server

__all__ = [
    "CAPI_SCHANNEL_PROVIDER",
    "CNG_SOFTWARE_KSP",
    "CertStatus",
    "CertificateRecord",
    "ExchangeVersion",
    "Organisation",
    "Password",
    "Role",
    "Server",
    "Service",
    "ServiceSet",
    "StoreName",
    "Thumbprint",
    "parse_thumbprint",
]

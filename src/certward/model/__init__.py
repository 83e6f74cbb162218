"""Pure domain model: frozen dataclasses and enums, no I/O, no cryptography.

The names below are loaded on first use (PEP 562): a command that needs only certificates
never builds the connectors', the access model's or the observed facts' dataclasses, which
costs a probe's start-up a noticeable share (issue 16). ``from certward.model import X``
works as before and type checkers see the plain imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certward.model.access import AccessRole, ApiToken, Principal, User
    from certward.model.audit import Channel
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
    from certward.model.observed import (
        ORGANISATION_EVIDENCE,
        Evidence,
        HybridConfiguration,
        IisBinding,
        NetTlsSetting,
        ObservedFacts,
        ObservedOrganisationFacts,
        SchannelSetting,
        TlsRegistry,
    )
    from certward.model.observed_certificate import ObservedCertificate
    from certward.model.organisation import (
        AuthConfig,
        ExchangeVersion,
        Mailbox,
        Organisation,
        Role,
        Server,
    )
    from certward.model.vdirs import VirtualDirectory

# Each public name and the module of this package that defines it.
_WHERE: dict[str, str] = {
    "AccessRole": "access",
    "ApiToken": "access",
    "Channel": "audit",
    "Principal": "access",
    "User": "access",
    "CAPI_SCHANNEL_PROVIDER": "certificates",
    "CNG_SOFTWARE_KSP": "certificates",
    "CertStatus": "certificates",
    "CertificateRecord": "certificates",
    "Password": "certificates",
    "Service": "certificates",
    "ServiceSet": "certificates",
    "StoreName": "certificates",
    "Thumbprint": "certificates",
    "is_cng_provider": "certificates",
    "parse_thumbprint": "certificates",
    "CheckStatus": "checks",
    "AuthMechanism": "connectors",
    "Binding": "connectors",
    "Connector": "connectors",
    "ConnectorKind": "connectors",
    "SmartHost": "connectors",
    "TlsAuthLevel": "connectors",
    "TlsCertificateName": "connectors",
    "TlsNameResolution": "connectors",
    "TlsNameStatus": "connectors",
    "TransportConfig": "connectors",
    "DEFAULT_SITE": "edge",
    "EdgeSubscription": "edge",
    "PublishedHubCertificate": "edge",
    "Evidence": "observed",
    "HybridConfiguration": "observed",
    "IisBinding": "observed",
    "NetTlsSetting": "observed",
    "ORGANISATION_EVIDENCE": "observed",
    "ObservedCertificate": "observed_certificate",
    "ObservedFacts": "observed",
    "ObservedOrganisationFacts": "observed",
    "SchannelSetting": "observed",
    "TlsRegistry": "observed",
    "AuthConfig": "organisation",
    "ExchangeVersion": "organisation",
    "Mailbox": "organisation",
    "Organisation": "organisation",
    "Role": "organisation",
    "Server": "organisation",
    "VirtualDirectory": "vdirs",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "CAPI_SCHANNEL_PROVIDER",
    "CNG_SOFTWARE_KSP",
    "DEFAULT_SITE",
    "ORGANISATION_EVIDENCE",
    "AccessRole",
    "ApiToken",
    "AuthConfig",
    "AuthMechanism",
    "Binding",
    "CertStatus",
    "CertificateRecord",
    "Channel",
    "CheckStatus",
    "Connector",
    "ConnectorKind",
    "EdgeSubscription",
    "Evidence",
    "ExchangeVersion",
    "HybridConfiguration",
    "IisBinding",
    "Mailbox",
    "NetTlsSetting",
    "ObservedCertificate",
    "ObservedFacts",
    "ObservedOrganisationFacts",
    "Organisation",
    "Password",
    "Principal",
    "PublishedHubCertificate",
    "Role",
    "SchannelSetting",
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
    "TlsRegistry",
    "TransportConfig",
    "User",
    "VirtualDirectory",
    "is_cng_provider",
    "parse_thumbprint",
]

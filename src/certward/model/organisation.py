"""The organisation, its servers and their roles."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from certward.model.certificates import Thumbprint
from certward.model.connectors import TransportConfig

# The service principal Exchange uses for OAuth (Get-AuthConfig's ServiceName).
EXCHANGE_SERVICE_NAME = "00000002-0000-0ff1-ce00-000000000000"


class Role(enum.StrEnum):
    MAILBOX = "Mailbox"
    CLIENT_ACCESS = "ClientAccess"
    HUB_TRANSPORT = "HubTransport"
    EDGE_TRANSPORT = "EdgeTransport"
    UNIFIED_MESSAGING = "UnifiedMessaging"

    @classmethod
    def parse(cls, text: str) -> Role:
        key = text.strip().lower().replace(" ", "")
        for member in cls:
            if member.value.lower() == key:
                return member
        alias = _ROLE_ALIASES.get(key)
        if alias is None:
            valid = ", ".join(member.value for member in cls)
            raise ValueError(f"unknown role {text!r}; valid roles: {valid}")
        return alias


_ROLE_ALIASES = {
    "mbx": Role.MAILBOX,
    "cas": Role.CLIENT_ACCESS,
    "hub": Role.HUB_TRANSPORT,
    "edge": Role.EDGE_TRANSPORT,
    "um": Role.UNIFIED_MESSAGING,
}


class ExchangeVersion(enum.IntEnum):
    EX2007 = 2007
    EX2010 = 2010
    EX2013 = 2013
    EX2016 = 2016
    EX2019 = 2019

    @classmethod
    def parse(cls, value: str | int) -> ExchangeVersion:
        try:
            return cls(int(value))
        except ValueError:
            valid = ", ".join(str(member.value) for member in cls)
            raise ValueError(f"unknown Exchange version {value!r}; valid: {valid}") from None

    @property
    def self_signed_years(self) -> int:
        """Lifetime of the certificate setup creates (seed 003: one year on 2007)."""
        return 1 if self is ExchangeVersion.EX2007 else 5


TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    fqdn: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    version: ExchangeVersion = ExchangeVersion.EX2019
    default_smtp_thumbprint: Thumbprint | None = None
    tls_min_version: str = "1.2"  # TLS 1.0/1.1 only when explicitly enabled (seed 002)
    tls_max_version: str = "1.3"
    # Schannel's SendTrustedIssuerList; None means the Windows default for the version.
    send_trusted_issuer_list_setting: bool | None = None
    # Known from a real server's output (certward observe), not run by certward.
    observed: bool = False

    @property
    def is_edge(self) -> bool:
        return Role.EDGE_TRANSPORT in self.roles

    @property
    def send_trusted_issuer_list(self) -> bool:
        """On for 2007/2010 (Windows Server 2008 R2 era, seed 001), off from 2013 on
        (Windows Server 2012 changed the default; KB 933430's fix is to turn it off)."""
        if self.send_trusted_issuer_list_setting is not None:
            return self.send_trusted_issuer_list_setting
        return self.version <= ExchangeVersion.EX2010


def validate_tls_range(minimum: str, maximum: str) -> None:
    for value in (minimum, maximum):
        if value not in TLS_VERSIONS:
            raise ValueError(f"unknown TLS version {value!r}; valid: {', '.join(TLS_VERSIONS)}")
    if TLS_VERSIONS.index(minimum) > TLS_VERSIONS.index(maximum):
        raise ValueError(f"TLS minimum {minimum} is above the maximum {maximum}")


@dataclass(frozen=True, slots=True)
class Mailbox:
    address: str
    server: str
    password_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Get-AuthConfig: the OAuth certificate now, the staged next one, and the previous."""

    current_thumbprint: Thumbprint | None = None
    next_thumbprint: Thumbprint | None = None
    next_effective: dt.datetime | None = None
    previous_thumbprint: Thumbprint | None = None
    service_name: str = EXCHANGE_SERVICE_NAME
    realm: str = ""


@dataclass(frozen=True, slots=True)
class Organisation:
    name: str
    domain: str | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)

    @property
    def auth_thumbprint(self) -> Thumbprint | None:
        return self.auth.current_thumbprint

"""Send and Receive connectors, their TLS settings and Exchange's validity rules."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from certward.model.certificates import Thumbprint


class ConnectorKind(enum.StrEnum):
    SEND = "send"
    RECEIVE = "receive"


class AuthMechanism(enum.Flag):
    """-AuthMechanism of a Receive connector (and -SmartHostAuthMechanism of a Send one)."""

    NONE = 0
    TLS = enum.auto()
    INTEGRATED = enum.auto()
    BASIC_AUTH = enum.auto()
    BASIC_AUTH_REQUIRE_TLS = enum.auto()
    EXCHANGE_SERVER = enum.auto()
    EXTERNAL_AUTHORITATIVE = enum.auto()


_AUTH_NAMES: dict[AuthMechanism, str] = {
    AuthMechanism.TLS: "Tls",
    AuthMechanism.INTEGRATED: "Integrated",
    AuthMechanism.BASIC_AUTH: "BasicAuth",
    AuthMechanism.BASIC_AUTH_REQUIRE_TLS: "BasicAuthRequireTLS",
    AuthMechanism.EXCHANGE_SERVER: "ExchangeServer",
    AuthMechanism.EXTERNAL_AUTHORITATIVE: "ExternalAuthoritative",
}


def parse_auth_mechanism(text: str | Iterable[str]) -> AuthMechanism:
    """``"Tls, BasicAuth"`` (case-insensitive); ``None`` alone means no mechanism."""
    parts = [p.strip() for p in (text.split(",") if isinstance(text, str) else text)]
    parts = [p for p in parts if p]
    if [p.lower() for p in parts] == ["none"]:
        return AuthMechanism.NONE
    if "none" in (p.lower() for p in parts):
        raise ValueError("auth mechanism None cannot be combined with other mechanisms")
    result = AuthMechanism.NONE
    by_name = {name.lower(): flag for flag, name in _AUTH_NAMES.items()}
    for part in parts:
        flag = by_name.get(part.lower())
        if flag is None:
            valid = ", ".join(["None", *_AUTH_NAMES.values()])
            raise ValueError(f"unknown auth mechanism {part!r}; valid: {valid}")
        result |= flag
    return result


def auth_mechanism_names(value: AuthMechanism) -> list[str]:
    return [name for flag, name in _AUTH_NAMES.items() if flag in value] or ["None"]


class TlsAuthLevel(enum.StrEnum):
    ENCRYPTION_ONLY = "EncryptionOnly"
    CERTIFICATE_VALIDATION = "CertificateValidation"
    DOMAIN_VALIDATION = "DomainValidation"

    @classmethod
    def parse(cls, text: str) -> TlsAuthLevel:
        for member in cls:
            if member.value.lower() == text.strip().lower():
                return member
        valid = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown TLS auth level {text!r}; valid: {valid}")


class TlsNameStatus(enum.StrEnum):
    """HealthChecker's verdict on a connector's TlsCertificateName."""

    EMPTY = "Empty"
    SYNTAX_INVALID = "SyntaxInvalid"
    NOT_FOUND = "NotFound"
    MATCH = "Match"


_TLS_NAME = re.compile(r"\s*<i>(?P<issuer>.*?)<s>(?P<subject>.*)\s*", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class TlsCertificateName:
    """``<I>issuer<S>subject``: how a connector names its certificate (issuer and subject in
    the .NET X500 string form). Parsing here is the tag syntax only; the X.500 names are
    checked by ``certward.pki.names.parse_dotnet_x500``."""

    issuer: str
    subject: str

    @classmethod
    def parse(cls, text: str) -> TlsCertificateName:
        match = _TLS_NAME.fullmatch(text)
        if match is None:
            raise ValueError(f"not a TlsCertificateName (<I>issuer<S>subject): {text!r}")
        issuer, subject = match.group("issuer").strip(), match.group("subject").strip()
        if not issuer or not subject:
            raise ValueError(f"TlsCertificateName needs both an issuer and a subject: {text!r}")
        return cls(issuer, subject)

    def __str__(self) -> str:
        return f"<I>{self.issuer}<S>{self.subject}"


@dataclass(frozen=True, slots=True)
class SmartHost:
    host: str
    port: int = 25

    @classmethod
    def parse(cls, text: str) -> SmartHost:
        value = text.strip()
        host, port = value, 25
        if value.startswith("["):  # [IPv6]:port or [IP]
            end = value.find("]")
            if end < 0:
                raise ValueError(f"bad smart host {text!r}")
            host, rest = value[1:end], value[end + 1 :]
            if rest:
                port = _port(rest.removeprefix(":"), text)
        elif value.count(":") == 1:
            host, raw_port = value.split(":")
            port = _port(raw_port, text)
        if not host:
            raise ValueError(f"bad smart host {text!r}")
        return cls(host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 25 else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Binding:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Binding:
        value = text.strip()
        if value.startswith("["):
            end = value.find("]")
            host, rest = value[1:end], value[end + 1 :]
        else:
            host, _, rest = value.rpartition(":")
            rest = ":" + rest if host else ""
            host = host or value
        if not rest.startswith(":"):
            raise ValueError(f"binding must be HOST:PORT, got {text!r}")
        return cls(host, _port(rest[1:], text))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _port(raw: str, text: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"bad port in {text!r}")
    return int(raw)


@dataclass(frozen=True, slots=True)
class Connector:
    """A Send (organisation-wide, on one or more source servers) or Receive connector."""

    name: str
    kind: ConnectorKind
    servers: tuple[str, ...]
    fqdn: str | None = None
    bindings: tuple[Binding, ...] = ()
    address_spaces: tuple[str, ...] = ()
    smart_hosts: tuple[SmartHost, ...] = ()
    auth_mechanism: AuthMechanism = AuthMechanism.NONE
    require_tls: bool = False
    tls_auth_level: TlsAuthLevel | None = None
    tls_domain: str | None = None
    domain_secure_enabled: bool = False
    tls_certificate_name: str | None = None
    ignore_starttls: bool = False
    cloud_services_mail_enabled: bool = False  # hybrid connectors to/from Exchange Online

    @property
    def identity(self) -> str:
        """Exchange's identity: ``SERVER\\Name`` for a receive connector, the name for send."""
        if self.kind is ConnectorKind.RECEIVE:
            return f"{self.servers[0]}\\{self.name}"
        return self.name

    @property
    def port(self) -> int | None:
        return self.bindings[0].port if self.bindings else None

    @property
    def requests_client_certificate(self) -> bool:
        """A receive connector asks for a client certificate (and sends the trusted-issuer
        list) for Exchange-server authentication and for domain security (mutual TLS)."""
        return self.kind is ConnectorKind.RECEIVE and bool(
            self.auth_mechanism & AuthMechanism.EXCHANGE_SERVER or self.domain_secure_enabled
        )


def validation_errors(connector: Connector) -> list[str]:
    """Exchange's rules for a connector's settings; an empty list means valid."""
    c = connector
    errors: list[str] = []
    mech = c.auth_mechanism
    if not c.servers:
        errors.append("a connector needs at least one server")
    if c.tls_certificate_name is not None:
        try:
            TlsCertificateName.parse(c.tls_certificate_name)
        except ValueError as exc:
            errors.append(str(exc))
    if c.kind is ConnectorKind.RECEIVE:
        if AuthMechanism.BASIC_AUTH_REQUIRE_TLS in mech and not (
            AuthMechanism.BASIC_AUTH in mech and AuthMechanism.TLS in mech
        ):
            errors.append("AuthMechanism BasicAuthRequireTLS also requires BasicAuth and Tls")
        if c.servers and len(c.servers) != 1:
            errors.append("a receive connector belongs to exactly one server")
        if not c.bindings:
            errors.append("a receive connector needs a binding (--bind HOST:PORT)")
        if AuthMechanism.EXCHANGE_SERVER in mech and AuthMechanism.TLS not in mech:
            errors.append("AuthMechanism ExchangeServer is available only with Tls")
        if c.require_tls and AuthMechanism.TLS not in mech:
            errors.append("RequireTLS on a receive connector needs AuthMechanism Tls")
        if c.domain_secure_enabled and (
            AuthMechanism.TLS not in mech or AuthMechanism.EXTERNAL_AUTHORITATIVE in mech
        ):
            errors.append(
                "DomainSecureEnabled on a receive connector needs AuthMechanism Tls "
                "and not ExternalAuthoritative"
            )
        if c.address_spaces or c.smart_hosts:
            errors.append("address spaces and smart hosts belong to send connectors")
        if c.tls_auth_level is not None or c.tls_domain or c.ignore_starttls:
            errors.append("TlsAuthLevel, TlsDomain and IgnoreSTARTTLS belong to send connectors")
        if AuthMechanism.EXTERNAL_AUTHORITATIVE in mech and mech & ~(
            AuthMechanism.TLS | AuthMechanism.EXTERNAL_AUTHORITATIVE
        ):
            errors.append("ExternalAuthoritative can be combined only with Tls")
    else:
        if c.bindings:
            errors.append("--bind belongs to receive connectors")
        if not c.address_spaces:
            errors.append("a send connector needs at least one address space")
        if c.tls_auth_level is not None and (not c.require_tls or c.ignore_starttls):
            errors.append("TlsAuthLevel needs RequireTLS and not IgnoreSTARTTLS")
        if c.tls_domain and c.tls_auth_level is not TlsAuthLevel.DOMAIN_VALIDATION:
            errors.append("TlsDomain can be set only with TlsAuthLevel DomainValidation")
        if c.require_tls and c.ignore_starttls:
            errors.append("RequireTLS and IgnoreSTARTTLS cannot both be set")
        if c.domain_secure_enabled and c.ignore_starttls:
            errors.append("DomainSecureEnabled needs IgnoreSTARTTLS off")
        if c.domain_secure_enabled and c.smart_hosts:
            errors.append("DomainSecureEnabled needs DNS routing (no smart hosts)")
        smart_auth = AuthMechanism.BASIC_AUTH | AuthMechanism.BASIC_AUTH_REQUIRE_TLS
        if mech & smart_auth and not c.smart_hosts:
            errors.append("smart-host authentication (BasicAuth) needs --smart-host")
        single = mech.value & (mech.value - 1) == 0
        if mech & (AuthMechanism.INTEGRATED | AuthMechanism.TLS) or not single:
            errors.append(
                "a send connector takes one smart-host auth mechanism: None, BasicAuth, "
                "BasicAuthRequireTLS, ExchangeServer or ExternalAuthoritative"
            )
    return errors


def domain_list_errors(domains: Sequence[str]) -> list[str]:
    """TLSSendDomainSecureList / TLSReceiveDomainSecureList take no wildcards."""
    return [f"{d!r}: no wildcards in a domain-secure list" for d in domains if "*" in d]


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Organisation-wide transport settings (Get-TransportConfig)."""

    tls_send_domain_secure_list: tuple[str, ...] = ()
    tls_receive_domain_secure_list: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TlsNameResolution:
    """Where a connector's TlsCertificateName points on one server."""

    server: str
    status: TlsNameStatus
    thumbprints: tuple[Thumbprint, ...] = field(default_factory=tuple)

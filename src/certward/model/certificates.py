"""Certificates as Exchange sees them: thumbprints, services, stores and status."""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NewType

Thumbprint = NewType("Thumbprint", str)
"""SHA-1 of the certificate's DER encoding, 40 upper-case hex digits (Exchange's form)."""

_HEX40 = re.compile(r"[0-9A-F]{40}")

# Key storage providers as Windows names them (seed 004).
CAPI_SCHANNEL_PROVIDER = "Microsoft RSA SChannel Cryptographic Provider"
CNG_SOFTWARE_KSP = "Microsoft Software Key Storage Provider"
# Key Storage Providers (CNG) are named "... Key Storage Provider", except the TPM's
# "Microsoft Platform Crypto Provider"; anything else is a CAPI Cryptographic Service Provider.
_CNG_NAME_PARTS = ("key storage provider", "platform crypto provider")


def is_cng_provider(name: str | None) -> bool:
    """A CNG Key Storage Provider (seed 004: EdgeSync needs CAPI keys, event 1035)."""
    return name is not None and any(part in name.lower() for part in _CNG_NAME_PARTS)


def parse_thumbprint(text: str) -> Thumbprint:
    """Normalise a thumbprint as typed or pasted (any case, spaces or colons between pairs)."""
    cleaned = re.sub(r"[\s:]", "", text).upper()
    if not _HEX40.fullmatch(cleaned):
        raise ValueError(f"not a certificate thumbprint (40 hex digits): {text!r}")
    return Thumbprint(cleaned)


class Service(enum.Flag):
    """Services a certificate is enabled for, as Enable-ExchangeCertificate names them."""

    NONE = 0
    IMAP = enum.auto()
    POP = enum.auto()
    UM = enum.auto()
    IIS = enum.auto()
    SMTP = enum.auto()
    FEDERATION = enum.auto()
    UMCALLROUTER = enum.auto()


# Exchange's abbreviated services string: seven positions, always in this order.
_FLAG_LETTERS: tuple[tuple[Service, str], ...] = (
    (Service.IMAP, "I"),
    (Service.POP, "P"),
    (Service.UM, "U"),
    (Service.IIS, "W"),
    (Service.SMTP, "S"),
    (Service.FEDERATION, "F"),
    (Service.UMCALLROUTER, "C"),
)

_DISPLAY_NAMES: dict[Service, str] = {
    Service.IMAP: "IMAP",
    Service.POP: "POP",
    Service.UM: "UM",
    Service.IIS: "IIS",
    Service.SMTP: "SMTP",
    Service.FEDERATION: "Federation",
    Service.UMCALLROUTER: "UMCallRouter",
}

_BY_NAME: dict[str, Service] = {name.lower(): svc for svc, name in _DISPLAY_NAMES.items()}
_BY_NAME["none"] = Service.NONE


@dataclass(frozen=True, slots=True)
class ServiceSet:
    """An immutable set of services with Exchange's spellings."""

    value: Service = Service.NONE

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> ServiceSet:
        """Parse ``"IIS,SMTP"`` or a list of names, case-insensitively."""
        parts = text.split(",") if isinstance(text, str) else list(text)
        result = Service.NONE
        for raw in parts:
            name = raw.strip()
            if not name:
                continue
            service = _BY_NAME.get(name.lower())
            if service is None:
                valid = ", ".join([*_DISPLAY_NAMES.values(), "None"])
                raise ValueError(f"unknown service {name!r}; valid services: {valid}")
            result |= service
        return cls(result)

    @classmethod
    def of(cls, *services: Service) -> ServiceSet:
        result = Service.NONE
        for service in services:
            result |= service
        return cls(result)

    def __contains__(self, service: Service) -> bool:
        return service in self.value and service != Service.NONE

    def __or__(self, other: ServiceSet) -> ServiceSet:
        return ServiceSet(self.value | other.value)

    def without(self, service: Service) -> ServiceSet:
        return ServiceSet(self.value & ~service)

    def __bool__(self) -> bool:
        return self.value != Service.NONE

    @property
    def names(self) -> list[str]:
        """Names in Exchange's order, e.g. ``["IMAP", "POP", "IIS", "SMTP"]``."""
        return [name for svc, name in _DISPLAY_NAMES.items() if svc in self.value]

    @property
    def flags(self) -> str:
        """Get-ExchangeCertificate's seven-character column, e.g. ``IP.WS..``."""
        return "".join(letter if svc in self.value else "." for svc, letter in _FLAG_LETTERS)

    def __str__(self) -> str:
        return ", ".join(self.names) or "None"


class StoreName(enum.StrEnum):
    """The Windows certificate stores certward models on each server."""

    MY = "My"  # Personal: the server's own certificates, with keys
    ROOT = "Root"  # Trusted Root Certification Authorities
    CA = "CA"  # Intermediate Certification Authorities

    @classmethod
    def parse(cls, text: str) -> StoreName:
        for member in cls:
            if member.value.lower() == text.strip().lower():
                return member
        raise ValueError(f"unknown store {text!r}; valid stores: My, Root, CA")


class CertStatus(enum.StrEnum):
    """Get-ExchangeCertificate's Status values that certward computes."""

    VALID = "Valid"
    UNTRUSTED = "Untrusted"
    DATE_INVALID = "DateInvalid"
    INVALID = "Invalid"
    PENDING_REQUEST = "PendingRequest"


class Password:
    """A secret that cannot be printed by accident: ``repr`` and ``str`` are redacted."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Password(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Password) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Password", self._value))


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """One certificate (or pending request) in one store of one server.

    A completed certificate carries its DER encoding; a pending request carries the DER of
    its CSR instead and is identified by the SHA-1 of that CSR. The private key, when there
    is one, is held by the store's key vault and never travels in this record.
    """

    server: str
    store: StoreName
    thumbprint: Thumbprint
    der: bytes | None = None
    csr_der: bytes | None = None
    services: ServiceSet = ServiceSet()
    friendly_name: str = ""
    has_private_key: bool = False
    exportable: bool = False
    key_provider: str | None = None
    created_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if (self.der is None) == (self.csr_der is None):
            raise ValueError("a certificate record holds either a certificate or a request")

    @property
    def is_pending(self) -> bool:
        return self.der is None

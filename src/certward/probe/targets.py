"""What to probe: ``smtp://host[:port]`` and friends (pure parsing)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import urlsplit


class Protocol(enum.StrEnum):
    SMTP = "smtp"  # STARTTLS
    SMTPS = "smtps"
    IMAP = "imap"  # STARTTLS
    IMAPS = "imaps"
    POP3 = "pop3"  # STLS
    POP3S = "pop3s"
    HTTPS = "https"

    @property
    def starttls(self) -> bool:
        return self in (Protocol.SMTP, Protocol.IMAP, Protocol.POP3)

    @property
    def family(self) -> str:
        return {"smtps": "smtp", "imaps": "imap", "pop3s": "pop3"}.get(self.value, self.value)


DEFAULT_PORTS = {
    Protocol.SMTP: 25,
    Protocol.SMTPS: 465,
    Protocol.IMAP: 143,
    Protocol.IMAPS: 993,
    Protocol.POP3: 110,
    Protocol.POP3S: 995,
    Protocol.HTTPS: 443,
}


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    protocol: Protocol
    host: str
    port: int
    address: str | None = None  # resolved by the prober's own resolver (MX probing)


@dataclass(frozen=True)
class DnsOptions:
    """Where DNS questions go (``--resolver``) and the ports a mail domain is probed on."""

    resolver: tuple[str, int] | None = None  # IP and port; None: the system's
    mx_port: int = 25
    policy_port: int = 443


def is_mail_domain(text: str) -> bool:
    return "://" not in text and "." in text.strip() and "/" not in text


def parse_target(text: str) -> Target:
    value = text.strip()
    if "://" not in value:
        raise ValueError(f"{text!r}: give a URL such as smtp://mx.example.com, or a mail domain")
    parts = urlsplit(value)
    try:
        protocol = Protocol(parts.scheme.lower())
    except ValueError:
        valid = ", ".join(p.value for p in Protocol)
        raise ValueError(f"{text!r}: unknown scheme {parts.scheme!r}; use one of {valid}") from None
    if not parts.hostname:
        raise ValueError(f"{text!r}: no host name")
    try:
        port = parts.port or DEFAULT_PORTS[protocol]
    except ValueError:
        raise ValueError(f"{text!r}: bad port") from None
    return Target(value, protocol, parts.hostname, port)

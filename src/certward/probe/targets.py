"""What to probe: ``smtp://host[:port]`` and friends, the name to send and judge (SNI) and
the address to connect to (pure parsing)."""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from certward.codes.probe import (
    PROBE_CONNECT_TO_INVALID,
    PROBE_RESOLVER_INVALID,
    PROBE_SERVER_NAME_INVALID,
    PROBE_TARGET_INVALID,
)


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


DEFAULT_PORTS = {
    Protocol.SMTP: 25,
    Protocol.SMTPS: 465,
    Protocol.IMAP: 143,
    Protocol.IMAPS: 993,
    Protocol.POP3: 110,
    Protocol.POP3S: 995,
    Protocol.HTTPS: 443,
}


@functools.lru_cache(maxsize=4096)
def is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (asked of each target several times)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint. ``host`` is as the URL gives it (a name or an IP address); ``sni`` a
    name to send and judge the certificate by instead; ``address`` where to connect (None:
    resolve ``host``)."""

    text: str
    protocol: Protocol
    host: str
    port: int
    address: str | None = None
    sni: str | None = None

    @property
    def server_name(self) -> str | None:
        """The name sent as SNI and matched against the certificate's DNS names; None for
        an IP address given without a name (RFC 6066 sends no address as SNI)."""
        if self.sni is not None:
            return self.sni
        return None if is_ip(self.host) else self.host

    @property
    def reference(self) -> str:
        """What the certificate must name (RFC 6125's reference identity): the server
        name, else the IP address (which only an IP-address SAN matches)."""
        return self.server_name or self.host


@dataclass(frozen=True)
class DnsOptions:
    """Where DNS questions go (``--resolver``) and the ports a mail domain is probed on."""

    resolver: tuple[str, int] | None = None  # IP and port; None: the system's
    mx_port: int = 25
    policy_port: int = 443


def is_mail_domain(text: str) -> bool:
    return "://" not in text and "." in text.strip() and "/" not in text and not is_ip(text)


def parse_target(text: str) -> Target:
    value = text.strip()
    if "://" not in value:
        raise PROBE_TARGET_INVALID(
            f"{text!r} is neither a URL such as smtp://mx.contoso.com nor a mail domain",
            target=text,
        )
    parts = urlsplit(value)
    try:
        protocol = Protocol(parts.scheme.lower())
    except ValueError:
        valid = ", ".join(p.value for p in Protocol)
        raise PROBE_TARGET_INVALID(
            f"{text!r}: unknown scheme {parts.scheme!r} (the prober speaks {valid})", target=text
        ) from None
    if not parts.hostname:
        raise PROBE_TARGET_INVALID(f"{text!r}: no host name", target=text)
    try:
        port = parts.port or DEFAULT_PORTS[protocol]
    except ValueError:
        raise PROBE_TARGET_INVALID(f"{text!r}: bad port", target=text) from None
    return Target(value, protocol, parts.hostname, port)


def parse_server_name(text: str) -> str:
    """A DNS host name to send as SNI (``mail.contoso.com``); never an address."""
    name = text.strip().rstrip(".").lower()
    labels = name.split(".")
    valid = (
        bool(name)
        and not is_ip(name)
        and len(name) <= 253
        and all(0 < len(label) <= 63 for label in labels)
        and all(label.replace("-", "").isalnum() for label in labels)
    )
    if not valid:
        raise PROBE_SERVER_NAME_INVALID(f"{text!r} is not a DNS host name", name=text)
    return name


def parse_connect_to(text: str) -> tuple[str, str]:
    """``HOST:IP`` (curl's ``--connect-to`` without the ports): connect to IP whenever a
    target names HOST. An IPv6 address may be bracketed: ``mail.contoso.com:[2001:db8::1]``."""
    host, sep, address = text.strip().partition(":")
    address = address.strip()
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    if not sep or not host or not is_ip(address):
        raise PROBE_CONNECT_TO_INVALID(
            f"{text!r} is not a host name and an IP address (HOST:IP)", connect_to=text
        )
    return host.lower().rstrip("."), str(ipaddress.ip_address(address))


def parse_resolver(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT``; port 53 by default."""
    value = text.strip()
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else (rest or "53")
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    if not is_ip(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise PROBE_RESOLVER_INVALID(f"{text!r} is not IP[:PORT]", resolver=text)
    return host, int(port)


def with_overrides(
    target: Target, *, sni: str | None = None, connect_to: Mapping[str, str] | None = None
) -> Target:
    """The target with the name to send (``sni``) and the address its host is reached at
    (``connect_to``: host to IP) applied."""
    address = (connect_to or {}).get(target.host.lower().rstrip("."), target.address)
    return replace(target, address=address, sni=sni if sni is not None else target.sni)

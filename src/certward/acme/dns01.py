"""DNS-01 (RFC 8555 section 8.4) answered by RFC 2136 dynamic update signed with TSIG (RFC 8945).

:class:`Rfc2136Solver` adds ``_acme-challenge.<domain> TXT "<validation>"`` to the zone that
holds the name, on the zone's primary: the zone is found by walking up the name for its SOA
(dnspython's ``zone_for_name``), the primary is the SOA's MNAME unless a server is
configured. It returns only once the primary (and, when asked, every name server of the
zone) answers the record, polling with a deadline; ``cleanup`` deletes exactly the record it
added, so two challenges for one name (``contoso.test`` and ``*.contoso.test``) live side by
side.

The TSIG key comes from a BIND key file (``tsig-keygen``'s output)::

    key "certward" {
        algorithm hmac-sha256;
        secret "base64...";
    };

The secret is never logged, never in an error and not in the key's ``repr``. The protocol
(update messages, TSIG signing, queries) is dnspython's.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.resolver
import dns.tsig
import dns.update
from josepy import jwk as jose

from acme import challenges
from certward.acme.solvers import SolverContext, int_option, option
from certward.codes.acme import ACME_SOLVER_SETTINGS
from certward.codes.acme_dns import (
    DNS01_NOT_AUTHORITATIVE,
    DNS01_NOT_VISIBLE,
    DNS01_SERVER_INVALID,
    DNS01_TIMEOUT,
    DNS01_TSIG_KEY_INVALID,
    DNS01_TSIG_REJECTED,
    DNS01_UPDATE_FAILED,
    DNS01_UPDATE_REFUSED,
    DNS01_ZONE_NOT_FOUND,
)
from certward.errors import CertwardError

__all__ = ["DnsServer", "Rfc2136Solver", "TsigKey", "load_tsig_key", "parse_tsig_key"]

# The TSIG algorithms BIND's tsig-keygen writes, by their names in a key file.
_ALGORITHMS = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-md5.sig-alg.reg.int": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}
# A quoted string (kept: a base64 secret may hold "//") or a comment (blanked out).
_COMMENTS = re.compile(r'("[^"]*")|/\*.*?\*/|//[^\n]*|#[^\n]*', re.DOTALL)
_KEY_CLAUSE = re.compile(r'key\s+("([^"]+)"|([^\s{";]+))\s*\{(.*?)\}\s*;', re.DOTALL)
_SERVER = re.compile(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([0-9.]+)(?::(\d+))?|([0-9a-fA-F:.]+)")
_STATEMENT = re.compile(r'\s*([a-z-]+)\s+("([^"]*)"|([^\s";]+))\s*;', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TsigKey:
    """A TSIG key: its name, algorithm (``hmac-sha256``) and base64 secret (kept out of
    ``repr``)."""

    name: str
    algorithm: str
    secret: str = field(repr=False)

    def to_dnspython(self) -> dns.tsig.Key:
        return dns.tsig.Key(self.name, self.secret, _ALGORITHMS[self.algorithm])


def parse_tsig_key(text: str, *, source: str) -> TsigKey:
    """The first ``key "name" { algorithm ...; secret "..."; };`` clause of a BIND key file.

    ``source`` names the file in errors; no error repeats the secret."""
    match = _KEY_CLAUSE.search(_COMMENTS.sub(lambda m: m.group(1) or " ", text))
    if match is None:
        raise DNS01_TSIG_KEY_INVALID(
            f'{source}: no key clause (key "name" {{ algorithm ...; secret "..."; }};)',
            file=source,
        )
    name = match.group(2) or match.group(3)
    settings: dict[str, str] = {}
    body = match.group(4)
    position = 0
    while position < len(body.rstrip()):
        statement = _STATEMENT.match(body, position)
        if statement is None:
            raise DNS01_TSIG_KEY_INVALID(
                f"{source}: key {name!r} has a statement that is not 'word value;'",
                file=source,
                key=name,
            )
        settings[statement.group(1).lower()] = statement.group(3) or statement.group(4) or ""
        position = statement.end()
    algorithm = settings.get("algorithm", "").lower().rstrip(".")
    if algorithm not in _ALGORITHMS:
        raise DNS01_TSIG_KEY_INVALID(
            f"{source}: key {name!r} has algorithm {algorithm or 'none'!r}, not one of "
            f"{', '.join(sorted(a for a in _ALGORITHMS if '.' not in a))}",
            file=source,
            key=name,
        )
    secret = settings.get("secret", "")
    try:
        decoded = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if not decoded:
        raise DNS01_TSIG_KEY_INVALID(
            f"{source}: key {name!r} has no secret, or its secret is not base64",
            file=source,
            key=name,
        )
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise DNS01_TSIG_KEY_INVALID(
            f"{source}: key name {name!r} is not a DNS name", file=source, key=name
        ) from exc
    return TsigKey(name=name, algorithm=algorithm, secret=secret)


def load_tsig_key(path: Path) -> TsigKey:
    """The TSIG key of a BIND key file (``tsig-keygen``'s output)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
        raise DNS01_TSIG_KEY_INVALID(
            f"{path}: cannot read the TSIG key file: {reason}", file=str(path)
        ) from exc
    return parse_tsig_key(text, source=str(path))


@dataclass(frozen=True, slots=True)
class DnsServer:
    """A DNS server's IP address and port."""

    address: str
    port: int = 53

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.address)
        except ValueError as exc:
            raise DNS01_SERVER_INVALID(
                f"DNS server {self.address!r} is not an IP address", server=self.address
            ) from exc
        if not 0 < self.port < 65536:
            raise DNS01_SERVER_INVALID(
                f"DNS server port {self.port} is not between 1 and 65535", server=str(self)
            )

    @classmethod
    def parse(cls, text: str, *, default_port: int = 53) -> DnsServer:
        """``192.0.2.53``, ``192.0.2.53:5353``, ``2001:db8::53`` or ``[2001:db8::53]:5353``."""
        text = text.strip()
        match = _SERVER.fullmatch(text)
        if match is None:
            raise DNS01_SERVER_INVALID(
                f"DNS server {text!r} is not an IP address with an optional port", server=text
            )
        address = match.group(1) or match.group(3) or match.group(5)
        port = match.group(2) or match.group(4)
        return cls(address, int(port) if port else default_port)

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class _Placed:
    """Where a challenge record went: its zone and the primary that took the update."""

    zone: dns.name.Name
    primary: DnsServer


class Rfc2136Solver:
    """The DNS-01 solver: TXT records by TSIG-signed dynamic update to the zone's primary.

    ``server`` is the primary to update (else the SOA's MNAME, resolved, on ``port``);
    ``resolvers`` answer the SOA/NS/address look-ups (else the system's resolver, or the
    configured server when there is one); ``check_nameservers`` also waits for every NS of
    the zone, on ``port``, to answer the record before :meth:`perform` returns.
    """

    kind: ClassVar[str] = "dns-01"

    def __init__(
        self,
        key: TsigKey,
        *,
        server: DnsServer | None = None,
        resolvers: Sequence[DnsServer] = (),
        port: int = 53,
        ttl: int = 60,
        timeout: float = 5.0,
        propagation_timeout: float = 120.0,
        poll_interval: float = 0.2,
        check_nameservers: bool = False,
    ) -> None:
        self._key = key  # the dnspython key (whose repr shows the secret) is made per update
        self._server = server
        self._resolvers = tuple(resolvers) or ((server,) if server is not None else ())
        self._port = port
        self._ttl = ttl
        self._timeout = timeout
        self._propagation_timeout = propagation_timeout
        self._poll_interval = poll_interval
        self._check_nameservers = check_nameservers
        self._placed: dict[tuple[str, str], _Placed] = {}

    @classmethod
    def from_settings(cls, options: Mapping[str, str], context: SolverContext) -> Rfc2136Solver:
        """The solver from its stored options (all strings):

        ``tsig-key-file`` (required; a BIND key file), ``server`` (the primary, ``IP[:port]``;
        default: the SOA's MNAME), ``resolvers`` (comma-separated ``IP[:port]`` for the
        SOA/NS/address look-ups; default: the system's), ``port`` (of the primary and name
        servers found by name, default 53), ``ttl`` (default 60), ``propagation-timeout``
        (seconds, default 120), ``check-nameservers`` (``yes``/``no``, default ``no``)."""
        _known_options(options, cls.kind, _DNS01_OPTIONS)
        key = load_tsig_key(Path(option(options, "tsig-key-file", cls.kind)))
        port = int_option(options, "port", cls.kind, 53)
        if not 0 < port < 65536:
            raise ACME_SOLVER_SETTINGS(
                f"the {cls.kind} challenge solver's option 'port' is not between 1 and 65535: "
                f"{port}",
                kind=cls.kind,
                option="port",
            )
        server_text = options.get("server")
        server = DnsServer.parse(server_text, default_port=port) if server_text else None
        resolvers = tuple(
            DnsServer.parse(text, default_port=port)
            for text in options.get("resolvers", "").split(",")
            if text.strip()
        )
        check = option(options, "check-nameservers", cls.kind, "no").strip().lower()
        if check not in {"yes", "no", "true", "false", "1", "0"}:
            raise ACME_SOLVER_SETTINGS(
                f"the {cls.kind} challenge solver's option 'check-nameservers' is not yes or "
                f"no: {check!r}",
                kind=cls.kind,
                option="check-nameservers",
            )
        return cls(
            key,
            server=server,
            resolvers=resolvers,
            port=port,
            ttl=int_option(options, "ttl", cls.kind, 60),
            timeout=min(context.timeout, 10.0),
            propagation_timeout=float(int_option(options, "propagation-timeout", cls.kind, 120)),
            check_nameservers=check in {"yes", "true", "1"},
        )

    # -- the solver protocol -------------------------------------------------------------

    def perform(
        self,
        domain: str,
        challenge: challenges.KeyAuthorizationChallenge,
        account_key: jose.JWK,
    ) -> None:
        """Add the challenge's TXT record and return once the zone's servers answer it."""
        name, value = self._record(domain, challenge, account_key)
        placed = self._locate(name)
        update = self._update(placed.zone)
        update.add(name.relativize(placed.zone), self._ttl, _txt(value))
        self._send(update, placed)
        self._placed[(name.to_text(), value)] = placed
        servers = [placed.primary]
        if self._check_nameservers:
            servers += [s for s in self._nameservers(placed.zone) if s != placed.primary]
        self._wait_until_answered(name, value, placed.zone, servers)

    def cleanup(
        self,
        domain: str,
        challenge: challenges.KeyAuthorizationChallenge,
        account_key: jose.JWK,
    ) -> None:
        """Delete exactly the TXT record :meth:`perform` added (other values stay)."""
        name, value = self._record(domain, challenge, account_key)
        placed = self._placed.pop((name.to_text(), value), None) or self._locate(name)
        update = self._update(placed.zone)
        update.delete(name.relativize(placed.zone), _txt(value))
        self._send(update, placed)

    # -- where the record goes -----------------------------------------------------------

    @staticmethod
    def _record(
        domain: str, challenge: challenges.KeyAuthorizationChallenge, account_key: jose.JWK
    ) -> tuple[dns.name.Name, str]:
        if not isinstance(challenge, challenges.DNS01):
            raise TypeError(f"challenge is {type(challenge).__name__}, not a DNS-01 challenge")
        base = domain[2:] if domain.startswith("*.") else domain
        name = dns.name.from_text(challenge.validation_domain_name(base))
        return name, str(challenge.validation(account_key))

    def _resolver(self) -> dns.resolver.Resolver:
        if not self._resolvers:
            resolver = dns.resolver.Resolver()
        else:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(s.address, s.port) for s in self._resolvers
            ]
        resolver.lifetime = self._timeout
        return resolver

    def _locate(self, name: dns.name.Name) -> _Placed:
        resolver = self._resolver()
        where = ", ".join(str(s) for s in self._resolvers) or "the system's resolver"
        try:
            zone = dns.resolver.zone_for_name(name, resolver=resolver, lifetime=self._timeout)
        except dns.resolver.LifetimeTimeout as exc:
            raise DNS01_TIMEOUT(
                f"looking up the zone of {name} timed out at {where}",
                name=name.to_text(),
                server=where,
            ) from exc
        except (dns.exception.DNSException, _NoAddress) as exc:
            raise DNS01_ZONE_NOT_FOUND(
                f"no zone (SOA) found above {name} at {where}: {exc}",
                name=name.to_text(),
                server=where,
            ) from exc
        if self._server is not None:
            return _Placed(zone, self._server)
        try:
            soa = resolver.resolve(zone, dns.rdatatype.SOA)[0]
            mname = soa.mname
            address = _first_address(resolver, mname)
        except dns.resolver.LifetimeTimeout as exc:
            raise DNS01_TIMEOUT(
                f"looking up the primary of zone {zone} timed out at {where}",
                zone=zone.to_text(),
                server=where,
            ) from exc
        except (dns.exception.DNSException, _NoAddress) as exc:
            raise DNS01_ZONE_NOT_FOUND(
                f"the primary of zone {zone} (its SOA MNAME) has no address at {where}: {exc}",
                zone=zone.to_text(),
                server=where,
            ) from exc
        return _Placed(zone, DnsServer(address, self._port))

    def _nameservers(self, zone: dns.name.Name) -> list[DnsServer]:
        resolver = self._resolver()
        try:
            hosts = [r.target for r in resolver.resolve(zone, dns.rdatatype.NS)]
            return [DnsServer(_first_address(resolver, h), self._port) for h in hosts]
        except dns.resolver.LifetimeTimeout as exc:
            raise DNS01_TIMEOUT(
                f"looking up the name servers of zone {zone} timed out",
                zone=zone.to_text(),
            ) from exc
        except (dns.exception.DNSException, _NoAddress) as exc:
            raise DNS01_ZONE_NOT_FOUND(
                f"the name servers of zone {zone} cannot be found: {exc}", zone=zone.to_text()
            ) from exc

    # -- talking to the primary ----------------------------------------------------------

    def _update(self, zone: dns.name.Name) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(zone, keyring=self._key.to_dnspython())

    def _send(self, update: dns.update.UpdateMessage, placed: _Placed) -> None:
        zone, server = placed.zone.to_text(), str(placed.primary)
        facts = {"zone": zone, "server": server}
        try:
            response = dns.query.tcp(
                update, placed.primary.address, timeout=self._timeout, port=placed.primary.port
            )
        except dns.tsig.PeerError as exc:
            raise DNS01_TSIG_REJECTED(
                f"{server} rejected the TSIG signature of the update to zone {zone} "
                f"({type(exc).__name__.removeprefix('Peer')}): wrong key name, algorithm or secret",
                **facts,
            ) from exc
        except (dns.message.UnknownTSIGKey, dns.tsig.BadSignature, dns.tsig.BadKey) as exc:
            raise DNS01_TSIG_REJECTED(
                f"{server}'s answer for zone {zone} is not signed with the update's key",
                **facts,
            ) from exc
        except dns.exception.Timeout as exc:
            raise DNS01_TIMEOUT(
                f"{server} did not answer the update to zone {zone} in {self._timeout:g} s",
                **facts,
            ) from exc
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            raise DNS01_TIMEOUT(
                f"{server} cannot be reached for the update to zone {zone}: {exc}", **facts
            ) from exc
        _check_rcode(response.rcode(), zone=zone, server=server)

    def _answers(self, server: DnsServer, name: dns.name.Name, value: str) -> bool:
        query = dns.message.make_query(name, dns.rdatatype.TXT)
        query.flags &= ~dns.flags.RD
        try:
            response, _ = dns.query.udp_with_fallback(
                query, server.address, timeout=self._timeout, port=server.port
            )
        except (OSError, EOFError, dns.exception.DNSException):
            return False
        wanted = value.encode("ascii")
        return any(
            wanted in rdata.strings
            for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.TXT
            for rdata in rrset
        )

    def _wait_until_answered(
        self,
        name: dns.name.Name,
        value: str,
        zone: dns.name.Name,
        servers: Sequence[DnsServer],
    ) -> None:
        deadline = time.monotonic() + self._propagation_timeout
        waiting = list(servers)
        while True:
            waiting = [s for s in waiting if not self._answers(s, name, value)]
            if not waiting:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                names = ", ".join(str(s) for s in waiting)
                raise DNS01_NOT_VISIBLE(
                    f"the TXT record {name} of zone {zone} is not answered by {names} after "
                    f"{self._propagation_timeout:g} s",
                    zone=zone.to_text(),
                    server=names,
                    name=name.to_text(),
                )
            time.sleep(min(self._poll_interval, remaining))


_DNS01_OPTIONS = frozenset(
    {"tsig-key-file", "server", "resolvers", "port", "ttl", "propagation-timeout",
     "check-nameservers"}
)  # fmt: skip


def _known_options(options: Mapping[str, str], kind: str, known: frozenset[str]) -> None:
    """Refuse an option the solver does not have (a misspelt one would be ignored)."""
    unknown = sorted(set(options) - known)
    if unknown:
        raise ACME_SOLVER_SETTINGS(
            f"the {kind} challenge solver has no option {unknown[0]!r} "
            f"(it has {', '.join(sorted(known))})",
            kind=kind,
            option=unknown[0],
        )


def _txt(value: str) -> dns.rdtypes.ANY.TXT.TXT:
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [value.encode("ascii")])


def _first_address(resolver: dns.resolver.Resolver, host: dns.name.Name) -> str:
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        try:
            return str(resolver.resolve(host, rdtype)[0].address)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
    raise _NoAddress(f"{host} has no A or AAAA record")


class _NoAddress(LookupError):
    """A host name with neither an A nor an AAAA record."""


def _check_rcode(rcode: dns.rcode.Rcode, *, zone: str, server: str) -> None:
    if rcode == dns.rcode.NOERROR:
        return
    facts = {"zone": zone, "server": server, "rcode": dns.rcode.to_text(rcode)}
    error: CertwardError
    if rcode == dns.rcode.REFUSED:
        error = DNS01_UPDATE_REFUSED(
            f"{server} refused the dynamic update to zone {zone} (REFUSED): its allow-update "
            "does not admit the key",
            **facts,
        )
    elif rcode == dns.rcode.NOTAUTH:
        error = DNS01_NOT_AUTHORITATIVE(
            f"{server} is not authoritative for zone {zone} or did not accept the key (NOTAUTH)",
            **facts,
        )
    else:
        error = DNS01_UPDATE_FAILED(
            f"{server} answered the dynamic update to zone {zone} with {dns.rcode.to_text(rcode)}",
            **facts,
        )
    raise error

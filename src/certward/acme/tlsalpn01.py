"""TLS-ALPN-01 (RFC 8737): a short-lived TLS listener that negotiates ALPN ``acme-tls/1`` and
serves, for the name the validator asks for by SNI, a self-signed certificate carrying the
critical ``id-pe-acmeIdentifier`` extension (the SHA-256 of the key authorization).

certbot's ``acme`` library dropped its TLS-ALPN-01 classes (``TLSALPN01``,
``TLSALPN01Response``, ``standalone.TLSALPN01Server``) in release 4; this module puts the
challenge and response types back into the library's registry (so an ACME server's
``tls-alpn-01`` challenge decodes as a :class:`~acme.challenges.KeyAuthorizationChallenge`
and its answer as the library's own response object — import this module before reading an
authorization), builds the certificate with ``cryptography`` and serves it with pyOpenSSL
behind the library's dual-stack listener (``acme.standalone.BaseDualNetworkedServers``).

One listener serves every name with a pending challenge; it starts with the first
:meth:`TlsAlpn01Solver.perform` and stops after the last :meth:`~TlsAlpn01Solver.cleanup`.
A client that offers other ALPN protocols but not ``acme-tls/1``, or asks for a name with no
pending challenge, gets no certificate (the handshake fails with an alert). One that offers
no ALPN at all is served like a validator (pyOpenSSL has no ClientHello hook to refuse it
before the certificate is chosen); a validator always offers ``acme-tls/1``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import socketserver
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier
from josepy import jwk as jose
from OpenSSL import SSL

from acme import challenges, standalone
from certward.acme.solvers import SolverContext, int_option, option
from certward.codes.acme import ACME_SOLVER_SETTINGS
from certward.codes.acme_dns import TLS_ALPN01_LISTEN_FAILED

__all__ = [
    "ACME_IDENTIFIER_OID",
    "ALPN_PROTOCOL",
    "TLSALPN01",
    "TLSALPN01Response",
    "TlsAlpn01Solver",
    "challenge_certificate",
]

ALPN_PROTOCOL = b"acme-tls/1"
ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # id-pe-acmeIdentifier
HANDSHAKE_TIMEOUT = 10  # seconds a validator may take over one handshake
STOP_POLL = 0.02  # seconds between the listener's checks for a stop (socketserver: 0.5)


class TLSALPN01Response(challenges.KeyAuthorizationChallengeResponse):
    """The answer to a ``tls-alpn-01`` challenge (an empty JSON object on the wire)."""

    typ = "tls-alpn-01"


class TLSALPN01(challenges.KeyAuthorizationChallenge):
    """An ACME ``tls-alpn-01`` challenge (RFC 8737)."""

    response_cls = TLSALPN01Response
    typ = response_cls.typ

    def validation(self, account_key: jose.JWK, **unused_kwargs: Any) -> bytes:
        """The ``acmeIdentifier`` extension's digest: SHA-256 of the key authorization."""
        return hashlib.sha256(self.key_authorization(account_key).encode("utf-8")).digest()


# Register the types unless the installed acme library still has its own.
if TLSALPN01.typ not in challenges.Challenge.TYPES:
    challenges.ChallengeResponse.register(TLSALPN01Response)
    challenges.Challenge.register(TLSALPN01)


def challenge_certificate(
    domain: str, key_authorization: str, *, now: dt.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A fresh key and the self-signed RFC 8737 certificate for ``domain``: the name as its
    only subjectAltName and the critical acmeIdentifier extension holding the DER OCTET
    STRING of SHA-256(``key_authorization``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(key_authorization.encode("utf-8")).digest()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ACME TLS-ALPN-01 challenge")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(ACME_IDENTIFIER_OID, b"\x04\x20" + digest), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return certificate, key


@dataclass(frozen=True, slots=True)
class _Served:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


class _NotAcmeTls(Exception):
    """The client offered protocols, none of them ``acme-tls/1``."""


def _select_alpn(connection: SSL.Connection, offered: list[bytes]) -> bytes:
    if ALPN_PROTOCOL not in offered:
        # Raising makes pyOpenSSL answer with a fatal alert (no_application_protocol);
        # NO_OVERLAPPING_PROTOCOLS would go on without ALPN and serve the certificate.
        raise _NotAcmeTls(offered)
    return ALPN_PROTOCOL


def _context() -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.set_alpn_select_callback(_select_alpn)
    return context


class _Handler(socketserver.BaseRequestHandler):
    server: _AlpnServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        # A blocking socket with a kernel timeout: a silent client cannot hold the thread.
        sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", HANDSHAKE_TIMEOUT, 0)
        )
        connection = SSL.Connection(self.server.base_context, sock)
        connection.set_accept_state()
        try:
            connection.do_handshake()
            connection.shutdown()
        except (SSL.Error, OSError, _NotAcmeTls):
            return  # a validator that went away, or a client without acme-tls/1


class _AlpnServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """One TCP listener handing each connection to a pyOpenSSL handshake."""

    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, server_address: tuple[str, int], served: Mapping[str, _Served], *, ipv6: bool
    ) -> None:
        self.address_family = socket.AF_INET6 if ipv6 else socket.AF_INET
        self.served = served
        self.base_context = _context()
        self.base_context.set_tlsext_servername_callback(self._switch)
        super().__init__(server_address, _Handler)

    def serve_forever(self, poll_interval: float = STOP_POLL) -> None:
        """socketserver's loop, checking for a stop every ``STOP_POLL`` seconds rather than
        its default half-second: the listener stops within that after the last cleanup."""
        super().serve_forever(poll_interval)

    def _switch(self, connection: SSL.Connection) -> None:
        """Give the handshake the certificate of the name it asks for (SNI), if pending."""
        raw = connection.get_servername()
        entry = self.served.get(raw.decode("ascii", "replace").lower()) if raw else None
        if entry is None:
            return  # no certificate: the handshake fails
        context = _context()
        context.use_certificate(entry.certificate)
        context.use_privatekey(entry.key)
        connection.set_context(context)


class _DualServers(standalone.BaseDualNetworkedServers):
    def __init__(self, address: tuple[str, int], served: Mapping[str, _Served]) -> None:
        super().__init__(_AlpnServer, address, served)


class TlsAlpn01Solver:
    """The TLS-ALPN-01 solver: one listener on ``address``:``port`` (``""`` is every
    address, IPv6 and IPv4) while any challenge is pending."""

    kind: ClassVar[str] = "tls-alpn-01"

    def __init__(self, *, port: int = 443, address: str = "") -> None:
        self._address = address
        self._port = port
        self._served: dict[str, _Served] = {}
        self._servers: _DualServers | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, options: Mapping[str, str], context: SolverContext) -> TlsAlpn01Solver:
        """``port`` (default 443) and ``address`` (default every address)."""
        unknown = sorted(set(options) - {"port", "address"})
        if unknown:
            raise ACME_SOLVER_SETTINGS(
                f"the {cls.kind} challenge solver has no option {unknown[0]!r} "
                "(it has address, port)",
                kind=cls.kind,
                option=unknown[0],
            )
        return cls(
            port=int_option(options, "port", cls.kind, 443),
            address=option(options, "address", cls.kind, ""),
        )

    @property
    def port(self) -> int | None:
        """The port listened on (the chosen one when configured as 0), None when stopped."""
        servers = self._servers
        return int(servers.getsocknames()[0][1]) if servers is not None else None

    def perform(
        self,
        domain: str,
        challenge: challenges.KeyAuthorizationChallenge,
        account_key: jose.JWK,
        *,
        now: dt.datetime | None = None,
    ) -> None:
        """Serve ``domain``'s challenge certificate; on return the listener accepts."""
        if challenge.typ != TLSALPN01.typ:
            raise TypeError(f"challenge is {challenge.typ}, not a TLS-ALPN-01 challenge")
        when = now if now is not None else dt.datetime.now(dt.UTC)
        certificate, key = challenge_certificate(
            domain, challenge.key_authorization(account_key), now=when
        )
        with self._lock:
            self._served[domain.lower()] = _Served(certificate, key)
            if self._servers is None:
                try:
                    self._servers = self._listen()
                except BaseException:
                    del self._served[domain.lower()]
                    raise

    def cleanup(
        self,
        domain: str,
        challenge: challenges.KeyAuthorizationChallenge,
        account_key: jose.JWK,
    ) -> None:
        """Stop serving ``domain``; the listener closes with the last pending name."""
        with self._lock:
            self._served.pop(domain.lower(), None)
            servers = self._servers if not self._served else None
            if servers is not None:
                self._servers = None
        if servers is not None:
            servers.shutdown_and_server_close()

    def close(self) -> None:
        """Stop the listener whatever is pending."""
        with self._lock:
            self._served.clear()
            servers, self._servers = self._servers, None
        if servers is not None:
            servers.shutdown_and_server_close()

    def _listen(self) -> _DualServers:
        where = f"{self._address or '*'}:{self._port}"
        try:
            servers = _DualServers((self._address, self._port), self._served)
        except OSError as exc:
            raise TLS_ALPN01_LISTEN_FAILED(
                f"the TLS-ALPN-01 listener cannot listen on {where}: {exc.strerror or exc}",
                address=self._address,
                port=self._port,
            ) from exc
        servers.serve_forever()
        return servers

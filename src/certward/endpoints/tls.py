"""TLS for the live endpoints: pyOpenSSL contexts and Twisted's memory-BIO transport.

The standard ``ssl`` module cannot send a client-CA list; pyOpenSSL can. Twisted's
``TLSMemoryBIOProtocol._flushSendBIO`` hands the transport at most 32 KB of a handshake
flight per call (twisted/twisted#5095), so a CertificateRequest larger than that — 355
roots make about 56 KB — would stall every TLS 1.2 client. :func:`install_flush_fix`
makes it drain the send BIO completely.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import types
from OpenSSL import SSL, crypto
from twisted.internet.interfaces import IOpenSSLContextFactory
from zope.interface import implementer

VERSIONS: dict[str, int] = {
    "1.0": SSL.TLS1_VERSION,
    "1.1": SSL.TLS1_1_VERSION,
    "1.2": SSL.TLS1_2_VERSION,
    "1.3": SSL.TLS1_3_VERSION,
}

_fix_installed = False


def install_flush_fix() -> None:
    """Make Twisted's TLS layer write every pending handshake byte, not just 32 KB."""
    global _fix_installed
    if _fix_installed:
        return
    from twisted.protocols import tls

    def _flush_send_bio(self: Any) -> None:
        while True:
            try:
                data = self._tlsConnection.bio_read(2**15)
            except SSL.WantReadError:
                return
            self.transport.write(data)
            if len(data) < 2**15:
                return  # a memory BIO gives all it holds: drained (asking again would raise)

    if not hasattr(tls.TLSMemoryBIOProtocol, "_flushSendBIO"):
        raise RuntimeError("Twisted changed its TLS layer: review certward.endpoints.tls")
    tls.TLSMemoryBIOProtocol._flushSendBIO = _flush_send_bio  # type: ignore[method-assign]
    _fix_installed = True


@dataclass(frozen=True)
class ServerTls:
    """What a listener needs to build its TLS context."""

    certificate: x509.Certificate
    key: types.PrivateKeyTypes = field(repr=False)
    chain: Sequence[x509.Certificate] = ()
    min_version: str = "1.2"
    max_version: str = "1.3"
    request_client_certificate: bool = False
    require_client_certificate: bool = False
    client_cas: Sequence[x509.Certificate] = ()  # their subjects are the CA names sent
    on_info: Callable[[SSL.Connection, int, int], None] | None = None


def server_context(config: ServerTls) -> SSL.Context:
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(VERSIONS[config.min_version])
    context.set_max_proto_version(VERSIONS[config.max_version])
    if config.min_version in ("1.0", "1.1"):
        # OpenSSL 3 refuses TLS 1.0/1.1 at its default security level.
        context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    context.use_certificate(config.certificate)
    context.use_privatekey(config.key)  # type: ignore[arg-type]
    for extra in config.chain:
        context.add_extra_chain_cert(extra)
    context.check_privatekey()
    if config.request_client_certificate:
        mode = SSL.VERIFY_PEER
        if config.require_client_certificate:
            mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
        # Accept any chain during the handshake; certward validates it afterwards against
        # the server's Root and CA stores (and the domain), and refuses with an SMTP reply.
        context.set_verify(mode, lambda *_: True)
        context.set_client_ca_list(
            [crypto.X509.from_cryptography(ca).get_subject() for ca in config.client_cas]
        )
    if config.on_info is not None:
        context.set_info_callback(config.on_info)
    return context


class ContextCache:
    """Server contexts by what they are made of (certificate, chain, versions, client-CA
    request): a reload that changed something else reuses them instead of loading the key
    into a new context. Holds at most ``size`` contexts, the oldest dropped first."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._contexts: dict[tuple[object, ...], SSL.Context] = {}
        self.built = 0

    @staticmethod
    def _key(config: ServerTls) -> tuple[object, ...]:
        def der(cert: x509.Certificate) -> bytes:
            return cert.public_bytes(serialization.Encoding.DER)

        return (
            der(config.certificate), tuple(der(c) for c in config.chain),
            config.min_version, config.max_version, config.request_client_certificate,
            config.require_client_certificate, tuple(der(c) for c in config.client_cas),
            config.on_info,
        )  # fmt: skip

    def context(self, config: ServerTls) -> SSL.Context:
        key = self._key(config)
        found = self._contexts.get(key)
        if found is None:
            found = server_context(config)
            self.built += 1
            if len(self._contexts) >= self._size:
                del self._contexts[next(iter(self._contexts))]
            self._contexts[key] = found
        return found


def requested_ca_names(connection: SSL.Connection, where: int) -> list[bytes] | None:
    """For a client's info callback: the acceptable-CA names (DER) when the handshake has
    just read a CertificateRequest, else None. An empty list means "any certificate"."""
    # Both bits: a connect-side state change. An exit callback (SSL_CB_CONNECT_EXIT, when the
    # handshake waits for more data) shares the connect bit and may show the same state
    # string before the CertificateRequest is complete, with its list still empty.
    if where & SSL.SSL_CB_CONNECT_LOOP != SSL.SSL_CB_CONNECT_LOOP:
        return None
    if b"read server certificate request" not in (connection.get_state_string() or b""):
        return None
    return [crypto.X509Name.der(name) for name in connection.get_client_ca_list()]


@implementer(IOpenSSLContextFactory)
class ContextFactory:
    """Twisted's context factory: ``getContext()`` returns the prepared context."""

    def __init__(self, context: SSL.Context) -> None:
        self._context = context

    def getContext(self) -> SSL.Context:
        return self._context

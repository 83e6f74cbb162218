"""A bare TLS listener on certward's TLS layer, for tests: ``python tls_server.py CERT KEY
ROOTS [--no-fix]`` prints ``listening PORT`` and answers every TLS client with "hello".

After each read from a client it prints ``sent N``: the bytes written to that client so far,
once the TLS layer has done all it does with what it read (nothing more is written until the
client sends again)."""

from __future__ import annotations

import sys
from pathlib import Path

from certward.endpoints.reactor import install_asyncio_reactor

install_asyncio_reactor()

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from twisted.internet import protocol, reactor  # noqa: E402
from twisted.protocols import policies  # noqa: E402
from twisted.protocols.tls import TLSMemoryBIOFactory  # noqa: E402

from certward.endpoints import tls  # noqa: E402


class Hello(protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(b"hello\n")


class Counted(policies.ProtocolWrapper):
    """Counts the bytes the TLS layer writes to the connection."""

    sent = 0

    def write(self, data: bytes) -> None:
        self.sent += len(data)
        super().write(data)

    def writeSequence(self, data: list[bytes]) -> None:
        self.sent += sum(len(chunk) for chunk in data)
        super().writeSequence(data)

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        print(f"sent {self.sent}", flush=True)


def main() -> None:
    cert_path, key_path, roots_path, *flags = sys.argv[1:]
    if "--no-fix" not in flags:
        tls.install_flush_fix()
    roots = x509.load_pem_x509_certificates(Path(roots_path).read_bytes())
    config = tls.ServerTls(
        certificate=x509.load_pem_x509_certificate(Path(cert_path).read_bytes()),
        key=serialization.load_pem_private_key(Path(key_path).read_bytes(), None),
        max_version="1.2",
        request_client_certificate=True,
        client_cas=roots,
    )
    factory = protocol.Factory.forProtocol(Hello)
    wrapped = TLSMemoryBIOFactory(tls.ContextFactory(tls.server_context(config)), False, factory)
    counted = policies.WrappingFactory(wrapped)
    counted.protocol = Counted
    port = reactor.listenTCP(0, counted, interface="127.0.0.1")
    print(f"listening {port.getHost().port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()

"""Sending through a Send connector, as Exchange's transport (and the UM server) does.

STARTTLS when offered (required with RequireTLS); the remote certificate is checked per
``tls_auth_level`` (EncryptionOnly; CertificateValidation against the sending server's Root
store; DomainValidation also against ``tls_domain`` or the recipient domain, by SAN or CN).
When the remote asks for a client certificate, the connector's certificate is offered only
if its issuer chain appears in the acceptable-CA list (or the list is empty), as Schannel
does; otherwise the
send fails with ``TlsApiFailureException ... 0x80090301`` (seed 001) and the message stays
queued.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import types
from OpenSSL import SSL
from twisted.internet import defer, error
from twisted.internet.interfaces import IHandshakeListener
from twisted.mail import smtp
from zope.interface import implementer

from certward.endpoints.logs import ProtocolLog
from certward.endpoints.tls import VERSIONS, ContextFactory, requested_ca_names
from certward.model import Connector, TlsAuthLevel
from certward.pki import certinfo, chain, hostnames

TLS_API_FAILURE = (
    "Microsoft.Exchange.Net.ExSmtpClient.TlsApiFailureException: A TLS API failure "
    "occurred. Error = 0x80090301"
)


@dataclass(frozen=True)
class ClientIdentity:
    """The certificate a sending server presents when asked."""

    certificate: x509.Certificate
    key: types.PrivateKeyTypes = field(repr=False)
    chain: Sequence[x509.Certificate] = ()

    def issuer_names(self) -> set[bytes]:
        """DER of the leaf's issuer and of every chain certificate's subject and issuer."""
        names = {self.certificate.issuer.public_bytes()}
        for cert in self.chain:
            names.add(cert.subject.public_bytes())
            names.add(cert.issuer.public_bytes())
        return names


@dataclass
class SendPolicy:
    connector: Connector
    recipient_domain: str
    identity: ClientIdentity | None
    roots: Sequence[x509.Certificate]
    intermediates: Sequence[x509.Certificate]
    min_version: str
    max_version: str
    helo: str
    now: Callable[[], dt.datetime]


class SendFailure(Exception):
    """A send that did not happen; ``message`` is what goes in the queue and the log."""


@dataclass
class _TlsFacts:
    requested: bool = False
    ca_names: list[bytes] = field(default_factory=list)
    offered: bool = False
    version: str = ""
    cipher: str = ""
    peer_chain: list[x509.Certificate] = field(default_factory=list)


def _client_context(policy: SendPolicy, facts: _TlsFacts) -> SSL.Context:
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(VERSIONS[policy.min_version])
    context.set_max_proto_version(VERSIONS[policy.max_version])
    context.set_verify(SSL.VERIFY_NONE)  # checked after the handshake, per TlsAuthLevel
    identity = policy.identity
    if identity is not None:
        for extra in identity.chain:
            context.add_extra_chain_cert(extra)

    def info(connection: SSL.Connection, where: int, _ret: int) -> None:
        names = requested_ca_names(connection, where)
        if names is None or facts.requested:
            return
        facts.requested = True
        facts.ca_names = names
        # Like Schannel: an empty list means any certificate may be offered.
        acceptable = not facts.ca_names or bool(
            identity and identity.issuer_names() & set(facts.ca_names)
        )
        if identity is not None and acceptable:
            connection.use_certificate(identity.certificate)
            connection.use_privatekey(identity.key)
            facts.offered = True

    context.set_info_callback(info)
    return context


@implementer(IHandshakeListener)
class _Sender(smtp.ESMTPSender):
    policy: SendPolicy
    facts: _TlsFacts
    write_log: Callable[..., None]
    failure: str | None = None

    def handshakeCompleted(self) -> None:
        connection = self.transport.getHandle()
        facts = self.facts
        facts.version = connection.get_protocol_version_name()
        facts.cipher = connection.get_cipher_name() or ""
        facts.peer_chain = list(connection.get_peer_cert_chain(as_cryptography=True) or [])
        self.write_log(
            "*", "", f"TLS protocol {facts.version} negotiation succeeded using {facts.cipher}"
        )
        if facts.peer_chain:
            peer = certinfo.facts(facts.peer_chain[0])
            self.write_log("*", peer.thumbprint, "Remote certificate thumbprint")
            self.write_log("*", peer.subject, "Remote certificate subject")
        if facts.requested:
            self.write_log("*", str(len(facts.ca_names)), "Acceptable client certificate CA names")
            if facts.offered and self.policy.identity is not None:
                mine = certinfo.facts(self.policy.identity.certificate)
                self.write_log("*", mine.thumbprint, "Sending certificate")
        problem = _check_remote(self.policy, facts)
        if problem is None and facts.requested and not facts.offered:
            problem = (
                f"{TLS_API_FAILURE} (the server asked for a client certificate, and none of "
                "this server's certificates is issued by a CA in its list of "
                f"{len(facts.ca_names)} acceptable CA names)"
            )
        if problem is not None:
            self.failure = problem
            self.write_log("*", "", problem)
            self.transport.abortConnection()

    def sendLine(self, line: bytes) -> None:
        self.write_log(">", line.decode(errors="replace"))
        super().sendLine(line)

    def lineReceived(self, line: bytes) -> Any:
        self.write_log("<", line.decode(errors="replace"))
        return super().lineReceived(line)


def _check_remote(policy: SendPolicy, facts: _TlsFacts) -> str | None:
    level = policy.connector.tls_auth_level
    if level in (None, TlsAuthLevel.ENCRYPTION_ONLY):
        return None
    if not facts.peer_chain:
        return "the remote server presented no certificate"
    leaf, presented = facts.peer_chain[0], facts.peer_chain[1:]
    problem = chain.path_error(
        leaf,
        intermediates=[*presented, *policy.intermediates],
        roots=policy.roots,
        now=policy.now(),
    )
    if problem is not None:
        return f"the remote certificate does not chain to a trusted root ({problem})"
    if level is TlsAuthLevel.DOMAIN_VALIDATION:
        domain = policy.connector.tls_domain or policy.recipient_domain
        if not hostnames.covers(leaf, domain):
            return f"the remote certificate does not carry {domain} (SAN or CN)"
    return None


class _Factory(smtp.ESMTPSenderFactory):
    protocol = _Sender
    attach: tuple[SendPolicy, _TlsFacts, Callable[..., None]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.senders: list[_Sender] = []

    def buildProtocol(self, addr: Any) -> _Sender:
        sender: _Sender = super().buildProtocol(addr)
        sender.policy, sender.facts, sender.write_log = self.attach
        self.senders.append(sender)
        return sender


def send(
    reactor: Any,
    *,
    host: str,
    port: int,
    mail_from: str,
    rcpt_to: Sequence[str],
    message: bytes,
    policy: SendPolicy,
    log: ProtocolLog,
) -> defer.Deferred[None]:
    """Deliver one message; fires with None, or fails with :class:`SendFailure`."""
    facts = _TlsFacts()
    session = secrets.token_hex(8).upper()
    sequence = iter(range(1_000_000))
    remote = f"{host}:{port}"

    def write(event: str, data: str = "", context: str = "") -> None:
        log.write(
            connector=policy.connector.name, session=session, sequence=next(sequence),
            local="", remote=remote, event=event, data=data, context=context,
        )  # fmt: skip

    done: defer.Deferred[Any] = defer.Deferred()
    factory = _Factory(
        None, None, mail_from, list(rcpt_to), BytesIO(message), done,
        retries=0,
        contextFactory=ContextFactory(_client_context(policy, facts)),
        requireAuthentication=False,
        requireTransportSecurity=policy.connector.require_tls,
    )  # fmt: skip
    factory.domain = policy.helo.encode()
    factory.attach = (policy, facts, write)
    write("+")
    reactor.connectTCP(host, port, factory, timeout=30)

    def failed(reason: Any) -> None:
        problem = next((s.failure for s in factory.senders if s.failure), None)
        if problem is None:
            exc = reason.value
            if isinstance(exc, smtp.SMTPClientError):
                resp = (
                    exc.resp.decode(errors="replace") if isinstance(exc.resp, bytes) else exc.resp
                )
                problem = f"{exc.code} {resp}"
            elif isinstance(exc, error.ConnectError):
                problem = f"cannot connect to {remote}: {exc}"
            else:
                problem = str(exc)
        write("-", "", problem)
        raise SendFailure(problem)

    def succeeded(_: Any) -> None:
        write("-", "", "delivered")

    done.addCallbacks(succeeded, failed)
    return done

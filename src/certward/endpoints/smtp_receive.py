"""SMTP receive connectors on Twisted's ESMTP server, choosing certificates like Exchange.

Each connection reads the server's current snapshot, so a changed binding (``cert enable``,
``connector set``, ``store add``) applies to the next connection without a restart.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IHandshakeListener
from twisted.mail import smtp
from twisted.python import failure
from zope.interface import implementer

from certward.endpoints import tls
from certward.endpoints.limits import SMTP_IDLE, SourceLimit, StartTlsBarrier
from certward.endpoints.logs import EventLog, ProtocolLog
from certward.endpoints.mailstore import MailStore
from certward.endpoints.snapshot import EndpointSnapshot
from certward.model import AuthMechanism, Connector, Service
from certward.pki import certinfo, chain, clientca, hostnames
from certward.pki.selection import Selection, select_certificate

MAX_MESSAGE_SIZE = 37_748_736  # 36 MiB: Exchange's default MaxMessageSize, advertised as SIZE
_SIZE_EXTENSION = [str(MAX_MESSAGE_SIZE).encode()]
_SIZE_PARAMETER = re.compile(rb"\bSIZE=(\d+)", re.IGNORECASE)
_TOO_BIG = b"5.3.4 Message size exceeds fixed maximum message size"


@dataclass
class _ConnectorTls:
    version: str
    selection: Selection
    context: tls.ContextFactory | None
    issuer_list: clientca.IssuerList | None
    snapshot: EndpointSnapshot | None = None  # the snapshot it was made for
    connector: Connector | None = None
    _facts: certinfo.CertificateFacts | None = None

    def facts(self) -> certinfo.CertificateFacts | None:
        """The chosen certificate's facts for the protocol log (computed once)."""
        if self._facts is None and self.selection.chosen is not None:
            chosen = self.selection.chosen.x509()
            snap = self.snapshot
            self._facts = certinfo.facts(chosen) if snap is None else snap.certificate_facts(chosen)
        return self._facts


class ReceiveState:
    """The live state of one server's receive side: snapshot, TLS contexts, logs, mail."""

    def __init__(
        self,
        snapshot: EndpointSnapshot,
        *,
        protocol_log: ProtocolLog,
        events: EventLog,
        mail: MailStore,
        now: Callable[[], dt.datetime],
    ) -> None:
        self.snapshot = snapshot
        self.protocol_log = protocol_log
        self.events = events
        self.mail = mail
        self.now = now
        self.contexts = tls.ContextCache()
        self._tls: dict[str, _ConnectorTls] = {}

    def update(self, snapshot: EndpointSnapshot) -> None:
        self.snapshot = snapshot

    def connector(self, identity: str) -> Connector | None:
        return self.snapshot.receive_connector(identity)

    def tls_for(self, connector: Connector) -> _ConnectorTls:
        """Selection and TLS context for a connector, rebuilt when the snapshot changes."""
        snap = self.snapshot
        cached = self._tls.get(connector.identity)
        if cached is not None and cached.snapshot is snap and cached.connector is connector:
            return cached  # the common case: nothing changed since the last connection
        version = snap.version + repr(connector)
        if cached is not None and cached.version == version:
            cached.snapshot, cached.connector = snap, connector
            return cached
        selection = select_certificate(
            snap.candidates,
            service=Service.SMTP,
            now=self.now(),
            host_name=connector.fqdn or snap.server.fqdn,
            tls_certificate_name=connector.tls_certificate_name,
            connector=connector.identity,
        )
        for event in selection.events:
            self.events.write(event.id, event.message, source="MSExchangeFrontEndTransport")
        context = None
        issuers = None
        if selection.chosen is not None:
            request = connector.requests_client_certificate
            roots = list(snap.roots) if snap.server.send_trusted_issuer_list else []
            issuers = clientca.trusted_issuer_list(roots)
            if request and issuers.truncated:
                self.events.write(
                    36885,
                    "When asking for client authentication, this server sends a list of "
                    "trusted certificate authorities to the client. ... this server trusts so "
                    "many certificate authorities that the list has grown too long "
                    f"({issuers.full_size} bytes for {issuers.full_count} roots; the limit is "
                    f"{clientca.SCHANNEL_LIMIT}). This list has thus been truncated to "
                    f"{len(issuers.names)} names.",
                    source="Schannel",
                )
            sent = {n.public_bytes() for n in issuers.names}
            config = snap.server_tls(
                selection.chosen,
                request_client_certificate=request,
                client_cas=[r for r in roots if r.subject.public_bytes() in sent],
            )
            context = tls.ContextFactory(self.contexts.context(config))
        state = _ConnectorTls(version, selection, context, issuers, snap, connector)
        self._tls[connector.identity] = state
        return state


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, session: ReceiveSession) -> None:
        self._session = session

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> bytes:
        session = self._session
        peer = helo[1] if helo else b"unknown"
        peer = peer.decode() if isinstance(peer, bytes) else str(peer)
        with_tls = f" with {session.tls_summary}" if session.tls_summary else ""
        stamp = email.utils.format_datetime(session.state.now())
        return (
            f"Received: from {peer} by {session.host.decode()} ({session.connector_id})"
            f"{with_tls}; {stamp}"
        ).encode()

    def validateFrom(self, helo: Any, origin: smtp.Address) -> smtp.Address:
        return origin

    def validateTo(self, user: smtp.User) -> Callable[[], _Message]:
        address = str(user.dest).lower()
        snap = self._session.state.snapshot
        domain = address.rpartition("@")[2]
        if domain not in snap.accepted_domains:
            raise smtp.SMTPBadRcpt(
                user, 550, "5.7.54 Unable to relay recipient in non-accepted domain"
            )
        if address not in snap.mailboxes:
            raise smtp.SMTPBadRcpt(user, 550, "5.1.10 RESOLVER.ADR.RecipientNotFound")
        store = self._session.state.mail
        return lambda: _Message(store, address)


@implementer(smtp.IMessage)
class _Message:
    def __init__(self, store: MailStore, address: str) -> None:
        self._store = store
        self._address = address
        self._lines: list[bytes] = []
        self._size = 0

    def lineReceived(self, line: bytes) -> None:
        self._size += len(line) + 2
        if self._size > MAX_MESSAGE_SIZE:
            self._lines = []  # dropped; Twisted answers 552 after the final dot
            raise smtp.SMTPServerError(552, _TOO_BIG)
        self._lines.append(line)

    def eomReceived(self) -> defer.Deferred[str]:
        """Stored (and synced to disk) on the reactor's thread pool, so that the event loop
        goes on with the other sessions meanwhile; the 250 reply follows the sync."""
        from twisted.internet import threads

        message, self._lines = b"\n".join(self._lines) + b"\n", []
        stored: defer.Deferred[str] = threads.deferToThread(
            self._store.deliver, self._address, message
        )
        return stored.addCallback(lambda _key: self._address)

    def connectionLost(self) -> None:
        self._lines = []


@implementer(IHandshakeListener)
class ReceiveSession(StartTlsBarrier, smtp.ESMTP):
    """One inbound SMTP session on a receive connector."""

    timeout = SMTP_IDLE

    def __init__(self, state: ReceiveState, connector_id: str) -> None:
        super().__init__(chal={}, contextFactory=None)
        self.state = state
        self.connector_id = connector_id
        self.session_id = secrets.token_hex(8).upper()
        self.sequence = 0
        self.tls_summary = ""
        self.peer_chain: list[x509.Certificate] = []
        self.delivery = _Delivery(self)
        self._connector: Connector | None = None
        self._tls_state: _ConnectorTls | None = None
        self._local = self._remote = ""
        self._reading: dt.datetime | None = None  # the clock, read once for a batch of lines
        self._reply: list[bytes] | None = None  # the lines of the reply being sent

    # -- protocol log --------------------------------------------------------------------------
    def _log(self, event: str, data: str = "", context: str = "") -> None:
        self.state.protocol_log.write(
            connector=self.connector_id,
            session=self.session_id,
            sequence=self.sequence,
            local=self._local,
            remote=self._remote,
            event=event,
            data=data,
            context=context,
            now=self._reading,
        )
        self.sequence += 1

    def sendCode(self, code: int, message: bytes = b"") -> None:
        """Twisted's reply, its lines (EHLO's are many) written to the transport at once."""
        self._reply = []
        try:
            super().sendCode(code, message)
        finally:
            lines, self._reply = self._reply, None
            self.transport.write(b"".join(lines))

    def sendLine(self, line: bytes) -> None:
        self._log(">", line.decode(errors="replace"))
        if self._reply is None:
            super().sendLine(line)
        else:
            self._reply += (line, self.delimiter)

    def dataReceived(self, data: bytes) -> Any:
        # One reading of the clock for the lines logged for this chunk: the command, its
        # reply, STARTTLS's certificate lines.
        self._reading = self.state.now()
        try:
            return super().dataReceived(data)
        finally:
            self._reading = None

    def lineReceived(self, line: bytes) -> Any:
        if self.mode == smtp.COMMAND:
            self._log("<", line.decode(errors="replace"))
        return super().lineReceived(line)

    # -- session ---------------------------------------------------------------------------------
    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)  # replies are small: no delayed-ACK waits
        local, remote = self.transport.getHost(), self.transport.getPeer()
        self._local, self._remote = f"{local.host}:{local.port}", f"{remote.host}:{remote.port}"
        connector = self.state.connector(self.connector_id)
        if connector is None:  # removed while listening
            self.transport.loseConnection()
            return
        self._connector = connector
        self.host = (connector.fqdn or self.state.snapshot.server.fqdn).encode()
        state = self.state.tls_for(connector)
        self._tls_state = state
        if AuthMechanism.TLS in connector.auth_mechanism and state.context is not None:
            self.ctx = state.context
        self._reading = self.state.now()  # for "+" and the banner (its line and its date)
        try:
            self._log("+")
            super().connectionMade()
        finally:
            self._reading = None

    def greeting(self) -> bytes:
        stamp = _rfc5322_date(self._reading or self.state.now())
        return self.host + f" Microsoft ESMTP MAIL Service ready at {stamp}".encode()

    def extensions(self) -> dict[bytes, list[bytes] | None]:
        ext: dict[bytes, list[bytes] | None] = {
            b"SIZE": _SIZE_EXTENSION,
            b"PIPELINING": None,
            b"ENHANCEDSTATUSCODES": None,
            b"8BITMIME": None,
        }
        if self.canStartTLS and not self.startedTLS:
            ext[b"STARTTLS"] = None
        return ext

    def ext_STARTTLS(self, rest: bytes) -> None:
        if self.ctx is not None and not self.startedTLS and self._tls_state is not None:
            facts = self._tls_state.facts()
            assert facts is not None
            self._log("*", "", "Sending certificate")
            self._log("*", facts.subject, "Certificate subject")
            self._log("*", facts.issuer, "Certificate issuer name")
            self._log("*", facts.serial_number, "Certificate serial number")
            self._log("*", facts.thumbprint, "Certificate thumbprint")
            self._log("*", ";".join(facts.certificate_domains), "Certificate alternate names")
        before = self.startedTLS
        super().ext_STARTTLS(rest)
        if self.startedTLS and not before:
            # RFC 3207: nothing the client sent before the handshake counts afterwards.
            self.tls_barrier()
            self._from, self._to = None, []

    def pipelined_discarded(self) -> None:
        self._log("*", str(self.discarded), "Discarded bytes pipelined after STARTTLS")

    def lineLengthExceeded(self, line: bytes) -> None:
        super().lineLengthExceeded(line)  # 500 Line too long
        self.transport.loseConnection()

    def handshakeCompleted(self) -> None:
        connection = self.transport.getHandle()
        version = connection.get_protocol_version_name()
        cipher = connection.get_cipher_name()
        self.tls_summary = f"{version} {cipher}"
        self._log("*", "", f"TLS protocol {version} negotiation succeeded using {cipher}")
        # On a server, OpenSSL's peer chain leaves out the peer's own certificate.
        leaf = connection.get_peer_certificate(as_cryptography=True)
        rest = [c for c in connection.get_peer_cert_chain(as_cryptography=True) or [] if c != leaf]
        self.peer_chain = [leaf, *rest] if leaf is not None else []
        if self.peer_chain:
            facts = certinfo.facts(self.peer_chain[0])
            self._log("*", "", "Received certificate")
            self._log("*", facts.thumbprint, "Certificate thumbprint")
            self._log("*", facts.subject, "Certificate subject")

    def do_MAIL(self, rest: bytes) -> None:
        connector = self._connector
        assert connector is not None
        if connector.require_tls and not self.startedTLS:
            self.sendCode(530, b"5.7.0 Must issue a STARTTLS command first")
            return
        declared = _SIZE_PARAMETER.search(rest)
        if declared is not None and int(declared.group(1)) > MAX_MESSAGE_SIZE:
            self.sendCode(552, _TOO_BIG)
            return
        match = self.mail_re.match(rest)
        if match is not None:
            path = match.group("path").decode(errors="replace").strip("<> ")
            domain = path.rpartition("@")[2].lower()
            refusal = self._domain_security(connector, domain)
            if refusal is not None:
                self._log("*", domain, f"Domain security: {refusal}")
                self.sendCode(530, f"5.7.1 Domain security for {domain}: {refusal}".encode())
                return
        super().do_MAIL(rest)

    def _domain_security(self, connector: Connector, domain: str) -> str | None:
        """Mutual TLS for a domain in the receive domain-secure list (seed 000)."""
        snap = self.state.snapshot
        if not connector.domain_secure_enabled or domain not in snap.receive_domain_secure:
            return None
        if not self.startedTLS:
            return "TLS is required"
        if not self.peer_chain:
            return "no client certificate was presented"
        leaf, presented = self.peer_chain[0], self.peer_chain[1:]
        if not hostnames.covers(leaf, domain):
            return f"the certificate names neither {domain} in its SANs nor its CN"
        problem = chain.path_error(
            leaf,
            intermediates=[*presented, *snap.intermediates],
            roots=snap.roots,
            now=self.state.now(),
        )
        if problem is not None:
            return f"the certificate does not chain to a trusted root ({problem})"
        return None

    def connectionLost(self, reason: failure.Failure = protocol.connectionDone) -> None:
        if self._connector is not None:
            self._log("-", "", "Local")
            self.state.protocol_log.flush()  # the session's lines, in one write
        super().connectionLost(reason)


@functools.lru_cache(maxsize=1)
def _rfc5322_date(now: dt.datetime) -> str:
    """The banner's date (made once a second: the clock is read to the second)."""
    return email.utils.format_datetime(now)


class ReceiveFactory(protocol.ServerFactory):
    def __init__(
        self, state: ReceiveState, connector_id: str, limit: SourceLimit | None = None
    ) -> None:
        self.state = state
        self.connector_id = connector_id
        self.limit = limit or SourceLimit()

    def buildProtocol(self, addr: Any) -> Any:
        def make() -> ReceiveSession:
            session = ReceiveSession(self.state, self.connector_id)
            session.factory = self
            return session

        return self.limit.build(addr, make, "smtp")

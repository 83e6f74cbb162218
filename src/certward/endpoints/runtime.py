"""Running one server's endpoints on Twisted's asyncio reactor: one process, or one of
several worker processes (:mod:`certward.endpoints.workers`).

The runtime is handed a :class:`Reloader` (the services layer reads the store) and polls it
once a second; it reads the store's change counter and loads a new snapshot only when that
moved. A changed binding is used by the next connection, and a changed or new
receive-connector binding is listened on, so no restart (no IISRESET) is needed. TLS
contexts whose certificate and settings did not change are reused.

With several workers each listens on every receive connector's address with
``SO_REUSEPORT`` (the kernel spreads the connections over them); the first worker also
serves IIS, IMAP and POP3, whose login throttling and lockouts are one tally per server.
The protocol log is kept open and written once per session (and once a second).
"""

from __future__ import annotations

import datetime as dt
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certward.collector import long_running
from certward.endpoints.reactor import get_reactor, install_asyncio_reactor

install_asyncio_reactor()  # before the protocol modules import the default reactor

from OpenSSL import SSL  # noqa: E402

from certward.endpoints import https  # noqa: E402
from certward.endpoints.imap import ImapFactory  # noqa: E402
from certward.endpoints.limits import Limits, SharedCounts, SourceLimit  # noqa: E402
from certward.endpoints.logins import PasswordChecker  # noqa: E402
from certward.endpoints.logs import EventLog, ProtocolLog  # noqa: E402
from certward.endpoints.mailstore import MailStore  # noqa: E402
from certward.endpoints.pop3 import Pop3Factory  # noqa: E402
from certward.endpoints.smtp_receive import ReceiveFactory, ReceiveState  # noqa: E402
from certward.endpoints.snapshot import EndpointSnapshot, Reloader  # noqa: E402
from certward.endpoints.tls import (  # noqa: E402
    ContextFactory,
    install_flush_fix,
)
from certward.model import Binding, Service  # noqa: E402
from certward.paths import safe_join  # noqa: E402
from certward.pki.selection import select_certificate, select_iis  # noqa: E402

RELOAD_SECONDS = 1.0
LOG_BUFFER_BYTES = 64 * 1024  # protocol-log lines kept before a write (else at session end)


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"  # replaces 0.0.0.0 / :: in connector bindings
    https_port: int | None = None  # IIS (443 on a real server)
    http_port: int | None = None
    imap_port: int | None = None  # 143, STARTTLS
    imaps_port: int | None = None  # 993
    pop3_port: int | None = None  # 110, STLS
    pop3s_port: int | None = None  # 995
    limits: Limits = field(default_factory=Limits)


@dataclass
class _Listening:
    binding: tuple[str, int]
    port: Any  # twisted IListeningPort


@dataclass
class Runtime:
    reloader: Reloader
    state_dir: Path
    options: ServeOptions
    now: Callable[[], dt.datetime]
    say: Callable[[str], None]
    _listening: dict[str, _Listening] = field(default_factory=dict)  # receive connectors
    _fixed: dict[str, _Listening] = field(default_factory=dict)  # IIS, IMAP, POP3
    _iis: tuple[str, SSL.Context] | None = None
    _service_contexts: dict[Service, tuple[str, ContextFactory | None]] = field(
        default_factory=dict
    )
    worker: int = 0  # the first (or only) worker also serves IIS, IMAP and POP3
    reuse_port: bool = False  # listen with SO_REUSEPORT, beside the other workers
    shared_counts: SharedCounts | None = None  # per-source counts of all workers
    # State lines ("listening", "reloaded", "ready", "stopped"): a supervisor prints each
    # once every worker has said it; alone, the runtime says them.
    announce: Callable[[str], None] | None = None
    _stopping: bool = False

    def _state(self, line: str) -> None:
        (self.announce or self.say)(line)

    def run(self) -> int:
        from twisted.internet import task

        reactor = get_reactor()

        install_flush_fix()
        snapshot = self.reloader.current()  # a worker starts from the supervisor's
        name = snapshot.server.name
        logs = safe_join(self.state_dir, "logs", name)
        self.receive = ReceiveState(
            snapshot,
            protocol_log=ProtocolLog(
                logs / "ProtocolLog" / "SmtpReceive",
                kind="SMTP Receive Protocol Log",
                prefix="RECV",
                now=self.now,
                buffer_bytes=LOG_BUFFER_BYTES,
            ),
            events=EventLog(logs / "events.jsonl", server=name, now=self.now),
            mail=MailStore(self.state_dir / "mail"),
            now=self.now,
        )
        self.limit = SourceLimit(self.options.limits.per_source, shared=self.shared_counts)
        self.checker = PasswordChecker(lambda: self.receive.snapshot.mailboxes, self.receive.events)
        self._sync_listeners(snapshot)
        if self.worker == 0:
            self._listen_web(snapshot)
            self._listen_mail_access()
            if not self._listening and not self._fixed:
                self.say(f"error: server {name} has nothing to listen on")
                return 1
        loop = task.LoopingCall(self._reload)
        loop.start(RELOAD_SECONDS, now=False)

        def stop(*_: object) -> None:
            reactor.callFromThread(self._stop, reactor)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self._state(f"{name}: ready")
        # What start-up made (modules, the snapshot, TLS contexts) lives as long as the
        # process: frozen, it is left out of every collection, which otherwise walked it all
        # again while connections come and go; the collector runs for those.
        long_running()
        reactor.run(installSignalHandlers=False)
        self.receive.protocol_log.close()
        self._state(f"{name}: stopped")
        return 0

    def _iis_context(self) -> SSL.Context:
        snap = self.receive.snapshot
        if self._iis is not None and self._iis[0] == snap.version:
            return self._iis[1]
        selection = select_iis(snap.candidates, now=self.now())
        if selection.chosen is None:
            raise RuntimeError(f"{snap.server.name}: no certificate is enabled for IIS")
        context = self.receive.contexts.context(snap.server_tls(selection.chosen))
        self._iis = (snap.version, context)
        return context

    def _listen_web(self, snapshot: EndpointSnapshot) -> None:
        reactor = get_reactor()
        current = lambda: self.receive.snapshot  # noqa: E731 - the live snapshot
        host = self.options.host
        if self.options.https_port is not None:
            try:
                self._iis_context()
            except RuntimeError as exc:
                self.say(f"warning: HTTPS not started: {exc}")
            else:
                port = reactor.listenSSL(
                    self.options.https_port,
                    https.site(current, secure=True, limit=self.limit),
                    https.CurrentContext(self._iis_context),
                    backlog=self.options.limits.backlog,
                    interface=host,
                )
                self._fixed["HTTPS"] = _Listening((host, self.options.https_port), port)
                self.say(f"HTTPS IIS listening on {host}:{port.getHost().port}")
        if self.options.http_port is not None:
            port = reactor.listenTCP(
                self.options.http_port,
                https.site(current, secure=False, limit=self.limit),
                backlog=self.options.limits.backlog,
                interface=host,
            )
            self._fixed["HTTP"] = _Listening((host, self.options.http_port), port)
            self.say(f"HTTP IIS listening on {host}:{port.getHost().port}")

    def _service_tls(self, service: Service) -> ContextFactory | None:
        """The TLS context for IMAP or POP: Exchange's selection with the service's own
        binding, for the server's FQDN (no wildcard certificates)."""
        snap = self.receive.snapshot
        cached = self._service_contexts.get(service)
        if cached is not None and cached[0] == snap.version:
            return cached[1]
        selection = select_certificate(
            snap.candidates, service=service, now=self.now(), host_name=snap.server.fqdn,
            connector=f"{service.name} {snap.server.name}",
        )  # fmt: skip
        factory = None
        if selection.chosen is not None:
            factory = ContextFactory(
                self.receive.contexts.context(snap.server_tls(selection.chosen))
            )
        self._service_contexts[service] = (snap.version, factory)
        return factory

    def _listen_mail_access(self) -> None:
        reactor = get_reactor()
        host = self.options.host
        current = lambda: self.receive.snapshot  # noqa: E731 - the live snapshot
        mail = self.receive.mail

        plans = [
            ("IMAP", Service.IMAP, self.options.imap_port, False),
            ("IMAPS", Service.IMAP, self.options.imaps_port, True),
            ("POP3", Service.POP, self.options.pop3_port, False),
            ("POP3S", Service.POP, self.options.pop3s_port, True),
        ]
        for label, service, port_number, implicit in plans:
            if port_number is None:
                continue
            if self._service_tls(service) is None:
                fqdn = current().server.fqdn
                self.say(
                    f"warning: {label} not started: no certificate for {fqdn} is enabled "
                    f"for {service.name}"
                )
                continue

            def starttls(service: Service = service) -> ContextFactory | None:
                return self._service_tls(service)

            def implicit_context(service: Service = service) -> SSL.Context:
                factory = self._service_tls(service)
                if factory is None:  # the binding went away: refuse the handshake
                    raise RuntimeError(f"no certificate is enabled for {service.name}")
                return factory.getContext()

            no_starttls = lambda: None  # noqa: E731 - implicit TLS has no STARTTLS
            guards = {"checker": self.checker, "limit": self.limit}
            if service is Service.IMAP:
                factory: Any = ImapFactory(
                    current, mail, no_starttls if implicit else starttls, **guards
                )
            else:
                factory = Pop3Factory(current, mail, starttls, implicit_tls=implicit, **guards)
            backlog = self.options.limits.backlog
            if implicit:
                context = https.CurrentContext(implicit_context)
                port = reactor.listenSSL(
                    port_number, factory, context, backlog=backlog, interface=host
                )
            else:
                port = reactor.listenTCP(port_number, factory, backlog=backlog, interface=host)
            self._fixed[label] = _Listening((host, port_number), port)
            self.say(f"{label} listening on {host}:{port.getHost().port}")

    def _stop(self, reactor: Any) -> None:
        if self._stopping:  # SIGINT from the terminal and SIGTERM from the supervisor
            return
        self._stopping = True
        for listening in [*self._listening.values(), *self._fixed.values()]:
            listening.port.stopListening()
        reactor.stop()

    def _reload(self) -> None:
        self.receive.protocol_log.flush()  # lines of sessions still open
        try:
            snapshot = self.reloader.poll()
        except Exception as exc:
            self.say(f"warning: reload failed, keeping the previous configuration: {exc}")
            return
        if snapshot is not None and snapshot.version != self.receive.snapshot.version:
            self.receive.update(snapshot)
            self._sync_listeners(snapshot)
            self._state(f"{snapshot.server.name}: configuration reloaded")

    def _sync_listeners(self, snapshot: EndpointSnapshot) -> None:
        from twisted.internet.error import CannotListenError

        reactor = get_reactor()

        wanted = {c.identity: c for c in snapshot.receive_connectors if c.bindings}
        for identity in list(self._listening):
            binding = self._address(wanted[identity].bindings[0]) if identity in wanted else None
            if binding != self._listening[identity].binding:
                self._listening.pop(identity).port.stopListening()
        for identity, connector in wanted.items():
            if identity in self._listening:
                continue
            host, port = self._address(connector.bindings[0])
            factory = ReceiveFactory(self.receive, identity, self.limit)
            try:
                if self.reuse_port:
                    listening = self._listen_shared(host, port, factory)
                else:
                    listening = reactor.listenTCP(
                        port, factory, backlog=self.options.limits.backlog, interface=host
                    )
            except CannotListenError as exc:
                self.say(f"warning: {identity}: cannot listen on {host}:{port} ({exc.socketError})")
                continue
            actual = listening.getHost().port
            self._listening[identity] = _Listening((host, port), listening)
            self._state(f"SMTP {identity} listening on {host}:{actual}")

    def _listen_shared(self, host: str, port: int, factory: Any) -> Any:
        """Listen on ``host:port`` beside the other workers (``SO_REUSEPORT``)."""
        from twisted.internet.error import CannotListenError

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(self.options.limits.backlog)
            sock.setblocking(False)
            return get_reactor().adoptStreamPort(sock.fileno(), family, factory)
        except OSError as exc:
            raise CannotListenError(host, port, exc) from exc
        finally:
            sock.close()  # the reactor listens on its own duplicate

    def _address(self, binding: Binding) -> tuple[str, int]:
        host = self.options.host if binding.host in ("0.0.0.0", "::", "") else binding.host  # noqa: S104
        return host, binding.port

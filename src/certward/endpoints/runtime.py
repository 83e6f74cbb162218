"""Running one server's endpoints in one process on Twisted's asyncio reactor.

The runtime is handed a ``load`` function (the services layer reads the store) and polls it
once a second: a changed binding is used by the next connection, and a changed or new
receive-connector binding is listened on, so no restart (no IISRESET) is needed.
"""

from __future__ import annotations

import datetime as dt
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certward.endpoints.reactor import get_reactor, install_asyncio_reactor

install_asyncio_reactor()  # before the protocol modules import the default reactor

from OpenSSL import SSL  # noqa: E402

from certward.endpoints import https  # noqa: E402
from certward.endpoints.logs import EventLog, ProtocolLog  # noqa: E402
from certward.endpoints.mailstore import MailStore  # noqa: E402
from certward.endpoints.selection import select_iis  # noqa: E402
from certward.endpoints.smtp_receive import ReceiveFactory, ReceiveState  # noqa: E402
from certward.endpoints.snapshot import EndpointSnapshot  # noqa: E402
from certward.endpoints.tls import ServerTls, install_flush_fix, server_context  # noqa: E402
from certward.model import Binding  # noqa: E402

RELOAD_SECONDS = 1.0


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"  # replaces 0.0.0.0 / :: in connector bindings
    https_port: int | None = None  # IIS (443 on a real server)
    http_port: int | None = None


@dataclass
class _Listening:
    binding: tuple[str, int]
    port: Any  # twisted IListeningPort


@dataclass
class Runtime:
    load: Callable[[], EndpointSnapshot]
    state_dir: Path
    options: ServeOptions
    now: Callable[[], dt.datetime]
    say: Callable[[str], None]
    _listening: dict[str, _Listening] = field(default_factory=dict)
    _iis: tuple[str, SSL.Context] | None = None

    def run(self) -> int:
        from twisted.internet import task

        reactor = get_reactor()

        install_flush_fix()
        snapshot = self.load()
        name = snapshot.server.name
        logs = self.state_dir / "logs" / name
        self.receive = ReceiveState(
            snapshot,
            protocol_log=ProtocolLog(
                logs / "ProtocolLog" / "SmtpReceive",
                kind="SMTP Receive Protocol Log",
                prefix="RECV",
                now=self.now,
            ),
            events=EventLog(logs / "events.jsonl", server=name, now=self.now),
            mail=MailStore(self.state_dir / "mail"),
            now=self.now,
        )
        self._sync_listeners(snapshot)
        self._listen_web(snapshot)
        if not self._listening:
            self.say(f"error: server {name} has nothing to listen on")
            return 1
        loop = task.LoopingCall(self._reload)
        loop.start(RELOAD_SECONDS, now=False)

        def stop(*_: object) -> None:
            reactor.callFromThread(self._stop, reactor)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.say(f"{name}: ready")
        reactor.run(installSignalHandlers=False)
        self.say(f"{name}: stopped")
        return 0

    def _iis_context(self) -> SSL.Context:
        snap = self.receive.snapshot
        if self._iis is not None and self._iis[0] == snap.version:
            return self._iis[1]
        selection = select_iis(snap.candidates, now=self.now())
        if selection.chosen is None:
            raise RuntimeError(f"{snap.server.name}: no certificate is enabled for IIS")
        cert = selection.chosen.certificate
        context = server_context(
            ServerTls(
                certificate=cert,
                key=snap.keys[selection.chosen.thumbprint],
                chain=snap.chain_for(cert),
                min_version=snap.server.tls_min_version,
                max_version=snap.server.tls_max_version,
            )
        )
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
                    https.site(current, secure=True),
                    https.CurrentContext(self._iis_context),
                    interface=host,
                )
                self._listening["IIS https"] = _Listening((host, self.options.https_port), port)
                self.say(f"HTTPS IIS listening on {host}:{port.getHost().port}")
        if self.options.http_port is not None:
            port = reactor.listenTCP(
                self.options.http_port, https.site(current, secure=False), interface=host
            )
            self._listening["IIS http"] = _Listening((host, self.options.http_port), port)
            self.say(f"HTTP IIS listening on {host}:{port.getHost().port}")

    def _stop(self, reactor: Any) -> None:
        for listening in self._listening.values():
            listening.port.stopListening()
        reactor.stop()

    def _reload(self) -> None:
        try:
            snapshot = self.load()
        except Exception as exc:
            self.say(f"warning: reload failed, keeping the previous configuration: {exc}")
            return
        if snapshot.version != self.receive.snapshot.version:
            self.receive.update(snapshot)
            self._sync_listeners(snapshot)
            self.say(f"{snapshot.server.name}: configuration reloaded")

    def _sync_listeners(self, snapshot: EndpointSnapshot) -> None:
        from twisted.internet.error import CannotListenError

        reactor = get_reactor()

        wanted = {c.identity: c for c in snapshot.receive_connectors if c.bindings}
        for identity in [i for i in self._listening if not i.startswith("IIS ")]:
            binding = self._address(wanted[identity].bindings[0]) if identity in wanted else None
            if binding != self._listening[identity].binding:
                self._listening.pop(identity).port.stopListening()
        for identity, connector in wanted.items():
            if identity in self._listening:
                continue
            host, port = self._address(connector.bindings[0])
            try:
                listening = reactor.listenTCP(
                    port, ReceiveFactory(self.receive, identity), interface=host
                )
            except CannotListenError as exc:
                self.say(f"warning: {identity}: cannot listen on {host}:{port} ({exc.socketError})")
                continue
            actual = listening.getHost().port
            self._listening[identity] = _Listening((host, port), listening)
            self.say(f"SMTP {identity} listening on {host}:{actual}")

    def _address(self, binding: Binding) -> tuple[str, int]:
        host = self.options.host if binding.host in ("0.0.0.0", "::", "") else binding.host  # noqa: S104
        return host, binding.port

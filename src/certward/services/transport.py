"""Sending mail through a Send connector, and the queue of what could not be sent."""

from __future__ import annotations

import email.message
import email.utils
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import types

from certward.clock import Clock
from certward.codes.endpoints import (
    TRANSPORT_NO_CERTIFICATE,
    TRANSPORT_NO_SMART_HOST,
    TRANSPORT_NOT_SEND_CONNECTOR,
)
from certward.endpoints.logs import EventLog, ProtocolLog
from certward.endpoints.queue import MailQueue, QueuedMessage, new_id
from certward.model import ConnectorKind
from certward.pki import certinfo, chain
from certward.services._names import state_path
from certward.services.connectors import find_connector, resolve_on_server
from certward.services.ports import UnitOfWork
from certward.services.views import TrustStores

# The UM server's event for a failed voicemail submission (seed 001).
EVENT_SUBMISSION_FAILED = 1423


@dataclass(frozen=True)
class SendOutcome:
    entry: QueuedMessage
    delivered: bool
    error: str


class TransportService:
    def __init__(self, uow: UnitOfWork, clock: Clock, state_dir: Path) -> None:
        self._uow = uow
        self._clock = clock
        self._state = state_dir

    def queue(self, server: str) -> MailQueue:
        return MailQueue(state_path(self._state, "queue", server))

    def send(
        self,
        server: str,
        connector: str,
        *,
        mail_from: str,
        rcpt_to: Sequence[str],
        subject: str,
        body: bytes,
    ) -> SendOutcome:
        with self._uow.transaction() as repo:
            name = repo.server(server).name
            found = find_connector(repo, connector)
        if found.kind is not ConnectorKind.SEND or name not in found.servers:
            raise TRANSPORT_NOT_SEND_CONNECTOR(
                f"{found.identity} is not a send connector of server {name}",
                connector=found.identity,
                server=name,
            )
        message = email.message.EmailMessage()
        message["From"], message["To"] = mail_from, ", ".join(rcpt_to)
        message["Subject"] = subject
        message["Date"] = email.utils.format_datetime(self._clock.now())
        message["Message-ID"] = email.utils.make_msgid(domain=mail_from.rpartition("@")[2])
        message.set_content(body.decode("utf-8", errors="replace"))
        entry = QueuedMessage(
            id=new_id(), server=name, connector=found.name, mail_from=mail_from,
            rcpt_to=list(rcpt_to), status="Ready", attempts=0, last_error="",
            queued_at=self._clock.now().isoformat(),
        )  # fmt: skip
        queue = self.queue(name)
        queue.add(entry, message.as_bytes())
        return self._deliver([entry])[0]

    def retry(self, server: str) -> list[SendOutcome]:
        with self._uow.transaction() as repo:
            name = repo.server(server).name
        entries = self.queue(name).entries()
        return self._deliver(entries) if entries else []

    def _deliver(self, entries: list[QueuedMessage]) -> list[SendOutcome]:
        from certward.endpoints.reactor import get_reactor

        reactor = get_reactor()
        from twisted.internet import defer

        from certward.endpoints import smtp_send

        runs: list[Any] = []
        outcomes: list[SendOutcome] = []
        for entry in entries:
            queue = self.queue(entry.server)
            policy, smart_host = self._policy(entry)
            log = ProtocolLog(
                state_path(self._state, "logs", entry.server, "ProtocolLog", "SmtpSend"),
                kind="SMTP Send Protocol Log", prefix="SEND", now=self._clock.now,
            )  # fmt: skip
            d = smtp_send.send(
                reactor, host=smart_host[0], port=smart_host[1], mail_from=entry.mail_from,
                rcpt_to=entry.rcpt_to, message=queue.message(entry), policy=policy, log=log,
            )  # fmt: skip
            d.addCallbacks(
                self._done, self._failed, callbackArgs=(entry, outcomes),
                errbackArgs=(entry, outcomes),
            )  # fmt: skip
            runs.append(d)

        def run_all() -> None:
            defer.DeferredList(runs).addBoth(lambda _: reactor.stop())

        reactor.callWhenRunning(run_all)
        reactor.run(installSignalHandlers=False)
        return outcomes

    def _done(self, _: Any, entry: QueuedMessage, outcomes: list[SendOutcome]) -> None:
        self.queue(entry.server).remove(entry)
        outcomes.append(SendOutcome(entry, True, ""))

    def _failed(self, reason: Any, entry: QueuedMessage, outcomes: list[SendOutcome]) -> None:
        from certward.endpoints.smtp_send import TLS_API_FAILURE

        problem = str(reason.value)
        entry.attempts += 1
        entry.status = "Retry"
        entry.last_error = problem
        self.queue(entry.server).save(entry)
        if TLS_API_FAILURE in problem:
            events = EventLog(
                state_path(self._state, "logs", entry.server, "events.jsonl"),
                server=entry.server, now=self._clock.now,
            )  # fmt: skip
            events.write(
                EVENT_SUBMISSION_FAILED,
                f"Error while trying to submit message {entry.id} through "
                f'{entry.connector}. Error details: "{problem}"',
                source="MSExchange Unified Messaging",
                level="Error",
            )
        outcomes.append(SendOutcome(entry, False, problem))

    def _policy(self, entry: QueuedMessage) -> tuple[Any, tuple[str, int]]:
        from certward.endpoints.smtp_send import ClientIdentity, SendPolicy

        now = self._clock.now()
        with self._uow.transaction() as repo:
            server = repo.server(entry.server)
            connector = find_connector(repo, entry.connector)
            if not connector.smart_hosts:
                raise TRANSPORT_NO_SMART_HOST(
                    f"send connector {connector.name} has no smart host; certward sends only "
                    "through smart hosts (no DNS MX routing yet)",
                    connector=connector.identity,
                )
            host = connector.smart_hosts[0]
            trust = TrustStores.of(repo, server.name)
            roots, cas = trust.roots, trust.intermediates
            thumb = None
            if connector.tls_certificate_name:
                found = resolve_on_server(repo, connector, server.name, now).thumbprints
                thumb = found[0] if found else None
            thumb = thumb or server.default_smtp_thumbprint
            identity = None
            if thumb is not None:
                record = repo.find_certificate(server.name, thumb)
                if record is not None and record.der is not None and record.has_private_key:
                    cert = certinfo.load_der(record.der)
                    key: types.PrivateKeyTypes = repo.private_key(record)
                    issuers = chain.build_chain(cert, [*cas, *roots])
                    identity = ClientIdentity(cert, key, [c for c in issuers if c not in roots])
            if identity is None:
                raise TRANSPORT_NO_CERTIFICATE(
                    f"server {server.name} has no certificate with a private key to present "
                    f"on send connector {connector.name}",
                    server=server.name,
                    connector=connector.identity,
                )
            recipient_domain = entry.rcpt_to[0].rpartition("@")[2]
            policy = SendPolicy(
                connector=connector, recipient_domain=recipient_domain, identity=identity,
                roots=roots, intermediates=cas, min_version=server.tls_min_version,
                max_version=server.tls_max_version, helo=connector.fqdn or server.fqdn,
                now=self._clock.now,
            )  # fmt: skip
        return policy, (host.host, host.port)

"""Reading what a server's live endpoints need from the store, and running them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import types

from certward.clock import Clock
from certward.endpoints.logs import read_events, read_protocol_log
from certward.endpoints.snapshot import EndpointSnapshot, Reloader
from certward.model import StoreName, Thumbprint
from certward.pki import certinfo
from certward.pki.selection import Candidate
from certward.services._names import state_path
from certward.services.ports import UnitOfWork
from certward.services.views import TrustStores


@runtime_checkable
class _Generations(Protocol):
    def generation(self) -> int: ...


def load_snapshot(
    uow: UnitOfWork,
    server: str,
    key_cache: MutableMapping[Thumbprint, types.PrivateKeyTypes] | None = None,
) -> EndpointSnapshot:
    """One consistent read of everything the endpoints of ``server`` depend on.

    A key already in ``key_cache`` is not decrypted again: a thumbprint names one
    certificate, whose key cannot change. The cache keeps only the keys this read used."""
    with uow.transaction() as repo:
        srv = repo.server(server)
        org = repo.organisation()
        candidates: list[Candidate] = []
        keys: dict[Thumbprint, types.PrivateKeyTypes] = {}
        for record in repo.certificates(srv.name, StoreName.MY):
            if record.der is None:
                continue
            candidates.append(
                Candidate.of(
                    record.thumbprint,
                    certinfo.load_der(record.der),
                    record.has_private_key,
                    record.services,
                )
            )
            if record.has_private_key and record.services:
                cached = key_cache.get(record.thumbprint) if key_cache is not None else None
                keys[record.thumbprint] = cached or repo.private_key(record)
        if key_cache is not None:
            key_cache.clear()
            key_cache.update(keys)

        trust = TrustStores.of(repo, srv.name)
        transport = org.transport if org else None
        return EndpointSnapshot(
            server=srv,
            candidates=tuple(candidates),
            keys=keys,
            roots=tuple(trust.roots),
            intermediates=tuple(trust.intermediates),
            connectors=tuple(repo.connectors()),
            receive_domain_secure=transport.tls_receive_domain_secure_list if transport else (),
            send_domain_secure=transport.tls_send_domain_secure_list if transport else (),
            accepted_domains=tuple(repo.accepted_domains()),
            mailboxes={m.address: m for m in repo.mailboxes()},  # the organisation's
            vdirs=tuple(repo.virtual_directories(srv.name)),
            acme_challenges=repo.acme_challenges(),
        )


class EndpointService:
    """Running a server's endpoints, and reading what they logged."""

    def __init__(self, uow: UnitOfWork, clock: Clock, state_dir: Path) -> None:
        self._uow = uow
        self._clock = clock
        self._state = state_dir

    def _name(self, server: str) -> str:
        with self._uow.transaction() as repo:
            return repo.server(server).name

    def serve(
        self,
        server: str,
        *,
        host: str,
        say: Callable[[str], None],
        ports: Mapping[str, int | None] | None = None,
        max_connections_per_source: int | None = None,
        workers: int | None = None,
    ) -> int:
        """Run until SIGINT/SIGTERM; the exit status.

        ``workers`` defaults to one per core; above one, that many worker processes share
        the receive connectors' ports (:mod:`certward.endpoints.workers`); the store is read
        once (keys decrypted once) before they fork, and each reads it again when it
        changes."""
        from certward.endpoints.limits import Limits
        from certward.endpoints.workers import default_workers

        if workers is None:
            workers = default_workers()
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        limits = Limits()
        if max_connections_per_source is not None:
            limits = Limits(backlog=limits.backlog, per_source=max_connections_per_source)

        name = self._name(server)  # fails early, with one line, for an unknown server
        reloader = self.reloader(name)
        if workers == 1:
            from certward.endpoints.runtime import Runtime, ServeOptions

            runtime = Runtime(
                reloader=reloader,
                state_dir=self._state,
                options=ServeOptions(host=host, limits=limits, **(ports or {})),
                now=self._clock.now,
                say=say,
            )
            return runtime.run()

        from certward.endpoints.limits import SharedCounts
        from certward.endpoints.workers import Supervisor, preload

        counts = SharedCounts(workers)

        def start(index: int, once: Callable[[str], None], state: Callable[[str], None]) -> int:
            from certward.endpoints.runtime import Runtime, ServeOptions

            counts.worker = index
            runtime = Runtime(
                reloader=reloader,
                state_dir=self._state,
                options=ServeOptions(host=host, limits=limits, **(ports or {})),
                now=self._clock.now,
                say=once,
                worker=index,
                reuse_port=True,
                shared_counts=counts,
                announce=state,
            )
            return runtime.run()

        def before_fork() -> None:
            preload()
            reloader.current()  # read (and decrypt) once, for every worker
            closing = getattr(self._uow, "close", None)
            if closing is not None:
                closing()  # no database connection crosses the fork; each worker opens its own

        return Supervisor(
            workers, start, say, before_fork=before_fork, on_replace=counts.clear
        ).run()

    def reloader(self, server: str) -> Reloader:
        """Reads ``server``'s snapshot when the store changed (every time, for a store
        without a change counter), reusing the keys it already decrypted."""
        name = self._name(server)
        keys: dict[Thumbprint, types.PrivateKeyTypes] = {}
        counter = self._uow if isinstance(self._uow, _Generations) else None
        polls = iter(range(1, 2**62))
        return Reloader(
            generation=counter.generation if counter is not None else lambda: next(polls),
            load=lambda: load_snapshot(self._uow, name, keys),
        )

    def protocol_log(
        self,
        server: str,
        *,
        connector: str | None = None,
        session: str | None = None,
        send: bool = False,
    ) -> list[dict[str, str]]:
        kind = "SmtpSend" if send else "SmtpReceive"
        directory = state_path(self._state, "logs", self._name(server), "ProtocolLog", kind)
        return [
            row
            for row in read_protocol_log(directory)
            if (connector is None or connector.lower() in row["connector-id"].lower())
            and (session is None or row["session-id"] == session)
        ]

    def events(self, server: str) -> list[dict[str, Any]]:
        return read_events(state_path(self._state, "logs", self._name(server), "events.jsonl"))

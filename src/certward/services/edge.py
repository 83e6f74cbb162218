"""Edge subscriptions and EdgeSync, with Exchange's direct trust (seed 004).

Subscribing publishes the Edge's default SMTP certificate to the organisation; each sync
publishes every subscribed Hub's default transport certificate to the Edge, and fails for a
Hub whose key is CNG (event 1035) or whose CA-issued chain the Edge's own stores lack.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certward.clock import Clock
from certward.codes.edge import (
    EDGE_ALREADY_SUBSCRIBED,
    EDGE_NO_DEFAULT_SMTP,
    EDGE_NOT_EDGE_SERVER,
)
from certward.endpoints.logs import EventLog
from certward.health import edgesync
from certward.model import EdgeSubscription, PublishedHubCertificate
from certward.services._names import site_name, state_path
from certward.services.health import read_snapshot
from certward.services.ports import UnitOfWork


@dataclass(frozen=True)
class SyncResult:
    subscription: EdgeSubscription
    hubs: tuple[edgesync.HubCheck, ...]
    edge_certificate_changed: bool

    @property
    def ok(self) -> bool:
        return bool(self.hubs) and all(h.ok for h in self.hubs)

    def to_json(self) -> dict[str, Any]:
        return {
            "edge": self.subscription.edge,
            "site": self.subscription.site,
            "ok": self.ok,
            "edge_certificate_changed": self.edge_certificate_changed,
            "hubs": [
                {
                    "server": h.server,
                    "thumbprint": h.thumbprint,
                    "key_provider": h.key_provider,
                    "ok": h.ok,
                    "event": h.event,
                    "problem": h.problem,
                    "missing_chain": [
                        {"store": m.store, "subject": m.subject, "thumbprint": m.thumbprint}
                        for m in h.missing
                    ],
                }
                for h in self.hubs
            ],
        }


def subscription_json(sub: EdgeSubscription) -> dict[str, Any]:
    return {
        "edge": sub.edge,
        "site": sub.site,
        "created": sub.created.isoformat(),
        "edge_certificate": sub.edge_thumbprint,
        "hub_certificates": [
            {"server": h.server, "thumbprint": h.thumbprint} for h in sub.hub_certificates
        ],
        "last_sync": sub.last_sync.isoformat() if sub.last_sync else None,
        "last_sync_ok": sub.last_sync_ok,
    }


class EdgeService:
    def __init__(self, uow: UnitOfWork, clock: Clock, state_dir: Path) -> None:
        self._uow = uow
        self._clock = clock
        self._state = state_dir

    def subscribe(self, edge: str, site: str) -> EdgeSubscription:
        """New-EdgeSubscription on the Edge, imported on a Mailbox server of ``site``."""
        site_name(site)
        with self._uow.transaction() as repo:
            server = repo.server(edge)
            if not server.is_edge:
                raise EDGE_NOT_EDGE_SERVER(
                    f"{server.name} is not an Edge Transport server", server=server.name
                )
            if any(s.edge.lower() == server.name.lower() for s in repo.edge_subscriptions()):
                raise EDGE_ALREADY_SUBSCRIBED(
                    f"{server.name} already has an Edge subscription", server=server.name
                )
            tp = server.default_smtp_thumbprint
            record = repo.find_certificate(server.name, tp) if tp else None
            if tp is None or record is None or record.der is None:
                raise EDGE_NO_DEFAULT_SMTP(
                    f"{server.name} has no default SMTP certificate to publish",
                    server=server.name,
                )
            subscription = EdgeSubscription(
                edge=server.name,
                site=site,
                created=self._clock.now(),
                edge_thumbprint=tp,
                edge_der=record.der,
            )
            repo.save_edge_subscription(subscription)
            return subscription

    def subscriptions(self) -> list[EdgeSubscription]:
        with self._uow.transaction() as repo:
            return repo.edge_subscriptions()

    def remove(self, edge: str) -> None:
        with self._uow.transaction() as repo:
            repo.delete_edge_subscription(edge)

    def sync(self) -> list[SyncResult]:
        """Start-EdgeSynchronization for every subscription; events go to each Hub's log."""
        now = self._clock.now()
        results = []
        with self._uow.transaction() as repo:
            snapshot = read_snapshot(repo)
            for sub in snapshot.edge_subscriptions:
                hubs = edgesync.check_subscription(snapshot, sub)
                edge = snapshot.server(sub.edge)
                changed = edge is None or edge.server.default_smtp_thumbprint != sub.edge_thumbprint
                published = tuple(
                    PublishedHubCertificate(h.server, h.thumbprint)
                    for h in hubs
                    if h.ok and h.thumbprint is not None
                )
                result = SyncResult(sub, tuple(hubs), changed)
                updated = dataclasses.replace(
                    sub, hub_certificates=published, last_sync=now, last_sync_ok=result.ok
                )
                repo.save_edge_subscription(updated)
                results.append(dataclasses.replace(result, subscription=updated))
        for result in results:
            for hub in result.hubs:
                if hub.event is not None and hub.problem is not None:
                    self._events(hub.server).write(
                        hub.event, hub.problem, source="MSExchange EdgeSync", level="Error"
                    )
        return results

    def _events(self, server: str) -> EventLog:
        return EventLog(
            state_path(self._state, "logs", server, "events.jsonl"),
            server=server,
            now=self._clock.now,
        )

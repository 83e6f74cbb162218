"""The repository's reads and writes for host agents (a mixin of
:class:`certward.storage.repository.Repository`, in the same transaction): the host each
agent token is bound to, and each host's last check-in."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from certward.model.agents import AgentCheckin, PortServed
from certward.storage import audit_capture
from certward.storage.schema_agents import AgentCheckinRow, AgentTokenRow

# The binding is configuration (audited, with the token); check-ins are the agents' record.
audit_capture.register_kind("agent_tokens", "agent token", lambda _s, row: str(row.token_id))
audit_capture.SKIPPED_TABLES.add("agent_checkins")


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _checkin(row: AgentCheckinRow) -> AgentCheckin:
    seen = _utc(row.seen_at)
    assert seen is not None
    return AgentCheckin(
        host=row.host,
        token_name=row.token_name,
        version=row.version,
        seen_at=seen,
        reported_at=_utc(row.reported_at),
        ports=tuple(PortServed.from_json(p) for p in json.loads(row.ports or "[]")),
    )


class AgentsRepository:
    """Agent tokens' hosts and the agents' check-ins."""

    _session: Session

    # -- tokens bound to a host ------------------------------------------------------------
    def bind_agent_token(self, token_id: str, host: str) -> None:
        self._session.add(AgentTokenRow(token_id=token_id, host=host))
        self._session.flush()

    def agent_token_host(self, token_id: str) -> str | None:
        return self._session.scalars(
            select(AgentTokenRow.host).where(AgentTokenRow.token_id == token_id)
        ).first()

    def agent_token_hosts(self) -> dict[str, str]:
        """Every agent token's host, by token id."""
        rows = self._session.execute(select(AgentTokenRow.token_id, AgentTokenRow.host))
        return {token_id: host for token_id, host in rows}

    # -- check-ins -------------------------------------------------------------------------
    def agent_seen(
        self,
        host: str,
        *,
        token_name: str,
        version: str,
        now: dt.datetime,
        ports: Sequence[PortServed] | None = None,
    ) -> None:
        """Record a request of ``host``'s agent; with ``ports``, a report too."""
        row = self._session.scalars(
            select(AgentCheckinRow).where(AgentCheckinRow.host_key == host.lower())
        ).first()
        if row is None:
            row = AgentCheckinRow(host_key=host.lower(), host=host, ports="[]")
            self._session.add(row)
        row.host = host
        row.token_name = token_name
        row.version = version[:64]
        row.seen_at = now
        if ports is not None:
            row.reported_at = now
            row.ports = json.dumps([p.to_json() for p in ports])
        self._session.flush()

    def agent_checkins(self) -> list[AgentCheckin]:
        """Every host's last check-in, by host."""
        rows = self._session.scalars(select(AgentCheckinRow).order_by(AgentCheckinRow.host_key))
        return [_checkin(row) for row in rows]

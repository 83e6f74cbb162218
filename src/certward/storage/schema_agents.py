"""Tables of issue 15's agents work (revision 0008); on the shared Base.

``agent_tokens`` binds an API token of the role ``agent`` to the one host it serves
(configuration, audited with the token); ``agent_checkins`` is each host's last check-in:
when, the agent's version, and what each verified port served (the agents' own record,
not audited row by row)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from certward.storage.schema import Base


class AgentTokenRow(Base):
    __tablename__ = "agent_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32), unique=True)  # api_tokens.token_id
    host: Mapped[str] = mapped_column(String(253), index=True)


class AgentCheckinRow(Base):
    __tablename__ = "agent_checkins"

    id: Mapped[int] = mapped_column(primary_key=True)
    host_key: Mapped[str] = mapped_column(String(253), unique=True)  # lower-case host
    host: Mapped[str] = mapped_column(String(253))
    token_name: Mapped[str] = mapped_column(String(64))  # the token it last came with
    version: Mapped[str] = mapped_column(String(64), default="")
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))  # last request
    reported_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ports: Mapped[str] = mapped_column(Text, default="[]")  # JSON: what each port served

"""Tables of issue 15's deploy work (revision 0007); on the shared Base.

``deployments`` holds what people configure (audited); ``deploy_results`` is each run's
outcome, the executor's own record (not audited row by row: a key's release is audited
where it happens, as ``key.export``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from certward.storage.schema import Base


class DeploymentRow(Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    server: Mapped[str] = mapped_column(String(64), index=True)
    services: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str | None] = mapped_column(String(253), index=True)
    cert_path: Mapped[str] = mapped_column(Text)
    key_path: Mapped[str | None] = mapped_column(Text)
    chain_path: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(64))
    group_name: Mapped[str | None] = mapped_column(String(64))
    key_mode: Mapped[int] = mapped_column(Integer)
    cert_mode: Mapped[int] = mapped_column(Integer)
    reload: Mapped[str] = mapped_column(Text, default="[]")  # JSON argv
    verify: Mapped[str] = mapped_column(String(512))
    sni: Mapped[str | None] = mapped_column(String(253))
    wait: Mapped[float] = mapped_column(Float)


class DeployResultRow(Base):
    __tablename__ = "deploy_results"
    __table_args__ = (Index("ix_deploy_results_deployment_at", "deployment", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)
    deployed: Mapped[str | None] = mapped_column(String(40))
    served: Mapped[str | None] = mapped_column(String(40))
    previous: Mapped[str | None] = mapped_column(String(40))
    rolled_back: Mapped[bool] = mapped_column(Boolean, default=False)
    code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of lines
    source: Mapped[str] = mapped_column(String(260))  # "local" or "agent:HOST"

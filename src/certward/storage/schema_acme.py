"""Tables of issue 15's acme work (revision 0006); on the shared Base.

``acme_accounts`` holds each registered account, its key sealed by the vault like every other
private key (``encrypted_pkcs8``); ``acme_orders`` the renewal state of each certificate kept
alive through ACME; ``acme_challenges`` the HTTP-01 key authorizations certward's own IIS
endpoint answers at ``/.well-known/acme-challenge/`` while a validation is pending."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from certward.storage.schema import Base


class AcmeAccountRow(Base):
    __tablename__ = "acme_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    directory_url: Mapped[str] = mapped_column(String(512), index=True)
    email: Mapped[str] = mapped_column(String(254))
    account_url: Mapped[str] = mapped_column(String(512), unique=True)
    thumbprint: Mapped[str] = mapped_column(String(64))
    public_jwk: Mapped[str] = mapped_column(Text)
    encrypted_pkcs8: Mapped[bytes] = mapped_column(LargeBinary)
    eab_kid: Mapped[str | None] = mapped_column(String(256))
    ca_bundle: Mapped[str | None] = mapped_column(Text)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AcmeOrderRow(Base):
    __tablename__ = "acme_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("acme_accounts.id", ondelete="RESTRICT"), index=True
    )
    server: Mapped[str] = mapped_column(String(64))
    names: Mapped[str] = mapped_column(Text)  # one per line
    challenge: Mapped[str] = mapped_column(String(16))
    solver_options: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    thumbprint: Mapped[str | None] = mapped_column(String(40), index=True)
    order_url: Mapped[str | None] = mapped_column(Text)
    key_size: Mapped[int] = mapped_column(Integer, default=2048)
    exportable: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retry_after: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)
    error_problem: Mapped[str | None] = mapped_column(String(128))


class AcmeChallengeRow(Base):
    __tablename__ = "acme_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(128), unique=True)
    key_authorization: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(String(253))
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

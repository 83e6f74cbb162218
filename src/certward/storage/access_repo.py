"""The repository's reads and writes of users, API tokens, console sessions, one-time
logins and the audit log (issue 14), mixed into :class:`certward.storage.Repository`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from certward.codes.access import TOKEN_NOT_FOUND, USER_EXISTS, USER_NOT_FOUND
from certward.model.access import AccessRole, ApiToken, Channel, User
from certward.model.audit import AuditChange, AuditEntry
from certward.storage.schema_access import (
    ApiTokenRow,
    AuditRow,
    OneTimeLoginRow,
    UserRow,
    WebSessionRow,
)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _must(value: dt.datetime | None) -> dt.datetime:
    found = _utc(value)
    assert found is not None
    return found


class StoredSession:
    """A console session's row as the service reads it."""

    __slots__ = ("created_at", "csrf_token", "last_seen_at", "user_name")

    def __init__(
        self, user_name: str, csrf_token: str, created_at: dt.datetime, last_seen_at: dt.datetime
    ) -> None:
        self.user_name = user_name
        self.csrf_token = csrf_token
        self.created_at = created_at
        self.last_seen_at = last_seen_at


class AccessRepository:
    """Users, tokens, sessions and the audit log within the repository's transaction."""

    _session: Session

    # -- users ------------------------------------------------------------------------------
    def users(self) -> list[User]:
        rows = self._session.scalars(select(UserRow).order_by(UserRow.name_key))
        return [_user(row) for row in rows]

    def find_user(self, name: str) -> User | None:
        row = self._user_row(name)
        return None if row is None else _user(row)

    def add_user(self, user: User) -> None:
        if self._user_row(user.name) is not None:
            raise USER_EXISTS(f"user {user.name!r} already exists", user=user.name)
        self._session.add(
            UserRow(
                name=user.name,
                name_key=user.name.lower(),
                role=user.role.value,
                password_hash=user.password_hash,
                created_at=user.created_at,
                disabled=user.disabled,
            )
        )
        self._session.flush()

    def update_user(self, user: User) -> None:
        row = self._user_row(user.name)
        if row is None:
            raise USER_NOT_FOUND(f"no user {user.name!r}", user=user.name)
        row.role = user.role.value
        row.password_hash = user.password_hash
        row.disabled = user.disabled
        self._session.flush()

    def _user_row(self, name: str) -> UserRow | None:
        return self._session.scalars(
            select(UserRow).where(UserRow.name_key == name.lower())
        ).first()

    # -- API tokens -------------------------------------------------------------------------
    def api_tokens(self) -> list[ApiToken]:
        rows = self._session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id))
        return [_token(row) for row in rows]

    def find_api_token(self, token_id: str) -> ApiToken | None:
        row = self._token_row(token_id)
        return None if row is None else _token(row)

    def add_api_token(self, token: ApiToken) -> None:
        self._session.add(
            ApiTokenRow(
                token_id=token.token_id,
                name=token.name,
                role=token.role.value,
                secret_hash=token.secret_hash,
                created_at=token.created_at,
                created_by=token.created_by,
                expires_at=token.expires_at,
                last_used_at=token.last_used_at,
                revoked=token.revoked,
            )
        )
        self._session.flush()

    def revoke_api_token(self, token_id: str) -> ApiToken:
        row = self._token_row(token_id)
        if row is None:
            raise TOKEN_NOT_FOUND(f"no API token {token_id!r}", token=token_id)
        row.revoked = True
        self._session.flush()
        return _token(row)

    def touch_api_token(self, token_id: str, when: dt.datetime) -> None:
        row = self._token_row(token_id)
        if row is not None:
            row.last_used_at = when
            self._session.flush()

    def _token_row(self, token_id: str) -> ApiTokenRow | None:
        return self._session.scalars(
            select(ApiTokenRow).where(ApiTokenRow.token_id == token_id)
        ).first()

    # -- console sessions -------------------------------------------------------------------
    def add_web_session(
        self, session_hash: str, user_name: str, csrf_token: str, now: dt.datetime
    ) -> None:
        self._session.add(
            WebSessionRow(
                session_hash=session_hash,
                user_name=user_name,
                csrf_token=csrf_token,
                created_at=now,
                last_seen_at=now,
            )
        )
        self._session.flush()

    def web_session(self, session_hash: str) -> StoredSession | None:
        row = self._web_session_row(session_hash)
        if row is None:
            return None
        return StoredSession(
            row.user_name, row.csrf_token, _must(row.created_at), _must(row.last_seen_at)
        )

    def touch_web_session(self, session_hash: str, now: dt.datetime) -> None:
        row = self._web_session_row(session_hash)
        if row is not None:
            row.last_seen_at = now
            self._session.flush()

    def delete_web_session(self, session_hash: str) -> bool:
        row = self._web_session_row(session_hash)
        if row is None:
            return False
        self._session.delete(row)
        self._session.flush()
        return True

    def delete_web_sessions_of(self, user_name: str) -> None:
        for row in self._session.scalars(
            select(WebSessionRow).where(WebSessionRow.user_name == user_name)
        ):
            self._session.delete(row)
        self._session.flush()

    def delete_idle_web_sessions(self, seen_before: dt.datetime) -> None:
        for row in self._session.scalars(
            select(WebSessionRow).where(WebSessionRow.last_seen_at < seen_before)
        ):
            self._session.delete(row)
        self._session.flush()

    def _web_session_row(self, session_hash: str) -> WebSessionRow | None:
        return self._session.scalars(
            select(WebSessionRow).where(WebSessionRow.session_hash == session_hash)
        ).first()

    # -- one-time logins --------------------------------------------------------------------
    def add_one_time_login(self, code_hash: str, user_name: str, expires_at: dt.datetime) -> None:
        self._session.add(
            OneTimeLoginRow(code_hash=code_hash, user_name=user_name, expires_at=expires_at)
        )
        self._session.flush()

    def take_one_time_login(self, code_hash: str) -> tuple[str, dt.datetime] | None:
        """The code's user and expiry, removing the code (it is used once), or None."""
        row = self._session.scalars(
            select(OneTimeLoginRow).where(OneTimeLoginRow.code_hash == code_hash)
        ).first()
        if row is None:
            return None
        found = (row.user_name, _must(row.expires_at))
        self._session.delete(row)
        self._session.flush()
        return found

    def delete_expired_one_time_logins(self, now: dt.datetime) -> None:
        for row in self._session.scalars(
            select(OneTimeLoginRow).where(OneTimeLoginRow.expires_at < now)
        ):
            self._session.delete(row)
        self._session.flush()

    # -- the audit log ----------------------------------------------------------------------
    def add_audit_entry(self, entry: AuditEntry) -> None:
        self._session.add(audit_row(entry))
        self._session.flush()

    def audit_entries(
        self,
        *,
        since: dt.datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The newest entries first; ``action`` matches a prefix ("cert" finds "cert enable")."""
        query = select(AuditRow)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        if actor is not None:
            query = query.where(AuditRow.actor == actor)
        if action is not None:
            query = query.where(AuditRow.action.startswith(action, autoescape=True))
        rows = self._session.scalars(query.order_by(AuditRow.id.desc()).limit(max(0, limit)))
        return [_entry(row) for row in rows]


def audit_row(entry: AuditEntry) -> AuditRow:
    changes = [
        {"kind": c.kind, "identity": c.identity, "before": c.before, "after": c.after}
        for c in entry.changes
    ]
    return AuditRow(
        at=entry.at,
        actor=entry.actor[:128],
        via=entry.via.value,
        action=entry.action,
        changes=json.dumps(changes, default=str, sort_keys=True),
        detail=json.dumps(dict(entry.detail), default=str, sort_keys=True),
        count=len(changes),
    )


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return None if value is None else dict(value)


def _entry(row: AuditRow) -> AuditEntry:
    try:
        via = Channel(row.via)
    except ValueError:
        via = Channel.LIBRARY
    return AuditEntry(
        at=_must(row.at),
        actor=row.actor,
        via=via,
        action=row.action,
        changes=tuple(
            AuditChange(c["kind"], c["identity"], _mapping(c["before"]), _mapping(c["after"]))
            for c in json.loads(row.changes or "[]")
        ),
        detail=json.loads(row.detail or "{}"),
        entry_id=row.id,
    )


def _user(row: UserRow) -> User:
    return User(
        name=row.name,
        role=AccessRole(row.role),
        password_hash=row.password_hash,
        created_at=_must(row.created_at),
        disabled=bool(row.disabled),
    )


def _token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        token_id=row.token_id,
        name=row.name,
        role=AccessRole(row.role),
        secret_hash=row.secret_hash,
        created_at=_must(row.created_at),
        created_by=row.created_by,
        expires_at=_utc(row.expires_at),
        last_used_at=_utc(row.last_used_at),
        revoked=bool(row.revoked),
    )

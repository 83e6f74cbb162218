"""Who may do what (issue 14): users with passwords, API tokens, console sessions, one-time
logins for ``web --demo``, and the role check every interface makes.

* Passwords and token secrets are kept only as slow (scrypt) hashes
  (:mod:`certward.passwords`). A token is ``cw_<id>_<secret>``: the id finds the row, the
  whole string is verified against its hash. A verified token is remembered in memory
  (keyed by a keyed hash of it, bounded, for a few minutes), so a request does not pay the
  slow hash each time; the row is still read each time, so a revocation or expiry made by
  any process takes effect at once.
* Failed logins are slowed and then locked out per user and per source address
  (:class:`certward.endpoints.logins.LoginThrottle`'s policy), and written to the audit log.
* Console sessions and one-time codes are 32 random bytes; only their SHA-256 is stored.
  A session ends after 8 hours without use; a one-time code works once, for 15 minutes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Protocol

from certward.clock import Clock
from certward.codes.access import (
    DENIED,
    EXPIRY_INVALID,
    LAST_ADMIN,
    LOGIN_FAILED,
    ONE_TIME_INVALID,
    PASSWORD_WEAK,
    TOKEN_INVALID,
    USER_NAME_INVALID,
    USER_NOT_FOUND,
)
from certward.codes.agents import (
    AGENT_HOST_INVALID,
    AGENT_HOST_REQUIRED,
    AGENT_OTHER_HOST,
    AGENT_ROLE_FOR_TOKENS,
)
from certward.endpoints.logins import LoginPolicy, LoginThrottle
from certward.model import Password
from certward.model.access import (
    AccessRole,
    ApiToken,
    Channel,
    Principal,
    User,
    WebSession,
)
from certward.model.audit import AuditEntry
from certward.model.names import has_control
from certward.passwords import hash_password, reject_in_equal_time, verify_password

MIN_PASSWORD_LENGTH = 12
SESSION_IDLE = dt.timedelta(hours=8)
SESSION_TOUCH = dt.timedelta(minutes=1)  # last use is written at most this often
ONE_TIME_LIFETIME = dt.timedelta(minutes=15)
TOKEN_CACHE_SIZE = 1024
TOKEN_CACHE_SECONDS = 300.0
TOKEN_PREFIX = "cw_"  # noqa: S105  (a prefix, not a secret)


class AccessRepository(Protocol):
    """What this service needs of the store's repository (``storage.access_repo``)."""

    def users(self) -> list[User]: ...
    def find_user(self, name: str) -> User | None: ...
    def add_user(self, user: User) -> None: ...
    def update_user(self, user: User) -> None: ...
    def api_tokens(self) -> list[ApiToken]: ...
    def find_api_token(self, token_id: str) -> ApiToken | None: ...
    def add_api_token(self, token: ApiToken) -> None: ...
    def revoke_api_token(self, token_id: str) -> ApiToken: ...
    def touch_api_token(self, token_id: str, when: dt.datetime) -> None: ...
    def add_web_session(
        self, session_hash: str, user_name: str, csrf_token: str, now: dt.datetime
    ) -> None: ...
    def web_session(self, session_hash: str) -> _StoredSession | None: ...
    def touch_web_session(self, session_hash: str, now: dt.datetime) -> None: ...
    def delete_web_session(self, session_hash: str) -> bool: ...
    def delete_web_sessions_of(self, user_name: str) -> None: ...
    def delete_idle_web_sessions(self, seen_before: dt.datetime) -> None: ...
    def add_one_time_login(
        self, code_hash: str, user_name: str, expires_at: dt.datetime
    ) -> None: ...
    def take_one_time_login(self, code_hash: str) -> tuple[str, dt.datetime] | None: ...
    def delete_expired_one_time_logins(self, now: dt.datetime) -> None: ...
    def add_audit_entry(self, entry: AuditEntry) -> None: ...
    def bind_agent_token(self, token_id: str, host: str) -> None: ...
    def agent_token_host(self, token_id: str) -> str | None: ...
    def agent_token_hosts(self) -> dict[str, str]: ...


class _StoredSession(Protocol):
    user_name: str
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime


class AccessStore(Protocol):
    def transaction(self) -> AbstractContextManager[AccessRepository]: ...
    def reading(self) -> AbstractContextManager[AccessRepository]: ...


def _digest(secret: str) -> str:
    """SHA-256 of a random secret (a session id, a one-time code): enough for 32 random
    bytes, which no one can guess."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str, what: str = "user") -> str:
    """A user's or token's name as given, or ``access.user_name_invalid``."""
    text = name.strip()
    bad = set(" \t/\\:;,'\"`$<>|&*?")
    if not text or len(text) > 64 or has_control(text) or any(ch in bad for ch in text):
        raise USER_NAME_INVALID(
            f"{what} name {name!r} is not 1 to 64 characters without spaces, control "
            "characters or any of / \\ : ; , ' \" ` $ < > | & * ?",
            name=name,
        )
    return text


def check_password(password: str) -> Password:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PASSWORD_WEAK(
            f"the password is {'empty' if not password else 'too short'}: at least "
            f"{MIN_PASSWORD_LENGTH} characters are required",
            minimum=MIN_PASSWORD_LENGTH,
        )
    return Password(password.encode())


def parse_token(secret: str) -> str | None:
    """The id of a ``cw_<id>_<secret>`` token, or None when it is not of that form."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, rest = secret[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not rest or not token_id or len(token_id) > 32 or not token_id.isalnum():
        return None
    return token_id


class _VerifiedTokens:
    """Token secrets verified lately: a keyed hash of the secret -> (token id, the stored
    hash it matched, until when to trust it). Bounded (least recently used out first)."""

    def __init__(self, size: int, seconds: float, monotonic: Callable[[], float]) -> None:
        self._key = secrets.token_bytes(32)  # per process: the cache's keys mean nothing outside
        self._size = size
        self._seconds = seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[bytes, tuple[str, str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0  # secrets answered from here, without the slow hash

    def _key_of(self, secret: str) -> bytes:
        return hmac.digest(self._key, secret.encode(), "sha256")

    def get(self, secret: str) -> tuple[str, str] | None:
        key = self._key_of(secret)
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[2] <= self._monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[0], found[1]

    def put(self, secret: str, token_id: str, secret_hash: str) -> None:
        key = self._key_of(secret)
        with self._lock:
            self._entries[key] = (token_id, secret_hash, self._monotonic() + self._seconds)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self, token_id: str) -> None:
        with self._lock:
            for key in [k for k, v in self._entries.items() if v[0] == token_id]:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


class AccessService:
    def __init__(
        self,
        store: AccessStore,
        clock: Clock,
        *,
        policy: LoginPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._throttle = LoginThrottle(policy)
        self._throttle_lock = threading.Lock()
        self.verified_tokens = _VerifiedTokens(TOKEN_CACHE_SIZE, TOKEN_CACHE_SECONDS, monotonic)

    # -- users ------------------------------------------------------------------------------
    def add_user(self, name: str, role: AccessRole, password: str) -> User:
        _user_role(role)
        user = User(
            name=check_name(name),
            role=role,
            password_hash=hash_password(check_password(password)),
            created_at=self._clock.now(),
        )
        with self._store.transaction() as repo:
            repo.add_user(user)
        return user

    def users(self) -> list[User]:
        with self._store.reading() as repo:
            return repo.users()

    def user(self, name: str) -> User:
        with self._store.reading() as repo:
            return self._user(repo, name)

    @staticmethod
    def _user(repo: AccessRepository, name: str) -> User:
        found = repo.find_user(name)
        if found is None:
            known = ", ".join(u.name for u in repo.users()) or "none"
            raise USER_NOT_FOUND(f"no user {name!r} (users: {known})", user=name)
        return found

    def set_role(self, name: str, role: AccessRole) -> User:
        _user_role(role)
        with self._store.transaction() as repo:
            user = replace(self._user(repo, name), role=role)
            self._keep_an_admin(repo, user)
            repo.update_user(user)
        return user

    def disable_user(self, name: str, *, disabled: bool = True) -> User:
        """Disable (or enable again) a user; a disabled user's console sessions end."""
        with self._store.transaction() as repo:
            user = replace(self._user(repo, name), disabled=disabled)
            self._keep_an_admin(repo, user)
            repo.update_user(user)
            if disabled:
                repo.delete_web_sessions_of(user.name)
        return user

    def set_password(self, name: str, password: str) -> User:
        hashed = hash_password(check_password(password))
        with self._store.transaction() as repo:
            user = replace(self._user(repo, name), password_hash=hashed)
            repo.update_user(user)
            repo.delete_web_sessions_of(user.name)
        return user

    @staticmethod
    def _keep_an_admin(repo: AccessRepository, changed: User) -> None:
        admins = [
            u
            for u in repo.users()
            if u.role is AccessRole.ADMIN and not u.disabled and u.name != changed.name
        ]
        was_admin = any(
            u.name == changed.name and u.role is AccessRole.ADMIN and not u.disabled
            for u in repo.users()
        )
        still = changed.role is AccessRole.ADMIN and not changed.disabled
        if was_admin and not still and not admins:
            raise LAST_ADMIN(
                f"{changed.name} is the only enabled admin; certward keeps at least one",
                user=changed.name,
            )

    # -- logins -----------------------------------------------------------------------------
    def login(self, name: str, password: str, *, source: str) -> Principal:
        """The user, if the password is theirs; else ``access.login_failed`` after a delay
        that grows with repeated failures (per user and per source address)."""
        key = name.strip().lower()
        with self._throttle_lock:
            allowed = self._throttle.begin(key, source, now=self._monotonic())
            if not allowed:
                delay = self._throttle.refused(key, source, now=self._monotonic())
        if not allowed:
            self._audit_failure("login.refused", name, source, "locked out")
            self._sleep(delay)
            raise LOGIN_FAILED(f"login as {name!r} refused", user=name, source=source)
        with self._store.reading() as repo:
            user = repo.find_user(name) if name.strip() else None
        secret = Password(password.encode())
        if user is None:
            ok = reject_in_equal_time(secret)
        else:
            ok = verify_password(user.password_hash, secret) and not user.disabled
        with self._throttle_lock:
            if ok:
                self._throttle.succeeded(key, source, now=self._monotonic())
            else:
                delay, locked = self._throttle.failed(key, source, now=self._monotonic())
        if ok and user is not None:
            return Principal(user.name, user.role, Channel.WEB)
        reason = (
            "unknown user"
            if user is None
            else "user disabled"
            if user.disabled
            else "wrong password"
        )
        self._audit_failure("login.failed", name, source, reason)
        for lockout in locked:
            self._audit_failure(
                "login.locked",
                name,
                source,
                f"{lockout.kind} {lockout.key} locked after {lockout.failures} failures",
            )
        self._sleep(delay)
        raise LOGIN_FAILED(f"login as {name!r} failed", user=name, source=source)

    def _audit_failure(self, action: str, name: str, source: str, reason: str) -> None:
        self._record(action, {"user": name[:64], "source": source, "reason": reason})

    def _record(self, action: str, detail: dict[str, object]) -> None:
        from certward.model.audit import ACTOR

        actor = ACTOR.get()
        entry = AuditEntry(
            at=self._clock.now(),
            actor=actor.name,
            via=actor.via,
            action=action,
            detail=detail,
        )
        with self._store.transaction() as repo:
            repo.add_audit_entry(entry)

    # -- API tokens -------------------------------------------------------------------------
    def create_token(
        self,
        name: str,
        role: AccessRole,
        *,
        expires_in: dt.timedelta | None,
        created_by: str,
        host: str | None = None,
    ) -> tuple[ApiToken, str]:
        """A new token and its secret, which is shown once and never stored. A token of
        the agent role is bound to ``host`` (required for it, refused for the others)."""
        if expires_in is not None and expires_in <= dt.timedelta(0):
            raise EXPIRY_INVALID(f"a token's lifetime must be positive, not {expires_in}")
        host = _agent_host(role, host)
        token_id = secrets.token_hex(6)
        secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        now = self._clock.now()
        token = ApiToken(
            token_id=token_id,
            name=check_name(name, "token"),
            role=role,
            secret_hash=hash_password(Password(secret.encode())),
            created_at=now,
            created_by=created_by,
            expires_at=None if expires_in is None else now + expires_in,
            host=host,
        )
        with self._store.transaction() as repo:
            repo.add_api_token(token)
            if host is not None:
                repo.bind_agent_token(token.token_id, host)
        return token, secret

    def tokens(self) -> list[ApiToken]:
        with self._store.reading() as repo:
            hosts = repo.agent_token_hosts()
            return [replace(t, host=hosts.get(t.token_id)) for t in repo.api_tokens()]

    def revoke_token(self, token_id: str) -> ApiToken:
        token_id = token_id.strip()
        parsed = parse_token(token_id)  # the whole secret given: its id
        with self._store.transaction() as repo:
            token = repo.revoke_api_token(parsed or token_id)
        self.verified_tokens.forget(token.token_id)
        return token

    def authenticate_token(self, secret: str) -> Principal:
        """The token's principal, or ``access.token_invalid`` (unknown, wrong, revoked or
        expired; the message does not say which)."""
        token_id = parse_token(secret.strip())
        if token_id is None:
            raise TOKEN_INVALID("the API token is not a certward token")
        now = self._clock.now()
        with self._store.reading() as repo:
            token = repo.find_api_token(token_id)
            if token is not None and token.role is AccessRole.AGENT:
                token = replace(token, host=repo.agent_token_host(token.token_id))
        cached = self.verified_tokens.get(secret)
        if token is None:
            if cached is None:
                reject_in_equal_time(Password(secret.encode()))
            raise TOKEN_INVALID(f"API token {token_id} is not valid", token=token_id)
        if cached is None or cached != (token.token_id, token.secret_hash):
            if not verify_password(token.secret_hash, Password(secret.encode())):
                raise TOKEN_INVALID(f"API token {token_id} is not valid", token=token_id)
            self.verified_tokens.put(secret, token.token_id, token.secret_hash)
        else:
            self.verified_tokens.hits += 1
        if not token.valid_at(now):
            self.verified_tokens.forget(token.token_id)
            raise TOKEN_INVALID(f"API token {token_id} is not valid", token=token_id)
        if token.last_used_at is None or now - token.last_used_at >= SESSION_TOUCH:
            with self._store.transaction() as repo:
                repo.touch_api_token(token.token_id, now)
        if token.role is AccessRole.AGENT:
            if token.host is None:  # an agent token always has its host; never without
                raise TOKEN_INVALID(f"API token {token_id} is not valid", token=token_id)
            return Principal(token.name, token.role, Channel.AGENT, host=token.host)
        return Principal(token.name, token.role, Channel.API)

    # -- console sessions -------------------------------------------------------------------
    def open_session(self, principal: Principal) -> tuple[str, str]:
        """A new console session for ``principal``: its id (the cookie) and CSRF token."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._store.transaction() as repo:
            repo.delete_idle_web_sessions(now - SESSION_IDLE)
            repo.add_web_session(_digest(session_id), principal.name, csrf, now)
        return session_id, csrf

    def session(self, session_id: str) -> WebSession | None:
        """The session, if it exists, was used in the last 8 hours and its user is still
        enabled (with the user's current role); its last use becomes now."""
        if not session_id:
            return None
        key = _digest(session_id)
        now = self._clock.now()
        with self._store.reading() as reader:  # most requests: a read, no write lock
            stored = reader.web_session(key)
            user = None if stored is None else reader.find_user(stored.user_name)
        if stored is None:
            return None
        if user is None or user.disabled or now - stored.last_seen_at >= SESSION_IDLE:
            with self._store.transaction() as repo:
                repo.delete_web_session(key)
            return None
        last_seen = stored.last_seen_at
        if now - stored.last_seen_at >= SESSION_TOUCH:
            with self._store.transaction() as repo:
                repo.touch_web_session(key, now)
            last_seen = now
        return WebSession(
            principal=Principal(user.name, user.role, Channel.WEB),
            csrf_token=stored.csrf_token,
            expires_at=last_seen + SESSION_IDLE,
        )

    def close_session(self, session_id: str) -> None:
        with self._store.transaction() as repo:
            repo.delete_web_session(_digest(session_id))

    # -- one-time logins (``web --demo``) ------------------------------------------------------
    def one_time_login(self, user_name: str) -> str:
        """A code that logs ``user_name`` in once, within 15 minutes."""
        code = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._store.transaction() as repo:
            user = self._user(repo, user_name)
            repo.delete_expired_one_time_logins(now)
            repo.add_one_time_login(_digest(code), user.name, now + ONE_TIME_LIFETIME)
        return code

    def redeem_one_time(self, code: str) -> Principal:
        now = self._clock.now()
        with self._store.transaction() as repo:
            found = repo.take_one_time_login(_digest(code.strip())) if code.strip() else None
            user = None if found is None else repo.find_user(found[0])
        if found is None or user is None or user.disabled or now >= found[1]:
            raise ONE_TIME_INVALID("the one-time login code is not valid")
        return Principal(user.name, user.role, Channel.WEB)

    # -- roles ------------------------------------------------------------------------------
    @staticmethod
    def require_agent_of(principal: Principal, host: str) -> None:
        """``principal`` is the agent token bound to ``host`` (host names compare without
        case); else ``agent.other_host``, or ``access.denied`` for a token of another role."""
        if principal.role is not AccessRole.AGENT or principal.host is None:
            raise DENIED(
                f"{principal.name} ({principal.role.value}) may not do this: it needs a "
                f"host agent's token for {host}",
                principal=principal.name,
                role=principal.role.value,
                needed=AccessRole.AGENT.value,
            )
        if principal.host.lower() != host.strip().lower():
            raise AGENT_OTHER_HOST(
                f"agent token {principal.name} is bound to host {principal.host}, not {host}",
                principal=principal.name,
                host=host,
            )

    @staticmethod
    def require(principal: Principal, needed: AccessRole) -> None:
        if not principal.role.allows(needed):
            raise DENIED(
                f"{principal.name} ({principal.role.value}) may not do this: it needs the "
                f"{needed.value} role",
                principal=principal.name,
                role=principal.role.value,
                needed=needed.value,
            )


def _user_role(role: AccessRole) -> None:
    if role is AccessRole.AGENT:
        raise AGENT_ROLE_FOR_TOKENS(
            "the agent role is for API tokens bound to a host, not for users", role=role.value
        )


def _agent_host(role: AccessRole, host: str | None) -> str | None:
    """The host an agent token is bound to (checked); None for the other roles."""
    from certward.model.agents import check_host

    if role is not AccessRole.AGENT:
        if host is not None:
            raise AGENT_HOST_REQUIRED(
                f"only a token of the agent role is bound to a host, not a {role.value} token",
                role=role.value,
                host=host,
            )
        return None
    if host is None or not host.strip():
        raise AGENT_HOST_REQUIRED("a token of the agent role is bound to a host: name it")
    try:
        return check_host(host)
    except ValueError as exc:
        raise AGENT_HOST_INVALID(str(exc), host=host) from None

"""Users, logins, API tokens, console sessions and one-time codes (issue 14), on SQLite and
PostgreSQL, through the services on a real store."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from certward.compose import App, build_app
from certward.endpoints.logins import LoginPolicy
from certward.errors import AuthenticationError, CertwardError, PermissionDenied
from certward.model.access import AccessRole, Channel, Principal
from certward.model.audit import Actor, acting
from certward.services.access import SESSION_IDLE, AccessService
from tests.access.conftest import MovableClock

START = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(START)


@pytest.fixture
def app(access_db: str, clock: MovableClock) -> Iterator[App]:
    application = build_app(access_db, clock=clock)
    try:
        yield application
    finally:
        application.store.close()


def _code(exc: pytest.ExceptionInfo[CertwardError]) -> str:
    return exc.value.code.id


def test_users_roles_and_what_each_role_may_do(app: App) -> None:
    access = app.access
    with acting(Actor("root", Channel.CLI, "user add alice --role admin")):
        alice = access.add_user("alice", AccessRole.ADMIN, PASSWORD)
    assert alice.role is AccessRole.ADMIN and PASSWORD not in repr(alice)
    access.add_user("bob", AccessRole.READER, PASSWORD + "2")
    with pytest.raises(CertwardError) as dup:
        access.add_user("ALICE", AccessRole.READER, PASSWORD)
    assert _code(dup) == "access.user_exists"
    with pytest.raises(CertwardError) as weak:
        access.add_user("carol", AccessRole.READER, "short")
    assert _code(weak) == "access.password_weak"
    with pytest.raises(CertwardError) as bad_name:
        access.add_user("a b", AccessRole.READER, PASSWORD)
    assert _code(bad_name) == "access.user_name_invalid"
    assert [(u.name, u.role) for u in access.users()] == [
        ("alice", AccessRole.ADMIN),
        ("bob", AccessRole.READER),
    ]

    bob = access.login("Bob", PASSWORD + "2", source="127.0.0.1")
    assert bob == Principal("bob", AccessRole.READER, Channel.WEB)
    access.require(bob, AccessRole.READER)
    with pytest.raises(PermissionDenied) as denied:
        access.require(bob, AccessRole.OPERATOR)
    assert _code(denied) == "access.denied"  # type: ignore[arg-type]

    access.set_role("bob", AccessRole.OPERATOR)
    operator = access.login("bob", PASSWORD + "2", source="127.0.0.1")
    access.require(operator, AccessRole.OPERATOR)
    with pytest.raises(PermissionDenied):
        access.require(operator, AccessRole.ADMIN)
    access.require(access.login("alice", PASSWORD, source="127.0.0.1"), AccessRole.ADMIN)

    with pytest.raises(CertwardError) as last:
        access.set_role("alice", AccessRole.READER)  # the only admin
    assert _code(last) == "access.last_admin"
    access.disable_user("bob")
    with pytest.raises(AuthenticationError) as disabled:
        access.login("bob", PASSWORD + "2", source="127.0.0.2")
    assert _code(disabled) == "access.login_failed"  # type: ignore[arg-type]

    # the user's addition is in the audit log, under the actor, without the password hash
    (added,) = app.audit.entries(action="user add")
    assert (added.actor, added.via) == ("root", Channel.CLI)
    (change,) = added.changes
    assert change.kind == "user" and change.identity == "alice" and change.before is None
    assert change.after is not None and change.after["role"] == "admin"
    assert change.after["password_hash"] == "(set)"


def test_wrong_passwords_are_slowed_logged_and_then_locked_out(
    access_db: str, clock: MovableClock
) -> None:
    application = build_app(access_db, clock=clock)
    try:
        policy = LoginPolicy(user_threshold=3, free_failures=1, step=0.15, max_delay=1.0)
        access = AccessService(application.store, clock, policy=policy)
        access.add_user("alice", AccessRole.ADMIN, PASSWORD)
        timings = []
        for guess in ("guess-number-one", "guess-number-two"):
            started = time.monotonic()
            with pytest.raises(AuthenticationError):
                access.login("alice", guess, source="192.0.2.7")
            timings.append(time.monotonic() - started)
        assert timings[1] >= 0.15  # the second failure waits a step
        with pytest.raises(AuthenticationError):
            access.login("alice", "guess-number-three", source="192.0.2.7")
        with pytest.raises(AuthenticationError):  # locked: even the right password
            access.login("alice", PASSWORD, source="192.0.2.8")
        with pytest.raises(AuthenticationError):  # an unknown user costs the same, is logged
            access.login("mallory", "whatever-it-is", source="192.0.2.9")

        entries = application.audit.entries(action="login.")
        actions = [e.action for e in reversed(entries)]
        assert actions == [
            "login.failed",
            "login.failed",
            "login.failed",
            "login.locked",
            "login.refused",
            "login.failed",
        ]
        assert entries[0].detail == {
            "user": "mallory",
            "source": "192.0.2.9",
            "reason": "unknown user",
        }
        assert entries[-1].detail["reason"] == "wrong password"
        for entry in entries:
            text = repr(entry)
            assert "guess-number" not in text and PASSWORD not in text and "whatever" not in text
    finally:
        application.store.close()


def test_tokens_are_shown_once_expire_are_revoked_and_the_cache_does_not_outlive_them(
    app: App, access_db: str, clock: MovableClock
) -> None:
    access = app.access
    token, secret = access.create_token(
        "grafana", AccessRole.READER, expires_in=dt.timedelta(days=90), created_by="root"
    )
    assert secret.startswith(f"cw_{token.token_id}_") and len(secret) > 40
    listed = access.tokens()
    assert [t.token_id for t in listed] == [token.token_id]
    assert secret not in repr(listed) and secret not in listed[0].secret_hash

    assert access.authenticate_token(secret) == Principal("grafana", AccessRole.READER, Channel.API)
    assert len(access.verified_tokens) == 1  # the next requests skip the slow hash
    for _ in range(3):
        access.authenticate_token(secret)
    assert access.verified_tokens.hits == 3

    # a request's check takes no write lock: it goes on while a writer holds the store
    with app.store.transaction() as repo:
        repo.set_meta("test.writing", "yes")
        assert access.authenticate_token(secret).name == "grafana"

    for wrong in (secret[:-2] + "xx", "cw_nothing_here", "Bearer " + secret, ""):
        with pytest.raises(AuthenticationError) as refused:
            access.authenticate_token(wrong)
        assert _code(refused) == "access.token_invalid"  # type: ignore[arg-type]

    # revoked by another process (its own service and cache): refused here at once
    other = build_app(access_db, clock=clock)
    try:
        other.access.revoke_token(token.token_id)
    finally:
        other.store.close()
    with pytest.raises(AuthenticationError):
        access.authenticate_token(secret)

    short, short_secret = access.create_token(
        "deploy", AccessRole.OPERATOR, expires_in=dt.timedelta(hours=12), created_by="root"
    )
    access.authenticate_token(short_secret)  # verified and cached
    clock.advance(dt.timedelta(hours=12))
    with pytest.raises(AuthenticationError):
        access.authenticate_token(short_secret)
    assert short.expires_at == START + dt.timedelta(hours=12)
    states = {t.name: (t.revoked, t.valid_at(clock.now())) for t in access.tokens()}
    assert states == {"grafana": (True, False), "deploy": (False, False)}
    with pytest.raises(CertwardError) as bad:
        access.create_token("x", AccessRole.READER, expires_in=dt.timedelta(0), created_by="r")
    assert _code(bad) == "access.expiry_invalid"
    with pytest.raises(CertwardError) as unknown:
        access.revoke_token("000000000000")
    assert _code(unknown) == "access.token_not_found"


def test_console_sessions_carry_a_csrf_token_and_end(app: App, clock: MovableClock) -> None:
    access = app.access
    access.add_user("alice", AccessRole.OPERATOR, PASSWORD)
    principal = access.login("alice", PASSWORD, source="127.0.0.1")
    session_id, csrf = access.open_session(principal)
    other_id, other_csrf = access.open_session(principal)
    assert len({session_id, csrf, other_id, other_csrf}) == 4

    found = access.session(session_id)
    assert found is not None
    assert found.principal == principal and found.csrf_token == csrf
    assert found.expires_at == START + SESSION_IDLE
    assert access.session("not-a-session") is None and access.session("") is None

    clock.advance(SESSION_IDLE - dt.timedelta(minutes=1))  # used just in time: kept
    again = access.session(session_id)
    assert again is not None and again.expires_at == clock.now() + SESSION_IDLE
    clock.advance(SESSION_IDLE)  # 8 hours without use: gone (the other one too)
    assert access.session(session_id) is None
    assert access.session(other_id) is None

    fresh, _ = access.open_session(principal)
    access.set_role("alice", AccessRole.READER)  # the session follows the user's role
    current = access.session(fresh)
    assert current is not None and current.principal.role is AccessRole.READER
    access.close_session(fresh)
    assert access.session(fresh) is None

    kept, _ = access.open_session(principal)
    access.add_user("admin", AccessRole.ADMIN, PASSWORD)
    access.disable_user("alice")
    assert access.session(kept) is None


def test_one_time_codes_work_once_within_15_minutes(app: App, clock: MovableClock) -> None:
    access = app.access
    access.add_user("admin", AccessRole.ADMIN, PASSWORD)
    code = access.one_time_login("admin")
    assert access.redeem_one_time(code) == Principal("admin", AccessRole.ADMIN, Channel.WEB)
    with pytest.raises(AuthenticationError) as used:
        access.redeem_one_time(code)
    assert _code(used) == "access.one_time_invalid"  # type: ignore[arg-type]

    late = access.one_time_login("admin")
    clock.advance(dt.timedelta(minutes=15))
    with pytest.raises(AuthenticationError):
        access.redeem_one_time(late)
    with pytest.raises(CertwardError) as nobody:
        access.one_time_login("nobody")
    assert _code(nobody) == "access.user_not_found"

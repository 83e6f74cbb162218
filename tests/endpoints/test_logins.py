"""The login throttle (pure: its clock is a parameter): slow-down, lockout, in-flight."""

from __future__ import annotations

import pytest

from certward.endpoints.logins import LoginPolicy, LoginThrottle
from certward.model import Password
from certward.passwords import reject_in_equal_time

POLICY = LoginPolicy(user_threshold=3, source_threshold=5, window=60, lockout=100, step=1)


def fail(throttle: LoginThrottle, user: str, source: str, now: float) -> tuple[float, list]:
    assert throttle.begin(user, source, now=now)
    return throttle.failed(user, source, now=now)


def test_failures_are_slowed_down_then_the_mailbox_is_locked_out() -> None:
    throttle = LoginThrottle(POLICY)
    delays = [fail(throttle, "bob", f"10.0.0.{i}", now=i)[0] for i in range(2)]
    assert delays == [0, 0]  # the free failures
    delay, locked = fail(throttle, "bob", "10.0.0.9", now=3)
    assert delay == 1 and [(x.kind, x.key, x.failures) for x in locked] == [("user", "bob", 3)]
    assert not throttle.begin("bob", "10.0.0.10", now=50)  # even from elsewhere
    assert throttle.begin("carol", "10.0.0.10", now=50)  # other mailboxes are not affected
    assert throttle.begin("bob", "10.0.0.10", now=104)  # the lockout and window are over


def test_one_source_guessing_many_mailboxes_is_locked_out() -> None:
    throttle = LoginThrottle(POLICY)
    locked = [fail(throttle, f"user{i}", "192.0.2.7", now=i)[1] for i in range(5)]
    assert [x.kind for x in locked[-1]] == ["source"] and not any(locked[:-1])
    assert not throttle.begin("someone", "192.0.2.7", now=10)
    assert throttle.begin("someone", "192.0.2.8", now=10)


def test_attempts_in_flight_count_towards_the_threshold() -> None:
    throttle = LoginThrottle(POLICY)
    assert [throttle.begin("bob", f"10.0.0.{i}", now=0) for i in range(4)] == [
        True, True, True, False,
    ]  # fmt: skip


def test_a_success_clears_the_mailbox_count_but_not_the_source_count() -> None:
    throttle = LoginThrottle(POLICY)
    for i in range(2):
        fail(throttle, "bob", "10.0.0.1", now=i)
    assert throttle.begin("bob", "10.0.0.1", now=2)
    throttle.succeeded("bob", "10.0.0.1", now=2)
    assert fail(throttle, "bob", "10.0.0.1", now=3) == (1, [])  # bob at one: not locked;
    assert fail(throttle, "x", "10.0.0.1", now=4)[0] == 2  # the source at 3, then 4, is slowed


def test_the_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="user_threshold"):
        LoginPolicy(user_threshold=0)


def test_an_unknown_user_is_refused() -> None:
    assert reject_in_equal_time(Password(b"anything")) is False

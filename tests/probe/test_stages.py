"""The stages' timeouts, on a fake clock (twisted.internet.task.Clock): no waiting."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, task

from certward.probe.stages import Deadline


async def _answer(d: defer.Deferred[str]) -> str:
    return await d


def _run(deadline: Deadline, d: defer.Deferred[str]) -> defer.Deferred[Any]:
    return defer.Deferred.fromCoroutine(deadline.run(_answer(d)))


def test_each_step_gets_its_own_time_from_one_timer() -> None:
    clock = task.Clock()
    deadline = Deadline(clock, 10)
    first: defer.Deferred[str] = defer.Deferred()
    done = _run(deadline, first)
    clock.advance(6)
    first.callback("banner")
    assert done.result == "banner"
    second: defer.Deferred[str] = defer.Deferred()
    running = _run(deadline, second)
    assert len(clock.getDelayedCalls()) == 1  # the first step's timer, not a second one
    clock.advance(4)  # the first step's 10 s are up, the second's are not: it goes on
    assert not running.called and len(clock.getDelayedCalls()) == 1
    clock.advance(5.9)
    assert not running.called
    clock.advance(0.1)  # 10 s after the second step began
    failures: list[Any] = []
    running.addErrback(failures.append)
    assert failures[0].check(defer.TimeoutError) and second.called  # cancelled
    deadline.close()
    assert clock.getDelayedCalls() == []


def test_a_step_done_at_once_sets_no_timer_and_close_stops_it() -> None:
    clock = task.Clock()
    deadline = Deadline(clock, 10)
    assert _run(deadline, defer.succeed("at once")).result == "at once"
    assert clock.getDelayedCalls() == []
    pending: defer.Deferred[str] = defer.Deferred()
    _run(deadline, pending)
    pending.callback("later")
    deadline.close()
    assert clock.getDelayedCalls() == []


def test_a_step_cancelled_by_its_caller_is_not_a_timeout() -> None:
    clock = task.Clock()
    deadline = Deadline(clock, 10)
    pending: defer.Deferred[str] = defer.Deferred()
    running = _run(deadline, pending)
    running.cancel()
    failures: list[Any] = []
    running.addErrback(failures.append)
    assert failures[0].check(defer.CancelledError)  # not turned into a TimeoutError
    deadline.close()

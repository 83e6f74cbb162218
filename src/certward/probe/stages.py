"""Stages: each step of a dialogue run within a hard timeout, timed, and recorded.

A dialogue asks a :class:`StageRunner` to run its steps; :class:`Stages` records each as a
``report.Stage`` and keeps the first failure as a value (``report.Failure``), while
:class:`Quiet` runs the same steps unrecorded (the version checks' extra connections). The
steps of one endpoint run one after another, each within its own timeout: a
:class:`Deadline` keeps them with one reactor timer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from twisted.internet import defer

from certward.probe.report import Failure, FailureReason, Stage
from certward.probe.wire import ProbeFailure

T = TypeVar("T")


class StageRunner(Protocol):
    async def run(self, name: str, step: Callable[[], Awaitable[T]]) -> T: ...

    def note(self, name: str, ok: bool, detail: str = "") -> None: ...

    def fail(self, name: str, reason: FailureReason, detail: str) -> ProbeFailure: ...


class Deadline:
    """Hard timeouts for steps run one after another, each given ``seconds`` of its own, kept
    with one reactor timer: the timer is set for the first step, and when it fires it cancels
    the step then running if that step's time is up, else waits for what is left of it. (A
    timer set and cancelled for each step cost the prober more than most steps' own work.)
    A step that times out fails with ``defer.TimeoutError``, as ``Deferred.addTimeout``'s do.
    :meth:`close` when done."""

    def __init__(self, reactor: Any, seconds: float) -> None:
        self._reactor = reactor
        self._seconds = seconds
        self._timer: Any = None  # IDelayedCall
        self._step: defer.Deferred[Any] | None = None  # the step running
        self._ends = 0.0  # when its time is up (the reactor's clock)
        self._cancelled: defer.Deferred[Any] | None = None  # the step the timer cancelled

    async def run(self, step: Coroutine[Any, Any, T]) -> T:
        """``step``'s result, or defer.TimeoutError once its ``seconds`` are up."""
        running = defer.Deferred.fromCoroutine(step)
        if running.called:  # done without waiting: no time to keep
            return await running
        self._step, self._ends = running, self._reactor.seconds() + self._seconds
        if self._timer is None:
            self._timer = self._reactor.callLater(self._seconds, self._time_up)
        try:
            return await running
        except defer.CancelledError:
            if self._cancelled is running:
                raise defer.TimeoutError(f"no answer within {self._seconds:g} s") from None
            raise
        finally:
            self._step = None

    def _time_up(self) -> None:
        self._timer = None
        step = self._step
        if step is None:
            return  # between steps: the next one sets the timer again
        left = self._ends - self._reactor.seconds()
        if left > 0:
            self._timer = self._reactor.callLater(left, self._time_up)
        else:
            self._cancelled = step
            step.cancel()

    def close(self) -> None:
        """Stop the timer (the steps are over)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


class Stages:
    """Records every stage of one endpoint's main connection (:meth:`close` when done)."""

    def __init__(self, reactor: Any, timeout: float) -> None:
        self._timeout = timeout
        self._deadline = Deadline(reactor, timeout)
        self.stages: list[Stage] = []
        self.failure: Failure | None = None

    def close(self) -> None:
        self._deadline.close()

    async def run(self, name: str, step: Callable[[], Awaitable[T]]) -> T:
        """Run one stage with a hard timeout; record its time and result. A failure is
        recorded (the first one is the endpoint's) and raised as a ProbeFailure."""
        start = time.perf_counter()
        try:
            result = await self._deadline.run(_as_coroutine(step))
        except defer.TimeoutError:
            raise self._failed(
                name, start, FailureReason.TIMEOUT, f"no answer within {self._timeout:g} s"
            ) from None
        except ProbeFailure as exc:
            raise self._failed(name, start, exc.reason, exc.detail) from None
        except Exception as exc:  # a fault of the prober's: the endpoint is not judged
            detail = f"{exc.__class__.__name__}: {exc}"
            raise self._failed(name, start, FailureReason.PROBER_FAULT, detail) from exc
        self._record(name, True, start, result if isinstance(result, str) else "")
        return result

    def note(self, name: str, ok: bool, detail: str = "") -> None:
        self.stages.append(Stage(name, ok, 0.0, detail))

    def fail(self, name: str, reason: FailureReason, detail: str) -> ProbeFailure:
        """A failed stage decided without waiting (STARTTLS not offered): recorded, returned
        for the caller to raise."""
        self.note(name, False, detail)
        return self._first(name, reason, detail)

    def _failed(self, name: str, start: float, reason: FailureReason, detail: str) -> ProbeFailure:
        self._record(name, False, start, detail)
        return self._first(name, reason, detail)

    def _first(self, name: str, reason: FailureReason, detail: str) -> ProbeFailure:
        if self.failure is None:
            self.failure = Failure(name, reason, detail)
        return ProbeFailure(reason, detail)

    def _record(self, name: str, ok: bool, start: float, detail: str) -> None:
        ms = (time.perf_counter() - start) * 1000
        self.stages.append(Stage(name, ok, ms, detail))


class Quiet:
    """Runs a dialogue's steps without recording them (the caller bounds the whole)."""

    async def run(self, name: str, step: Callable[[], Awaitable[T]]) -> T:
        return await step()

    def note(self, name: str, ok: bool, detail: str = "") -> None:
        pass

    def fail(self, name: str, reason: FailureReason, detail: str) -> ProbeFailure:
        return ProbeFailure(reason, detail)


async def within(reactor: Any, seconds: float, step: Coroutine[Any, Any, T]) -> T:
    """``step``, cancelled (defer.TimeoutError) after ``seconds``."""
    d = defer.Deferred.fromCoroutine(step)
    d.addTimeout(seconds, reactor)
    return await d


async def _as_coroutine(step: Callable[[], Awaitable[T]]) -> T:
    return await step()

"""Stages: each step of a dialogue run within a hard timeout, timed, and recorded.

A dialogue asks a :class:`StageRunner` to run its steps; :class:`Stages` records each as a
``report.Stage`` and keeps the first failure as a value (``report.Failure``), while
:class:`Quiet` runs the same steps unrecorded (the version checks' extra connections).
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


class Stages:
    """Records every stage of one endpoint's main connection."""

    def __init__(self, reactor: Any, timeout: float) -> None:
        self._reactor = reactor
        self._timeout = timeout
        self.stages: list[Stage] = []
        self.failure: Failure | None = None

    async def run(self, name: str, step: Callable[[], Awaitable[T]]) -> T:
        """Run one stage with a hard timeout; record its time and result. A failure is
        recorded (the first one is the endpoint's) and raised as a ProbeFailure."""
        start = time.perf_counter()
        try:
            result = await within(self._reactor, self._timeout, _as_coroutine(step))
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

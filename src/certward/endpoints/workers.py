"""Several worker processes for one server's endpoints, as Postfix runs its smtpd processes.

The supervisor (the process ``certward serve`` started in) forks ``count`` workers; each
runs its own Twisted reactor (:class:`certward.endpoints.runtime.Runtime`) and listens on
every receive connector with ``SO_REUSEPORT``, so the kernel spreads the connections over
the cores. The supervisor does no network I/O: it reads what the workers say through a
pipe each, prints it once, forwards SIGINT/SIGTERM to them and replaces one that dies.

A worker tags each line it says: ``once`` lines (warnings) are printed the first time any
worker says them; ``state`` lines ("listening", "configuration reloaded", "ready",
"stopped") when every live worker has said them, so "ready" and "reloaded" mean that every
worker is. Nothing here imports the reactor: each worker installs its own after the fork.

``SO_REUSEPORT`` lets any process of the same user join a port's group: run certward under
its own account, as Postfix runs under ``postfix``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

# A worker's start: (index, say once, say state) -> exit status.
Start = Callable[[int, Callable[[str], None], Callable[[str], None]], int]

_ONCE, _STATE, _READY = "1", "S", "R"
STOP_TIMEOUT = 20.0
MAX_RESTARTS = 10


# Imported once before the fork, so that each worker does not import them again; none of
# them installs a reactor (each worker installs its own asyncio reactor).
PRELOAD = (
    "OpenSSL.SSL",
    "twisted.internet.asyncioreactor",
    "twisted.internet.task",
    "twisted.internet.threads",
    "twisted.protocols.tls",
    "twisted.web.server",
    "twisted.mail.imap4",
    "certward.endpoints.tls",
    "certward.endpoints.snapshot",
    "certward.endpoints.logs",
    "certward.endpoints.limits",
)


def preload() -> None:
    """Import what every worker needs and that is safe to share across the fork."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    if "twisted.internet.reactor" in sys.modules:
        raise RuntimeError("a preloaded module installed a reactor: review PRELOAD")


def _end_with(supervisor: int) -> None:
    """Have the kernel send this worker SIGTERM when its supervisor dies (Linux), so that
    no worker goes on listening after a ``kill -9`` of ``certward serve``."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    if os.getppid() != supervisor:  # it died before the request took effect
        os._exit(0)


def default_workers() -> int:
    """One worker per core this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass
class _Worker:
    index: int
    pid: int
    fd: int
    ready: bool = False
    pending: bytes = b""
    said: Counter[str] = field(default_factory=Counter)  # state lines
    warned: Counter[str] = field(default_factory=Counter)  # once lines


@dataclass
class Supervisor:
    count: int
    start: Start
    say: Callable[[str], None]
    before_fork: Callable[[], None] = lambda: None
    on_replace: Callable[[int], None] = lambda _index: None  # a dead worker's index
    _workers: dict[int, _Worker] = field(default_factory=dict)  # by file descriptor
    _printed: Counter[str] = field(default_factory=Counter)
    _once: Counter[str] = field(default_factory=Counter)
    _stopping: float | None = None  # when the stop began (monotonic)
    _status: int = 0
    _restarts: int = 0

    def run(self) -> int:
        """Start the workers and supervise them until they all stopped; the exit status."""
        if self.count < 1:
            raise ValueError(f"count must be at least 1, not {self.count}")
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        old_wakeup = signal.set_wakeup_fd(wake_write)
        for sig in previous:
            signal.signal(sig, self._signalled)
        try:
            self.before_fork()
            for index in range(self.count):
                self._spawn(index, wake_read, wake_write)
            while self._workers:
                self._step(wake_read, wake_write)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_read)
            os.close(wake_write)
        return self._status

    # -- the supervisor's loop ---------------------------------------------------------------
    def _signalled(self, _signum: int, _frame: object) -> None:
        if self._stopping is None:
            self._stopping = time.monotonic()
            self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for worker in self._workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, sig)

    def _step(self, wake_read: int, wake_write: int) -> None:
        timeout = None
        if self._stopping is not None:
            timeout = max(0.0, self._stopping + STOP_TIMEOUT - time.monotonic())
            if timeout == 0.0:
                self._signal_all(signal.SIGKILL)
                timeout = None
        fds = [wake_read, *self._workers]
        readable, _, _ = select.select(fds, [], [], timeout)
        for fd in readable:
            if fd == wake_read:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 512)
                continue
            chunk = os.read(fd, 65536)
            worker = self._workers[fd]
            if chunk:
                self._received(worker, chunk)
            else:
                self._ended(worker, wake_read, wake_write)

    def _received(self, worker: _Worker, chunk: bytes) -> None:
        *lines, worker.pending = (worker.pending + chunk).split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            tag, text = line[:1], line[1:]
            if tag == _ONCE:
                worker.warned[text] += 1
                if worker.warned[text] > self._once[text]:
                    self._once[text] += 1
                    self.say(text)
                continue
            if tag == _READY:
                worker.ready = True
            worker.said[text] += 1
            self._print_agreed(text)

    def _print_agreed(self, text: str) -> None:
        """Print ``text`` as many more times as every live worker has said it."""
        if not self._workers:
            return
        agreed = min(w.said[text] for w in self._workers.values())
        while self._printed[text] < agreed:
            self._printed[text] += 1
            self.say(text)

    def _ended(self, worker: _Worker, wake_read: int, wake_write: int) -> None:
        os.close(worker.fd)
        del self._workers[worker.fd]
        _, wait_status = os.waitpid(worker.pid, 0)
        status = os.waitstatus_to_exitcode(wait_status)
        if status < 0 and self._stopping is not None:
            status = 0  # stopped by the signal the supervisor sent
        self.on_replace(worker.index)
        if self._stopping is None and not worker.ready:
            # A worker that could not start (nothing to listen on, a bad store): all stop.
            self._status = status or 1
            self._stopping = time.monotonic()
            self._signal_all(signal.SIGTERM)
        elif self._stopping is None:
            self.say(f"warning: worker {worker.index} ended (status {status}); replacing it")
            self._restarts += 1
            if self._restarts > MAX_RESTARTS:
                self.say("error: workers keep ending; stopping")
                self._status = 1
                self._stopping = time.monotonic()
                self._signal_all(signal.SIGTERM)
            else:
                self._spawn(worker.index, wake_read, wake_write)
        else:
            self._status = max(self._status, status)
        for text in {t for w in self._workers.values() for t in w.said}:
            self._print_agreed(text)

    # -- a worker ----------------------------------------------------------------------------
    def _spawn(self, index: int, wake_read: int, wake_write: int) -> None:
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            status = 70  # EX_SOFTWARE, unless the runtime returns
            try:
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)  # until the runtime sets its own
                _end_with(supervisor)
                for fd in (read_fd, wake_read, wake_write, *self._workers):
                    os.close(fd)
                out = os.fdopen(write_fd, "w", buffering=1, encoding="utf-8")

                def tagged(tag: str) -> Callable[[str], None]:
                    def say(text: str) -> None:
                        out.write(tag + text.replace("\n", " ") + "\n")

                    return say

                def state(text: str) -> None:
                    tagged(_READY if text.endswith(": ready") else _STATE)(text)

                status = self.start(index, tagged(_ONCE), state)
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(status)
        os.close(write_fd)
        # A replacement has, in effect, said what was printed before it started.
        self._workers[read_fd] = _Worker(index, pid, read_fd, said=Counter(self._printed))

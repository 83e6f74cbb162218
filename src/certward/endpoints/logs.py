"""Exchange-shaped logs on disk: the SMTP protocol log (CSV) and an event log (JSON lines).

The protocol log has Exchange's header and fields
``date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,
data,context`` (events ``+`` connect, ``-`` disconnect, ``<`` received, ``>`` sent, ``*``
information), so the lines of seed 003's figures 2-4 can be read the same way.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FIELDS = (
    "date-time",
    "connector-id",
    "session-id",
    "sequence-number",
    "local-endpoint",
    "remote-endpoint",
    "event",
    "data",
    "context",
)

Now = Callable[[], dt.datetime]


def _stamp(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ProtocolLog:
    """Appends protocol-log lines to ``<directory>/<prefix>yyyymmdd-1.LOG``.

    The day's file is opened once (``O_APPEND``) and kept open; a new day's name opens the
    next file, and a file moved or deleted by a log rotator is opened anew. Lines are kept
    in memory until :meth:`flush` (the receive side flushes at the end of each session and
    once a second) or until ``buffer_bytes`` are waiting; ``buffer_bytes=0`` writes each
    line at once. Each flush is one ``write`` of whole lines, so processes that share the
    file (the workers of one server) never split each other's lines. A new file is put in
    place with its header already written (linked from a temporary file), so no line ever
    comes before the header.
    """

    def __init__(
        self, directory: Path, *, kind: str, prefix: str, now: Now, buffer_bytes: int = 0
    ) -> None:
        self._directory = directory
        self._kind = kind
        self._prefix = prefix
        self._now = now
        self._lock = threading.Lock()
        self._buffer_bytes = buffer_bytes
        self._pending = io.StringIO()  # the rows waiting to be appended
        self._rows = csv.writer(self._pending, lineterminator="\n")
        self._path: Path | None = None
        self._last: tuple[dt.datetime, str, Path] | None = None  # time, its stamp, its file
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def write(
        self,
        *,
        connector: str,
        session: str,
        sequence: int,
        local: str,
        remote: str,
        event: str,
        data: str = "",
        context: str = "",
        now: dt.datetime | None = None,
    ) -> None:
        """Append one line; ``now``: the clock's reading when the caller took one for a batch
        of lines (the lines a session logs for one chunk it received), else it is read here."""
        if now is None:
            now = self._now()
        last = self._last
        if last is None or last[0] != now:  # stamp and name made once per clock reading
            path = last[2] if last is not None and last[0].date() == now.date() else None
            path = path or self._directory / f"{self._prefix}{now:%Y%m%d}-1.LOG"
            last = self._last = (now, _stamp(now), path)
        _, stamp, path = last
        with self._lock:
            if path is not self._path and self._pending.tell():
                self._flush_locked()  # yesterday's lines go in yesterday's file
            self._path = path
            self._rows.writerow(
                (stamp, connector, session, sequence, local, remote, event, data, context)
            )
            if self._pending.tell() >= self._buffer_bytes:
                self._flush_locked()

    def flush(self) -> None:
        """Append every waiting line to the file."""
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        with self._lock:
            self._flush_locked()
            self._close_fd()

    def _flush_locked(self) -> None:
        pending = self._pending
        if not pending.tell() or self._path is None:
            return
        data = pending.getvalue().encode("utf-8")
        pending.seek(0)
        pending.truncate()
        fd = self._open(self._path)
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])

    def _open(self, path: Path) -> int:
        """The descriptor of ``path``, opened once and again only when the name changed
        or the file there is no longer the one open."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._create(path)
            st = os.stat(path)
        identity = (st.st_dev, st.st_ino)
        if self._fd is None or identity != self._identity:
            self._close_fd()
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            self._identity = identity
        return self._fd

    def _create(self, path: Path) -> None:
        header = (
            "#Software: certward\n#Version: 1\n"
            f"#Log-type: {self._kind}\n#Date: {_stamp(self._now())}\n"
            f"#Fields: {','.join(FIELDS)}\n"
        )
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        temporary.write_text(header, encoding="utf-8")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first, with the same header
        finally:
            temporary.unlink()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:  # a log dropped without close()
            with contextlib.suppress(OSError):
                self.close()

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._identity = None


def read_protocol_log(directory: Path) -> Iterator[dict[str, str]]:
    """Every line of every log file in ``directory``, oldest file first."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.LOG")):
        with path.open(encoding="utf-8") as handle:
            rows = csv.reader(line for line in handle if not line.startswith("#"))
            for row in rows:
                if len(row) == len(FIELDS):
                    yield dict(zip(FIELDS, row, strict=True))


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    time: str
    id: int
    source: str
    level: str
    server: str
    message: str


class EventLog:
    """Exchange-style application events (12014, 12016, 36885, TLS API failures)."""

    def __init__(self, path: Path, *, server: str, now: Now) -> None:
        self._path = path
        self._server = server
        self._now = now
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event_id: int, message: str, *, source: str, level: str = "Warning") -> None:
        record = LoggedEvent(_stamp(self._now()), event_id, source, level, self._server, message)
        with self._lock, self._path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(record)) + "\n")


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]

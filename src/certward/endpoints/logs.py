"""Exchange-shaped logs on disk: the SMTP protocol log (CSV) and an event log (JSON lines).

The protocol log has Exchange's header and fields
``date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,
data,context`` (events ``+`` connect, ``-`` disconnect, ``<`` received, ``>`` sent, ``*``
information), so the lines of seed 003's figures 2-4 can be read the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
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
    """Appends protocol-log lines to ``<directory>/<prefix>yyyymmdd-1.LOG``."""

    def __init__(self, directory: Path, *, kind: str, prefix: str, now: Now) -> None:
        self._directory = directory
        self._kind = kind
        self._prefix = prefix
        self._now = now
        self._lock = threading.Lock()
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
    ) -> None:
        now = self._now()
        path = self._directory / f"{self._prefix}{now:%Y%m%d}-1.LOG"
        row = io.StringIO()
        csv.writer(row, lineterminator="\n").writerow(
            [_stamp(now), connector, session, sequence, local, remote, event, data, context]
        )
        with self._lock:
            new = not path.exists()
            with path.open("a", encoding="utf-8") as handle:
                if new:
                    handle.write(
                        "#Software: certward\n#Version: 1\n"
                        f"#Log-type: {self._kind}\n#Date: {_stamp(now)}\n"
                        f"#Fields: {','.join(FIELDS)}\n"
                    )
                handle.write(row.getvalue())


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

"""``certward serve --workers N`` (issue 16): worker processes sharing the SMTP ports with
SO_REUSEPORT under one supervisor, and the protocol log they keep open."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import signal
import smtplib
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certward.endpoints.logs import ProtocolLog, read_protocol_log
from certward.model import Password
from tests.endpoints.conftest import (
    Served,
    bind,
    copy_store,
    serving,
    store_app,
    wait_until,
)
from tests.ports import free_port

DAY = dt.datetime(2026, 12, 4, 1, 2, 3, tzinfo=dt.UTC)


# -- the protocol log ---------------------------------------------------------------------------
@dataclass
class Clock:
    now: dt.datetime = DAY

    def __call__(self) -> dt.datetime:
        return self.now


def line(log: ProtocolLog, session: str, n: int, data: str = "") -> None:
    log.write(connector="EXCH01\\Default Frontend EXCH01", session=session, sequence=n,
              local="127.0.0.1:25", remote="127.0.0.1:5000", event=">", data=data)  # fmt: skip


def test_the_protocol_log_is_written_when_flushed_in_whole_lines(tmp_path: Path) -> None:
    log = ProtocolLog(tmp_path, kind="SMTP Receive Protocol Log", prefix="RECV", now=Clock(),
                      buffer_bytes=1 << 20)  # fmt: skip
    line(log, "A", 0, '250-exch01.contoso.com Hello, "quoted", and a comma')
    assert list(read_protocol_log(tmp_path)) == []  # kept until the flush
    other = ProtocolLog(tmp_path, kind="SMTP Receive Protocol Log", prefix="RECV", now=Clock())
    line(other, "B", 0)  # another writer of the same file (a second worker), unbuffered
    line(log, "A", 1)
    log.flush()
    rows = list(read_protocol_log(tmp_path))
    assert [(r["session-id"], r["sequence-number"]) for r in rows] == [
        ("B", "0"),
        ("A", "0"),
        ("A", "1"),
    ]
    assert rows[1]["data"] == '250-exch01.contoso.com Hello, "quoted", and a comma'
    text = (tmp_path / "RECV20261204-1.LOG").read_text()
    assert text.count("#Fields: ") == 1 and text.startswith("#Software: certward\n")
    log.close()
    other.close()


def test_the_protocol_log_opens_the_next_file_on_a_new_day_and_after_rotation(
    tmp_path: Path,
) -> None:
    clock = Clock()
    log = ProtocolLog(tmp_path, kind="SMTP Receive Protocol Log", prefix="RECV", now=clock)
    line(log, "A", 0)
    first = tmp_path / "RECV20261204-1.LOG"
    first.rename(tmp_path / "rotated.old")  # a log rotator moved it away
    line(log, "A", 1)
    assert first.read_text().count("#Fields: ") == 1  # a new file, with its header
    assert len(first.read_text().splitlines()) == 6
    clock.now = DAY + dt.timedelta(days=1)
    line(log, "A", 2)
    rows = list(read_protocol_log(tmp_path))
    assert [r["sequence-number"] for r in rows] == ["1", "2"]  # *.LOG, oldest first
    assert (tmp_path / "RECV20261205-1.LOG").exists()
    log.close()


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(fields=st.tuples(_TEXT, _TEXT, st.integers(0, 10**6), _TEXT, _TEXT, _TEXT, _TEXT, _TEXT))
def test_a_protocol_log_line_is_the_csv_modules_line(
    fields: tuple[str, str, int, str, str, str, str, str],
) -> None:
    connector, session, sequence, local, remote, event, data, context = fields
    with tempfile.TemporaryDirectory() as tmp:
        log = ProtocolLog(Path(tmp), kind="SMTP Receive Protocol Log", prefix="RECV",
                          now=Clock(), buffer_bytes=1 << 20)  # fmt: skip
        for _ in range(2):  # the second line reuses the session's formatted fields
            log.write(connector=connector, session=session, sequence=sequence, local=local,
                      remote=remote, event=event, data=data, context=context)  # fmt: skip
        log.close()
        written = (Path(tmp) / "RECV20261204-1.LOG").read_bytes().decode("utf-8")
    expected = io.StringIO()
    row = ("2026-12-04T01:02:03.000Z", connector, session, sequence, local, remote, event,
           data, context)  # fmt: skip
    csv.writer(expected, lineterminator="\n").writerows([row, row])
    assert written.split("#Fields: ", 1)[1].split("\n", 1)[1] == expected.getvalue()


# -- worker processes ---------------------------------------------------------------------------
@dataclass
class Workers:
    db: Path
    served: Served
    port: int


@pytest.fixture(scope="module")
def workers(org_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    db = copy_store(org_template / "certward.db",
                    tmp_path_factory.mktemp("workers") / "store" / "certward.db")  # fmt: skip
    port = free_port()
    with store_app(db) as app:
        app.mail.add_domain("contoso.com")
        app.mail.add_mailbox("alice@contoso.com", server="EXCH01", password=Password(b"secret"))
        for name in ("Client Frontend", "Outbound Proxy Frontend", "Default", "Client Proxy"):
            app.connectors.remove(f"{name} EXCH01")
        bind(app, "Default Frontend EXCH01", port)
    with serving("EXCH01", db, "--workers", "2") as served:
        yield Workers(db, served, port)


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


def deliver(port: int, n: int) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.starttls(context=context)
        smtp.sendmail("bob@fabrikam.com", ["alice@contoso.com"], f"Subject: {n}\r\n\r\nhi\r\n")


def delivering_pids(db: Path) -> set[int]:
    """The processes that stored alice's messages (a Maildir name carries its writer's pid)."""
    names = os.listdir(db.parent / "mail" / "alice@contoso.com" / "new")
    return {int(m.group(1)) for n in names if (m := re.search(r"\.M\d+P(\d+)Q", n))}


def test_the_workers_share_the_port_and_the_supervisor_speaks_once(workers: Workers) -> None:
    pids = children(workers.served.process.pid)
    assert len(pids) == 2
    for n in range(24):  # each from a new source port: the kernel spreads them
        deliver(workers.port, n)
    assert delivering_pids(workers.db) == pids  # both workers served sessions
    output = workers.served.output
    assert [ln for ln in output if ln.endswith(": ready")] == ["EXCH01: ready"]
    assert len([ln for ln in output if "listening on" in ln]) == 1


def test_a_worker_that_dies_is_replaced(workers: Workers) -> None:
    before = children(workers.served.process.pid)
    victim = min(before)
    mark = workers.served.mark()
    os.kill(victim, signal.SIGKILL)
    workers.served.wait_for(r"warning: worker \d ended \(status -9\); replacing it", after=mark)

    def two_workers() -> set[int] | None:
        now = children(workers.served.process.pid)
        return now if len(now) == 2 else None

    after = wait_until(two_workers, "two workers again")
    assert victim not in after
    for n in range(8):
        deliver(workers.port, 100 + n)  # whichever worker answers


def test_the_workers_end_with_a_killed_supervisor(workers: Workers, tmp_path: Path) -> None:
    db = copy_store(workers.db, tmp_path / "store" / "certward.db")
    with store_app(db) as app:
        bind(app, "Default Frontend EXCH01", free_port())  # not the module server's port
    with serving("EXCH01", db, "--workers", "2") as served:
        pids = children(served.process.pid)
        assert len(pids) == 2
        served.process.kill()
        served.process.wait()

        def all_gone() -> bool:
            def running(pid: int) -> bool:  # an exited process not yet reaped is a zombie
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                except OSError:
                    return False
                return stat.rsplit(")", 1)[1].split()[0] != "Z"

            return not any(running(pid) for pid in pids)

        try:
            wait_until(all_gone, "the workers ended with their supervisor")
        finally:
            served.process.returncode = 0  # the test, not the server, stopped it
            served.output.append("EXCH01: stopped")

"""The watcher against real endpoints on 127.0.0.1: ``certward serve`` receiving the
notification e-mail over STARTTLS (Twisted's ESMTP sender, the certificate verified), the
same SMTP endpoint as a probe target, and the scheduler's loops (``certward watch`` and
the asyncio one the web service runs)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from certward.compose import build_app
from certward.endpoints.mailstore import MailStore
from certward.model import CheckStatus
from certward.model.watch import JobKind, JobRun
from tests.conftest import Cli
from tests.endpoints.conftest import Served, certward_command, serving
from tests.ports import free_port

NAME = "exch01.contoso.com"  # the name EXCH01's self-signed certificate carries


@dataclass
class MailSite:
    db: Path
    port: int
    ca_file: Path  # EXCH01's self-signed certificate, the one anchor to trust
    served: Served

    def messages(self) -> list[bytes]:
        return MailStore(self.db.parent / "mail").messages("alice@contoso.com")

    def wait_for_mail(self, count: int, timeout: float = 30.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages()
            if len(found) >= count:
                return found
            time.sleep(0.05)  # polling a condition with a deadline
        raise AssertionError(f"{len(self.messages())} messages delivered, {count} expected")


@pytest.fixture(scope="module")
def mail_site(tmp_path_factory: pytest.TempPathFactory, org_template: Path) -> Iterator[MailSite]:
    """Contoso's EXCH01 served by ``certward serve``: Default Frontend on a free port with
    STARTTLS (the self-signed certificate its FQDN selects) and a mailbox for alice."""
    directory = tmp_path_factory.mktemp("mailsite")
    for name in ("certward.db", "certward.db-wal", "certward.key"):
        if (org_template / name).exists():
            shutil.copy2(org_template / name, directory / name)
    db = directory / "certward.db"
    cli = Cli(CliRunner())
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CERTWARD_DB", str(db))
        password = directory / "alice.txt"
        password.write_text("alice-secret\n")
        port = free_port()
        cli("domain", "add", "contoso.com")
        cli("mailbox", "add", "alice@contoso.com", "--server", "EXCH01",
            "--password-file", str(password))  # fmt: skip
        cli("connector", "set", "Default Frontend EXCH01", "--bind", f"127.0.0.1:{port}")
        for name in ("Client Frontend EXCH01", "Outbound Proxy Frontend EXCH01",
                     "Default EXCH01", "Client Proxy EXCH01"):  # fmt: skip
            cli("connector", "remove", name)
        app = build_app(str(db))
        with app.store.transaction() as repo:
            own = repo.certificate("EXCH01", repo.server("EXCH01").default_smtp_thumbprint)
        app.store.close()
    assert own.der is not None
    ca_file = directory / "exch01.pem"
    ca_file.write_bytes(x509.load_der_x509_certificate(own.der).public_bytes(Encoding.PEM))
    with serving("EXCH01", db) as served:
        yield MailSite(db, port, ca_file, served)


def test_a_notification_is_delivered_over_starttls_to_certwards_smtp_endpoint(
    org: Cli, mail_site: MailSite, tmp_path: Path
) -> None:
    """STARTTLS with the server's certificate verified: the channel naming the name the
    certificate carries delivers; the one expecting another name sends nothing."""
    before = len(mail_site.messages())
    for channel, name in (("ops", NAME), ("wrong", "mail.fabrikam.com")):
        org("notify", "add", "smtp", channel, "--host", "127.0.0.1",
            "--port", str(mail_site.port), "--from", "certward@fabrikam.com",
            "--to", "alice@contoso.com", "--ca-file", str(mail_site.ca_file),
            "--tls-name", name)  # fmt: skip
    result = org("notify", "test", ok=False)  # both channels, in one worker
    assert result.stderr.startswith("error: test message not delivered: wrong: 127.0.0.1:")
    assert "ops" not in result.stderr
    messages = mail_site.wait_for_mail(before + 1)
    mail = messages[-1]
    assert b"Subject: [certward] test message" in mail
    assert b"with TLSv1.3" in mail or b"with TLSv1.2" in mail  # sent after STARTTLS
    assert len(mail_site.messages()) == before + 1


def probe_url(mail_site: MailSite) -> str:
    return f"smtp://127.0.0.1:{mail_site.port}"


def test_certward_watch_runs_due_jobs_until_stopped(
    org: Cli, mail_site: MailSite, isolated_store: Path
) -> None:
    url = probe_url(mail_site)
    # Every hour: a new target is due at once, and after the first round the scheduler
    # waits, so SIGINT stops it there (with a target due every second, it met a second
    # round's probe worker and waited for it: over 30 s once at load 10).
    org("target", "add", url, "--every", "1h", "--ca-file", str(mail_site.ca_file),
        "--sni", NAME, "--timeout", "10")  # fmt: skip
    process = subprocess.Popen(
        [*certward_command(), "--db", str(isolated_store), "watch"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    watching = Served(process)
    try:
        watching.wait_for(r"certward watch: running")
        watching.wait_for(r" health: CRITICAL| health: OK| health: WARNING")
        watching.wait_for(rf" probe:{url}: ")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()  # not left running into the next test (a ResourceWarning there)
            process.wait()
            raise
    try:
        watching.wait_for(r"certward watch: stopped", timeout=5)
    finally:
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == 0
    watch = build_app(str(isolated_store)).watch
    assert {r.name for r in watch.runs()} >= {"health", "auth", f"probe:{url}"}
    run = watch.runs(JobKind.PROBE, target=url)[-1]  # the first
    assert run.job is JobKind.PROBE and run.target == url
    (judged,) = run.summary["targets"]
    report = judged["report"]
    assert report["tls"]["negotiated_version"] in ("TLSv1.2", "TLSv1.3")
    assert report["certificate"]["trusted"] is True  # the anchor given to the target
    assert report["certificate"]["chain"][0]["subject"] == "CN=EXCH01"
    assert run.status in (CheckStatus.OK, CheckStatus.WARNING), judged["reasons"]
    assert report["status"] == run.status.name
    assert watch.last_success(f"probe:{url}") is not None


def test_the_asyncio_loop_runs_jobs_without_blocking_and_stops_on_its_event(
    org: Cli, isolated_store: Path
) -> None:
    app = build_app(str(isolated_store))
    seen: list[JobRun] = []
    ticks = 0

    async def main() -> None:
        nonlocal ticks
        stop = asyncio.Event()

        def on_run(run: JobRun) -> None:
            seen.append(run)
            if {r.name for r in seen} >= {"health", "auth"}:
                stop.set()

        task = asyncio.create_task(app.watch.run_forever(stop, on_run=on_run))
        while not task.done():  # the loop stays free while a round runs in its thread
            ticks += 1
            await asyncio.sleep(0.01)
        await asyncio.wait_for(task, timeout=30)

    asyncio.run(asyncio.wait_for(main(), timeout=60))
    assert {r.name for r in seen} == {"health", "auth"}
    assert ticks > 1
    assert app.watch.last_success("health") is not None
    assert app.watch.last_success("health") <= dt.datetime.now(dt.UTC)

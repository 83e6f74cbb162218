"""Many targets at once: the stage matrix and the progress bar on the console, and
``--resolver`` answering for URL targets (a name only the test's DNS server knows)."""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
from pathlib import Path

from tests.endpoints.conftest import certward_command, run_certward
from tests.probe.conftest import valid
from tests.probe.test_probe_domain import dns_server
from tests.probe.test_probe_live import _rate_limited, _self_signed_files, hostile, s_server

MARKS = re.compile("[✓✗–]")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_on_a_terminal(
    db: Path, *args: str, stdout_too: bool = False, columns: int = 200
) -> tuple[int, str, str]:
    """``certward ARGS`` with stderr on a pseudo-terminal (where the progress bar goes) and
    stdout on a pipe (or on a terminal of its own); returns the exit status, stdout and
    what the stderr terminal got."""
    master, slave = os.openpty()
    out_master, out_slave = os.openpty() if stdout_too else (None, None)
    env = {**os.environ, "CERTWARD_DB": str(db), "TERM": "xterm", "COLUMNS": str(columns)}
    process = subprocess.Popen(
        [*certward_command(), *args], stdout=out_slave or subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    if out_slave is not None:
        os.close(out_slave)
    out_fd = out_master if out_master is not None else process.stdout.fileno()  # type: ignore[union-attr]
    out, terminal = b"", b""
    streams = {out_fd, master}
    while streams:
        for fd in select.select(list(streams), [], [], 120)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal's other side closed
                chunk = b""
            if not chunk:
                streams.discard(fd)
            elif fd == master:
                terminal += chunk
            else:
                out += chunk
    os.close(master)
    if out_master is not None:
        os.close(out_master)
    if process.stdout is not None:
        process.stdout.close()
    text = ANSI.sub("", out.decode(errors="replace").replace("\r\n", "\n"))
    return process.wait(timeout=30), text, terminal.decode(errors="replace")


def test_many_targets_print_one_stage_matrix_and_a_progress_bar(
    tmp_path: Path, isolated_store: Path
) -> None:
    cert, key = _self_signed_files(tmp_path, "web", cn="localhost", sans=["localhost"])
    with s_server("-cert", str(cert), "-key", str(key)) as web, hostile(_rate_limited) as mail:
        https, smtp = f"https://localhost:{web}", f"smtp://localhost:{mail}"
        code, out, terminal = run_on_a_terminal(
            isolated_store, "probe", https, smtp, "--ca-file", str(cert)
        )
        page = tmp_path / "report.html"
        _, narrow, _ = run_on_a_terminal(
            isolated_store, "probe", https, smtp, "--ca-file", str(cert), "--html", str(page),
            stdout_too=True, columns=60,
        )  # fmt: skip
    assert code == 3, out  # UNKNOWN: the SMTP server is rate limiting, the web server is OK
    assert "probing" in terminal  # the progress bar, on stderr
    # Off a terminal: the title, then the matrix as tab-separated lines, then the legend.
    lines = out.splitlines()
    title = lines.index("Stages: ✓ passed, ✗ failed, – not reached; milliseconds")
    # The columns any endpoint reached (no EHLO or STARTTLS here), then the score.
    header = lines[title + 1].split("\t")
    assert header == ["Endpoint", "DNS", "conn", "greet", "TLS", "after", "cert", "secure", "score"]
    rows = {line.split("\t")[0]: line for line in lines[title + 2 : title + 4]}
    assert MARKS.findall(rows[https]) == ["✓", "✓", "–", "✓", "✓", "✓", "✓"]
    assert MARKS.findall(rows[smtp]) == ["✓", "✓", "✗", "–", "–", "–", "–"]
    assert re.search(r"✓ \d+", rows[https])  # times in ms beside the marks
    assert lines[title + 4].startswith("DNS: DNS answer; conn: connect; greet: greeting")
    # A terminal of 60 columns: only the marks, and no endpoint or header cut short.
    lines = narrow.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("Stages: ✓ passed"))
    assert "milliseconds" not in lines[title]
    assert lines[title + 1].split()[-2:] == ["secure", "score"]
    assert lines[title + 2].split()[0] in (https, smtp)
    assert not re.search(r"[✓✗] \d", narrow)
    # Beside the matrix, each endpoint keeps its facts but lists only its failed stages.
    assert "Stage" not in out.split()
    assert "FAIL banner: rate limited: 421 4.3.2 Too many connections" in out
    assert "Secure: yes" in out and "Secure: NO" in out
    assert "Status: OK" in out and "Status: UNKNOWN (banner: rate limited" in out
    # The HTML report has the same matrix.
    html = page.read_text(encoding="utf-8")
    matrix = html[html.index("<h2>Stages</h2>") :]
    assert f"<td>{https}</td>" in matrix and f"<td>{smtp}</td>" in matrix
    assert ">greet</th>" in matrix
    assert "class='fail'>✗" in matrix and "class='ok'>✓" in matrix


def test_the_resolver_answers_for_url_targets(tmp_path: Path, isolated_store: Path) -> None:
    name, v6 = "web.only-here.test", "v6.only-here.test"  # no system resolver knows them
    cert, key = _self_signed_files(tmp_path, "named", cn=name, sans=[name])
    records = {(name, "A"): ["127.0.0.1"], (v6, "AAAA"): ["::1"]}
    with (
        dns_server(records, ad=False) as dns_port,
        s_server("-cert", str(cert), "-key", str(key)) as port,
        hostile(_rate_limited, family=socket.AF_INET6) as port6,
    ):
        done = run_certward(
            isolated_store, "probe", f"https://{name}:{port}",
            f"https://nowhere.only-here.test:{port}", f"smtp://{v6}:{port6}", "--json",
            "--resolver", f"127.0.0.1:{dns_port}", "--ca-file", str(cert), check_status=False,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr  # CRITICAL: the second name is unknown
    found, missing, ipv6 = valid(json.loads(done.stdout))["targets"]
    dns = found["stages"][0]
    assert (dns["name"], dns["ok"], dns["detail"]) == ("DNS answer", True, "127.0.0.1")
    assert found["secure"] and found["certificate"]["name_match"] == "san"
    assert found["tls"]["negotiated_version"] == "TLSv1.3"
    (dns,) = missing["stages"]
    assert dns["name"] == "DNS answer" and not dns["ok"]
    where = f"the resolver 127.0.0.1:{dns_port}"
    assert dns["detail"] == f"no address for nowhere.only-here.test from {where}"
    # Only an AAAA record: the probe connects over IPv6 (to a server that is rate limiting).
    dns, connect, banner = ipv6["stages"]
    assert dns["detail"] == "::1" and connect["ok"]
    assert not banner["ok"] and "rate limited" in banner["detail"]


def test_worker_processes_share_the_targets_and_keep_their_order(
    tmp_path: Path, isolated_store: Path
) -> None:
    """``--workers 2``: each endpoint in one process, the report in the order given, each
    report whole (the chain as sent comes back from the other process too)."""
    cert, key = _self_signed_files(tmp_path, "web", cn="localhost", sans=["localhost"])
    with s_server("-cert", str(cert), "-key", str(key)) as web, hostile(_rate_limited) as mail:
        targets = [f"https://localhost:{web}", f"smtp://localhost:{mail}",
                   f"https://127.0.0.1:{web}", f"smtp://127.0.0.1:{mail}"]  # fmt: skip
        alone = run_certward(
            isolated_store, "probe", *targets, "--json", "--ca-file", str(cert),
            check_status=False,
        )  # fmt: skip
        shared = run_certward(
            isolated_store, "probe", *targets, "--json", "--ca-file", str(cert), "--workers",
            "2", check_status=False,
        )  # fmt: skip
    assert shared.returncode == alone.returncode == 2, shared.stderr  # CRITICAL: IP unnamed
    one, two = (valid(json.loads(done.stdout))["targets"] for done in (alone, shared))
    assert [r["target"] for r in two] == targets
    for a, b in zip(one, two, strict=True):
        assert (a["status"], a["failure"], a["score"]) == (b["status"], b["failure"], b["score"])
        # The two runs are seconds apart: a day boundary may fall between them.
        if a["certificate"] is not None and b["certificate"] is not None:
            days = a["certificate"].pop("days_left"), b["certificate"].pop("days_left")
            assert days[1] in (days[0], days[0] - 1)
        assert a["certificate"] == b["certificate"] and a["tls"]["versions"] == b["tls"]["versions"]
    assert two[0]["certificate"]["chain"][0]["subject"] == "CN=localhost"
    assert [r["status"] for r in two] == ["OK", "UNKNOWN", "CRITICAL", "UNKNOWN"]

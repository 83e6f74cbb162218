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


def run_on_a_terminal(db: Path, *args: str) -> tuple[int, str, str]:
    """``certward ARGS`` with stderr on a pseudo-terminal (where the progress bar goes)
    and stdout on a pipe; returns the exit status, stdout and what the terminal got."""
    master, slave = os.openpty()
    env = {**os.environ, "CERTWARD_DB": str(db), "TERM": "xterm", "COLUMNS": "200"}
    process = subprocess.Popen(
        [*certward_command(), *args], stdout=subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    assert process.stdout is not None
    out, terminal = b"", b""
    streams = {process.stdout.fileno(), master}
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
    process.stdout.close()
    return process.wait(timeout=30), out.decode(), terminal.decode(errors="replace")


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
        narrow = subprocess.run(
            [*certward_command(), "probe", https, smtp, "--ca-file", str(cert),
             "--html", str(page)],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "CERTWARD_DB": str(isolated_store), "COLUMNS": "60"},
        ).stdout  # fmt: skip
    assert code == 1, out  # the SMTP server is rate limiting
    assert "probing" in terminal  # the progress bar, on stderr
    lines = out.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("Stages: ✓ passed"))
    assert "milliseconds" in lines[title]  # 200 columns leave room for the times
    # The columns any endpoint reached (no EHLO or STARTTLS here), then the score; the short
    # headers explained under the rows.
    header = lines[title + 1].split()
    assert header == ["Endpoint", "DNS", "conn", "greet", "TLS", "after", "cert", "secure", "score"]
    rows = {line.split()[0]: line for line in lines[title + 2 : title + 4]}
    assert MARKS.findall(rows[https]) == ["✓", "✓", "–", "✓", "✓", "✓", "✓"]
    assert MARKS.findall(rows[smtp]) == ["✓", "✓", "✗", "–", "–", "–", "–"]
    assert re.search(r"✓ \d+", rows[https])  # times in ms beside the marks
    assert lines[title + 4].startswith("DNS: DNS answer; conn: connect; greet: greeting")
    # 60 columns: only the marks, and no endpoint or header cut short.
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
    assert done.returncode == 1, done.stderr  # the second name is unknown
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

"""Host agents against the real service on PostgreSQL: two agents (two processes, two --root
directories, two nginx) deploy their own host's certificate and prove it served by probe;
the service records their outcomes and what their ports serve; a key reaches only its own
host's agent; an agent killed mid-deploy converges when restarted; an agent whose API goes
away keeps its files and catches up when the API returns."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from certward.interfaces.api import openapi_document
from certward.model import ServiceSet
from certward.model.access import AccessRole
from certward.model.deploy import DeployKind, Deployment, DeployPaths
from tests.agent.conftest import (
    CERTWARD,
    Gate,
    Host,
    Service,
    make_ca,
    start_agent,
    stop_agent,
    wait_until,
)

V1 = "/api/v1"


def _agent_row(service: Service, host: Host) -> dict[str, Any] | None:
    with service.client(service.token("tests-reader", AccessRole.READER)) as reader:
        rows = reader.get(f"{V1}/agents").json()
    return next((r for r in rows if r["host"] == host.name), None)


def _reported_ok(service: Service, host: Host, thumbprint: str) -> bool:
    row = _agent_row(service, host)
    if row is None or not row["ports"]:
        return False
    (port,) = row["ports"]
    return bool(port["ok"] and port["served"] == thumbprint)


def test_two_agents_deploy_verify_and_report(service: Service, hosts: Callable[..., Host]) -> None:
    one, two = hosts("mail1"), hosts("mail2")
    want = {h.name: h.thumbprint for h in (one, two)}
    for host in (one, two):
        assert host.served() != want[host.name]
        start_agent(service, host)
    for host in (one, two):
        wait_until(lambda h=host: h.served() == want[h.name], f"{host.name}'s nginx to serve")
        wait_until(
            lambda h=host: _reported_ok(service, h, want[h.name]),
            f"{host.name}'s report",
            hosts=(host,),
        )
    # Each deployed its own host's certificate into its own files, and remembers it.
    for host, other in ((one, two), (two, one)):
        state = json.loads((host.root / "agent-state.json").read_text())
        assert state["deployed"][host.deployment]["thumbprint"] == want[host.name]
        assert state["deployed"][host.deployment]["ok"] is True
        assert state["pending"] == {}
        assert host.served() != want[other.name]
        assert "PRIVATE KEY" not in host.log_text()
    # The service recorded each outcome as the agent's, and the release of each key once:
    # once a report shows the certificate served, the fetches carry no key.
    _, outcomes = service.app.deploy.show(one.deployment)
    assert outcomes and outcomes[0].ok and outcomes[0].served == want[one.name]
    row = _agent_row(service, one)
    assert row is not None and row["seen_at"] and row["version"]
    assert row["deployments"] == [{"name": one.deployment, "last": row["deployments"][0]["last"]}]
    assert row["deployments"][0]["last"]["ok"] is True
    seen_at = row["seen_at"]
    wait_until(lambda: _agent_row(service, one)["seen_at"] != seen_at, "another fetch")
    for host in (one, two):
        exports = [
            e
            for e in service.app.audit.entries(action="key.export", limit=1000)
            if e.detail.get("deployment") == host.deployment
        ]
        assert len(exports) == 1, exports
        assert exports[0].detail["host"] == host.name and exports[0].via == "agent"
    # SIGTERM between cycles: the agent stops at once, cleanly.
    assert stop_agent(one) == 0
    assert one.log_text().rstrip().endswith("certward agent: stopped")


def test_a_token_fetches_only_its_own_hosts_keys(
    service: Service, hosts: Callable[..., Host]
) -> None:
    one, two = hosts("mail3"), hosts("mail4")
    mine = service.token(f"{one.name}-agent", AccessRole.AGENT, host=one.name)
    with service.client(mine) as agent:
        own = agent.get(f"{V1}/agents/{one.name}/deployments")
        assert own.status_code == 200, own.text
        (item,) = own.json()
        assert item["material"]["key"].startswith("-----BEGIN PRIVATE KEY-----")
        other = agent.get(f"{V1}/agents/{two.name}/deployments")
        assert other.status_code == 403
        assert other.headers["content-type"].startswith("application/problem+json")
        assert other.json()["code"] == "agent.other_host"
        assert "key" not in other.text.lower() or "PRIVATE KEY" not in other.text
        refused = agent.post(f"{V1}/agents/{two.name}/results", json={"results": []})
        assert refused.status_code == 403 and refused.json()["code"] == "agent.other_host"
        # Its own host's report may name only its own host's deployments.
        outcome = {"ok": True, "when": "2026-12-04T00:00:00+00:00"}
        foreign = agent.post(
            f"{V1}/agents/{one.name}/results",
            json={"results": [{"deployment": two.deployment, "outcome": outcome}]},
        )
        assert foreign.status_code == 422 and foreign.json()["code"] == "agent.report_invalid"
        assert service.app.deploy.results(two.deployment) == []
        # No other route answers an agent's token: every one is refused before it runs.
        for path, item in openapi_document()["paths"].items():
            for method in ("get", "post", "put", "patch", "delete"):
                if method not in item or path.startswith(f"{V1}/agents/{{host}}"):
                    continue
                url = path.replace("{host}", one.name)
                for name, value in {
                    "server": one.server,
                    "thumbprint": "0" * 40,
                    "store": "Root",
                    "name": "Nope",
                }.items():
                    url = url.replace("{" + name + "}", value)
                answer = agent.request(method, url)
                assert answer.status_code == 403, (method, path, answer.text)
                assert answer.json()["code"] == "access.denied", (method, path)
                assert "PRIVATE KEY" not in answer.text
    # Readers and admins see the deployments through this route, never a key.
    for role in (AccessRole.READER, AccessRole.ADMIN):
        with service.client(service.token(f"tests-{role.value}", role)) as person:
            seen = person.get(f"{V1}/agents/{one.name}/deployments")
            assert seen.status_code == 200
            assert [i["material"] for i in seen.json()] == [None]
            assert "PRIVATE KEY" not in seen.text
            posted = person.post(f"{V1}/agents/{one.name}/results", json={"results": []})
            assert posted.status_code == 403 and posted.json()["code"] == "access.denied"
    with service.client(None) as nobody:
        assert nobody.get(f"{V1}/agents/{one.name}/deployments").status_code == 401


def test_a_reported_failure_that_wrote_nothing_holds_the_key_back_for_its_hour(
    service: Service, hosts: Callable[..., Host]
) -> None:
    """An agent's failure with no certificate written (its files could not be written) is
    the current certificate's failed attempt: the next fetches carry no key, and release
    none, until the hour is out. (They released it at every fetch, each release audited.)"""
    host = hosts("mail5")
    mine = service.token(f"{host.name}-agent", AccessRole.AGENT, host=host.name)

    def released() -> int:
        entries = service.app.audit.entries(action="key.export", limit=1000)
        return sum(1 for e in entries if e.detail.get("deployment") == host.deployment)

    with service.client(mine) as agent:
        url = f"{V1}/agents/{host.name}/deployments"
        (first,) = agent.get(url).json()
        assert first["material"] is not None and released() == 1
        outcome = {
            "ok": False,
            "when": dt.datetime.now(dt.UTC).isoformat(),
            "code": "deploy.write_failed",
            "detail": "cannot write /etc/nginx/tls/cert.pem: permission denied",
        }
        posted = agent.post(
            f"{V1}/agents/{host.name}/results",
            json={"results": [{"deployment": host.deployment, "outcome": outcome}]},
        )
        assert posted.status_code == 200, posted.text
        for _ in range(2):
            (again,) = agent.get(url).json()
            key_sent = again["material"] is not None  # (an assertion would print the key)
            assert not key_sent
            assert again["thumbprint"] == host.thumbprint
            assert "deploy.write_failed" in again["detail"]
            assert "tried again an hour after" in again["detail"]
        assert released() == 1


def test_an_agent_killed_mid_deploy_converges_when_restarted(
    service: Service, hosts: Callable[..., Host], tmp_path: Any
) -> None:
    # The reload hangs while the flag file exists: the agent is killed inside its deploy,
    # after the new files are in place and before the daemon reloads.
    flag, inside = tmp_path / "hang", tmp_path / "reloading"
    host = hosts("mail5")
    script = tmp_path / "reload.sh"
    script.write_text(
        f'#!/bin/sh\nif [ -e "{flag}" ]; then touch "{inside}"; exec sleep 600; fi\nexec "$@"\n'
    )
    script.chmod(0o755)
    service.app.deploy.remove(host.deployment)
    service.app.deploy.add(
        Deployment(
            name=host.deployment,
            kind=DeployKind.NGINX,
            server=host.server,
            services=ServiceSet.parse("IIS"),
            paths=DeployPaths(str(host.certificate), str(host.key)),
            verify=f"https://127.0.0.1:{host.nginx.port}",
            host=host.name,
            reload=(str(script), *host.nginx.reload),
            sni=host.sni,
            wait=10.0,
        )
    )
    want = host.thumbprint
    old = host.served()
    flag.touch()
    start_agent(service, host)
    wait_until(inside.exists, "the agent to be inside its reload")
    stop_agent(host, signal.SIGKILL)
    state = json.loads((host.root / "agent-state.json").read_text())
    assert state["pending"] == {host.deployment: want}
    assert host.served() == old  # the files are new, the daemon not yet reloaded
    flag.unlink()
    start_agent(service, host)
    wait_until(lambda: host.served() == want, "the restarted agent to deploy again")
    wait_until(lambda: _reported_ok(service, host, want), "the restarted agent's report")
    state = json.loads((host.root / "agent-state.json").read_text())
    assert state["pending"] == {} and state["deployed"][host.deployment]["ok"] is True


def test_an_unreachable_api_keeps_the_files_and_is_retried(
    service: Service, hosts: Callable[..., Host], gate: Gate
) -> None:
    # The agent reaches the API through a gate: shut, its port refuses connections, as a
    # stopped service's does (and the service need not be restarted).
    host = hosts("mail6")
    first = host.thumbprint
    start_agent(service, host, api=gate.api)
    wait_until(lambda: _reported_ok(service, host, first), "the first deploy's report")
    files = (host.certificate.read_bytes(), host.key.read_bytes())
    gate.shut()
    try:
        wait_until(lambda: host.log_text().count("fetch failed") >= 2, "two failed fetches")
        assert (host.certificate.read_bytes(), host.key.read_bytes()) == files
        assert host.served() == first
        # A new certificate while the API is away: deployed once the API is back.
        second = service.certificate(host.server, [host.sni], days=3800)
    finally:
        gate.open()
    wait_until(lambda: host.served() == second, "the agent to deploy the new certificate")
    wait_until(lambda: _reported_ok(service, host, second), "the report after the outage")
    failures = [line for line in host.log_text().splitlines() if "fetch failed" in line]
    assert all("retrying in" in line for line in failures)
    assert "PRIVATE KEY" not in host.log_text()


def test_a_deploy_not_served_is_rolled_back_reported_and_not_repeated(
    service: Service, hosts: Callable[..., Host], tmp_path: Any
) -> None:
    # The deployment writes where nginx does not read: nginx reloads and still serves the
    # old certificate, so the executor restores the files and the agent reports a failure.
    wrong = tmp_path / "elsewhere"
    wrong.mkdir()
    # nginx cannot serve what it does not read: the wait for it is given up soon
    host = hosts("mail7", paths=(wrong / "cert.pem", wrong / "key.pem"), wait=0.5)
    old = host.served()
    start_agent(service, host)

    def failed() -> dict[str, Any] | None:
        row = _agent_row(service, host)
        last = None if row is None else row["deployments"][0]["last"]
        return row if last is not None and row["ports"] else None

    row = wait_until(failed, "the failure's report", hosts=(host,))
    assert isinstance(row, dict)
    last = row["deployments"][0]["last"]
    assert (last["ok"], last["code"], last["rolled_back"]) == (False, "deploy.not_served", True)
    assert last["deployed"] == host.thumbprint and last["served"] == old
    assert row["ports"][0]["ok"] is False and row["ports"][0]["served"] == old
    assert host.served() == old
    assert not (wrong / "cert.pem").exists() and not (wrong / "key.pem").exists()
    # The failed certificate is not deployed again at every cycle, nor its key sent again.
    seen = row["seen_at"]
    wait_until(lambda: _agent_row(service, host)["seen_at"] != seen, "another fetch")  # type: ignore[index]
    seen = _agent_row(service, host)["seen_at"]  # type: ignore[index]
    wait_until(lambda: _agent_row(service, host)["seen_at"] != seen, "a third fetch")  # type: ignore[index]
    exports = [
        e
        for e in service.app.audit.entries(action="key.export", limit=1000)
        if e.detail.get("deployment") == host.deployment
    ]
    assert len(exports) == 1
    assert host.log_text().count("files in place") == 1
    state = json.loads((host.root / "agent-state.json").read_text())
    assert state["deployed"][host.deployment]["ok"] is False


def test_once_and_a_service_certificate_the_bundle_does_not_trust(
    service: Service, hosts: Callable[..., Host], tmp_path: Any
) -> None:
    host = hosts("mail8")
    stranger = tmp_path / "other-ca.pem"
    stranger.write_bytes(make_ca().pem)

    def once(bundle: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *CERTWARD,
                *("agent", "--api", service.api, "--host", host.name, "--once"),
                *("--token-file", str(host.token_file), "--root", str(host.root)),
                *("--ca-bundle", str(bundle)),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=service.env(),
            check=False,
        )

    refused = once(stranger)
    assert refused.returncode == 1, refused.stderr
    (line,) = [ln for ln in refused.stderr.splitlines() if "fetch failed" in ln]
    assert "not trusted" in line
    assert host.served() != host.thumbprint  # nothing was deployed
    done = once(service.directory / "ca.pem")
    assert done.returncode == 0, done.stderr
    assert host.served() == host.thumbprint
    assert "PRIVATE KEY" not in done.stderr


def test_a_refused_token_is_said_so_and_a_renewed_token_file_is_read_without_a_restart(
    service: Service, hosts: Callable[..., Host]
) -> None:
    host = hosts("mail10")
    good = host.token_file.read_text()
    host.token_file.write_text("cw_not-a-token-of-this-service\n")
    start_agent(service, host)
    wait_until(
        lambda: "refuses this agent's token" in host.log_text(), "the refusal", hosts=(host,)
    )
    (line, *_) = [ln for ln in host.log_text().splitlines() if "fetch failed" in ln]
    assert "HTTP 401" in line and "retrying in 1s" in line  # the interval, not a quicker retry
    assert host.served() != host.thumbprint and host.agent is not None
    assert host.agent.poll() is None  # it keeps running

    host.token_file.write_text(good)  # the token renewed: no restart
    wait_until(
        lambda: host.served() == host.thumbprint, "the renewed token's deploy", hosts=(host,)
    )
    wait_until(lambda: _reported_ok(service, host, host.thumbprint), "the report")
    assert "cw_not-a-token" not in host.log_text() and good.strip() not in host.log_text()

"""The agent's pure policies (when to deploy, how long to wait), its state file, and agent
tokens from the command line — no daemons, no network."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certward.errors import CertwardError
from certward.interfaces.agent.client import check_api_url
from certward.interfaces.agent.state import (
    MAX_UNREPORTED,
    AgentState,
    Deployed,
    StateFile,
    locked,
)
from certward.model.agents import check_host, deploy_reason, reason_after, retry_wait
from certward.model.deploy import DeployOutcome
from tests.conftest import Cli, error_line

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
A, B = "A" * 40, "B" * 40


def reason(**given: object) -> str | None:
    facts: dict[str, object] = {
        "last_thumbprint": A,
        "last_ok": True,
        "last_when": NOW - dt.timedelta(hours=2),
        "pending": None,
        "served": A,
        "now": NOW,
    }
    facts.update(given)
    return deploy_reason(A, **facts)  # type: ignore[arg-type]


def test_what_makes_an_agent_deploy() -> None:
    assert reason() is None  # deployed, served: nothing to do
    assert "never deployed" in (reason(last_thumbprint=None, last_ok=False) or "")
    assert "new certificate" in (reason(last_thumbprint=B) or "")
    assert "interrupted" in (reason(pending=A) or "")
    assert "serves no certificate" in (reason(served=None) or "")
    assert f"serves {B}" in (reason(served=B) or "")
    # A failed deploy (rolled back) is not retried at every cycle, but after an hour.
    assert reason(last_ok=False, last_when=NOW - dt.timedelta(minutes=5), served=B) is None
    assert "again" in (reason(last_ok=False, served=B) or "")
    # Thumbprints compare without case.
    assert reason(last_thumbprint=A.lower(), served=A.lower()) is None


def test_a_failure_that_wrote_nothing_waits_its_hour_like_any_failure() -> None:
    """The service's view (:func:`reason_after`): an outcome that names no certificate
    (refused before the first write, e.g. a key that is not exportable) is an attempt at the
    current one. Read as "never deployed", it had the key released again at every fetch."""
    wrote_nothing = DeployOutcome(
        ok=False, when=NOW - dt.timedelta(minutes=5), code="deploy.key_not_exportable"
    )
    assert reason_after(A, wrote_nothing, served=None, now=NOW) is None
    later = NOW + dt.timedelta(hours=1)
    assert "again" in (reason_after(A, wrote_nothing, served=None, now=later) or "")
    # Nothing recorded, or a success: as before.
    assert "never deployed" in (reason_after(A, None, served=None, now=NOW) or "")
    deployed = DeployOutcome(ok=True, when=NOW, deployed=A, served=A)
    assert reason_after(A, deployed, served=A, now=NOW) is None
    assert "new certificate" in (reason_after(B, deployed, served=A, now=NOW) or "")
    # A failure that wrote a certificate is judged by that certificate: a newer one goes now.
    failed = DeployOutcome(ok=False, when=NOW, deployed=A, code="deploy.not_served")
    assert reason_after(A, failed, served=None, now=NOW) is None
    assert "new certificate" in (reason_after(B, failed, served=None, now=NOW) or "")


@given(
    every=st.floats(min_value=0.5, max_value=86400),
    failures=st.integers(min_value=0, max_value=10_000),
)
def test_retries_double_and_never_wait_longer_than_the_interval(
    every: float, failures: int
) -> None:
    wait = retry_wait(every, failures)
    assert 0 < wait <= every
    if failures == 0:
        assert wait == every
    else:
        assert wait >= min(every, retry_wait(every, failures - 1) if failures > 1 else 0)


def test_retry_waits_for_a_minute_interval() -> None:
    assert [retry_wait(60, n) for n in range(7)] == [60, 5, 10, 20, 40, 60, 60]
    with pytest.raises(ValueError, match="every"):
        retry_wait(0, 1)


def test_host_names() -> None:
    assert check_host(" mail1.contoso.com ") == "mail1.contoso.com"
    for bad in ("", "-x", "a b", "a/b", "x" * 254):
        with pytest.raises(ValueError, match="host"):
            check_host(bad)


def test_the_state_file_round_trips_and_holds_no_key(tmp_path: Path) -> None:
    file = StateFile(tmp_path)
    assert file.load("mail1") == AgentState("mail1")
    outcome = DeployOutcome(ok=True, when=NOW, deployed=A, served=A, detail="served")
    state = AgentState(
        "mail1",
        deployed={"web": Deployed(A, True, NOW)},
        pending={"smtp": B},
        unreported=[("web", outcome)],
    )
    file.save(state)
    assert (tmp_path / "agent-state.json").stat().st_mode & 0o777 == 0o600
    assert file.load("MAIL1") == state
    assert file.load("mail2") == AgentState("mail2")  # another host's state is not used
    assert "PRIVATE" not in (tmp_path / "agent-state.json").read_text()


@pytest.mark.parametrize("text", ["{not json", '{"host": "mail1", "deployed": 3}', "", "[]"])
def test_an_unreadable_state_file_is_moved_aside_and_the_agent_starts_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    (tmp_path / "agent-state.json").write_text(text)
    with caplog.at_level(logging.WARNING, logger="certward.agent"):
        assert StateFile(tmp_path).load("mail1") == AgentState("mail1")
    assert not (tmp_path / "agent-state.json").exists()
    assert (tmp_path / "agent-state.json.unreadable").read_text() == text
    (line,) = caplog.messages
    assert "not an agent state file" in line and "starting afresh" in line


def test_a_state_file_that_cannot_be_read_at_all_is_named(tmp_path: Path) -> None:
    (tmp_path / "agent-state.json").mkdir()  # not a file: read_bytes fails
    with pytest.raises(CertwardError, match="cannot be read") as refused:
        StateFile(tmp_path).load("mail1")
    assert refused.value.code.id == "agent.state_invalid"


def test_unreported_outcomes_are_capped_in_memory_too() -> None:
    state = AgentState("mail1")
    for minute in range(MAX_UNREPORTED + 5):
        when = NOW + dt.timedelta(minutes=minute)
        state.add_unreported("web", DeployOutcome(ok=False, when=when, code="deploy.not_served"))
    assert len(state.unreported) == MAX_UNREPORTED
    assert state.unreported[0][1].when == NOW + dt.timedelta(minutes=5)  # the newest kept


def test_a_clock_set_back_does_not_hold_a_failed_deploy_back() -> None:
    """The failure is dated by a clock that later went back (or, on the service, by an
    agent's clock that runs ahead): a failure "in the future" beyond a few minutes is
    retried now rather than after the clocks agree again."""
    assert "again" in (reason(last_ok=False, last_when=NOW + dt.timedelta(days=1)) or "")
    assert "again" in (reason(last_ok=False, last_when=NOW + dt.timedelta(minutes=6)) or "")
    # a small skew only shifts the hour
    assert reason(last_ok=False, last_when=NOW + dt.timedelta(minutes=2), served=B) is None


def test_an_api_url_with_credentials_is_refused_without_showing_them() -> None:
    with pytest.raises(CertwardError) as refused:
        check_api_url("https://agent:s3cret@certward.example.net:8443")
    assert "s3cret" not in refused.value.message and "s3cret" not in str(refused.value.facts)
    assert "certward.example.net:8443" in refused.value.message
    assert check_api_url("https://certward.example.net:8443/") == (
        "https://certward.example.net:8443"
    )


def test_one_agent_per_root(tmp_path: Path) -> None:
    with locked(tmp_path) as first:
        assert first
        with locked(tmp_path) as second:
            assert not second
    with locked(tmp_path) as again:
        assert again


def test_agent_tokens_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    cli("org", "init", "Contoso")
    made = json.loads(
        cli("token", "create", "mail1-agent", "--role", "agent", "--host", "mail1", "--json").stdout
    )
    assert made["role"] == "agent" and made["host"] == "mail1" and made["secret"].startswith("cw_")
    listed = cli.json("token", "list")
    assert [(t["name"], t["host"]) for t in listed] == [("mail1-agent", "mail1")]
    assert "agent (mail1)" in cli("token", "list").stdout
    assert "bound to a host" in error_line(cli, "token", "create", "x", "--role", "agent")
    assert "only a token of the agent role" in error_line(
        cli, "token", "create", "x", "--role", "reader", "--host", "mail1"
    )
    assert "not 1 to 253" in error_line(
        cli, "token", "create", "x", "--role", "agent", "--host", "a b"
    )
    password = tmp_path / "pw"
    password.write_text("a long enough password\n")
    assert "not for users" in error_line(
        cli, "user", "add", "bob", "--role", "agent", "--password-file", str(password)
    )


def test_agent_usage_errors(cli: Cli, tmp_path: Path) -> None:
    base = ["agent", "--host", "mail1", "--root", str(tmp_path / "root"), "--once"]
    plain = cli(*base, "--api", "http://127.0.0.1:8443", "--token", "cw_x_y", ok=False)
    assert "keys travel only over TLS" in plain.stderr and plain.exit_code == 2
    both = cli(*base, "--api", "https://h", "--token", "t", "--token-file", "f", ok=False)
    assert both.exit_code == 2 and "exactly one of" in both.stderr
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    refused = cli(*base, "--api", "https://h", "--token", "t", "--ca-bundle", str(bundle), ok=False)
    assert "holds no PEM certificate" in refused.stderr and refused.exit_code == 2

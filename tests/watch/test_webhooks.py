"""Webhooks received by a real HTTP server on 127.0.0.1: signed with HMAC-SHA256, retried
with exponential backoff on 503 (``Retry-After`` respected), deduplicated, and digested."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from certward.compose import App, build_app
from certward.errors import CertwardError
from certward.model import StoreName
from certward.model.watch import JobKind
from certward.services.notify import webhook_channel
from tests.conftest import Cli
from tests.watch.clocks import MovingClock
from tests.watch.receiver import Receiver, receiving

SECRET = b"webhook-key-0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving(SECRET) as r:
        yield r


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "webhook.key"
    path.write_bytes(SECRET + b"\n")
    return path


def test_notify_test_posts_a_signed_json_message(
    org: Cli, receiver: Receiver, key_file: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.key"
    other.write_text("not-the-key\n")
    org("notify", "add", "webhook", "chat", "--url", receiver.url, "--secret-file", str(key_file))
    org("notify", "add", "webhook", "wrong", "--url", receiver.url + "?wrong",
        "--secret-file", str(other))  # fmt: skip
    listed = org.json("notify", "list")
    assert listed[0]["secret"] == f"file:{key_file.resolve()}"
    assert SECRET.decode() not in org("notify", "list").stdout
    results = org.json("notify", "test")  # every channel
    assert results == [
        {"channel": "chat", "sent": 1, "error": None, "attempts": 1},
        {"channel": "wrong", "sent": 1, "error": None, "attempts": 1},
    ]
    received = receiver.wait_for(2)
    assert len(received) == 2
    for message in received:
        assert message.headers["content-type"] == "application/json"
        assert message.json["event"] == "test" and "test message" in message.json["subject"]
    right = [receiver.signed_correctly(m) for m in received]
    assert sorted(right) == [False, True]  # the wrong key's signature does not verify


def test_503_is_retried_with_backoff_and_retry_after_then_succeeds(
    org: Cli, receiver: Receiver, key_file: Path
) -> None:
    receiver.answers = [(503, {"Retry-After": "1"}), (503, {}), (200, {})]
    org("notify", "add", "webhook", "chat", "--url", receiver.url, "--secret-file",
        str(key_file), "--backoff", "0.3")  # fmt: skip
    (result,) = org.json("notify", "test", "chat")
    assert result["sent"] == 1 and result["attempts"] == 3
    first, second, third = receiver.wait_for(3)
    assert second.at - first.at >= 1.0  # Retry-After: 1
    assert third.at - second.at >= 0.6  # the backoff's second wait: 0.3 × 2
    assert first.body == second.body == third.body
    assert all(receiver.signed_correctly(r) for r in (first, second, third))


def test_a_refusal_is_not_retried_and_is_one_coded_line(
    org: Cli, receiver: Receiver, key_file: Path
) -> None:
    receiver.answers = [(400, {})]
    org("notify", "add", "webhook", "chat", "--url", receiver.url, "--secret-env", "NO_SUCH_VAR")
    result = org("notify", "test", ok=False)
    assert result.stderr.strip() == (
        "error: test message not delivered: chat: environment variable NO_SUCH_VAR "
        "(a channel's secret) is not set"
    )
    org("notify", "remove", "chat")
    org("notify", "add", "webhook", "chat", "--url", receiver.url, "--secret-file", str(key_file))
    result = org("notify", "test", ok=False)
    assert result.stderr.strip() == "error: test message not delivered: chat: HTTP 400"
    assert len(receiver.wait_for(1)) == 1


@pytest.fixture
def app(org: Cli, isolated_store: Path) -> tuple[App, MovingClock]:
    """Contoso, 13 days before EXCH01's self-signed certificate expires."""
    from certward.pki import certinfo

    plain = build_app(str(isolated_store))
    with plain.store.transaction() as repo:
        own = repo.certificate("EXCH01", repo.server("EXCH01").default_smtp_thumbprint)
    assert own.der is not None
    expires = certinfo.load_der(own.der).not_valid_after_utc
    plain.store.close()
    clock = MovingClock(expires - dt.timedelta(days=13))
    return build_app(str(isolated_store), clock=clock), clock


def test_findings_are_delivered_once(
    app: tuple[App, MovingClock], receiver: Receiver, key_file: Path
) -> None:
    a, clock = app
    watch = a.watch
    watch.add_channel(webhook_channel("chat", url=receiver.url, secret=f"file:{key_file}"))
    watch.add_channel(webhook_channel("broken", url=receiver.url, secret="env:NO_SUCH_VAR"))
    watch.run_due()  # health and the auth monitor, then the deliveries
    first = receiver.wait_for(1)
    events = {r.json["event"] for r in first}
    assert events == {"finding.new", "certificate.expiring"}
    assert all(receiver.signed_correctly(r) for r in first)
    clock.advance(dt.timedelta(hours=1))
    watch.run_due()  # health again: the same findings, nothing new to say
    assert len(receiver.received) == len(first)
    (broken,) = watch.deliver()  # the channel without its secret alone keeps failing
    assert broken.channel == "broken" and broken.sent == 0
    assert broken.error is not None and "NO_SUCH_VAR" in broken.error
    assert len(receiver.received) == len(first)


def test_a_digest_channel_sends_one_message_a_day(
    app: tuple[App, MovingClock], receiver: Receiver, key_file: Path
) -> None:
    a, clock = app
    watch = a.watch
    watch.add_channel(
        webhook_channel("daily", url=receiver.url, secret=f"file:{key_file}", digest=True)
    )
    health = next(j for j in watch.jobs() if j.kind is JobKind.HEALTH)
    watch.run_job(health)
    (delivery,) = watch.deliver()
    (digest,) = receiver.wait_for(1)
    assert digest.json["event"] == "digest" and delivery.sent == len(digest.json["data"]["notices"])
    assert delivery.sent >= 2
    clock.advance(dt.timedelta(days=6, hours=1))  # the 7-day threshold, within... a new day
    watch.run_job(health)
    clock.instant -= dt.timedelta(days=6)  # the same day as the first digest
    assert watch.deliver() == []
    clock.instant += dt.timedelta(days=6)
    (second,) = watch.deliver()
    assert second.sent >= 1 and len(receiver.wait_for(2)) == 2
    sevens = [n for n in receiver.received[1].json["data"]["notices"]
              if n["data"].get("threshold_days") == 7]  # fmt: skip
    assert sevens


def test_an_unknown_channel_is_one_coded_error(app: tuple[App, MovingClock]) -> None:
    with pytest.raises(CertwardError) as none:
        app[0].watch.notify_test()
    assert none.value.code.id == "watch.no_channel"
    with pytest.raises(CertwardError) as unknown:
        app[0].watch.notify_test("ops")
    assert unknown.value.code.id == "watch.channel_not_found"
    assert StoreName.MY  # the store stays usable

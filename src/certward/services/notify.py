"""Notification channels: e-mail (SMTP with STARTTLS) and signed webhooks; the outbox
deduplicates notices per channel and holds a digest channel's notices for its daily message.

Deliveries run in the worker process (:mod:`certward.services.watch_worker`), which speaks
SMTP through Twisted's ESMTP sender and HTTP through treq.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from certward.clock import Clock
from certward.codes.watch import (
    WATCH_CHANNEL_INVALID,
    WATCH_DELIVERY_FAILED,
    WATCH_NO_CHANNEL,
    WATCH_SECRET_UNREADABLE,
    WATCH_WORKER_FAILED,
)
from certward.errors import CertwardError
from certward.model.watch import (
    SEVERITIES,
    ChannelKind,
    Notice,
    NotifyChannel,
    digest_due,
    digest_notice,
    wanted_by,
)
from certward.services.watch_ports import WatchStore

WORKER_TIMEOUT = 600.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one channel's delivery did: how many notices it sent, and the error if any."""

    channel: str
    sent: int
    error: str | None = None
    attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "sent": self.sent,
            "error": self.error,
            "attempts": self.attempts,
        }


def run_worker(request: Mapping[str, Any], *, timeout: float = WORKER_TIMEOUT) -> dict[str, Any]:
    """Run one request in the worker process and return its answer."""
    from certward.services.watch_worker import worker_command

    try:
        done = subprocess.run(
            list(worker_command()),
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            start_new_session=True,  # Ctrl-C stops the scheduler after the round, not the worker
        )
    except subprocess.TimeoutExpired:
        raise WATCH_WORKER_FAILED(f"the worker gave no answer within {timeout:.0f} s") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise WATCH_WORKER_FAILED(
            f"the worker exited {done.returncode} without an answer: {last}"
        ) from None
    if not isinstance(answer, dict):
        raise WATCH_WORKER_FAILED("the worker's answer is not a JSON object")
    if "error" in answer and isinstance(answer["error"], str):
        raise WATCH_WORKER_FAILED(f"the worker failed: {answer['error']}")
    return answer


def read_secret(where: str | None) -> str | None:
    """The secret a channel names: ``env:NAME`` or ``file:PATH`` (first line)."""
    if where is None:
        return None
    kind, _, name = where.partition(":")
    if kind == "env":
        value = os.environ.get(name)
        if value is None:
            raise WATCH_SECRET_UNREADABLE(
                f"environment variable {name} (a channel's secret) is not set", source=where
            )
        return value
    if kind == "file":
        try:
            lines = Path(name).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise WATCH_SECRET_UNREADABLE(
                f"{name}: cannot read a channel's secret ({exc.strerror})", source=where
            ) from None
        return lines[0] if lines else ""
    raise WATCH_SECRET_UNREADABLE(
        f"a channel's secret source {where!r} is neither env:NAME nor file:PATH", source=where
    )


def smtp_channel(
    name: str,
    *,
    host: str,
    port: int,
    sender: str,
    to: Sequence[str],
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    tls_name: str | None = None,
    digest: bool = False,
    min_severity: str = "warning",
) -> NotifyChannel:
    """An e-mail channel; ``password`` names where the password is (env:/file:)."""
    if not host or not 0 < port < 65536:
        raise WATCH_CHANNEL_INVALID(f"channel {name!r}: {host}:{port} is not a mail server")
    for address in (sender, *to):
        if "@" not in address or any(c.isspace() for c in address):
            raise WATCH_CHANNEL_INVALID(f"channel {name!r}: {address!r} is not a mail address")
    if not to:
        raise WATCH_CHANNEL_INVALID(f"channel {name!r}: no recipient")
    _check_common(name, min_severity, password)
    settings: dict[str, Any] = {"host": host, "port": port, "from": sender, "to": list(to)}
    for key, value in (("username", username), ("ca_file", ca_file), ("tls_name", tls_name)):
        if value:
            settings[key] = value
    return NotifyChannel(name, ChannelKind.SMTP, settings, password, digest, min_severity)


def webhook_channel(
    name: str,
    *,
    url: str,
    secret: str | None,
    attempts: int = 5,
    backoff: float = 1.0,
    digest: bool = False,
    min_severity: str = "warning",
) -> NotifyChannel:
    """A webhook channel; ``secret`` names where the HMAC key is (env:/file:)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WATCH_CHANNEL_INVALID(f"channel {name!r}: {url!r} is not an http(s) URL")
    if attempts < 1 or backoff < 0:
        raise WATCH_CHANNEL_INVALID(f"channel {name!r}: attempts must be 1 or more")
    _check_common(name, min_severity, secret)
    settings = {"url": url, "attempts": attempts, "backoff": backoff}
    return NotifyChannel(name, ChannelKind.WEBHOOK, settings, secret, digest, min_severity)


def _check_common(name: str, min_severity: str, secret: str | None) -> None:
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise WATCH_CHANNEL_INVALID(f"channel name {name!r} is empty, too long or has spaces")
    if min_severity not in SEVERITIES:
        raise WATCH_CHANNEL_INVALID(
            f"channel {name!r}: severity {min_severity!r} is not one of {', '.join(SEVERITIES)}"
        )
    if secret is not None and secret.partition(":")[0] not in ("env", "file"):
        raise WATCH_SECRET_UNREADABLE(
            f"channel {name!r}: secret source {secret!r} is neither env:NAME nor file:PATH"
        )


class Notifier:
    """Channels, the outbox and deliveries."""

    def __init__(self, store: WatchStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def channels(self) -> list[NotifyChannel]:
        with self._store.transaction() as repo:
            return repo.notify_channels()

    def add_channel(self, channel: NotifyChannel) -> NotifyChannel:
        with self._store.transaction() as repo:
            repo.add_notify_channel(channel)
            return repo.notify_channel(channel.name)

    def remove_channel(self, name: str) -> None:
        with self._store.transaction() as repo:
            repo.remove_notify_channel(name)

    def queue(self, notices: Sequence[Notice], now: dt.datetime) -> int:
        """Queue each notice for every channel that wants it; a notice a channel had
        before (the same key) is not queued again. Returns how many were queued."""
        if not notices:
            return 0
        queued = 0
        with self._store.transaction() as repo:
            for channel in repo.notify_channels():
                for notice in notices:
                    if wanted_by(channel, notice) and repo.queue_notice(channel.name, notice, now):
                        queued += 1
        return queued

    def deliver(self, now: dt.datetime | None = None) -> list[Delivery]:
        """Send what is pending: each notice to an immediate channel, one digest to a digest
        channel whose day has come. Failures stay pending, recorded, for the next round."""
        now = now or self._clock.now()
        with self._store.transaction() as repo:
            work = [(c, repo.pending_notices(c.name)) for c in repo.notify_channels()]
        batches: list[tuple[NotifyChannel, list[int], list[Notice], bool]] = []
        for channel, pending in work:
            if not pending:
                continue
            ids = [i for i, _ in pending]
            if channel.digest:
                if digest_due(channel, len(pending), now):
                    summary = digest_notice([n for _, n in pending], now)
                    batches.append((channel, ids, [summary], True))
            else:
                batches.append((channel, ids, [n for _, n in pending], False))
        if not batches:
            return []
        try:
            outcomes = self._send_all([(c, notices) for c, _, notices, _ in batches])
        except CertwardError as exc:
            with self._store.transaction() as repo:
                for _, ids, _, _ in batches:
                    repo.mark_notices(ids, sent=None, error=exc.message)
            raise
        done = []
        with self._store.transaction() as repo:
            for (channel, ids, _, daily), raw in zip(batches, outcomes, strict=True):
                attempts = sum(int(r.get("attempts", 1)) for r in raw)
                results = raw * len(ids) if daily else raw  # a digest: one for all
                sent = [i for i, r in zip(ids, results, strict=True) if r.get("ok")]
                errors = [str(r.get("error")) for r in results if not r.get("ok")]
                for i, r in zip(ids, results, strict=True):
                    if not r.get("ok"):
                        repo.mark_notices([i], sent=None, error=str(r.get("error")))
                repo.mark_notices(sent, sent=now)
                if daily and sent:
                    repo.set_channel_digest_sent(channel.name, now)
                done.append(Delivery(channel.name, len(sent), errors[0] if errors else None,
                                     attempts))  # fmt: skip
        return done

    def test(self, name: str | None = None) -> list[Delivery]:
        """Send a test message through one channel, or every channel; raises the first
        failure after trying them all."""
        channels = self.channels()
        if name is not None:
            channels = [c for c in channels if c.name == name]
            if not channels:
                with self._store.transaction() as repo:
                    repo.notify_channel(name)  # raises watch.channel_not_found
        if not channels:
            raise WATCH_NO_CHANNEL("no notification channel is configured")
        now = self._clock.now()
        notice = Notice(
            key=f"test:{now.isoformat()}",
            event="test",
            severity="info",
            subject="[certward] test message",
            text=f"This is a test message from certward, sent at {now:%Y-%m-%d %H:%M:%S} UTC.",
        )
        outcomes = self._send_all([(c, [notice]) for c in channels])
        results = [
            Delivery(c.name, int(bool(o.get("ok"))), o.get("error"), int(o.get("attempts", 1)))
            for c, (o,) in zip(channels, outcomes, strict=True)
        ]
        failed = [d for d in results if d.error]
        if failed:
            said = "; ".join(f"{d.channel}: {d.error}" for d in failed)
            raise WATCH_DELIVERY_FAILED(
                f"test message not delivered: {said}", channels=[d.channel for d in failed]
            )
        return results

    def _send_all(
        self, batches: Sequence[tuple[NotifyChannel, Sequence[Notice]]]
    ) -> list[list[dict[str, Any]]]:
        """Send each channel's notices (in one worker process, the channels at once);
        the outcome of each notice, by channel. A channel whose secret cannot be read
        fails alone, with that reason."""
        outcomes: list[list[dict[str, Any]] | None] = []
        sending: list[dict[str, Any]] = []
        for channel, notices in batches:
            try:
                secret = read_secret(channel.secret)
            except CertwardError as exc:
                outcomes.append([{"ok": False, "error": exc.message, "attempts": 0}] * len(notices))
                continue
            outcomes.append(None)
            sending.append({
                "kind": channel.kind.value,
                "settings": dict(channel.settings),
                "secret": secret,
                "messages": [n.to_json() for n in notices],
            })  # fmt: skip
        if sending:
            answer = run_worker({"op": "send", "batches": sending})
            results = answer.get("results")
            if not isinstance(results, list) or [len(r) for r in results] != [
                len(b["messages"]) for b in sending
            ]:
                raise WATCH_WORKER_FAILED("the worker's answer does not cover every message")
            sent = iter(results)
            outcomes = [next(sent) if o is None else o for o in outcomes]
        return [o or [] for o in outcomes]

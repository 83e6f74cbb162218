"""ACME accounts and the renewal state of certificates obtained through ACME (issue 15).

Pure: the values the store keeps, and the timing policies (when a certificate is due, when
a failed attempt is tried again) as functions of ``now``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class AcmeAccount:
    """An account at one ACME directory. The account key is in the store's key vault, never
    here: ``thumbprint`` (RFC 7638, base64url) and ``public_jwk`` name its public part."""

    directory_url: str
    email: str
    account_url: str
    thumbprint: str
    public_jwk: str  # JSON of the public JWK
    created: dt.datetime
    eab_kid: str | None = None
    ca_bundle: str | None = None  # the file of roots that verify the directory's HTTPS
    account_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "directory": self.directory_url,
            "email": self.email,
            "account_url": self.account_url,
            "key_thumbprint": self.thumbprint,
            "eab_kid": self.eab_kid,
            "ca_bundle": self.ca_bundle,
            "created": _iso(self.created),
        }


@dataclass(frozen=True, slots=True)
class AcmeError:
    """A failure as stored: its certward code, the detail, and the ACME problem type."""

    code: str
    detail: str
    problem: str | None = None  # urn:ietf:params:acme:error:*


@dataclass(frozen=True, slots=True)
class AcmeOrder:
    """A certificate kept alive through ACME: which account obtains it, for which names on
    which server, answered by which challenge solver; and how the last attempt went.

    ``thumbprint`` is the current certificate's (None until the first issuance succeeded);
    a renewal replaces it with the new certificate's."""

    account_id: int
    server: str
    names: tuple[str, ...]
    challenge: str  # "http-01" | "dns-01" | "tls-alpn-01"
    solver_options: Mapping[str, str] = field(default_factory=dict)
    thumbprint: str | None = None
    order_url: str | None = None
    key_size: int = 2048
    exportable: bool = False
    attempts: int = 0  # failed attempts since the last success
    last_attempt: dt.datetime | None = None
    next_attempt: dt.datetime | None = None
    retry_after: dt.datetime | None = None
    error: AcmeError | None = None
    order_id: int | None = None

    @property
    def failing(self) -> bool:
        return self.error is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.order_id,
            "account_id": self.account_id,
            "server": self.server,
            "names": list(self.names),
            "challenge": self.challenge,
            "solver_options": dict(self.solver_options),
            "thumbprint": self.thumbprint,
            "order_url": self.order_url,
            "attempts": self.attempts,
            "last_attempt": _iso(self.last_attempt),
            "next_attempt": _iso(self.next_attempt),
            "retry_after": _iso(self.retry_after),
            "last_error": None
            if self.error is None
            else {
                "code": self.error.code,
                "detail": self.error.detail,
                "problem": self.error.problem,
            },
        }


# -- timing policies -------------------------------------------------------------------------
FIRST_RETRY = dt.timedelta(minutes=5)
RETRY_CAP = dt.timedelta(hours=24)


def backoff(
    attempts: int, *, first: dt.timedelta = FIRST_RETRY, cap: dt.timedelta = RETRY_CAP
) -> dt.timedelta:
    """Capped exponential backoff: ``first`` after one failure, doubled per further one."""
    if attempts < 1:
        return dt.timedelta(0)
    factor: int = 2 ** min(attempts - 1, 32)
    return min(cap, first * factor)


def next_attempt(
    now: dt.datetime, attempts: int, retry_after: dt.datetime | None = None
) -> dt.datetime:
    """When a certificate whose last ``attempts`` attempts failed is tried again: after the
    backoff, and never before the server's ``Retry-After``."""
    when = now + backoff(attempts)
    if retry_after is not None and retry_after > when:
        return retry_after
    return when


def may_attempt(order: AcmeOrder, now: dt.datetime) -> bool:
    """Whether the stored backoff and ``Retry-After`` allow an attempt at ``now``."""
    if order.retry_after is not None and now < order.retry_after:
        return False
    return order.next_attempt is None or order.error is None or now >= order.next_attempt

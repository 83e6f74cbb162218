"""Who may do what: users and API tokens with roles (issue 14).

Three roles, each allowing what the one before it does: a **reader** sees everything but
private keys; an **operator** also enables certificates, renews, probes and runs checks; an
**admin** also exports keys, rotates the master key and manages users and tokens. A fourth,
**agent** (issue 15), is below them all and belongs to API tokens bound to one host: it may
only fetch that host's deployments (with their keys) and report their results. Passwords
and token secrets are stored only as slow hashes (``certward.passwords``); a token's
secret is shown once, when it is made.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

# Channel is the audit log's (``via``); named here too, where a principal says how it acts.
from certward.model.audit import Channel as Channel


class AccessRole(enum.StrEnum):
    READER = "reader"
    OPERATOR = "operator"
    ADMIN = "admin"
    AGENT = "agent"  # a host agent's token only: its own host's deployments, nothing else

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: AccessRole) -> bool:
        """This role may do what ``needed`` may."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, text: str) -> AccessRole:
        for member in cls:
            if member.value == text.strip().lower():
                return member
        valid = ", ".join(member.value for member in cls)
        raise ValueError(f"unknown role {text!r}; valid roles: {valid}")


_RANKS = {
    AccessRole.AGENT: -1,
    AccessRole.READER: 0,
    AccessRole.OPERATOR: 1,
    AccessRole.ADMIN: 2,
}


@dataclass(frozen=True, slots=True)
class User:
    name: str  # unique, case-insensitively
    role: AccessRole
    password_hash: str = field(repr=False)
    created_at: dt.datetime
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token. ``token_id`` is the public part of the secret (``cw_<id>_<secret>``),
    used to find the row; only a slow hash of the whole secret is kept."""

    token_id: str
    name: str
    role: AccessRole
    secret_hash: str = field(repr=False)
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None = None  # None: never
    last_used_at: dt.datetime | None = None
    revoked: bool = False
    host: str | None = None  # an agent token's host (role agent only)

    def valid_at(self, now: dt.datetime) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting, as the audit log names them: a user, a token, or the local account
    running the command line."""

    name: str
    role: AccessRole
    via: Channel
    host: str | None = None  # an agent token's host (role agent only)


@dataclass(frozen=True, slots=True)
class WebSession:
    """A console session: who, the CSRF token every form of it carries, and when it ends
    unless used again (it expires after a time without use)."""

    principal: Principal
    csrf_token: str = field(repr=False)
    expires_at: dt.datetime

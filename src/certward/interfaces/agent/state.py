"""The agent's memory under ``--root``: what it last deployed, what it was deploying when it
stopped, and the outcomes the API has not yet received.

``ROOT/agent-state.json`` is rewritten atomically (a new file renamed over the old, fsynced)
before and after every deploy, so a restart knows where the last run stopped: a deployment
still marked *pending* was interrupted (the agent was killed mid-deploy) and is deployed
again, whatever its files hold. ``ROOT/agent.lock`` keeps a second agent off the same root.
No key material is ever in either file.

A state file that cannot be parsed (a disk that lost it, a hand that edited it) does not
keep the agent from running: it is moved aside as ``agent-state.json.unreadable`` with one
log line, and the agent starts afresh — it probes each port, records what is served, and
deploys what is not (the outcomes it had not yet reported are lost with the file).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certward.atomic import write_atomically
from certward.codes.agents import AGENT_STATE_INVALID
from certward.model.deploy import DeployOutcome

log = logging.getLogger("certward.agent")

STATE_FILE = "agent-state.json"
UNREADABLE_SUFFIX = ".unreadable"
LOCK_FILE = "agent.lock"
MAX_UNREPORTED = 200  # outcomes kept for the API while it cannot be reached (newest kept)


@dataclass(frozen=True, slots=True)
class Deployed:
    """A deployment's last attempt on this host: the certificate tried, and whether it was
    served (``ok``) — after a failure the previous files were restored."""

    thumbprint: str
    ok: bool
    when: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"thumbprint": self.thumbprint, "ok": self.ok, "when": self.when.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployed:
        when = dt.datetime.fromisoformat(str(data["when"]))
        return cls(str(data["thumbprint"]), bool(data["ok"]), when)


@dataclass
class AgentState:
    """What the agent keeps between runs (see the module's description)."""

    host: str
    deployed: dict[str, Deployed] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)  # deployment -> thumbprint
    unreported: list[tuple[str, DeployOutcome]] = field(default_factory=list)

    def add_unreported(self, name: str, outcome: DeployOutcome) -> None:
        """Keep an outcome for the API (the newest :data:`MAX_UNREPORTED`, however long the
        API stays away)."""
        self.unreported.append((name, outcome))
        del self.unreported[:-MAX_UNREPORTED]

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "deployed": {name: d.to_json() for name, d in sorted(self.deployed.items())},
            "pending": dict(sorted(self.pending.items())),
            "unreported": [
                {"deployment": name, "outcome": outcome.to_json()}
                for name, outcome in self.unreported[-MAX_UNREPORTED:]
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentState:
        return cls(
            host=str(data["host"]),
            deployed={
                str(name): Deployed.from_json(d) for name, d in dict(data["deployed"]).items()
            },
            pending={str(k): str(v) for k, v in dict(data.get("pending") or {}).items()},
            unreported=[
                (str(item["deployment"]), DeployOutcome.from_json(item["outcome"]))
                for item in data.get("unreported") or []
            ],
        )


class StateFile:
    """``ROOT/agent-state.json``: loaded once, saved after every change."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / STATE_FILE

    def load(self, host: str) -> AgentState:
        """The state kept for ``host`` (a fresh one when there is none, it was another
        host's, or it cannot be parsed: then it is moved aside); ``agent.state_invalid``
        names a file that cannot be read at all (permissions, I/O)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return AgentState(host)
        except OSError as exc:
            raise AGENT_STATE_INVALID(
                f"{self.path}: cannot be read ({exc.strerror or exc})", path=str(self.path)
            ) from None
        try:
            state = AgentState.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self.path.with_name(self.path.name + UNREADABLE_SUFFIX)
            try:
                os.replace(self.path, aside)
            except OSError as moved:
                raise AGENT_STATE_INVALID(
                    f"{self.path}: not an agent state file ({type(exc).__name__}), and it "
                    f"cannot be moved aside ({moved.strerror or moved})",
                    path=str(self.path),
                ) from None
            log.warning(
                "%s: not an agent state file (%s); moved to %s, starting afresh: each port "
                "is probed and what it does not serve is deployed",
                self.path,
                type(exc).__name__,
                aside.name,
            )
            return AgentState(host)
        return state if state.host.lower() == host.lower() else AgentState(host)

    def save(self, state: AgentState) -> None:
        data = json.dumps(state.to_json(), indent=1, sort_keys=True).encode() + b"\n"
        write_atomically(self.path, data, mode=0o600, replace=True)


@contextlib.contextmanager
def locked(root: Path) -> Iterator[bool]:
    """Hold ``ROOT/agent.lock`` while the block runs; yields False when another agent
    holds it (the block should then stop)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield True
    finally:
        os.close(fd)

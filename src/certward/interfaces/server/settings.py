"""What ``certward web`` is asked for: where it listens, whose IIS certificate it serves."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8443


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Settings of one web service process.

    ``server``: the server whose IIS certificate the console presents (None: the first
    server certward runs that has one). ``metrics_cache_seconds``: how long one computation
    of ``/metrics`` is served again. ``tls_poll_seconds``: how often the store is asked
    whether the IIS certificate changed. ``run_scheduler``: whether the lifespan starts the
    scheduler of checks, probes and notifications. ``metrics_open_on_loopback``: whether
    ``/metrics`` answers a loopback client without a token (a reader token is needed from
    anywhere else). ``health_in_worker``: whether the scheduler's health runs happen in a
    long-lived worker process (started and stopped with the scheduler) rather than in this
    one, so that requests never wait for a check of the organisation."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    server: str | None = None
    metrics_cache_seconds: float = 5.0
    tls_poll_seconds: float = 2.0
    run_scheduler: bool = True
    metrics_open_on_loopback: bool = True
    health_in_worker: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, not {self.port}")
        if self.metrics_cache_seconds < 0 or self.tls_poll_seconds <= 0:
            raise ValueError("metrics_cache_seconds and tls_poll_seconds must be positive")


def is_loopback(host: str | None) -> bool:
    """Whether a client address is this machine's own (127.0.0.0/8, ::1)."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host == "localhost"

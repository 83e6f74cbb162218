"""Loopback ports for the servers the tests start, chosen so that nothing else takes them.

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` comes from its ephemeral range,
the same range every outgoing connection's local port comes from. Between the test choosing
it and the server binding it, another xdist worker's client could take it, and the server
then failed with "Address already in use" (CI, stop 21). So ports come from below the
ephemeral range, where the kernel never picks one, and each xdist worker has its own slice
of that range: no other worker of the run can choose the same port. A port is still checked
free before it is given (another program, or a server of an earlier test still stopping).
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = ["free_port", "free_udp_tcp_port"]

_LOW = 20000
_SLICE = 500


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    except OSError:
        return 32768
    return int(text.split()[0])


def _worker() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = name.removeprefix("gw")
    return int(digits) if digits.isdigit() else 0


def _candidates() -> Iterator[int]:
    """This worker's slice, starting at a place of this process's own (two test runs at once
    on one machine then rarely meet)."""
    slices = max(1, (_ephemeral_low() - _LOW) // _SLICE)
    first = _LOW + (_worker() % slices) * _SLICE
    start = os.getpid() % _SLICE
    ports = [first + (start + i) % _SLICE for i in range(_SLICE)]
    return itertools.cycle(ports)


_next = _candidates()


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _take(kinds: tuple[socket.SocketKind, ...], candidates: Iterator[int] = _next) -> int:
    for _ in range(_SLICE):
        port = next(candidates)
        if all(_bindable(port, kind) for kind in kinds):
            return port
    raise RuntimeError(f"no free port on 127.0.0.1 in this worker's {_SLICE} ports")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free, outside the kernel's ephemeral range, and
    given to no other worker of this run."""
    return _take((socket.SOCK_STREAM,))


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (a DNS server listens on both)."""
    return _take((socket.SOCK_STREAM, socket.SOCK_DGRAM))

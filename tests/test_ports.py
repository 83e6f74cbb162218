"""The tests' own port chooser: ports the kernel never hands out, one slice per xdist worker."""

from __future__ import annotations

import itertools
import socket

import pytest

from tests import ports


def test_ports_are_below_the_ephemeral_range_free_and_not_repeated() -> None:
    chosen = [ports.free_port() for _ in range(20)]
    assert len(set(chosen)) == 20
    assert all(ports._LOW <= port < ports._ephemeral_low() for port in chosen)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", chosen[-1]))  # still free: the check left nothing bound


def test_a_port_in_use_is_passed_over() -> None:
    with socket.socket() as held, socket.socket() as spare:
        held.bind(("127.0.0.1", 0))
        held.listen()
        spare.bind(("127.0.0.1", 0))
        taken, free = held.getsockname()[1], spare.getsockname()[1]
        spare.close()
        assert ports._take((socket.SOCK_STREAM,), itertools.cycle([taken, free])) == free


def test_each_worker_has_its_own_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    def slice_of(worker: str) -> set[int]:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        candidates = ports._candidates()
        return {(next(candidates) - ports._LOW) // ports._SLICE for _ in range(ports._SLICE)}

    seen = [slice_of(worker) for worker in ("gw0", "gw1", "gw7")]
    assert seen == [{0}, {1}, {7}]

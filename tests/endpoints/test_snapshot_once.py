"""A running server's snapshot answers per-connection questions from what it worked out once
(issue 16: a server with hundreds of receive connectors scanned them, and built and checked
a chain, for each connection): the same answers as working them out each time."""

from __future__ import annotations

from pathlib import Path

import pytest

from certward.compose import build_app
from certward.pki import certinfo, chain
from certward.services.endpoints import load_snapshot
from tests.conftest import Cli


def test_connectors_chains_and_facts_are_worked_out_once_per_snapshot(
    org: Cli, isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build_app(str(isolated_store))
    try:
        snapshot = load_snapshot(app.store, "EXCH01")
    finally:
        app.store.close()
    receive = snapshot.receive_connectors
    assert receive and snapshot.receive_connectors is receive
    for connector in receive:
        assert snapshot.receive_connector(connector.identity) is connector
    assert snapshot.receive_connector("EXCH01\\No such connector") is None

    built: list[object] = []
    real = chain.build_chain

    def counted(*args: object, **kwargs: object) -> object:
        built.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(chain, "build_chain", counted)
    cert = snapshot.candidates[0].x509()
    first = snapshot.chain_for(cert)
    assert snapshot.chain_for(cert) == first and len(built) == 1
    snapshot.chain_for(cert).append(cert)  # a caller's list: the remembered one is unchanged
    assert snapshot.chain_for(cert) == first
    assert snapshot.certificate_facts(cert) is snapshot.certificate_facts(cert)
    assert snapshot.certificate_facts(cert) == certinfo.facts(cert)

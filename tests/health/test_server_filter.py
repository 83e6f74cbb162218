"""``certward health --server`` keeps a server's findings whatever the case of its name."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Cli


@pytest.mark.parametrize("asked", ["EXCH02", "exch02", "Exch02"])
def test_health_server_matches_findings_case_insensitively(org: Cli, asked: str) -> None:
    org("server", "set", "EXCH02", "--tls-min-version", "1.0")
    result = org("health", "--server", asked, "--json", ok=False)
    report = json.loads(result.stdout)
    assert report["servers"] == ["EXCH02"]
    found = {(f["rule"], f["server"]) for f in report["findings"]}
    assert ("CW-TLS-001", "EXCH02") in found
    assert all(f["server"] in (None, "EXCH02") for f in report["findings"])
    assert result.exit_code == 1


def test_health_server_leaves_out_the_other_servers_findings(org: Cli) -> None:
    org("server", "set", "EXCH02", "--tls-min-version", "1.0")
    report = json.loads(org("health", "--server", "exch01", "--json").stdout)
    assert report["servers"] == ["EXCH01"]
    assert not [f for f in report["findings"] if f["server"] == "EXCH02"]

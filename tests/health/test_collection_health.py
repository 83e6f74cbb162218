"""collect → observe → health on a whole organisation (issue 13's acceptance): health on a
collection zip reports only what the data supports.

The zip is the collector-shaped fixture of tests/interop/fixtures/collection (contoso.json
names its certificates): three Mailbox servers fully collected, and EDGE01, whose WinRM
session failed, so only its Get-ExchangeCertificate and receive connectors are in the zip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from certward.interfaces.cli.app import app
from tests.conftest import Cli

COLLECTION = Path(__file__).parents[1] / "interop" / "fixtures" / "collection"
AS_OF = "2026-11-02"  # the day of the collection


def _health(cli: Cli) -> list[dict[str, Any]]:
    cli("observe", str(COLLECTION / "contoso-1.zip"))
    result = cli.runner.invoke(app, ["health", "--json", "--as-of", AS_OF])
    report = json.loads(result.stdout)
    assert result.exit_code == report["exit_status"] == 2
    return list(report["findings"])


def test_health_on_a_collection_judges_only_what_it_showed(cli: Cli) -> None:
    names = json.loads((COLLECTION / "contoso.json").read_text(encoding="utf-8"))
    found = _health(cli)
    not_judged = [f for f in found if f["message"].startswith("not judged: needs ")]
    assert not_judged and all(f["severity"] == "info" for f in not_judged)
    # The fully collected servers show everything the rules need ...
    assert {f["server"] for f in not_judged} == {"EDGE01"}
    # ... and EDGE01, whose collection failed, gets no verdict at all, only what is missing.
    assert all(f["severity"] == "info" for f in found if f["server"] == "EDGE01")
    assert {f["rule"] for f in not_judged} >= {"CW-TRANS-001", "CW-TLS-001", "CW-CHAIN-001"}
    # What the data does support: the retired certificate a connector still names.
    failures = {(f["rule"], f["server"], f["thumbprint"] or f["connector"]) for f in found
                if f["severity"] != "info"}  # fmt: skip
    assert failures == {
        ("CW-CERT-001", "EXCH01", names["retired"]),
        ("CW-CONN-001", "EXCH01", names["retired"]),
    }

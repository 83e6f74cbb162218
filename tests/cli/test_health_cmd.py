"""``certward health`` and ``certward rules`` from the command line, on a real store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from certward.health.catalogue import rules_markdown
from tests.conftest import Cli, error_line, thumbprints

REPO = Path(__file__).resolve().parents[2]


def test_docs_rules_md_is_generated_from_the_registry(cli: Cli) -> None:
    committed = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == rules_markdown(), "docs/rules.md is stale: certward rules --markdown"
    assert cli("rules", "--markdown").stdout == committed
    assert "CW-ROOT-001" in cli("rules").stdout


def test_a_clean_organisation_built_with_defaults_has_no_error(org: Cli) -> None:
    report = org.json("health")
    assert report["schema_version"] == 1
    assert report["servers"] == ["EXCH01", "EXCH02"]
    assert not [f for f in report["findings"] if f["severity"] in ("error", "critical")]
    assert report["exit_status"] == 0
    result = org("health")
    assert "no findings" in result.stdout


def test_warnings_only_exit_1_errors_exit_2(org: Cli) -> None:
    org("server", "set", "EXCH02", "--tls-min-version", "1.0")
    result = org("health", ok=False)
    assert result.exit_code == 1
    assert "CW-TLS-001" in result.stdout and "EXCH02" in result.stdout
    assert "certward server set EXCH02 --tls-min-version 1.2" in result.stdout

    # A self-signed certificate on IIS behind an external URL it does not carry.
    org(
        "vdir", "set", "owa", "--server", "EXCH01", "--external-url", "https://mail.contoso.com/owa"
    )
    result = org("health", "--json", ok=False)
    assert result.exit_code == 2
    findings = _findings(result.stdout)
    rules = {(f["rule"], f["severity"], f["server"]) for f in findings}
    assert ("CW-NAME-001", "error", "EXCH01") in rules
    assert ("CW-SELF-001", "error", "EXCH01") in rules
    assert ("CW-TLS-001", "warning", "EXCH02") in rules
    for finding in findings:
        assert finding["remediation"]["certward"].startswith("certward ")
        assert finding["remediation"]["shell"]


def test_filters(org: Cli) -> None:
    org("server", "set", "EXCH02", "--tls-min-version", "1.1")
    assert org("health", "--server", "EXCH01").exit_code == 0
    assert org("health", "--min-severity", "error").exit_code == 0
    assert org("health", "--server", "EXCH02", ok=False).exit_code == 1


def test_as_of_shows_what_will_be_broken(org: Cli) -> None:
    default = next(c for c in thumbprints(org, "EXCH01").values() if c["is_default_smtp"])
    expiry = dt.datetime.fromisoformat(default["not_after"])
    soon = (expiry - dt.timedelta(days=20)).date().isoformat()
    later = (expiry + dt.timedelta(days=1)).date().isoformat()
    result = org("health", "--as-of", soon, "--json", ok=False)
    found = {(f["rule"], f["severity"], f["thumbprint"]) for f in _findings(result.stdout)}
    assert ("CW-CERT-001", "error", default["thumbprint"]) in found
    result = org("health", "--as-of", later, "--json", ok=False)
    found = {(f["rule"], f["severity"]) for f in _findings(result.stdout)}
    assert ("CW-TRANS-001", "critical") in found
    assert result.exit_code == 2


def test_html_report_is_self_contained_with_a_timeline(org: Cli, tmp_path: Path) -> None:
    org("server", "set", "EXCH02", "--tls-min-version", "1.0")
    out = tmp_path / "health.html"
    org("health", "--html", str(out), ok=False)
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "<svg" in page and "certificate expiry timeline" in page
    assert "CW-TLS-001" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # no external assets


def test_usage_errors(org: Cli) -> None:
    assert "severity" in error_line(org, "health", "--min-severity", "loud")
    assert "ISO 8601" in error_line(org, "health", "--as-of", "next tuesday")
    assert "NOPE" in error_line(org, "health", "--server", "NOPE")


def _findings(stdout: str) -> list[dict[str, Any]]:
    return list(json.loads(stdout)["findings"])


def test_powershell_script_of_the_fixes(org: Cli) -> None:
    org("server", "set", "EXCH02", "--tls-min-version", "1.0")
    org(
        "vdir", "set", "owa", "--server", "EXCH01", "--external-url", "https://mail.contoso.com/owa"
    )
    result = org("health", "--powershell", ok=False)
    assert result.exit_code == 2
    script = result.stdout
    assert script.startswith("# certward health as of ")
    assert "# [error] CW-NAME-001 EXCH01:" in script
    assert "New-ExchangeCertificate -Server EXCH01 -GenerateRequest" in script
    assert "# [warning] CW-TLS-001 EXCH02:" in script
    commands = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert len(commands) == len(set(commands))  # each fix once

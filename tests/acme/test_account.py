"""ACME accounts: registered with the terms agreed, with an external account binding where
the CA requires one (Pebble's EAB example keys), the key sealed and never shown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acme.pebble import EAB_KEYS, ChallTestSrv, Pebble, start_pebble
from tests.conftest import Cli, error_line


@pytest.fixture(scope="module")
def pebble(
    tmp_path_factory: pytest.TempPathFactory, challtestsrv: ChallTestSrv
) -> Iterator[Pebble]:
    """This module's Pebble requires external account binding (its example keys)."""
    server = start_pebble(
        tmp_path_factory.mktemp("pebble-eab"),
        dns_server=challtestsrv.dns_address,
        eab_keys=EAB_KEYS,
    )
    try:
        yield server
    finally:
        server.stop()


def test_account_with_external_binding(
    org: Cli, pebble: Pebble, tmp_path: Path, isolated_store: Path
) -> None:
    before = _sealed_keys(org)
    hmac = tmp_path / "eab.key"
    hmac.write_text(EAB_KEYS["kid-1"] + "\n")
    added = json.loads(
        org("acme", "account", "add", "--directory", pebble.directory_url,
            "--email", "hostmaster@contoso.test", "--eab-kid", "kid-1",
            "--eab-hmac-file", str(hmac), "--ca-bundle", str(pebble.ca_bundle),
            "--json").stdout
    )  # fmt: skip
    assert added["eab_kid"] == "kid-1" and added["account_url"].startswith("https://127.0.0.1:")
    assert len(added["key_thumbprint"]) == 43  # SHA-256, base64url
    listed = org("acme", "account", "list", "--json").stdout
    assert json.loads(listed)[0]["account_url"] == added["account_url"]
    for secret in (EAB_KEYS["kid-1"], "PRIVATE KEY", '"d"'):
        assert secret not in listed
    # the key is sealed like every other key: key check opens it, key rotate re-seals it
    assert _sealed_keys(org) == before + 1
    org("key", "rotate")
    assert _sealed_keys(org) == before + 1


def _sealed_keys(org: Cli) -> int:
    found = re.search(r"(\d+) stored private keys open", org("key", "check").stdout)
    assert found is not None
    return int(found.group(1))


def test_binding_required_and_refused(org: Cli, pebble: Pebble, tmp_path: Path) -> None:
    line = error_line(
        org, "acme", "account", "add", "--directory", pebble.directory_url,
        "--email", "hostmaster@contoso.test", "--ca-bundle", str(pebble.ca_bundle),
    )  # fmt: skip
    assert "externalAccountRequired" in line
    wrong = tmp_path / "wrong.key"
    wrong.write_text(EAB_KEYS["kid-2"])  # kid-2's key under kid-1's name
    line = error_line(
        org, "acme", "account", "add", "--directory", pebble.directory_url,
        "--email", "hostmaster@contoso.test", "--eab-kid", "kid-1",
        "--eab-hmac-file", str(wrong), "--ca-bundle", str(pebble.ca_bundle),
    )  # fmt: skip
    assert "error: " in line and EAB_KEYS["kid-2"] not in line
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not base64 at all!")
    result = org("acme", "account", "add", "--directory", pebble.directory_url,
                 "--email", "a@contoso.test", "--eab-kid", "kid-1",
                 "--eab-hmac-file", str(garbage), ok=False)  # fmt: skip
    assert result.exit_code == 2 and str(garbage) in result.stderr
    assert json.loads(org("acme", "account", "list", "--json").stdout) == []

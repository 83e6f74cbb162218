"""``certward user``, ``certward token`` and the command line's actor (issue 14)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
import typer

from certward.interfaces.cli.app import app
from certward.interfaces.cli.common import cli_actor
from certward.model.access import Channel
from tests.access.conftest import MASTER_KEY
from tests.conftest import Cli


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", MASTER_KEY)  # used as is: no scrypt


def test_users_are_added_listed_and_changed(cli: Cli, tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("correct horse battery staple\n")
    short = tmp_path / "short"
    short.write_text("hunter2\n")
    empty = tmp_path / "empty"
    empty.write_text("")

    added = cli("user", "add", "alice", "--role", "admin", "--password-file", str(password))
    assert "Added user alice (admin)" in added.stdout
    refused = cli("user", "add", "bob", "--role", "reader", "--password-file", str(short), ok=False)
    assert "at least 12 characters" in refused.stderr and refused.exit_code == 2
    refused = cli("user", "add", "bob", "--role", "reader", "--password-file", str(empty), ok=False)
    assert "password is empty" in refused.stderr
    no_file = cli("user", "add", "bob", "--role", "reader", ok=False)  # not a terminal
    assert "--password-file" in no_file.stderr
    bad_role = cli(
        "user", "add", "bob", "--role", "root", "--password-file", str(password), ok=False
    )
    assert "valid roles: reader, operator, admin" in bad_role.stderr
    cli("user", "add", "bob", "--role", "reader", "--password-file", str(password))

    cli("user", "set", "bob", "--role", "operator")
    cli("user", "set", "bob", "--disable")
    users = {u["name"]: u for u in cli.json("user", "list")}
    assert (users["bob"]["role"], users["bob"]["disabled"]) == ("operator", True)
    assert users["alice"]["role"] == "admin" and "password" not in json.dumps(users)
    nothing = cli("user", "set", "bob", ok=False)
    assert "nothing to change" in nothing.stderr
    last = cli("user", "set", "alice", "--role", "reader", ok=False)
    assert "only enabled admin" in last.stderr
    missing = cli("user", "set", "carol", "--disable", ok=False)
    assert "no user 'carol'" in missing.stderr and "certward user list" in missing.stderr
    listed = cli("user", "list").stdout
    assert "bob" in listed and "disabled" in listed

    (entry,) = cli.json("audit", "list", "--action", "user set bob --disable")
    assert entry["actor"] == getpass.getuser() and entry["via"] == "cli"
    assert entry["changes"] == [
        {
            "kind": "user",
            "identity": "bob",
            "before": {"disabled": False},
            "after": {"disabled": True},
        }
    ]


def test_a_token_s_secret_is_printed_once(cli: Cli) -> None:
    made = cli("token", "create", "grafana", "--role", "reader", "--expires", "90d")
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("cw_") and "only time the token is shown" in made.stderr
    (token,) = cli.json("token", "list")
    assert secret.startswith(f"cw_{token['id']}_")
    assert token["role"] == "reader" and token["valid"] and token["revoked"] is False
    assert token["created_by"] == getpass.getuser()
    assert secret not in cli("token", "list").stdout
    assert secret not in json.dumps(cli.json("token", "list"))
    assert secret not in json.dumps(cli.json("audit", "list"))

    forever = cli.json("token", "create", "ci", "--role", "operator", "--expires", "never")
    assert forever["expires_at"] is None and forever["secret"].startswith("cw_")
    wrong = cli("token", "create", "x", "--role", "reader", "--expires", "90 days", ok=False)
    assert "12h, 90d, 2w" in wrong.stderr

    assert f"Revoked token {token['id']} (grafana)" in cli("token", "revoke", token["id"]).stdout
    states = {t["name"]: (t["revoked"], t["valid"]) for t in cli.json("token", "list")}
    assert states == {"grafana": (True, False), "ci": (False, True)}
    unknown = cli("token", "revoke", "0123456789ab", ok=False)
    assert "certward token list" in unknown.stderr


def test_the_command_line_acts_as_the_local_account_without_secret_values() -> None:
    root = typer.main.get_command(app)
    actor = cli_actor(
        root,
        ["cert", "export", "ABC", "--out", "web site.pfx", "--db", "postgresql://u:pw@h/x",
         "--password-file", "pw.txt", "--new-key=s3cret"],
    )  # fmt: skip
    assert actor.via is Channel.CLI and actor.name == getpass.getuser()
    assert actor.action == (
        "cert export ABC --out 'web site.pfx' --db *** --password-file pw.txt --new-key=***"
    )
    assert cli_actor(root, ["quickstart", "--json"]).action == "quickstart --json"


def _thumbprint(listed: list[dict[str, str]]) -> str:
    return next(c["thumbprint"] for c in listed if c["subject"] == "CN=mail.contoso.com")


def test_every_way_a_private_key_is_written_out_is_audited(cli: Cli, tmp_path: Path) -> None:
    """``cert export`` (the store's key) and ``pfx convert`` (a key in a file, rewritten):
    each writes a ``key.export`` entry with the file and thumbprint, never the password."""
    secret = "pfx-password-12345"
    (tmp_path / "pw").write_text(secret + "\n")
    cli("org", "init", "Contoso", "--domain", "contoso.com")
    cli("server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")
    cli("cert", "new", "--server", "EXCH01", "--subject", "CN=mail.contoso.com",
        "--exportable", "--services", "IIS")  # fmt: skip
    thumb = _thumbprint(cli.json("cert", "list", "--server", "EXCH01"))
    exported, converted = tmp_path / "mail.pfx", tmp_path / "mail-capi.pfx"
    cli("cert", "export", thumb, "--server", "EXCH01", "--out", str(exported),
        "--password-file", str(tmp_path / "pw"))  # fmt: skip
    cli("pfx", "convert", str(exported), "--out", str(converted), "--to", "cng",
        "--password-file", str(tmp_path / "pw"))  # fmt: skip

    entries = cli.json("audit", "list", "--action", "key.export")
    details = {e["detail"]["file"]: e["detail"] for e in entries}
    assert details[str(exported)]["thumbprint"] == thumb
    assert details[str(exported)]["server"] == "EXCH01"
    assert details[str(converted)]["thumbprint"] == thumb
    assert details[str(converted)]["source"] == str(exported)
    assert {e["action"].split()[0] for e in entries} == {"key.export"}
    assert secret not in json.dumps(cli.json("audit", "list", "--limit", "1000"))


def test_pfx_convert_without_a_store_creates_none(
    cli: Cli, tmp_path: Path, isolated_store: Path
) -> None:
    (tmp_path / "pw").write_text("pfx-password-12345\n")
    other = str(tmp_path / "other.db")  # a store elsewhere makes the PFX
    cli("--db", other, "org", "init", "Contoso", "--domain", "contoso.com")
    cli("--db", other, "server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")
    cli("--db", other, "cert", "new", "--server", "EXCH01", "--subject",
        "CN=mail.contoso.com", "--exportable", "--services", "IIS")  # fmt: skip
    thumb = _thumbprint(cli.json("--db", other, "cert", "list", "--server", "EXCH01"))
    exported = tmp_path / "mail.pfx"
    cli("--db", other, "cert", "export", thumb, "--server", "EXCH01", "--out",
        str(exported), "--password-file", str(tmp_path / "pw"))  # fmt: skip
    cli("pfx", "convert", str(exported), "--out", str(tmp_path / "capi.pfx"), "--to", "capi",
        "--password-file", str(tmp_path / "pw"))  # fmt: skip
    assert (tmp_path / "capi.pfx").exists() and not isolated_store.exists()

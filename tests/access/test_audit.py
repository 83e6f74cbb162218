"""The audit log (issue 14): the command line's changes with their actor and before/after, a
PFX export recorded without its password, and no secret in any row after a quickstart and
every kind of access, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from certward.compose import build_app
from certward.model.access import Channel
from certward.model.audit import Actor, acting
from tests.access.conftest import MASTER_KEY, new_database
from tests.conftest import Cli

ADMIN_PASSWORD = "correct horse battery staple"
PFX_PASSWORD = "pfx-password-never-logged"


@dataclass
class Audited:
    db: str
    cli: Cli
    entries: list[dict[str, Any]]  # audit list --json, newest first
    raw_rows: list[str]  # every audit_log row as text, all columns
    secrets: dict[str, str] = field(default_factory=dict)
    webmail: str = ""
    self_signed: str = ""
    pfx_file: str = ""


def _thumb(cli: Cli, db: str, subject_start: str) -> str:
    listed = json.loads(cli("--db", db, "cert", "list", "--server", "EXCH01", "--json").stdout)
    return next(c["thumbprint"] for c in listed if c["subject"].startswith(subject_start))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def audited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Audited]:
    """A store after a quickstart, a user, a token, logins, a console session, a one-time
    code, ``cert enable`` and ``cert export`` from the command line (made once per backend)."""
    directory = tmp_path_factory.mktemp("audit")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CERTWARD_MASTER_KEY", MASTER_KEY)
        env.setenv("XDG_DATA_HOME", str(directory / "xdg"))
        env.delenv("COLUMNS", raising=False)
        databases = new_database(request.param, directory, request)
        db = next(databases)
        cli = Cli(CliRunner())
        cli("--db", db, "quickstart")
        (directory / "pw").write_text(ADMIN_PASSWORD + "\n")
        (directory / "pfxpw").write_text(PFX_PASSWORD + "\n")
        cli("--db", db, "user", "add", "alice", "--role", "admin", "--password-file",
            str(directory / "pw"))  # fmt: skip
        made = json.loads(
            cli("--db", db, "token", "create", "grafana", "--role", "reader", "--json").stdout
        )
        secrets = {"token": made["secret"], "admin password": ADMIN_PASSWORD}
        secrets["pfx password"] = PFX_PASSWORD

        app = build_app(db)
        try:
            with acting(Actor("alice", Channel.WEB, "POST /login")):
                alice = app.access.login("alice", ADMIN_PASSWORD, source="127.0.0.1")
                session_id, csrf = app.access.open_session(alice)
                code = app.access.one_time_login("alice")
                app.access.redeem_one_time(code)
            app.access.authenticate_token(made["secret"])
            assert app.access.session(session_id) is not None
            secrets |= {"session id": session_id, "csrf token": csrf, "one-time code": code}
            secrets["session id hash"] = hashlib.sha256(session_id.encode()).hexdigest()
            secrets["one-time code hash"] = hashlib.sha256(code.encode()).hexdigest()
        finally:
            app.store.close()

        webmail = _thumb(cli, db, "CN=webmail")
        self_signed = _thumb(cli, db, "CN=EXCH01")
        cli("--db", db, "cert", "enable", webmail, "--server", "EXCH01", "--services",
            "IMAP,POP")  # fmt: skip
        pfx_file = str(directory / "webmail.pfx")
        cli("--db", db, "cert", "export", webmail, "--server", "EXCH01", "--out", pfx_file,
            "--password-file", str(directory / "pfxpw"))  # fmt: skip

        engine = create_engine(db)
        with engine.connect() as conn:
            raw = [" ".join(map(str, row)) for row in conn.execute(text("SELECT * FROM audit_log"))]
            for (hashed,) in conn.execute(text("SELECT password_hash FROM users")):
                secrets["password hash"] = hashed
            for (hashed,) in conn.execute(text("SELECT secret_hash FROM api_tokens")):
                secrets["token hash"] = hashed
            for index, (sealed,) in enumerate(
                conn.execute(text("SELECT encrypted_pkcs8 FROM private_keys"))
            ):
                blob = bytes(sealed)[8:40]
                secrets[f"sealed key {index} (hex)"] = blob.hex()
                secrets[f"sealed key {index} (base64)"] = base64.b64encode(blob).decode()[:40]
        engine.dispose()
        entries = json.loads(cli("--db", db, "audit", "list", "--limit", "1000", "--json").stdout)
        yield Audited(db, cli, entries, raw, secrets, webmail, self_signed, pfx_file)
        databases.close()


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", MASTER_KEY)


def test_cert_enable_from_the_command_line_is_logged_with_the_actor_and_before_after(
    audited: Audited, keyed: None
) -> None:
    (entry,) = [e for e in audited.entries if e["action"].startswith("cert enable")]
    assert entry["actor"] == getpass.getuser() and entry["via"] == "cli"
    assert entry["action"] == (f"cert enable {audited.webmail} --server EXCH01 --services IMAP,POP")
    changes = {c["identity"]: c for c in entry["changes"]}
    webmail = changes[f"EXCH01/My/{audited.webmail}"]
    assert webmail["kind"] == "certificate"
    assert webmail["before"] == {"services": "IIS, SMTP"}
    assert webmail["after"] == {"services": "IMAP, POP, IIS, SMTP"}
    assert set(changes) <= {f"EXCH01/My/{audited.webmail}", f"EXCH01/My/{audited.self_signed}"}

    # the same entry as the command line shows it and filters it
    shown = audited.cli("--db", audited.db, "audit", "list", "--action", "cert enable").stdout
    assert f"EXCH01/My/{audited.webmail} services" in shown and getpass.getuser() in shown
    mine = audited.cli.json(
        "--db", audited.db, "audit", "list", "--actor", "alice", "--limit", "50"
    )
    assert mine and {e["actor"] for e in mine} == {"alice"}
    assert {e["via"] for e in mine} == {"web"}
    assert audited.cli.json("--db", audited.db, "audit", "list", "--since", "2999-01-01") == []
    latest = audited.cli.json("--db", audited.db, "audit", "list", "--limit", "1")
    assert len(latest) == 1 and latest[0]["action"] == "key.export"


def test_a_pfx_export_is_logged_with_server_thumbprint_and_file_but_no_password(
    audited: Audited,
) -> None:
    exports = [e for e in audited.entries if e["action"] == "key.export"]
    by_file = {e["detail"]["file"]: e for e in exports}
    entry = by_file[audited.pfx_file]
    assert entry["detail"] == {
        "server": "EXCH01",
        "thumbprint": audited.webmail,
        "format": "pfx",
        "legacy": False,
        "file": audited.pfx_file,
    }
    assert entry["via"] == "cli" and entry["action"] == "key.export"
    assert entry["changes"] == []
    assert PFX_PASSWORD not in json.dumps(exports)
    # the quickstart's own export (EXCH01's webmail certificate to EXCH02) is logged too
    assert any(e["detail"]["file"] == "" for e in exports)


def test_no_audit_row_holds_a_secret(audited: Audited) -> None:
    kinds = {c["kind"] for e in audited.entries for c in e["changes"]}
    assert {"certificate", "private key", "server", "connector", "user", "token"} <= kinds
    assert {"console session", "one-time login", "organisation", "virtual directory"} <= kinds
    everything = "\n".join(audited.raw_rows) + json.dumps(audited.entries)
    for marker in ("-----BEGIN", "PRIVATE KEY", "scrypt$", "MII"):
        assert marker not in everything, marker
    for name, secret in audited.secrets.items():
        assert secret not in everything, name
    # secrets show as set or changed, never as a value
    tokens = [c for e in audited.entries for c in e["changes"] if c["kind"] == "token"]
    assert tokens[0]["after"]["secret_hash"] == "(set)"
    keys = [c for e in audited.entries for c in e["changes"] if c["kind"] == "private key"]
    assert keys and all(c["after"] == {"encrypted_pkcs8": "(set)"} for c in keys)

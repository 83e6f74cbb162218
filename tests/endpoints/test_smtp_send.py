"""Sending through Send connectors: TlsAuthLevel checks, several servers served at once,
swaks as a client, and the per-server TLS protocol policy."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from certward.compose import App
from certward.endpoints.mailstore import MailStore
from certward.model import Password
from tests.conftest import Cli, find_openssl
from tests.endpoints.conftest import bind, run_certward, serving, store_app
from tests.ports import free_port

OTHER_CONNECTORS = ("Client Frontend", "Outbound Proxy Frontend", "Default", "Client Proxy")


def single_listener(app: App, server: str) -> int:
    port = free_port()
    bind(app, f"Default Frontend {server}", port)
    for name in OTHER_CONNECTORS:
        app.connectors.remove(f"{name} {server}")
    return port


@pytest.fixture
def two_servers(org: Cli, isolated_store: Path) -> tuple[int, int]:
    """EXCH01 and EXCH02 each with one receive connector; alice@contoso.com on EXCH01
    (through the services: one opening of the store, not a command per step)."""
    with store_app(isolated_store) as app:
        app.mail.add_domain("contoso.com")
        app.mail.add_mailbox("alice@contoso.com", server="EXCH01", password=Password(b"x"))
        return single_listener(app, "EXCH01"), single_listener(app, "EXCH02")


def subject_at(port: int, *flags: str) -> str:
    """The subject of the certificate presented after STARTTLS ("" when TLS failed)."""
    done = subprocess.run(
        [find_openssl(), "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}", *flags],
        input=b"", capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    out = done.stdout.decode(errors="replace")
    subject = next((ln for ln in out.splitlines() if ln.startswith("subject=")), "")
    return subject.removeprefix("subject=").strip()


def test_two_servers_of_one_organisation_serve_side_by_side(
    org: Cli, two_servers: tuple[int, int], isolated_store: Path
) -> None:
    one, two = two_servers
    with serving("EXCH01", isolated_store), serving("EXCH02", isolated_store):
        assert subject_at(one) == "CN = EXCH01"
        assert subject_at(two) == "CN = EXCH02"


def test_certificate_validation_needs_the_remote_root_in_the_senders_store(
    org: Cli, two_servers: tuple[int, int], isolated_store: Path, tmp_path: Path
) -> None:
    one, _ = two_servers
    org("connector", "add", "send", "To EXCH01", "--server", "EXCH02",
        "--address-space", "contoso.com", "--smart-host", f"127.0.0.1:{one}",
        "--require-tls", "--tls-auth-level", "CertificateValidation")  # fmt: skip
    send = ["mail", "send", "--server", "EXCH02", "--connector", "To EXCH01",
            "--from", "bob@contoso.com", "--to", "alice@contoso.com"]  # fmt: skip
    with serving("EXCH01", isolated_store):
        refused = run_certward(isolated_store, *send, ok=False)
        assert "does not chain to a trusted root" in refused.stderr
        # Trust EXCH01's self-signed certificate (as presented on the wire) on EXCH02.
        presented = tmp_path / "exch01.pem"
        exported = subprocess.run(
            [find_openssl(), "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{one}"],
            input=b"", capture_output=True, timeout=60, check=False,
        ).stdout  # fmt: skip
        begin = exported.index(b"-----BEGIN CERTIFICATE-----")
        end = exported.index(b"-----END CERTIFICATE-----") + len(b"-----END CERTIFICATE-----")
        presented.write_bytes(exported[begin:end] + b"\n")
        org("store", "add", "--server", "EXCH02", "--store", "Root", str(presented))
        retried = run_certward(isolated_store, "queue", "retry", "--server", "EXCH02")
        assert "delivered" in retried.stdout
    assert len(MailStore(isolated_store.parent / "mail").messages("alice@contoso.com")) == 1
    log = json.loads(org("log", "show", "--server", "EXCH02", "--send", "--json").stdout)
    contexts = [row["context"] for row in log]
    assert "Remote certificate thumbprint" in contexts


def test_domain_validation_checks_the_tls_domain(
    org: Cli, two_servers: tuple[int, int], isolated_store: Path
) -> None:
    one, _ = two_servers
    org("connector", "add", "send", "To EXCH01", "--server", "EXCH02",
        "--address-space", "contoso.com", "--smart-host", f"127.0.0.1:{one}",
        "--require-tls", "--tls-auth-level", "DomainValidation",
        "--tls-domain", "mail.fabrikam.com")  # fmt: skip
    with serving("EXCH01", isolated_store):
        refused = run_certward(
            isolated_store, "mail", "send", "--server", "EXCH02", "--connector", "To EXCH01",
            "--from", "bob@contoso.com", "--to", "alice@contoso.com", ok=False,
        )  # fmt: skip
    assert "queued as" in refused.stderr
    assert "trusted root" in refused.stderr or "mail.fabrikam.com" in refused.stderr


def test_swaks_delivers_over_starttls(
    org: Cli, two_servers: tuple[int, int], isolated_store: Path
) -> None:
    swaks = shutil.which("swaks")
    if swaks is None:
        pytest.skip("swaks is not installed (.ci/run installs it)")
    one, _ = two_servers
    with serving("EXCH01", isolated_store):
        done = subprocess.run(
            [swaks, "--server", "127.0.0.1", "--port", str(one), "--tls",
             "--from", "bob@fabrikam.com", "--to", "alice@contoso.com",
             "--header", "Subject: from swaks", "--body", "swaks was here"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "STARTTLS" in done.stdout and "250 " in done.stdout
    messages = MailStore(isolated_store.parent / "mail").messages("alice@contoso.com")
    assert any(b"swaks was here" in m for m in messages)


def test_tls_1_0_only_when_enabled(
    org: Cli, two_servers: tuple[int, int], isolated_store: Path
) -> None:
    one, _ = two_servers
    old_client = ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"]
    with serving("EXCH01", isolated_store) as served:
        assert subject_at(one, *old_client) == ""  # refused: TLS 1.2 is the minimum
        mark = served.mark()
        org("server", "set", "EXCH01", "--tls-min-version", "1.0")
        served.wait_for("configuration reloaded", timeout=5, after=mark)
        assert subject_at(one, *old_client) == "CN = EXCH01"

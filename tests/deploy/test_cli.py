"""``certward deploy``: add, list, show, run (against a real nginx), remove; refusals as
one line with the exit status of their kind."""

from __future__ import annotations

import json
from pathlib import Path

from certward.compose import App
from certward.model.deploy import DeployKind, DeployPaths
from tests.conftest import Cli, error_line
from tests.deploy.conftest import Pem, new_certificate
from tests.deploy.daemons import daemon_dir, start_nginx


def test_add_run_list_show_remove_against_nginx(cli: Cli, app: App, old_pem: Pem) -> None:
    thumb = new_certificate(app, "IIS")
    directory = daemon_dir("nginx")
    paths = DeployPaths.in_directory(DeployKind.NGINX, str(directory))
    assert paths.key is not None
    Path(paths.certificate).write_bytes(old_pem.cert)
    Path(paths.key).write_bytes(old_pem.key)
    with start_nginx(directory, Path(paths.certificate), Path(paths.key)) as nginx:
        reload = " ".join(nginx.reload)
        added = cli.json(
            "deploy", "add", "web", "--kind", "nginx", "--server", "exch01", "--services", "IIS",
            "--dir", str(directory), "--reload", reload, "--verify", nginx.url,
        )  # fmt: skip
        assert added["server"] == "EXCH01" and added["paths"]["key"] == paths.key
        assert added["key_mode"] == "0600" and added["reload"] == list(nginx.reload)

        ran = cli("deploy", "run", "web", "--json")
        (result,) = json.loads(ran.stdout)
        assert result["ok"] and result["served"] == thumb, result

        (again,) = json.loads(cli("deploy", "run", "--all", "--json").stdout)
        assert again["name"] == "web" and again["ok"] and again["previous"] == thumb

        (listed,) = cli.json("deploy", "list")
        assert listed["name"] == "web" and listed["last"]["served"] == thumb
        shown = cli("deploy", "show", "web").stdout
        assert f"OK: serves {thumb}" in shown and paths.key in shown
        assert "PRIVATE KEY" not in ran.stdout + shown

    cli("deploy", "remove", "web")
    assert cli.json("deploy", "list") == []


def test_refusals_are_one_line(cli: Cli, app: App) -> None:
    assert "no deployment is named nope" in error_line(cli, "deploy", "run", "nope")
    line = error_line(
        cli, "deploy", "add", "x", "--kind", "nginx", "--server", "EXCH01", "--services", "IIS",
        "--dir", "/srv/tls", "--mode", "0644",
    )  # fmt: skip
    assert "key mode 0644: the key would be readable by every user" in line
    line = error_line(
        cli, "deploy", "add", "x", "--kind", "mail", "--server", "EXCH01", "--services", "IIS",
        "--dir", "/srv/tls",
    )  # fmt: skip
    assert "mail" in line
    refused = cli("deploy", "run", ok=False)
    assert refused.exit_code == 2


def test_a_key_that_is_not_exportable_is_not_deployed(cli: Cli, app: App) -> None:
    thumb = new_certificate(app, "SMTP", exportable=False)
    cli(
        "deploy", "add", "mx", "--kind", "postfix", "--server", "EXCH01", "--services", "SMTP",
        "--dir", "/nonexistent/tls",
    )  # fmt: skip
    result = cli("deploy", "run", "mx", ok=False)
    assert result.exit_code == 1
    assert f"the private key of certificate {thumb} on EXCH01 is not exportable" in result.stderr
    assert not Path("/nonexistent/tls").exists()
    (listed,) = cli.json("deploy", "list")
    assert listed["last"]["code"] == "deploy.key_not_exportable"

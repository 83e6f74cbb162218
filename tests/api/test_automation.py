"""ACME and deployments over the REST API (issue 15's automation, watched from the service):
listing accounts, orders and deployments, a renewal run, and a deployment run on the
service's machine, on a real store over real HTTP, in a service of this module's own (the
runs change the store)."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from certward.model import ServiceSet
from certward.model.access import AccessRole
from certward.model.acme import AcmeError
from certward.model.deploy import DeployKind, Deployment, DeployPaths
from tests.acme_records import add_failing_order
from tests.api.conftest import ApiServer, start_api
from tests.api.test_flows import V1, problem

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def own_api(tmp_path_factory: pytest.TempPathFactory, org_template: Path) -> Iterator[ApiServer]:
    yield from start_api(tmp_path_factory.mktemp("automation-api"), org_template)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_acme_accounts_and_orders_are_listed_and_a_dry_run_changes_nothing(
    own_api: ApiServer,
) -> None:
    with own_api.app.store.transaction() as repo:
        add_failing_order(
            repo, NOW, account_url="https://acme.test/acct/7",
            error=AcmeError("acme.refused", "rate limited", "urn:x"),
        )  # fmt: skip
    reader = own_api.client(AccessRole.READER)

    accounts = reader.get(f"{V1}/acme/accounts").json()
    assert [(a["email"], a["key_thumbprint"]) for a in accounts] == [
        ("admin@contoso.com", "x" * 43)
    ]
    assert not any("private" in key or "pem" in key for key in accounts[0])  # never the key
    orders = reader.get(f"{V1}/acme/orders").json()
    assert [(o["server"], o["names"], o["attempts"]) for o in orders] == [
        ("EXCH01", ["mail.contoso.com"], 2)
    ]
    assert orders[0]["last_error"] == {
        "code": "acme.refused",
        "detail": "rate limited",
        "problem": "urn:x",
    }

    problem(reader.post(f"{V1}/acme/renew", json={"dry_run": True}), 403, "access.denied")
    report = own_api.client(AccessRole.OPERATOR).post(f"{V1}/acme/renew", json={"dry_run": True})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["dry_run"] is True
    assert [o["order"] for o in body["orders"]] == [orders[0]["id"]]
    assert reader.get(f"{V1}/acme/orders").json() == orders  # a dry run changes nothing


def test_a_deployment_run_over_the_api_is_recorded_audited_and_listed(
    own_api: ApiServer, tmp_path: Path
) -> None:
    """An operator runs a deployment on the service's machine. Its live port is closed, so
    the run fails verification and is rolled back; the outcome is returned, recorded and
    shown in the listings, and the key it released is audited under the operator's token."""
    admin = own_api.client()
    made = admin.post(
        f"{V1}/servers/EXCH01/certificates",
        json={"subject": "CN=deploy.contoso.com", "exportable": True, "services": "POP"},
    )
    assert made.status_code == 201, made.text
    thumbprint = made.json()["certificate"]["thumbprint"]
    own_api.app.deploy.add(
        Deployment(
            name="pop-files",
            kind=DeployKind.FILES,
            server="EXCH01",
            services=ServiceSet.parse("POP"),
            paths=DeployPaths.in_directory(DeployKind.FILES, str(tmp_path)),
            verify=f"https://127.0.0.1:{closed_port()}",
            wait=0.5,
        )
    )
    reader = own_api.client(AccessRole.READER)
    problem(reader.post(f"{V1}/deployments/pop-files/run"), 403, "access.denied")

    run = own_api.client(AccessRole.OPERATOR).post(f"{V1}/deployments/pop-files/run")

    assert run.status_code == 200, run.text
    outcome = run.json()
    assert outcome["name"] == "pop-files" and outcome["ok"] is False
    assert outcome["code"] == "deploy.not_served" and outcome["deployed"] == thumbprint
    assert not any(tmp_path.iterdir()), "a failed deploy leaves no files behind"
    listed = {d["name"]: d for d in reader.get(f"{V1}/deployments").json()}
    assert listed["pop-files"]["last"] == {k: v for k, v in outcome.items() if k != "name"}
    shown = reader.get(f"{V1}/deployments/pop-files").json()
    assert shown["paths"]["key"] and shown["results"][0]["code"] == "deploy.not_served"
    exports = [
        e
        for e in admin.get(f"{V1}/audit", params={"action": "key.export"}).json()
        if e["detail"].get("deployment") == "pop-files"
    ]
    assert exports and exports[0]["actor"] == "tests-operator", exports


def test_deployment_refusals_are_problems(own_api: ApiServer, tmp_path: Path) -> None:
    own_api.app.deploy.add(
        Deployment(
            name="on-mail1",
            kind=DeployKind.FILES,
            server="EXCH01",
            services=ServiceSet.parse("SMTP"),
            paths=DeployPaths.in_directory(DeployKind.FILES, str(tmp_path)),
            verify="https://mail1.contoso.com",
            host="mail1",
        )
    )
    operator = own_api.client(AccessRole.OPERATOR)
    problem(operator.post(f"{V1}/deployments/on-mail1/run"), 409, "deploy.wrong_host")
    problem(operator.post(f"{V1}/deployments/nope/run"), 404, "deploy.not_found")
    problem(operator.get(f"{V1}/deployments/nope"), 404, "deploy.not_found")
    assert not any(tmp_path.iterdir())

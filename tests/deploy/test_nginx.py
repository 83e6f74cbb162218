"""Deploying to a real nginx (Debian's) on a loopback port: the new certificate served,
a broken deploy rolled back with the old certificate still served."""

from __future__ import annotations

import datetime as dt
import socket
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from certward.compose import App
from certward.deploy.executor import apply
from certward.deploy.material import DeployMaterial
from certward.model import ServiceSet
from certward.model.checks import CheckStatus
from certward.model.deploy import DeployKind, Deployment, DeployPaths
from certward.model.watch import Job, JobKind
from tests.deploy.conftest import Pem, new_certificate
from tests.deploy.daemons import Daemon, daemon_dir, served_thumbprint, start_nginx


@pytest.fixture
def nginx(old_pem: Pem) -> Iterator[Daemon]:
    directory = daemon_dir("nginx")
    paths = DeployPaths.in_directory(DeployKind.NGINX, str(directory))
    assert paths.key is not None
    Path(paths.certificate).write_bytes(old_pem.cert)
    Path(paths.key).write_bytes(old_pem.key)
    Path(paths.key).chmod(0o600)
    with start_nginx(directory, Path(paths.certificate), Path(paths.key)) as daemon:
        yield daemon


def _deployment(nginx: Daemon) -> Deployment:
    return Deployment(
        name="web",
        kind=DeployKind.NGINX,
        server="EXCH01",
        services=ServiceSet.parse("IIS"),
        paths=DeployPaths.in_directory(DeployKind.NGINX, str(nginx.directory)),
        verify=nginx.url,
        reload=nginx.reload,
    )


def test_a_new_certificate_from_the_store_is_served(app: App, nginx: Daemon, old_pem: Pem) -> None:
    assert served_thumbprint(nginx.url) == old_pem.thumbprint
    thumb = new_certificate(app, "IIS")
    app.deploy.add(_deployment(nginx))

    outcome = app.deploy.run("web")

    assert outcome.ok, outcome
    assert outcome.deployed == outcome.served == thumb
    assert outcome.previous == old_pem.thumbprint
    assert served_thumbprint(nginx.url) == thumb
    paths = DeployPaths.in_directory(DeployKind.NGINX, str(nginx.directory))
    assert paths.key is not None
    assert stat.S_IMODE(Path(paths.key).stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(paths.certificate).stat().st_mode) == 0o644
    assert Path(paths.certificate + ".previous").read_bytes() == old_pem.cert
    (record,) = app.deploy.deployments()
    assert record.last is not None and record.last.ok and record.last.served == thumb


def test_a_key_that_does_not_match_is_rolled_back(
    app: App, nginx: Daemon, old_pem: Pem, other_pem: Pem
) -> None:
    thumb = new_certificate(app, "IIS")
    d = app.deploy.add(replace(_deployment(nginx), wait=1.0))  # it cannot come: give up soon
    released = app.deploy.material_for("web")
    broken = DeployMaterial(released.material.certificate_pem, (), other_pem.key)

    outcome = apply(d, broken, check_material=False)

    assert not outcome.ok and outcome.rolled_back, outcome
    assert outcome.code == "deploy.reload_failed"  # nginx -s reload tests the files first
    assert outcome.deployed == thumb and outcome.served == old_pem.thumbprint
    assert served_thumbprint(nginx.url) == old_pem.thumbprint
    paths = DeployPaths.in_directory(DeployKind.NGINX, str(nginx.directory))
    assert Path(paths.certificate).read_bytes() == old_pem.cert
    assert paths.key is not None and Path(paths.key).read_bytes() == old_pem.key
    assert "key values mismatch" in nginx.log_text()


def test_the_scheduler_deploys_a_renewed_certificate_without_a_person(
    app: App, nginx: Daemon, old_pem: Pem
) -> None:
    """The scheduler's ``deploy`` job (``certward web``, ``certward watch``): a certificate
    never deployed is deployed; a served one is left alone; its renewal is deployed on the
    next run, as the host agents do for their hosts."""
    job = Job(JobKind.DEPLOY, dt.timedelta(minutes=10))
    assert job not in app.watch.jobs()  # no deployment of this machine: no job
    first = new_certificate(app, "IIS")
    app.deploy.add(_deployment(nginx))
    assert job in app.watch.jobs()

    run = app.watch.run_job(job)

    assert run.status is CheckStatus.OK and run.summary["deployed"] == 1, run.summary
    assert served_thumbprint(nginx.url) == first
    again = app.watch.run_job(job)
    assert again.status is CheckStatus.OK
    assert again.summary == {"current": 1, "deployments": []}
    assert len(app.deploy.results("web")) == 1  # nothing run the second time

    app.certificates.remove("EXCH01", first, force=True)
    renewed = new_certificate(app, "IIS", name="mail2.contoso.com")
    run = app.watch.run_job(job)

    assert run.summary["deployed"] == 1, run.summary
    (deployed,) = run.summary["deployments"]
    assert deployed["reason"] == f"new certificate {renewed} (last deployed: {first})"
    assert served_thumbprint(nginx.url) == renewed


def test_a_scheduled_deploy_that_fails_is_a_finding_and_waits_an_hour(
    app: App, tmp_path: Path
) -> None:
    """Nothing listens on the deployment's port: the deploy is rolled back, the run is a
    warning with finding CW-DEPLOY-001, and the next run within the hour does not try again."""
    new_certificate(app, "IIS")
    directory = tmp_path / "tls"
    directory.mkdir()
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    app.deploy.add(
        Deployment("files", DeployKind.FILES, "EXCH01", ServiceSet.parse("IIS"),
                   DeployPaths.in_directory(DeployKind.FILES, str(directory)),
                   f"https://127.0.0.1:{closed}", wait=0.5)
    )  # fmt: skip
    job = Job(JobKind.DEPLOY, dt.timedelta(minutes=10))

    run = app.watch.run_job(job)

    assert run.status is CheckStatus.WARNING and run.summary["failed"] == 1, run.summary
    (history,) = app.watch.findings_history(open_only=True)
    assert history.rule == "CW-DEPLOY-001" and history.server == "EXCH01"
    assert not any(directory.iterdir())  # rolled back: no files left
    again = app.watch.run_job(job)
    assert again.summary["waiting"] == 1 and len(app.deploy.results("files")) == 1
    # Waiting its hour, the failure is still the deployment's state: the finding stays open
    # (not resolved by the run that waits, then notified anew when it fails again).
    assert again.status is CheckStatus.WARNING
    (still,) = app.watch.findings_history(open_only=True)
    assert still.key == history.key and still.resolved is None

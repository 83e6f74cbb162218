"""Deploying to a real Dovecot (Debian's) serving IMAPS on a loopback port, with ``ssl_cert
= <FILE`` (certificate and chain) and ``ssl_key = <FILE``."""

from __future__ import annotations

import grp
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from certward.compose import App
from certward.deploy.executor import apply
from certward.deploy.material import DeployMaterial
from certward.model import ServiceSet
from certward.model.deploy import DeployKind, Deployment, DeployPaths
from tests.deploy.conftest import Pem, new_certificate
from tests.deploy.daemons import Daemon, daemon_dir, served_thumbprint, start_dovecot


@pytest.fixture
def dovecot(old_pem: Pem) -> Iterator[Daemon]:
    directory = daemon_dir("dovecot")
    paths = DeployPaths.in_directory(DeployKind.DOVECOT, str(directory))
    assert paths.key is not None
    Path(paths.certificate).write_bytes(old_pem.cert)
    Path(paths.key).write_bytes(old_pem.key)
    Path(paths.key).chmod(0o600)
    with start_dovecot(directory, Path(paths.certificate), Path(paths.key)) as daemon:
        yield daemon


def _deployment(dovecot: Daemon) -> Deployment:
    return Deployment(
        name="imap",
        kind=DeployKind.DOVECOT,
        server="EXCH01",
        services=ServiceSet.parse("IMAP"),
        paths=DeployPaths.in_directory(DeployKind.DOVECOT, str(dovecot.directory)),
        verify=dovecot.url,
        reload=dovecot.reload,
    )


def test_a_new_certificate_from_the_store_is_served(
    app: App, dovecot: Daemon, old_pem: Pem
) -> None:
    assert served_thumbprint(dovecot.url) == old_pem.thumbprint
    thumb = new_certificate(app, "IMAP")
    app.deploy.add(replace(_deployment(dovecot), group="dovecot", key_mode=0o640))

    outcome = app.deploy.run("imap")

    assert outcome.ok, outcome
    assert outcome.deployed == outcome.served == thumb
    assert served_thumbprint(dovecot.url) == thumb
    paths = DeployPaths.in_directory(DeployKind.DOVECOT, str(dovecot.directory))
    assert paths.key is not None
    key_info = Path(paths.key).stat()
    assert stat.S_IMODE(key_info.st_mode) == 0o640  # root:dovecot, as --group/--mode said
    assert key_info.st_uid == 0 and key_info.st_gid == grp.getgrnam("dovecot").gr_gid
    assert stat.S_IMODE(Path(paths.certificate).stat().st_mode) == 0o644


def test_a_key_that_does_not_match_is_rolled_back(
    app: App, dovecot: Daemon, old_pem: Pem, other_pem: Pem
) -> None:
    thumb = new_certificate(app, "IMAP")
    d = app.deploy.add(replace(_deployment(dovecot), wait=1.0))  # it cannot come: give up soon
    released = app.deploy.material_for("imap")
    broken = DeployMaterial(released.material.certificate_pem, (), other_pem.key)

    outcome = apply(d, broken, check_material=False)

    assert not outcome.ok and outcome.rolled_back, outcome
    assert outcome.code in ("deploy.not_served", "deploy.reload_failed"), outcome
    assert outcome.deployed == thumb and outcome.served == old_pem.thumbprint
    assert served_thumbprint(dovecot.url) == old_pem.thumbprint
    paths = DeployPaths.in_directory(DeployKind.DOVECOT, str(dovecot.directory))
    assert Path(paths.certificate).read_bytes() == old_pem.cert

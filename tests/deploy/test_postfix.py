"""Deploying to a real Postfix (Debian's) whose smtpd offers STARTTLS on a loopback port,
with ``smtpd_tls_chain_files``: one file holding the key, the certificate and the chain."""

from __future__ import annotations

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
from tests.deploy.daemons import Daemon, daemon_dir, served_thumbprint, start_postfix


@pytest.fixture
def postfix(old_pem: Pem) -> Iterator[Daemon]:
    directory = daemon_dir("postfix")
    paths = DeployPaths.in_directory(DeployKind.POSTFIX, str(directory))
    assert paths.key is None  # one file: key, certificate, chain
    single = Path(paths.certificate)
    single.write_bytes(old_pem.key + old_pem.cert)
    single.chmod(0o600)
    with start_postfix(directory, [single]) as daemon:
        yield daemon


def _deployment(postfix: Daemon) -> Deployment:
    return Deployment(
        name="mx",
        kind=DeployKind.POSTFIX,
        server="EXCH01",
        services=ServiceSet.parse("SMTP"),
        paths=DeployPaths.in_directory(DeployKind.POSTFIX, str(postfix.directory)),
        verify=postfix.url,
        reload=postfix.reload,
    )


def test_a_new_certificate_from_the_store_is_served_after_starttls(
    app: App, postfix: Daemon, old_pem: Pem
) -> None:
    assert served_thumbprint(postfix.url) == old_pem.thumbprint
    thumb = new_certificate(app, "SMTP")
    app.deploy.add(_deployment(postfix))

    outcome = app.deploy.run("mx")

    assert outcome.ok, outcome
    assert outcome.deployed == outcome.served == thumb
    assert served_thumbprint(postfix.url) == thumb
    single = Path(DeployPaths.in_directory(DeployKind.POSTFIX, str(postfix.directory)).certificate)
    assert stat.S_IMODE(single.stat().st_mode) == 0o600  # it holds the key
    text = single.read_bytes()
    assert text.index(b"PRIVATE KEY") < text.index(b"BEGIN CERTIFICATE")  # key first


def test_a_key_that_does_not_match_is_rolled_back(
    app: App, postfix: Daemon, old_pem: Pem, other_pem: Pem
) -> None:
    thumb = new_certificate(app, "SMTP")
    d = app.deploy.add(replace(_deployment(postfix), wait=1.0))  # it cannot come: give up soon
    released = app.deploy.material_for("mx")
    broken = DeployMaterial(released.material.certificate_pem, (), other_pem.key)

    outcome = apply(d, broken, check_material=False)

    assert not outcome.ok and outcome.rolled_back, outcome
    assert outcome.code == "deploy.not_served"  # postfix reload does not read the files
    assert outcome.deployed == thumb and outcome.served == old_pem.thumbprint
    assert served_thumbprint(postfix.url) == old_pem.thumbprint
    single = Path(DeployPaths.in_directory(DeployKind.POSTFIX, str(postfix.directory)).certificate)
    assert single.read_bytes() == old_pem.key + old_pem.cert

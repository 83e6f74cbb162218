"""The deploy service: the key's release (audited, exportable keys only, the deployment's
own host only), the chain from the server's stores, outcomes recorded."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certward.compose import App
from certward.errors import CertwardError
from certward.model import ServiceSet
from certward.model.deploy import DeployKind, Deployment, DeployOutcome, DeployPaths
from tests.conftest import OpenSslCa, openssl
from tests.deploy.conftest import new_certificate


def _deployment(name: str = "mx", host: str | None = None) -> Deployment:
    return Deployment(
        name=name,
        kind=DeployKind.POSTFIX,
        server="exch01",
        services=ServiceSet.parse("SMTP"),
        paths=DeployPaths.in_directory(DeployKind.POSTFIX, "/etc/postfix/tls"),
        verify="smtp://127.0.0.1:25",
        host=host,
    )


def test_the_release_of_a_key_is_audited_and_names_no_secret(app: App) -> None:
    thumb = new_certificate(app, "SMTP")
    added = app.deploy.add(_deployment())
    assert added.server == "EXCH01" and added.reload == ("postfix", "reload")

    released = app.deploy.material_for("mx")

    assert released.thumbprint == thumb == released.material.check()
    assert released.material.chain_pems == ()  # self-signed: no issuer to send
    (entry,) = app.audit.entries(action="key.export")
    assert entry.detail == {
        "server": "EXCH01",
        "thumbprint": thumb,
        "format": "pem",
        "deployment": "mx",
        "host": "local",
        "file": "/etc/postfix/tls/certward.pem",
    }
    assert "PRIVATE" not in repr(released)


def test_the_chain_comes_from_the_server_s_stores_without_the_root(
    app: App, openssl_ca: OpenSslCa, tmp_path: Path
) -> None:
    key, csr = tmp_path / "leaf.key", tmp_path / "leaf.csr"
    openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
        "-subj", "/CN=mail.contoso.com", "-addext", "subjectAltName=DNS:mail.contoso.com",
        "-out", str(csr),
    )  # fmt: skip
    leaf = openssl_ca.sign(csr)
    bundle = b"".join(
        p.read_bytes() for p in (key, leaf, openssl_ca.intermediate_pem, openssl_ca.root_pem)
    )
    imported = app.certificates.import_file("EXCH01", bundle, source="leaf.pem", exportable=True)
    app.certificates.enable(
        "EXCH01", imported.thumbprint, ServiceSet.parse("SMTP"), replace_default_smtp=True
    )
    app.deploy.add(_deployment())

    material = app.deploy.material_for("mx").material

    (issuer,) = material.chain_pems
    assert x509.load_pem_x509_certificate(issuer) == x509.load_pem_x509_certificate(
        openssl_ca.intermediate_pem.read_bytes()
    )
    assert material.check() == imported.thumbprint
    assert serialization.load_pem_private_key(material.key_pem, None) is not None


def test_refusals(app: App) -> None:
    with pytest.raises(CertwardError) as caught:
        app.deploy.add(replace(_deployment("web"), server="EXCH09"))
    assert caught.value.code.id == "server.not_found"
    app.deploy.add(_deployment())
    with pytest.raises(CertwardError) as caught:
        app.deploy.add(_deployment())
    assert caught.value.code.id == "deploy.exists"
    with pytest.raises(CertwardError) as caught:
        app.deploy.material_for("mx")  # Exchange's own certificate: its key stays
    assert caught.value.code.id == "deploy.key_not_exportable"
    app.deploy.add(replace(_deployment("um"), services=ServiceSet.parse("UM")))
    with pytest.raises(CertwardError) as caught:
        app.deploy.material_for("um")
    assert caught.value.code.id == "deploy.no_certificate"
    new_certificate(app, "SMTP")
    app.deploy.add(_deployment("remote", host="mail1"))
    with pytest.raises(CertwardError) as caught:
        app.deploy.material_for("remote")  # this machine is not mail1
    assert caught.value.code.id == "deploy.wrong_host"
    with pytest.raises(CertwardError) as caught:
        app.deploy.run("remote")
    assert caught.value.code.id == "deploy.wrong_host"
    assert app.deploy.results("remote") == []  # a mistaken run is not the agent's history
    with pytest.raises(CertwardError) as caught:
        app.deploy.material_for("remote", host="mail2")
    assert caught.value.code.id == "deploy.wrong_host"
    assert app.deploy.material_for("remote", host="MAIL1").deployment.name == "remote"
    assert app.audit.entries(action="key.export")[0].detail["host"] == "mail1"


def test_an_agent_s_deployments_and_outcomes(app: App) -> None:
    app.deploy.add(_deployment("a", host="mail1"))
    app.deploy.add(_deployment("b", host="mail2"))
    app.deploy.add(_deployment("c"))
    assert [d.name for d in app.deploy.for_host("MAIL1")] == ["a"]
    when = dt.datetime(2026, 12, 4, 1, 0, tzinfo=dt.UTC)
    failed = DeployOutcome(False, when, deployed="A" * 40, served="B" * 40, rolled_back=True,
                           code="deploy.not_served", detail="not served")  # fmt: skip
    app.deploy.record_result("a", failed, source="agent:mail1")
    good = DeployOutcome(True, when + dt.timedelta(minutes=1), deployed="A" * 40,
                         served="A" * 40, steps=("written", "reloaded"))  # fmt: skip
    app.deploy.record_result("a", good, source="agent:mail1")
    d, outcomes = app.deploy.show("a")
    assert d.host == "mail1" and outcomes == [good, failed]
    last = {r.deployment.name: r.last for r in app.deploy.deployments()}
    assert last == {"a": good, "b": None, "c": None}
    assert DeployOutcome.from_json(good.to_json()) == good
    assert Deployment.from_json(d.to_json()) == d
    app.deploy.remove("a")
    assert [r.deployment.name for r in app.deploy.deployments()] == ["b", "c"]
    changes = [c for e in app.audit.entries(limit=1000) for c in e.changes]
    added = next(c for c in changes if c.kind == "deployment" and c.before is None)
    assert added.after is not None and added.after["verify"] == "smtp://127.0.0.1:25"
    assert any(c.kind == "deployment" and c.identity == "a" and c.after is None for c in changes)
    assert not any(c.kind.startswith("deploy result") for c in changes)  # runs: not config


def test_of_two_certificates_issued_in_the_same_second_the_exportable_one_is_deployed(
    tmp_path: Path,
) -> None:
    """Exchange's own self-signed certificate (its key stays) and a new exportable one made in
    the same second, for the same lifetime and services: the deployment takes the one whose
    key may leave, whatever order the store lists them in."""
    from certward.clock import FixedClock
    from certward.compose import build_app
    from certward.services.deploy import current_certificate

    now = dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC)
    app = build_app(str(tmp_path / "certward.db"), clock=FixedClock(now))
    try:
        app.organisation.init_organisation("Contoso", domain="contoso.com")
        app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
        default = next(
            v
            for v in app.certificates.list_certificates("EXCH01")
            if "IMAP" in str(v.services) and v.has_private_key
        )
        assert default.not_before is not None and default.not_after is not None
        made = app.certificates.new_self_signed(
            "EXCH01",
            subject="CN=mail.contoso.com",
            exportable=True,
            services=ServiceSet.parse("IMAP"),
            days=(default.not_after - default.not_before).days,
        )
        deployment = replace(
            _deployment("imap"),
            kind=DeployKind.DOVECOT,
            server="EXCH01",
            services=ServiceSet.parse("IMAP"),
            paths=DeployPaths.in_directory(DeployKind.DOVECOT, "/etc/dovecot/tls"),
        )
        with app.store.reading() as repo:
            chosen = current_certificate(repo, deployment, now)
        new = next(
            v
            for v in app.certificates.list_certificates("EXCH01")
            if v.subject == "CN=mail.contoso.com"
        )
        assert new.private_key_exportable and not default.private_key_exportable
        assert (new.not_before, new.not_after) == (default.not_before, default.not_after)
        assert chosen.thumbprint == new.thumbprint != default.thumbprint
        assert made is not None
    finally:
        app.store.close()


def test_the_newest_outcome_is_the_last_received_whatever_clock_dated_it(app: App) -> None:
    """An agent whose clock ran a day ahead dated its failure tomorrow; its success, once the
    clock was put right, is still the newest outcome (the service's release of the key
    judges by it)."""
    app.deploy.add(_deployment("a", host="mail1"))
    now = dt.datetime(2026, 12, 4, 1, 0, tzinfo=dt.UTC)
    skewed = DeployOutcome(False, now + dt.timedelta(days=1), deployed="A" * 40,
                           code="deploy.not_served", detail="not served")  # fmt: skip
    good = DeployOutcome(True, now, deployed="A" * 40, served="A" * 40)
    app.deploy.record_result("a", skewed, source="agent:mail1")
    app.deploy.record_result("a", good, source="agent:mail1")
    assert list(app.deploy.results("a")) == [good, skewed]
    assert app.deploy.show("a")[1][0] == good
    assert {r.deployment.name: r.last for r in app.deploy.deployments()}["a"] == good


def test_a_run_that_meets_another_releases_no_key(app: App, tmp_path: Path) -> None:
    """The target directory is locked before the key is released: a run refused as
    deploy.busy has exported nothing (no key.export in the audit log) and recorded nothing
    (the other run records its own); a missing directory is the run's recorded outcome."""
    new_certificate(app, "SMTP")
    target = tmp_path / "tls"
    target.mkdir()
    paths = DeployPaths.in_directory(DeployKind.POSTFIX, str(target))
    app.deploy.add(replace(_deployment(), paths=paths))
    with _held_elsewhere(target), pytest.raises(CertwardError) as busy:
        app.deploy.run("mx")
    assert busy.value.code.id == "deploy.busy"
    assert app.audit.entries(action="key.export") == []
    assert app.deploy.results("mx") == []
    assert list(target.iterdir()) == []

    app.deploy.add(replace(_deployment("gone"), paths=DeployPaths.in_directory(
        DeployKind.POSTFIX, str(tmp_path / "missing"))))  # fmt: skip
    outcome = app.deploy.run("gone")
    assert not outcome.ok and outcome.code == "deploy.no_directory"
    assert app.deploy.results("gone") == [outcome]
    assert app.audit.entries(action="key.export") == []


@contextmanager
def _held_elsewhere(directory: Path) -> Iterator[None]:
    """``directory`` locked by another thread (another run) while the block runs."""
    from certward.deploy import files

    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        with files.locked([directory / "held"]):
            taken.set()
            done.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(30)
        yield
    finally:
        done.set()
        holder.join(30)

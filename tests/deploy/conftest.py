"""Fixtures of the deploy tests: a store with a server and its certificates, certificate
material made outside certward (what the daemons serve before a deploy)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certward.compose import App, build_app
from certward.deploy.material import DeployMaterial
from certward.model import ServiceSet, Thumbprint
from certward.pki import build, certinfo


@dataclass(frozen=True)
class Pem:
    """A certificate and its key as PEM, and the certificate's thumbprint."""

    cert: bytes
    key: bytes
    thumbprint: str

    @property
    def material(self) -> DeployMaterial:
        return DeployMaterial(self.cert, (), self.key)


def make_pem(common_name: str) -> Pem:
    """A self-signed certificate made by the PKI layer, never stored (the 'old' one)."""
    key = build.generate_key(2048)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)])
    cert = build.self_signed(
        key, name, [common_name], not_before=now - dt.timedelta(hours=1),
        not_after=now + dt.timedelta(days=30),
    )  # fmt: skip
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        certinfo.thumbprint(certinfo.to_der(cert)),
    )


@pytest.fixture(scope="session")
def old_pem() -> Pem:
    return make_pem("old.deploy.test")


@pytest.fixture(scope="session")
def other_pem() -> Pem:
    """Another certificate: its key does not match any certificate of the store."""
    return make_pem("other.deploy.test")


@pytest.fixture
def app(isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """A store with organisation Contoso and server EXCH01 (no certificate yet)."""
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "cd" * 32)
    built = build_app()
    built.organisation.init_organisation("Contoso", domain="contoso.com")
    built.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    yield built
    built.store.close()


def new_certificate(
    app: App, services: str = "SMTP", *, exportable: bool = True, name: str = "mail.contoso.com"
) -> Thumbprint:
    """A new self-signed certificate of EXCH01 enabled for ``services``."""
    result = app.certificates.new_self_signed(
        "EXCH01",
        subject=f"CN={name}",
        domains=[name],
        exportable=exportable,
        services=ServiceSet.parse(services),
        replace_default_smtp=True,
    )
    return result.view.thumbprint

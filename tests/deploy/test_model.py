"""The deployment model (pure): each kind's files, what goes in each, settings checked."""

from __future__ import annotations

import datetime as dt

import pytest

from certward.model import ServiceSet
from certward.model.deploy import (
    DEFAULT_RELOAD,
    DeployKind,
    Deployment,
    DeployOutcome,
    DeployPaths,
    certificate_blocks,
    file_contents,
    problems,
)

CERT = b"-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n"
ISSUER = b"-----BEGIN CERTIFICATE-----\nISSUER\n-----END CERTIFICATE-----"  # no final newline
KEY = b"-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (DeployKind.POSTFIX, {"/d/certward.pem": (KEY + CERT + ISSUER + b"\n", True)}),
        (
            DeployKind.NGINX,
            {
                "/d/certward-fullchain.pem": (CERT + ISSUER + b"\n", False),
                "/d/certward-key.pem": (KEY, True),
            },
        ),
        (
            DeployKind.DOVECOT,
            {
                "/d/certward-cert.pem": (CERT + ISSUER + b"\n", False),
                "/d/certward-key.pem": (KEY, True),
            },
        ),
        (
            DeployKind.FILES,
            {
                "/d/cert.pem": (CERT, False),
                "/d/privkey.pem": (KEY, True),
                "/d/chain.pem": (ISSUER + b"\n", False),
            },
        ),
    ],
)
def test_each_kind_s_files(kind: DeployKind, expected: dict[str, tuple[bytes, bool]]) -> None:
    paths = DeployPaths.in_directory(kind, "/d/")
    assert file_contents(paths, CERT, [ISSUER], KEY) == expected
    assert certificate_blocks(KEY + CERT + ISSUER) == [CERT, ISSUER]


def _d(**changes: object) -> Deployment:
    base: dict[str, object] = {
        "name": "mx",
        "kind": DeployKind.POSTFIX,
        "server": "EXCH01",
        "services": ServiceSet.parse("SMTP"),
        "paths": DeployPaths("/etc/postfix/tls/chain.pem"),
        "verify": "smtp://127.0.0.1:25",
        "reload": DEFAULT_RELOAD[DeployKind.POSTFIX],
    }
    return Deployment(**{**base, **changes})  # type: ignore[arg-type]


def test_settings_are_checked() -> None:
    assert problems(_d()) == []
    found = problems(
        _d(
            name="-x",
            services=ServiceSet(),
            paths=DeployPaths("tls/cert.pem", "tls/cert.pem"),
            key_mode=0o644,
            verify="127.0.0.1:25",
        )
    )
    assert found == [
        "name '-x': letters, digits, '.', '-', '_' (at most 64)",
        "no service: name the services whose certificate is deployed",
        "tls/cert.pem: not an absolute path",
        "tls/cert.pem: not an absolute path",
        "the certificate, key and chain files must differ",
        "key mode 0644: the key would be readable by every user",
        "probe URL '127.0.0.1:25': not a URL such as smtp://127.0.0.1:25",
    ]


def test_json_round_trips() -> None:
    d = _d(host="mail1", owner="root", group="ssl-cert", key_mode=0o640, sni="mx.contoso.com")
    assert d.to_json()["key_mode"] == "0640"
    assert Deployment.from_json(d.to_json()) == d
    outcome = DeployOutcome(False, dt.datetime(2026, 12, 4, tzinfo=dt.UTC), code="deploy.x",
                            rolled_back=True, steps=("a", "b"))  # fmt: skip
    assert DeployOutcome.from_json(outcome.to_json()) == outcome

"""Real certificates for the pki unit tests, made once per session with certward.pki.ca."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from certward.pki import build, ca
from certward.pki.names import parse_exchange_dn

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Pki:
    root: ca.Authority
    issuing: ca.Authority
    leaf: x509.Certificate
    leaf_key: rsa.RSAPrivateKey


@pytest.fixture(scope="session")
def pki() -> Pki:
    root = ca.make_root("Bar Test Root CA", now=NOW)
    issuing = ca.make_intermediate(root, "Bar Test Issuing CA", now=NOW)
    key = build.generate_key()
    subject = parse_exchange_dn("C=NL, O=Contoso, CN=webmail.p365labs.com")
    csr = build.certificate_request(key, subject, ["webmail.p365labs.com"])
    return Pki(root, issuing, ca.issue(issuing, csr, now=NOW), key)

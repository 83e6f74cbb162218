"""HTTP-01 issuance from Pebble through a short-lived listener, imported as a completed
request would be."""

from __future__ import annotations

from cryptography import x509

from certward.model import StoreName
from certward.pki import certinfo
from tests.acme.helpers import listener, register, services
from tests.acme.pebble import Pebble
from tests.conftest import Cli


def test_request_is_completed_like_a_ca_reply(org: Cli, pebble: Pebble) -> None:
    app, acme = services()
    try:
        register(acme, pebble)
        obtained = acme.request(
            "EXCH01",
            subject="CN=mail.contoso.test",
            domains=["mail.contoso.test", "autodiscover.contoso.test"],
            solver_options=listener(pebble),
        )
        view = app.certificates.show_certificate("EXCH01", obtained.thumbprint)
        assert view.status.value == "Valid" or view.has_private_key
        assert view.has_private_key and not view.is_self_signed
        assert set(view.certificate_domains) == {"mail.contoso.test", "autodiscover.contoso.test"}
        with app.store.transaction() as repo:
            record = repo.certificate("EXCH01", obtained.thumbprint)
            assert record.csr_der is None and record.der is not None
            assert repo.private_key(record) is not None  # the request's key, sealed
            leaf = certinfo.load_der(record.der)
            intermediates = repo.certificates("EXCH01", StoreName.CA)
        issuer = leaf.issuer
        assert any(certinfo.load_der(c.der).subject == issuer for c in intermediates if c.der)
        root = x509.load_pem_x509_certificate(pebble.issuing_root())
        assert root.subject != issuer or root.issuer == root.subject
        (order,) = acme.orders()
        assert order.thumbprint == obtained.thumbprint and order.error is None
        assert order.order_url and order.challenge == "http-01"
        # nothing of the challenge is left in the store
        with app.store.transaction() as repo:
            assert repo.acme_challenges() == {}
    finally:
        app.store.close()

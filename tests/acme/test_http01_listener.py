"""HTTP-01 issuance from Pebble through a short-lived listener, imported as a completed
request would be."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from certward.model import CertStatus, StoreName
from certward.pki import certinfo
from tests.acme.helpers import listener, register, services
from tests.acme.pebble import Pebble
from tests.conftest import Cli


def test_request_is_completed_like_a_ca_reply(org: Cli, pebble: Pebble, tmp_path: Path) -> None:
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
        assert view.has_private_key and not view.is_self_signed
        assert set(view.certificate_domains) == {"mail.contoso.test", "autodiscover.contoso.test"}
        assert view.status is CertStatus.UNTRUSTED  # pebble's root is in no store yet
        with app.store.transaction() as repo:
            record = repo.certificate("EXCH01", obtained.thumbprint)
            assert record.csr_der is None and record.der is not None
            assert repo.private_key(record) is not None  # the request's key, sealed
            leaf = certinfo.load_der(record.der)
            intermediates = [
                certinfo.load_der(c.der) for c in repo.certificates("EXCH01", StoreName.CA) if c.der
            ]
        # the chain as imported: the leaf, the intermediate in the CA store, pebble's root
        (intermediate,) = [c for c in intermediates if c.subject == leaf.issuer]
        leaf.verify_directly_issued_by(intermediate)
        root_pem = tmp_path / "pebble-root.pem"
        root_pem.write_bytes(pebble.issuing_root())
        intermediate.verify_directly_issued_by(
            x509.load_pem_x509_certificate(root_pem.read_bytes())
        )
        org("store", "add", "--server", "EXCH01", "--store", "Root", str(root_pem))
        view = app.certificates.show_certificate("EXCH01", obtained.thumbprint)
        assert view.status is CertStatus.VALID
        (order,) = acme.orders()
        assert order.thumbprint == obtained.thumbprint and order.error is None
        assert order.order_url and order.challenge == "http-01"
        # nothing of the challenge is left in the store
        with app.store.transaction() as repo:
            assert repo.acme_challenges() == {}
    finally:
        app.store.close()

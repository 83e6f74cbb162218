"""A trust store in bulk (issue 16): ``store add`` writes a bundle with one INSERT and
``store list`` reads each store once. What they store, list and audit is what the
one-certificate-at-a-time paths give."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.compose import App, build_app
from certward.errors import CertwardError
from certward.model import CertificateRecord, CertStatus, StoreName, Thumbprint
from certward.pki import certfacts, certinfo
from certward.services._records import views_of
from certward.services.stores import TrustBundle
from certward.storage import audit_capture

NOW = dt.datetime.now(dt.UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def _cert(
    cn: str,
    *,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None,
    days: tuple[int, int] = (-1, 3650),
    key: ec.EllipticCurvePrivateKey = KEY,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name, signer = (
        (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]), issuer[1])
        if issuer
        else (name, key)
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "bulk-test-master-key-0123456789abcdef")
    application = build_app(str(tmp_path / "certward.db"))
    application.organisation.init_organisation("Contoso", domain="contoso.com")
    application.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    try:
        yield application
    finally:
        application.store.close()


def test_a_bundle_goes_in_once_duplicates_and_stored_ones_are_reported(app: App) -> None:
    roots = [_cert(f"Bulk Root {n}") for n in range(50)]
    thumbs = [certinfo.thumbprint(certinfo.to_der(r)) for r in roots]
    result = app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*roots, roots[0]), source="b")
    assert [t for t, _ in result.added] == thumbs
    assert result.added[3][1] == "CN=Bulk Root 3"
    assert result.already_present == [thumbs[0]]
    again = app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*roots[:5]), source="b")
    assert again.added == [] and again.already_present == thumbs[:5]

    listed = app.stores.store_list("EXCH01", StoreName.ROOT)
    assert [v.thumbprint for v in listed] == thumbs
    assert all(v.status is CertStatus.VALID and not v.has_private_key for v in listed)

    # the audit log: the bundle is one entry, each certificate a creation in it
    bundle = max(app.audit.entries(limit=100), key=lambda e: len(e.changes))
    identities = {c.identity for c in bundle.changes if c.kind == "certificate"}
    assert {f"EXCH01/Root/{t}" for t in thumbs[:10]} <= identities
    first = f"EXCH01/Root/{thumbs[0]}"
    change = next(c for c in bundle.changes if c.identity == first)
    assert change.before is None and change.after is not None
    assert change.after["der"].startswith("(DER, SHA-1 ")


def test_bulk_records_and_listing_equal_the_one_at_a_time_paths(app: App) -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Bulk CA Root", key=root_key)
    expired = _cert("Bulk Expired Root", days=(-20, -10))
    intermediate = _cert("Bulk Issuing CA", issuer=("Bulk CA Root", root_key))
    orphan = _cert("Bulk Orphan CA", issuer=("Nobody", ec.generate_private_key(ec.SECP256R1())))
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(root, expired), source="roots")
    app.stores.store_add("EXCH01", StoreName.CA, _pem(intermediate, orphan), source="cas")

    with app.store.transaction() as repo:
        for store in (StoreName.MY, StoreName.ROOT, StoreName.CA):
            assert repo.certificate_records("EXCH01", store) == repo.certificates("EXCH01", store)
        assert any(r.has_private_key for r in repo.certificate_records("EXCH01", StoreName.MY))
        srv = repo.server("EXCH01")
        one_at_a_time = {
            store: views_of(repo, srv, store, NOW) for store in (StoreName.ROOT, StoreName.CA)
        }
    for store, expected in one_at_a_time.items():
        listed = app.stores.store_list("EXCH01", store)
        assert [v.to_json() for v in listed] == [v.to_json() for v in expected]
    statuses = {v.subject: v.status for v in app.stores.store_list("EXCH01", StoreName.CA)}
    # it chains to the trusted root (the web PKI rules judge its extensions), the orphan not
    assert statuses["CN=Bulk Issuing CA"] is not CertStatus.UNTRUSTED
    assert statuses["CN=Bulk Orphan CA"] is CertStatus.UNTRUSTED
    roots = {v.subject: v.status for v in app.stores.store_list("EXCH01", StoreName.ROOT)}
    assert roots["CN=Bulk Expired Root"] is CertStatus.DATE_INVALID


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda pem: pem, id="plain PEM"),  # read by certfacts.plain_pem_certificates
        pytest.param(lambda pem: pem.replace(b"CERTIFICATE", b"X509 CERTIFICATE"), id="label"),
        pytest.param(lambda pem: pem.replace(b"-----\nMI", b"-----\n MI"), id="spaces"),
    ],
)
def test_a_bundle_in_any_pem_form_is_stored_the_same(
    app: App, form: Callable[[bytes], bytes]
) -> None:
    certs = [_cert(f"Form Root {n}") for n in range(3)]
    ders = [certinfo.to_der(c) for c in certs]
    bundle = TrustBundle(form(_pem(*certs)), source="forms.pem")
    assert bundle.ders == ders
    with bundle:
        added = app.stores.store_add_bundle("EXCH01", StoreName.ROOT, bundle).added
    assert added == [(certinfo.thumbprint(d), f"CN=Form Root {n}") for n, d in enumerate(ders)]
    with app.store.transaction() as repo:
        stored = repo.certificate_records("EXCH01", StoreName.ROOT)
    assert [r.der for r in stored] == ders


def test_keys_never_go_in_by_the_bulk_path(app: App) -> None:
    der = certinfo.to_der(_cert("Bulk Keyed"))
    record = CertificateRecord(
        server="EXCH01",
        store=StoreName.ROOT,
        thumbprint=Thumbprint(certinfo.thumbprint(der)),
        der=der,
        has_private_key=True,
    )
    with pytest.raises(ValueError, match="no keys"), app.store.transaction() as repo:
        repo.add_certificates([record])
    assert app.stores.store_list("EXCH01", StoreName.ROOT) == []


def test_a_bundle_large_enough_for_the_helper_is_judged_as_one_at_a_time(app: App) -> None:
    """Over ``certfacts.PARALLEL_FROM`` certificates a helper process verifies self-signatures
    (when the process has one thread): a forged self-issued certificate among them is still
    not self-signed, and the listing is the one-at-a-time listing."""
    other_key = ec.generate_private_key(ec.SECP256R1())
    roots = [_cert(f"Helper Root {n}") for n in range(certfacts.PARALLEL_FROM + 20)]
    forged = [_cert(f"Forged Root {n}", issuer=(f"Forged Root {n}", other_key)) for n in range(3)]
    bundle = [*roots[:10], forged[0], *roots[10:], forged[1], forged[2]]
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*bundle), source="big")

    with app.store.transaction() as repo:
        facts = repo.certificate_facts([certinfo.thumbprint(certinfo.to_der(c)) for c in bundle])
        expected = views_of(repo, repo.server("EXCH01"), StoreName.ROOT, NOW)
    assert len(facts) == len(bundle)
    forged_thumbs = {certinfo.thumbprint(certinfo.to_der(c)) for c in forged}
    assert {t for t, f in facts.items() if not f.self_signed} == forged_thumbs
    listed = app.stores.store_list("EXCH01", StoreName.ROOT)
    assert [v.to_json() for v in listed] == [v.to_json() for v in expected]
    assert {v.status for v in listed if v.thumbprint in forged_thumbs} != {CertStatus.VALID}


def test_a_damaged_certificate_in_a_large_bundle_names_the_file_and_nothing_is_written(
    app: App,
) -> None:
    roots = [_cert(f"Damaged Bundle Root {n}") for n in range(certfacts.PARALLEL_FROM + 20)]
    damaged = Path(__file__).parents[1] / "fuzz" / "corpus" / "extension-duplicate.der"
    bundle = (
        _pem(*roots[:200])
        + x509.load_der_x509_certificate(damaged.read_bytes()).public_bytes(
            serialization.Encoding.PEM
        )
        + _pem(*roots[200:])
    )
    with pytest.raises(CertwardError, match=r"^damaged\.pem: the certificate's"):
        app.stores.store_add("EXCH01", StoreName.ROOT, bundle, source="damaged.pem")
    assert app.stores.store_list("EXCH01", StoreName.ROOT) == []
    with app.store.transaction() as repo:
        assert repo.certificate_facts([certinfo.thumbprint(certinfo.to_der(roots[0]))]) == {}


def test_a_bundle_over_the_audit_cap_lists_the_first_certificates_and_counts_the_rest(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the certificates the entry lists are shown (the rest are counted, unshown)."""
    monkeypatch.setattr(audit_capture, "MAX_CHANGES", 5)
    roots = [_cert(f"Capped Root {n}") for n in range(8)]
    thumbs = [certinfo.thumbprint(certinfo.to_der(r)) for r in roots]
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*roots), source="capped")
    (entry,) = app.audit.entries(limit=1)
    assert [c.identity for c in entry.changes] == [
        *(f"EXCH01/Root/{t}" for t in thumbs[:5]),
        "3 more objects",
    ]
    assert entry.changes[-1].kind == "(more)"
    assert entry.changes[-1].after == {"certificate": 3}
    first = entry.changes[0]
    assert first.kind == "certificate" and first.before is None and first.after is not None
    assert {k: v for k, v in first.after.items() if k != "created_at"} == {
        "csr_der": None,
        "der": f"(DER, SHA-1 {thumbs[0]})",
        "exportable": False,
        "friendly_name": "",
        "key_provider": None,
        "services": "None",
        "spki_sha1": None,
        "store": "Root",
        "thumbprint": thumbs[0],
    }
    assert dt.datetime.fromisoformat(first.after["created_at"]).tzinfo is not None


def test_a_certificate_added_in_bulk_and_removed_in_the_same_transaction_leaves_no_change(
    app: App,
) -> None:
    kept, dropped = (certinfo.to_der(_cert(f"Bulk Then {n}")) for n in range(2))
    records = [
        CertificateRecord(
            server="EXCH01", store=StoreName.ROOT,
            thumbprint=Thumbprint(certinfo.thumbprint(der)), der=der,
        )
        for der in (kept, dropped)
    ]  # fmt: skip
    with app.store.transaction() as repo:
        repo.add_certificates(records)
        repo.delete_certificate(repo.certificate("EXCH01", records[1].thumbprint, StoreName.ROOT))
    (entry,) = app.audit.entries(limit=1)
    assert [(c.kind, c.identity) for c in entry.changes] == [
        ("certificate", f"EXCH01/Root/{records[0].thumbprint}")
    ]
    assert entry.changes[0].after is not None
    assert entry.changes[0].after["der"] == f"(DER, SHA-1 {records[0].thumbprint})"


# In a process of its own, with one thread (the test runner's may have more), so that the
# helper process is forked as it is for the command line.
FORKED = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from certward.compose import build_app
    from certward.model import StoreName
    from certward.pki import certfacts, certinfo
    from certward.services._records import views_of
    from tests.storage.test_bulk_stores import NOW, _cert, _pem
    from cryptography.hazmat.primitives.asymmetric import ec

    helped = []
    exit_bundle = certfacts.BundleFacts.__exit__

    def noted_exit(self, *exc):  # what the helper gave, noted as the block ends
        helped.append((self.helped, self.from_helper))
        return exit_bundle(self, *exc)

    certfacts.BundleFacts.__exit__ = noted_exit
    app = build_app(str(Path(sys.argv[1]) / "certward.db"))
    app.organisation.init_organisation("Contoso", domain="contoso.com")
    app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    other = ec.generate_private_key(ec.SECP256R1())
    roots = [_cert(f"Forked Root {n}") for n in range(certfacts.PARALLEL_FROM + 200)]
    forged = [_cert(f"Forged {n}", issuer=(f"Forged {n}", other)) for n in range(2)]
    bundle = [forged[0], *roots, forged[1]]  # one where each process starts
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*bundle), source="big")
    # Forked; how much the helper did depends on the machine's load (tests/pki waits for it
    # to be sure some facts come from it).
    [(forked, _)] = helped
    assert forked, helped
    with app.store.transaction() as repo:
        thumbs = [certinfo.thumbprint(certinfo.to_der(c)) for c in bundle]
        facts = repo.certificate_facts(thumbs)
        expected = views_of(repo, repo.server("EXCH01"), StoreName.ROOT, NOW)
    assert [facts[t].self_signed for t in thumbs] == [False, *[True] * len(roots), False]
    listed = app.stores.store_list("EXCH01", StoreName.ROOT)
    assert [v.to_json() for v in listed] == [v.to_json() for v in expected]
    app.store.close()
    print("ok")
    """
)


def test_a_bundle_added_with_the_helper_process_is_stored_as_one_at_a_time(
    tmp_path: Path,
) -> None:
    root = Path(__file__).parents[2]
    env = {**os.environ, "CERTWARD_MASTER_KEY": "bulk-test-master-key-0123456789abcdef"}
    done = subprocess.run(
        [sys.executable, "-c", FORKED, str(tmp_path)],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"

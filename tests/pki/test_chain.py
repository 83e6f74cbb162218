import datetime as dt

from certward.model import CertStatus
from certward.pki import build, ca, chain
from certward.pki.names import parse_exchange_dn
from tests.pki.conftest import NOW, Pki


def test_ca_issued_is_valid_through_the_intermediate_to_a_trusted_root(pki: Pki) -> None:
    status = chain.certificate_status(
        pki.leaf, roots=[pki.root.certificate], intermediates=[pki.issuing.certificate], now=NOW
    )
    assert status is CertStatus.VALID


def test_untrusted_when_the_root_is_not_in_the_root_store(pki: Pki) -> None:
    status = chain.certificate_status(
        pki.leaf, roots=[], intermediates=[pki.issuing.certificate, pki.root.certificate], now=NOW
    )
    assert status is CertStatus.UNTRUSTED


def test_untrusted_when_the_intermediate_is_missing(pki: Pki) -> None:
    status = chain.certificate_status(
        pki.leaf, roots=[pki.root.certificate], intermediates=[], now=NOW
    )
    assert status is CertStatus.UNTRUSTED


def test_date_invalid_after_expiry_and_before_start(pki: Pki) -> None:
    stores = {"roots": [pki.root.certificate], "intermediates": [pki.issuing.certificate]}
    later = pki.leaf.not_valid_after_utc + dt.timedelta(seconds=1)
    earlier = pki.leaf.not_valid_before_utc - dt.timedelta(seconds=1)
    assert chain.certificate_status(pki.leaf, now=later, **stores) is CertStatus.DATE_INVALID
    assert chain.certificate_status(pki.leaf, now=earlier, **stores) is CertStatus.DATE_INVALID


def test_invalid_when_the_chain_reaches_the_root_but_an_issuer_has_expired(pki: Pki) -> None:
    # An intermediate that expired before the leaf: the path reaches the trusted root,
    # but it does not validate.
    short = ca.make_intermediate(pki.root, "Short Lived CA", now=NOW - dt.timedelta(days=1826))
    key = build.generate_key()
    csr = build.certificate_request(key, parse_exchange_dn("CN=x.example"), ["x.example"])
    leaf = ca.issue(short, csr, now=NOW - dt.timedelta(days=10), days=365)
    status = chain.certificate_status(
        leaf, roots=[pki.root.certificate], intermediates=[short.certificate], now=NOW
    )
    assert status is CertStatus.INVALID


def test_self_signed_is_valid() -> None:
    key = build.generate_key()
    name = parse_exchange_dn("CN=EXCH01")
    cert = build.self_signed(
        key, name, ["EXCH01"], not_before=NOW, not_after=NOW + dt.timedelta(days=1)
    )
    assert chain.certificate_status(cert, roots=[], intermediates=[], now=NOW) is CertStatus.VALID


def test_build_chain_is_nearest_first_and_stops_at_the_root(pki: Pki) -> None:
    pool = [pki.root.certificate, pki.issuing.certificate]
    assert chain.build_chain(pki.leaf, pool) == [pki.issuing.certificate, pki.root.certificate]
    assert chain.build_chain(pki.leaf, [pki.root.certificate]) == []


def test_path_error_names_the_reason_even_without_any_root(pki: Pki) -> None:
    stores = {"intermediates": [pki.issuing.certificate], "now": NOW}
    assert chain.path_error(pki.leaf, roots=[pki.root.certificate], **stores) is None
    assert chain.path_error(pki.leaf, roots=[], **stores)  # an empty store is no crash

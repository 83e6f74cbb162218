"""Exchange's inbound STARTTLS certificate selection, case by case (pure; no sockets)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from certward.model import Service, ServiceSet, Thumbprint
from certward.pki import build, ca, certinfo
from certward.pki.names import parse_exchange_dn
from certward.pki.selection import Candidate, select_certificate, select_iis
from certward.pki.tlsname import tls_certificate_name

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
SMTP = ServiceSet.of(Service.SMTP)
ROOT = ca.make_root("Selection Test Root", now=NOW - dt.timedelta(days=800))


def self_signed(
    cn: str, sans: list[str], *, age_days: int = 0, days: int = 365
) -> x509.Certificate:
    start = NOW - dt.timedelta(days=age_days)
    return build.self_signed(
        build.generate_key(1024), parse_exchange_dn(f"CN={cn}"), sans,
        not_before=start, not_after=start + dt.timedelta(days=days),
    )  # fmt: skip


def ca_issued(cn: str, sans: list[str], *, age_days: int = 0, days: int = 365) -> x509.Certificate:
    csr = build.certificate_request(build.generate_key(1024), parse_exchange_dn(f"CN={cn}"), sans)
    return ca.issue(ROOT, csr, now=NOW - dt.timedelta(days=age_days), days=days)


def candidate(
    cert: x509.Certificate, services: ServiceSet = SMTP, *, key: bool = True
) -> Candidate:
    return Candidate.of(Thumbprint(certinfo.thumbprint(certinfo.to_der(cert))), cert, key, services)


def select(candidates: list[Candidate], **kwargs: object):
    options = {"service": Service.SMTP, "now": NOW, "host_name": "mail.contoso.com"}
    options.update(kwargs)
    return select_certificate(candidates, **options)  # type: ignore[arg-type]


def test_ca_issued_beats_a_newer_self_signed_certificate() -> None:
    issued = candidate(ca_issued("mail.contoso.com", ["mail.contoso.com"], age_days=10))
    newer_self = candidate(self_signed("mail.contoso.com", ["mail.contoso.com"]))
    chosen = select([newer_self, issued]).chosen
    assert chosen is issued


def test_newest_not_before_wins_among_ca_issued() -> None:
    old = candidate(ca_issued("mail.contoso.com", ["mail.contoso.com"], age_days=100))
    new = candidate(ca_issued("mail.contoso.com", ["mail.contoso.com"], age_days=1))
    assert select([old, new]).chosen is new


def test_self_signed_when_no_ca_issued_is_eligible() -> None:
    own = candidate(self_signed("EXCH01", ["EXCH01", "mail.contoso.com"]))
    assert select([own]).chosen is own


def test_name_in_cn_only_or_wildcard_san_is_eligible() -> None:
    cn_only = candidate(ca_issued("mail.contoso.com", []))
    assert select([cn_only]).chosen is cn_only
    wildcard = candidate(ca_issued("*.contoso.com", ["*.contoso.com"]))
    assert select([wildcard]).chosen is wildcard


def test_ineligible_certificates_are_skipped() -> None:
    no_key = candidate(ca_issued("mail.contoso.com", ["mail.contoso.com"]), key=False)
    not_smtp = candidate(
        ca_issued("mail.contoso.com", ["mail.contoso.com"]), ServiceSet.of(Service.IIS)
    )
    other_name = candidate(ca_issued("web.contoso.com", ["web.contoso.com"]))
    result = select([no_key, not_smtp, other_name], connector="Default Frontend EXCH01")
    assert result.chosen is None and not result.starttls
    assert [e.id for e in result.events] == [12014]
    assert "mail.contoso.com" in result.events[0].message
    assert "Default Frontend EXCH01" in result.events[0].message


def test_an_expired_winner_is_used_and_logs_12016() -> None:
    expired = candidate(ca_issued("mail.contoso.com", ["mail.contoso.com"], age_days=400))
    result = select([expired])
    assert result.chosen is expired
    assert [e.id for e in result.events] == [12016]
    assert expired.thumbprint in result.events[0].message


def test_tls_certificate_name_selects_by_issuer_and_subject() -> None:
    wanted = ca_issued("webmail.contoso.com", ["webmail.contoso.com"], age_days=5)
    newer_other = candidate(ca_issued("mail.contoso.com", ["mail.contoso.com"]))
    result = select(
        [newer_other, candidate(wanted)],
        tls_certificate_name=str(tls_certificate_name(wanted)),
    )
    assert result.chosen is not None and result.chosen.certificate == wanted


def test_imap_and_pop_refuse_wildcard_certificates() -> None:
    services = ServiceSet.of(Service.IMAP, Service.POP)
    wildcard = candidate(ca_issued("*.contoso.com", ["*.contoso.com"]), services)
    exact = candidate(self_signed("mail.contoso.com", ["mail.contoso.com"]), services)
    assert select([wildcard, exact], service=Service.IMAP).chosen is exact
    assert select([wildcard], service=Service.POP).chosen is None


def test_iis_uses_its_single_binding() -> None:
    web = candidate(ca_issued("webmail.contoso.com", []), ServiceSet.of(Service.IIS))
    smtp_only = candidate(self_signed("EXCH01", ["EXCH01"]))
    assert select_iis([smtp_only, web], now=NOW).chosen is web
    assert select_iis([smtp_only], now=NOW).chosen is None

"""An open score, in the spirit of CheckTLS's Confidence Factor (docs/probe.md).

Per endpoint, out of 100: TLS offered and negotiated 20; the best version negotiated 20
(TLS 1.3: 20, TLS 1.2: 15, older: 0) minus 5 when TLS 1.0 or 1.1 is still accepted; an AEAD
cipher 10; a trusted chain 20; the name in a SAN 10 (CN only: 5); a strong key 5 (RSA 2048+
or EC); more than 30 days left 5; no SHA-1/MD5 signature 5; a client-CA list within
Schannel's 16 KB 5. TLS version weighs more than cipher, as in CheckTLS. A certificate that
does not name the target (the server name, or the IP address of a target given without
one, which only an IP-address SAN names) authenticates nothing: its chain's 20 are not given
either, so such an endpoint scores at most 70.

Per mail domain: the mean of its MX scores, plus MTA-STS (enforce 10, testing 5, only
when its policy is valid), DANE (10 when every MX has a validated, matching TLSA record),
TLS-RPT 5; at most 100.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from certward.probe.report import EndpointReport, NameMatch

if TYPE_CHECKING:  # a mail domain's parts: loaded only when one is probed
    from certward.probe.policy import DaneReport, MtaStsReport, TlsRptReport

_AEAD = ("GCM", "CHACHA20", "CCM")


def endpoint_score(report: EndpointReport) -> int:
    if not report.negotiated_version:
        return 0
    score = 20
    score += {"TLSv1.3": 20, "TLSv1.2": 15}.get(report.negotiated_version, 0)
    if report.old_versions_accepted:
        score -= 5
    if any(mark in report.cipher.upper() for mark in _AEAD):
        score += 10
    cert = report.certificate
    if cert is not None:
        named = cert.name_match is not NameMatch.NONE
        score += 20 if cert.trusted and named else 0
        score += {NameMatch.SAN: 10, NameMatch.CN_ONLY: 5}.get(cert.name_match, 0)
        strong = (cert.key_type == "RSA" and cert.key_size >= 2048) or cert.key_type in (
            "EC",
            "EdDSA",
        )
        score += 5 if strong else 0
        score += 5 if cert.days_left > 30 else 0
        score += 0 if cert.sha1_signature else 5
    score += 0 if report.client_auth.over_schannel_limit else 5
    return max(0, min(100, score))


def domain_score(
    mx_reports: Sequence[EndpointReport],
    mta_sts: MtaStsReport,
    tls_rpt: TlsRptReport,
    dane: Sequence[DaneReport],
) -> int:
    if not mx_reports:
        return 0
    score = sum(r.score for r in mx_reports) / len(mx_reports)
    if mta_sts.record_ok and mta_sts.policy_ok:
        score += {"enforce": 10, "testing": 5}.get(mta_sts.mode, 0)
    if dane and all(d.authenticated and d.matched for d in dane):
        score += 10
    if tls_rpt.present and not tls_rpt.errors:
        score += 5
    return int(min(100, round(score)))

"""Judging without sockets: trust failures in a person's words, names (DNS and IP SANs by
RFC 6125), the verdict and exit status of each finding, the score, the dialogue registry."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from certward.pki import build, ca
from certward.pki.names import parse_exchange_dn
from certward.probe import analysis, trust, verdict
from certward.probe.dialogues import (
    DIALOGUES,
    HttpsDialogue,
    ImapDialogue,
    Pop3Dialogue,
    SmtpDialogue,
    dialogue_for,
)
from certward.probe.report import (
    ClientAuthReport,
    EndpointReport,
    Failure,
    FailureReason,
    NameMatch,
    TrustFailure,
)
from certward.probe.score import endpoint_score
from certward.probe.targets import Protocol

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
ROOT = ca.make_root("Probe Trust Root", now=NOW - dt.timedelta(days=30))
ISSUING = ca.make_intermediate(ROOT, "Probe Issuing CA", now=NOW - dt.timedelta(days=30))
OTHER_ROOT = ca.make_root("Someone Else's Root", now=NOW - dt.timedelta(days=30))
KEY = build.generate_key(2048)


def leaf(authority: ca.Authority, cn: str = "mx.contoso.com", **kwargs: int) -> x509.Certificate:
    csr = build.certificate_request(KEY, parse_exchange_dn(f"CN={cn}"), [cn])
    return ca.issue(authority, csr, now=NOW - dt.timedelta(days=1), **kwargs)


LEAF = leaf(ISSUING)


def judged(
    chain: list[x509.Certificate], roots: list[x509.Certificate], now: dt.datetime = NOW
) -> tuple[TrustFailure | None, str]:
    return trust.judge(chain[0], intermediates=chain[1:], roots=roots, now=now)


def test_a_complete_chain_to_a_trusted_root_is_trusted() -> None:
    assert judged([LEAF, ISSUING.certificate], [ROOT.certificate]) == (None, "")


def test_no_intermediate_sent() -> None:
    failure, words = judged([LEAF], [ROOT.certificate])
    assert failure is TrustFailure.NO_INTERMEDIATE
    assert words.startswith("issuer not found: the server sent no intermediate")
    assert "Probe Issuing CA" in words


def test_self_signed_not_in_the_roots() -> None:
    own = build.self_signed(KEY, parse_exchange_dn("CN=mx.contoso.com"), ["mx.contoso.com"],
                            not_before=NOW - dt.timedelta(days=1),
                            not_after=NOW + dt.timedelta(days=90))  # fmt: skip
    assert judged([own], [ROOT.certificate]) == (
        TrustFailure.SELF_SIGNED, "self-signed, not in the trusted roots",
    )  # fmt: skip
    assert judged([own], [own]) == (None, "")  # pinned as its own anchor


def test_expired_and_not_yet_valid() -> None:
    failure, words = judged([LEAF, ISSUING.certificate], [ROOT.certificate],
                            now=NOW + dt.timedelta(days=400))  # fmt: skip
    assert failure is TrustFailure.EXPIRED and words.startswith("expired on 2027-11-24")
    failure, words = judged([LEAF, ISSUING.certificate], [ROOT.certificate],
                            now=NOW - dt.timedelta(days=2))  # fmt: skip
    assert failure is TrustFailure.NOT_YET_VALID and words.startswith("not valid before")


def test_a_chain_to_a_root_that_is_not_trusted() -> None:
    failure, words = judged([LEAF, ISSUING.certificate, ROOT.certificate], [OTHER_ROOT.certificate])
    assert failure is TrustFailure.UNTRUSTED_ROOT
    assert words == "the chain ends at Probe Trust Root, which is not in the trusted roots"
    failure, words = judged([LEAF, ISSUING.certificate], [OTHER_ROOT.certificate])
    assert failure is TrustFailure.ISSUER_NOT_FOUND
    assert words.startswith("issuer not found: Probe Trust Root (issuer of Probe Issuing CA)")


def test_an_expired_intermediate() -> None:
    old_root = ca.make_root("Old Root", now=NOW - dt.timedelta(days=2000))
    old_issuing = ca.make_intermediate(
        old_root, "Old Issuing CA", now=NOW - dt.timedelta(days=1830)
    )
    fresh = leaf(old_issuing, days=90)
    failure, words = judged([fresh, old_issuing.certificate], [old_root.certificate])
    assert failure is TrustFailure.ISSUER_EXPIRED
    assert words.startswith("the issuer Old Issuing CA expired on")


def test_an_impostor_root_with_the_same_name() -> None:
    impostor = ca.make_root("Probe Trust Root", now=NOW - dt.timedelta(days=30))
    failure, words = judged([LEAF, ISSUING.certificate], [impostor.certificate])
    assert failure is TrustFailure.BAD_SIGNATURE
    assert "does not verify" in words


def test_the_verifiers_own_words_never_show_for_a_known_shape() -> None:
    cases = [
        judged([LEAF], [ROOT.certificate]),
        judged([LEAF, ISSUING.certificate], [OTHER_ROOT.certificate]),
        judged([LEAF, ISSUING.certificate, ROOT.certificate], [OTHER_ROOT.certificate]),
    ]
    for _, words in cases:
        assert "candidates exhausted" not in words and "not trusted:" not in words


def _with_ip_san(address: str, cn: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .sign(KEY, hashes.SHA256())
    )


def test_ip_targets_match_ip_address_sans_only() -> None:
    by_ip = _with_ip_san("192.0.2.10", cn="192.0.2.10")
    assert analysis.name_match(by_ip, "192.0.2.10") is NameMatch.SAN
    assert analysis.name_match(by_ip, "192.0.2.11") is NameMatch.NONE
    only_cn = _with_ip_san("198.51.100.1", cn="192.0.2.10")
    assert analysis.name_match(only_cn, "192.0.2.10") is NameMatch.NONE  # an address in a CN
    assert analysis.name_match(LEAF, "192.0.2.10") is NameMatch.NONE
    assert analysis.name_match(LEAF, "MX.contoso.com") is NameMatch.SAN
    assert analysis.name_match(LEAF, "contoso.com") is NameMatch.NONE


def endpoint(
    *,
    chain: list[x509.Certificate] | None = None,
    reference: str = "mx.contoso.com",
    failure: Failure | None = None,
    warnings: tuple[str, ...] = (),
    versions: dict[str, bool | None] | None = None,
    now: dt.datetime = NOW,
) -> EndpointReport:
    certificate = (
        analysis.certificate_report(chain, reference=reference, now=now, roots=[ROOT.certificate])
        if chain
        else None
    )
    return EndpointReport(
        f"https://{reference}", reference, 443, "https", failure=failure,
        negotiated_version="TLSv1.3" if chain else "", cipher="TLS_AES_256_GCM_SHA384",
        versions=versions or {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True,
                              "TLSv1.3": True},
        certificate=certificate, client_auth=ClientAuthReport(), warnings=warnings,
    )  # fmt: skip


GOOD = [LEAF, ISSUING.certificate]


@pytest.mark.parametrize(
    ("report", "status"),
    [
        (endpoint(chain=GOOD), verdict.Status.OK),
        (endpoint(chain=GOOD, warnings=("TLSv1 still accepted",)), verdict.Status.WARNING),
        (endpoint(chain=[LEAF]), verdict.Status.CRITICAL),  # untrusted
        (endpoint(chain=GOOD, reference="other.contoso.com"), verdict.Status.CRITICAL),
        (endpoint(chain=GOOD, now=NOW + dt.timedelta(days=400)), verdict.Status.CRITICAL),
        (endpoint(failure=Failure("connect", FailureReason.UNREACHABLE, "refused")),
         verdict.Status.CRITICAL),
        (endpoint(failure=Failure("TLS negotiated", FailureReason.TLS_FAILED, "alert")),
         verdict.Status.CRITICAL),
        (endpoint(failure=Failure("banner", FailureReason.RATE_LIMITED, "421")),
         verdict.Status.UNKNOWN),
        (endpoint(failure=Failure("EHLO", FailureReason.PROBER_FAULT, "KeyError")),
         verdict.Status.UNKNOWN),
        (endpoint(chain=GOOD, failure=Failure("HTTP status", FailureReason.PROBER_FAULT, "x")),
         verdict.Status.UNKNOWN),
    ],
    ids=["ok", "warning", "untrusted", "name", "expired", "unreachable", "tls", "421",
         "fault", "fault-after-tls"],
)  # fmt: skip
def test_the_verdict_of_each_finding(report: EndpointReport, status: verdict.Status) -> None:
    judged = verdict.endpoint(report)
    assert judged.status is status
    assert bool(judged.reasons) is (status is not verdict.Status.OK)


def test_the_worst_status_wins_critical_over_warning_over_unknown() -> None:
    s = verdict.Status
    assert verdict.worst([s.OK, s.UNKNOWN]) is s.UNKNOWN
    assert verdict.worst([s.UNKNOWN, s.WARNING]) is s.WARNING
    assert verdict.worst([s.WARNING, s.CRITICAL, s.UNKNOWN]) is s.CRITICAL
    assert verdict.worst([]) is s.OK


def test_a_certificate_that_does_not_name_the_target_scores_no_trust_points() -> None:
    assert endpoint_score(endpoint(chain=GOOD)) == 100
    by_ip = endpoint(chain=GOOD, reference="192.0.2.10")  # an IP target, no IP SAN
    assert by_ip.certificate is not None and by_ip.certificate.trusted
    assert endpoint_score(by_ip) == 70 and not by_ip.secure


def test_one_dialogue_per_protocol() -> None:
    kinds = {
        Protocol.SMTP: SmtpDialogue, Protocol.SMTPS: SmtpDialogue, Protocol.IMAP: ImapDialogue,
        Protocol.IMAPS: ImapDialogue, Protocol.POP3: Pop3Dialogue, Protocol.POP3S: Pop3Dialogue,
        Protocol.HTTPS: HttpsDialogue,
    }  # fmt: skip
    assert set(DIALOGUES) == set(Protocol)
    for protocol, kind in kinds.items():
        dialogue = dialogue_for(protocol)
        assert type(dialogue) is kind and dialogue.starttls is protocol.starttls


def test_the_schema_lists_every_failure_reason() -> None:
    schema = json.loads((Path(__file__).parents[2] / "docs" / "probe-schema.json").read_text())
    listed = schema["$defs"]["failure"]["oneOf"][1]["properties"]["reason"]["enum"]
    assert listed == [reason.value for reason in FailureReason]

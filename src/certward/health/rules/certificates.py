"""Certificates in use: expiry, keys, signatures, chains."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from certward.commandline import certward_command
from certward.health.findings import Evidence, Finding, Remediation, Severity, rule
from certward.health.rules._common import (
    CA_RENEWAL_NOTICE_DAYS,
    CRITICAL,
    ERROR,
    INFO,
    WARNING,
    day,
    import_issuer,
    renew,
    subject_text,
)
from certward.health.snapshot import HeldCertificate, OrgSnapshot, ServerState
from certward.interop.powershell import command, script
from certward.model import Evidence as Shown
from certward.model import Service
from certward.pki.profile import CertProfile


@rule(
    "CW-CERT-001",
    "Certificate in use expires",
    CRITICAL,
    ERROR,
    WARNING,
    INFO,
    prevents="Seeds 002 and 003: an expired 1-year or 5-year certificate; events 12016/12017",
    needs=(Shown.MY_STORE,),
)
def certificate_expiry(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A certificate something uses (a service binding, the default SMTP certificate, a
    connector's TlsCertificateName) expired: critical; expires in under 30 days: error;
    under 60 days: warning (HealthChecker's thresholds); under 90 days, when a public CA
    sends its first renewal notice: info. An expired certificate whose renewal (same names,
    valid, newer) is on the same server is only left behind (seed 002: no harm): info.
    The auth certificate has its own rules."""
    auth = snap.organisation.auth.current_thumbprint if snap.organisation else None
    for state in snap.servers:
        for cert, uses in snap.in_use(state):
            if cert.thumbprint == auth:
                continue
            days = cert.profile.days_left(now)
            renewal = _renewal_of(snap, state, cert, now) if days < 0 else None
            if renewal is not None:
                severity = INFO
                text = (
                    f"expired on {day(cert.profile.not_after)}; its renewal "
                    f"{renewal.thumbprint} is on the server, remove the old one when convenient"
                )
            elif days < 0:
                severity, text = CRITICAL, f"expired on {day(cert.profile.not_after)}"
            elif days < 30:
                severity, text = ERROR, f"expires in {int(days)} days"
            elif days < 60:
                severity, text = WARNING, f"expires in {int(days)} days"
            elif days < CA_RENEWAL_NOTICE_DAYS:
                severity, text = INFO, f"expires in {int(days)} days (renewal notice period)"
            else:
                continue
            yield Finding(
                "CW-CERT-001",
                severity,
                state.name,
                f"{subject_text(cert.profile)} ({', '.join(uses)}) {text}",
                Remediation(
                    certward_command("cert", "remove", cert.thumbprint, "--server", state.name),
                    script(
                        command(
                            "Remove-ExchangeCertificate",
                            Thumbprint=cert.thumbprint,
                            Server=state.name,
                        )
                    ),
                )
                if renewal is not None
                else renew(state.name, cert),
                _expiry_evidence(cert, days),
                thumbprint=cert.thumbprint,
            )


def _expiry_evidence(cert: HeldCertificate, days: float) -> Evidence:
    """Dates, and the event an expired SMTP certificate logs (12016)."""
    evidence: dict[str, str | int] = {
        "not_after": cert.profile.not_after.isoformat(),
        "days_left": int(days),
    }
    if days < 0 and Service.SMTP in cert.services:
        evidence["event"] = 12016
    return evidence


def _renewal_of(
    snap: OrgSnapshot, state: ServerState, cert: HeldCertificate, now: dt.datetime
) -> HeldCertificate | None:
    """A valid, newer certificate with the same names on the same server."""
    key = snap.names_key(cert.profile)
    return next(
        (
            other
            for other in state.certificates
            if other.thumbprint != cert.thumbprint
            and not other.profile.expired(now)
            and other.profile.not_before > cert.profile.not_before
            and snap.names_key(other.profile) == key
        ),
        None,
    )


# Get-ExchangeCertificate's Status classes as HealthChecker colours them: red and yellow.
STATUS_ERROR = ("Revoked", "DateInvalid", "Invalid")
STATUS_WARNING = ("Unknown", "Untrusted", "RevocationCheckFailure", "PendingRequest")


@rule(
    "CW-CERT-002",
    "Certificate in use is not Valid (Get-ExchangeCertificate Status)",
    ERROR,
    WARNING,
    prevents="HealthChecker: 'Certificate status'; clients and partners refuse a revoked, "
    "untrusted or invalid certificate",
    needs=(Shown.EXCHANGE_CERTIFICATE,),
)
def certificate_status(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A certificate something uses whose Status, as Get-ExchangeCertificate showed it on a
    real server, is Revoked, DateInvalid or Invalid: error; Untrusted,
    RevocationCheckFailure, PendingRequest, Unknown or any other but Valid: warning
    (HealthChecker's red and yellow). An expired certificate is left to CW-CERT-001, which
    knows a renewal left behind (seed 002) from an outage."""
    for state in snap.servers:
        for cert, uses in snap.in_use(state):
            status = cert.status
            if status is None or status.casefold() == "valid" or cert.profile.expired(now):
                continue  # an expired certificate is CW-CERT-001's (seed 002: left behind)
            known = {s.casefold(): s for s in (*STATUS_ERROR, *STATUS_WARNING)}
            status = known.get(status.casefold(), status)
            severity = ERROR if status in STATUS_ERROR else WARNING
            yield Finding(
                "CW-CERT-002",
                severity,
                state.name,
                f"{subject_text(cert.profile)} ({', '.join(uses)}) has Status {status}",
                renew(state.name, cert),
                {"status": status},
                thumbprint=cert.thumbprint,
            )


@rule(
    "CW-KEY-001",
    "RSA key shorter than 2048 bits",
    ERROR,
    prevents="HealthChecker: key size below 2048 bits",
    needs=(Shown.MY_STORE,),
)
def weak_key(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A certificate in use has an RSA key shorter than 2048 bits (HealthChecker's check; an
    ECC key is not measured in RSA bits and is not flagged). A key whose size no dump showed
    is not flagged."""

    def problem(p: CertProfile) -> tuple[str, Evidence] | None:
        if p.key_type == "RSA" and 0 < p.key_size < 2048:
            return f"has a {p.key_size}-bit RSA key", {"key_size": p.key_size}
        return None

    return _in_use_findings(snap, "CW-KEY-001", ERROR, problem)


@rule(
    "CW-SIG-001",
    "Certificate signed with SHA-1 or MD5",
    WARNING,
    prevents="HealthChecker: SHA-1 and MD5 signed certificates (SignatureHashAlgorithmSecure)",
    needs=(Shown.MY_STORE,),
)
def weak_signature(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A certificate in use is signed with SHA-1 or MD5; clients increasingly refuse them."""

    def problem(p: CertProfile) -> tuple[str, Evidence] | None:
        if p.signature_hash in ("sha1", "md5"):
            text = f"is signed with {p.signature_algorithm}"
            return text, {"signature_algorithm": p.signature_algorithm}
        return None

    return _in_use_findings(snap, "CW-SIG-001", WARNING, problem)


def _in_use_findings(
    snap: OrgSnapshot,
    rule_id: str,
    severity: Severity,
    problem: Callable[[CertProfile], tuple[str, Evidence] | None],
) -> Iterator[Finding]:
    """A finding, with a renewal as the fix, for each certificate in use with a problem."""
    for state in snap.servers:
        for cert, _uses in snap.in_use(state):
            found = problem(cert.profile)
            if found is not None:
                text, evidence = found
                yield Finding(
                    rule_id,
                    severity,
                    state.name,
                    f"{subject_text(cert.profile)} {text}",
                    renew(state.name, cert),
                    evidence,
                    thumbprint=cert.thumbprint,
                )


@rule(
    "CW-CHAIN-001",
    "Intermediate certificate missing",
    ERROR,
    WARNING,
    INFO,
    prevents="Seed 002: a CA reply completed without its intermediate; clients see an "
    "incomplete chain",
    needs=(Shown.MY_STORE, Shown.ROOT_STORE, Shown.CA_STORE),
)
def chain_incomplete(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A CA-issued certificate in use whose issuer is in neither the server's CA
    (Intermediate) store nor its Root store: the server cannot send a complete chain (error).
    The chain is complete but its root is not in the Trusted Root store: warning (Exchange
    shows the certificate as Untrusted). An observed server whose Root or CA store was not
    dumped is not judged; an info finding names the store missing."""
    for state in snap.servers:
        for cert, _uses in snap.in_use(state):
            if cert.profile.self_signed:
                continue
            gap = state.chain_gap(cert.profile)
            if gap is None:
                continue
            severity = ERROR if gap.issuer_missing else WARNING
            text = gap.text
            store = "CA" if severity is ERROR else "Root"
            yield Finding(
                "CW-CHAIN-001",
                severity,
                state.name,
                f"{subject_text(cert.profile)}: {text}",
                Remediation(
                    certward_command(
                        "store", "add", "--server", state.name, "--store", store, "issuer.cer"
                    ),
                    import_issuer(store),
                ),
                {"issuer": cert.profile.issuer_text},
                thumbprint=cert.thumbprint,
            )

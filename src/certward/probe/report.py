"""Probe results as data: frozen dataclasses and enums, rendered separately for the console,
HTML and JSON (``docs/probe-schema.json``)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from certward.pki.hostnames import NameMatch

SCHEMA_VERSION = 1
VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
OLD_VERSIONS = ("TLSv1", "TLSv1.1")

__all__ = [
    "SCHEMA_VERSION",
    "VERSIONS",
    "CertificateReport",
    "ChainEntry",
    "ClientAuth",
    "ClientAuthReport",
    "EndpointReport",
    "Failure",
    "FailureReason",
    "NameMatch",
    "Stage",
    "TrustFailure",
]


class FailureReason(enum.StrEnum):
    """Why an endpoint's dialogue stopped before it was judged (``Failure.reason``)."""

    NO_ADDRESS = "no-address"  # DNS has no address for the host
    UNREACHABLE = "unreachable"  # the connection was refused, or no route, or no SYN-ACK
    TIMEOUT = "timeout"  # a stage got no answer within its timeout
    CLOSED = "closed"  # the server closed or reset the connection
    RATE_LIMITED = "rate-limited"  # SMTP 421 at the greeting: try later
    REFUSED = "refused"  # the server answered, but refused (a 5xx banner, EHLO refused)
    NOT_THE_PROTOCOL = "not-the-protocol"  # the answer is not the protocol's
    TOO_LARGE = "too-large"  # an answer past the prober's bounds (lines, bytes)
    STARTTLS_NOT_OFFERED = "starttls-not-offered"
    STARTTLS_REFUSED = "starttls-refused"
    TLS_FAILED = "tls-failed"  # the TLS handshake failed
    CLIENT_CERTIFICATE_REQUIRED = "client-certificate-required"
    PROBER_FAULT = "prober-fault"  # certward itself failed: the endpoint is not judged

    @property
    def judged(self) -> bool:
        """Whether the failure says something about the server (False: rate limited or the
        prober's own fault, so nothing could be judged)."""
        return self not in (FailureReason.RATE_LIMITED, FailureReason.PROBER_FAULT)


@dataclass(frozen=True, slots=True)
class Failure:
    """The stage where an endpoint's dialogue stopped, the reason, and the detail."""

    stage: str
    reason: FailureReason
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "reason": self.reason.value, "detail": self.detail}


class ClientAuth(enum.StrEnum):
    NONE = "none"  # no CertificateRequest
    OPTIONAL = "optional"  # requested; the handshake went on without a certificate
    REQUIRED = "required"  # requested; the server refused to go on without one


class TrustFailure(enum.StrEnum):
    """Why a chain does not validate to the trusted roots, as a person would say it."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    SELF_SIGNED = "self-signed"  # and not itself one of the trusted roots
    NO_INTERMEDIATE = "no-intermediate"  # the leaf's issuer was not sent and is no root
    ISSUER_NOT_FOUND = "issuer-not-found"  # intermediates were sent, but not the issuer
    UNTRUSTED_ROOT = "untrusted-root"  # the chain ends at a root that is not trusted
    ISSUER_EXPIRED = "issuer-expired"  # an intermediate of the chain has expired
    BAD_SIGNATURE = "bad-signature"  # a certificate's signature does not verify
    NOT_A_CA = "not-a-ca"  # an issuer in the chain may not issue certificates
    OTHER = "other"  # the verifier's own words follow


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    ok: bool
    ms: float
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "ms": round(self.ms, 1), "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ChainEntry:
    subject: str
    issuer: str
    thumbprint_sha1: str
    not_after: str

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "thumbprint_sha1": self.thumbprint_sha1,
            "not_after": self.not_after,
        }


@dataclass(frozen=True, slots=True)
class CertificateReport:
    chain: tuple[ChainEntry, ...]
    includes_root: bool
    trust_failure: TrustFailure | None  # None: the chain validates to a trusted root
    trust_error: str  # the failure in a person's words ("" when trusted)
    name_match: NameMatch
    days_left: int
    key_type: str
    key_size: int
    signature_hash: str
    sha1_signature: bool

    @property
    def trusted(self) -> bool:
        return self.trust_failure is None

    @property
    def expired(self) -> bool:
        return self.days_left < 0

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": [entry.to_json() for entry in self.chain],
            "includes_root": self.includes_root,
            "trusted": self.trusted,
            "trust_error": self.trust_error,
            "name_match": self.name_match.value,
            "days_left": self.days_left,
            "key_type": self.key_type,
            "key_size": self.key_size,
            "signature_hash": self.signature_hash,
            "sha1_signature": self.sha1_signature,
        }


@dataclass(frozen=True, slots=True)
class ClientAuthReport:
    requested: ClientAuth = ClientAuth.NONE
    ca_names_count: int = 0
    ca_names_size: int = 0
    over_schannel_limit: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "requested": self.requested.value,
            "ca_names_count": self.ca_names_count,
            "ca_names_size": self.ca_names_size,
            "over_schannel_limit": self.over_schannel_limit,
        }


@dataclass(frozen=True, slots=True)
class EndpointReport:
    target: str
    host: str
    port: int
    protocol: str
    stages: tuple[Stage, ...] = ()
    failure: Failure | None = None  # where and why the dialogue stopped; None: it went through
    banner: str = ""
    negotiated_version: str = ""
    cipher: str = ""
    versions: Mapping[str, bool | None] = field(default_factory=dict)
    ocsp_stapled: bool = False
    certificate: CertificateReport | None = None
    client_auth: ClientAuthReport = ClientAuthReport()
    warnings: tuple[str, ...] = ()
    presented_chain: tuple[x509.Certificate, ...] = field(default=(), repr=False)  # not JSON
    score: int = 0
    # Which of your organisation's servers hold the certificate presented (certward's store).
    exchange_view: tuple[Mapping[str, Any], ...] = ()

    @property
    def secure(self) -> bool:
        c = self.certificate
        return bool(c and c.trusted and c.name_match is not NameMatch.NONE and not c.expired)

    @property
    def old_versions_accepted(self) -> bool:
        return any(self.versions.get(v) for v in OLD_VERSIONS)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "banner": self.banner,
            "stages": [s.to_json() for s in self.stages],
            "failure": self.failure.to_json() if self.failure else None,
            "tls": {
                "negotiated_version": self.negotiated_version or None,
                "cipher": self.cipher or None,
                "versions": {v: self.versions.get(v) for v in VERSIONS},
                "ocsp_stapled": self.ocsp_stapled,
            },
            "certificate": self.certificate.to_json() if self.certificate else None,
            "client_auth": self.client_auth.to_json(),
            "secure": self.secure,
            "score": self.score,
            "exchange_view": [dict(entry) for entry in self.exchange_view],
            "warnings": list(self.warnings),
        }


# The stage matrix (CheckTLS's columns) for many endpoints at once: each column gathers the
# stage names the protocols use for the same step (SMTP's EHLO is IMAP's CAPABILITY).
# (short header, what it means, stage names)
MATRIX_COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("DNS", "DNS answer", ("DNS answer",)),
    ("conn", "connect", ("connect",)),
    ("greet", "greeting (banner)", ("banner",)),
    ("EHLO", "EHLO, CAPABILITY or CAPA", ("EHLO", "CAPABILITY", "CAPA")),
    ("offer", "STARTTLS offered", ("STARTTLS offered", "STLS offered")),
    ("STLS", "STARTTLS accepted", ("STARTTLS", "STLS")),
    ("TLS", "TLS negotiated", ("TLS negotiated",)),
    ("after", "EHLO or HTTP after TLS", ("EHLO after TLS", "HTTP status")),
    ("MAIL", "MAIL FROM accepted", ("MAIL FROM", "MAIL FROM accepted")),
    ("RCPT", "RCPT TO accepted", ("RCPT TO", "RCPT TO accepted")),
    ("cert", "certificate OK (trusted, not expired)", ("certificate OK",)),
    ("secure", "certificate OK and the name matches", ("secure",)),
)


@dataclass(frozen=True)
class MatrixCell:
    ok: bool
    ms: float


def stage_matrix(
    reports: list[EndpointReport],
) -> tuple[list[tuple[str, str]], list[list[MatrixCell | None]]]:
    """The columns any report reached (short header, meaning), and per report one cell per
    column (None: the stage does not apply or was not reached). A cell fails when any of its
    stages failed; its time is theirs together."""
    rows: list[list[MatrixCell | None]] = []
    for report in reports:
        row: list[MatrixCell | None] = []
        for _, _, names in MATRIX_COLUMNS:
            found = [s for s in report.stages if s.name in names]
            row.append(
                MatrixCell(all(s.ok for s in found), sum(s.ms for s in found)) if found else None
            )
        rows.append(row)
    keep = [i for i in range(len(MATRIX_COLUMNS)) if any(row[i] is not None for row in rows)]
    columns = [MATRIX_COLUMNS[i][:2] for i in keep]
    return columns, [[row[i] for i in keep] for row in rows]

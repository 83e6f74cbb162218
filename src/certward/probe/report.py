"""Probe results as data (rendered separately for the console and for JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


@dataclass
class Stage:
    name: str
    ok: bool
    ms: float
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "ms": round(self.ms, 1), "detail": self.detail}


@dataclass
class ChainEntry:
    subject: str
    issuer: str
    thumbprint_sha1: str
    not_after: str


@dataclass
class CertificateReport:
    chain: list[ChainEntry]
    includes_root: bool
    trusted: bool
    trust_error: str
    name_match: str  # san | cn-only | none
    days_left: int
    key_type: str
    key_size: int
    signature_hash: str
    sha1_signature: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": [vars(entry) for entry in self.chain],
            "includes_root": self.includes_root,
            "trusted": self.trusted,
            "trust_error": self.trust_error,
            "name_match": self.name_match,
            "days_left": self.days_left,
            "key_type": self.key_type,
            "key_size": self.key_size,
            "signature_hash": self.signature_hash,
            "sha1_signature": self.sha1_signature,
        }


@dataclass
class ClientAuthReport:
    requested: str = "none"  # none | optional | required
    ca_names_count: int = 0
    ca_names_size: int = 0
    over_schannel_limit: bool = False

    def to_json(self) -> dict[str, Any]:
        return vars(self).copy()


@dataclass
class EndpointReport:
    target: str
    host: str
    port: int
    protocol: str
    stages: list[Stage] = field(default_factory=list)
    banner: str = ""
    negotiated_version: str = ""
    cipher: str = ""
    versions: dict[str, bool | None] = field(default_factory=dict)
    ocsp_stapled: bool = False
    certificate: CertificateReport | None = None
    client_auth: ClientAuthReport = field(default_factory=ClientAuthReport)
    warnings: list[str] = field(default_factory=list)
    presented_chain: list[Any] = field(default_factory=list, repr=False)  # not in JSON
    score: int = 0
    # Which of your organisation's servers hold the certificate presented (certward's store).
    exchange_view: list[dict[str, Any]] = field(default_factory=list)

    @property
    def secure(self) -> bool:
        c = self.certificate
        return bool(c and c.trusted and c.name_match != "none" and c.days_left >= 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "banner": self.banner,
            "stages": [s.to_json() for s in self.stages],
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
            "exchange_view": self.exchange_view,
            "warnings": self.warnings,
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

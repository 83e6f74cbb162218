"""Mail-domain policies, judged purely: MTA-STS (RFC 8461), TLS-RPT (RFC 8460), DANE TLSA
for SMTP (RFC 7672). The DNS answers and the fetched policy come in as data."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

MAX_POLICY_BYTES = 64 * 1024


@dataclass
class MtaStsReport:
    present: bool = False
    record_ok: bool = False
    id: str = ""
    policy_ok: bool = False
    mode: str = ""
    max_age: int = 0
    mx_patterns: list[str] = field(default_factory=list)
    mx_covered: dict[str, bool] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return vars(self).copy()


@dataclass
class TlsRptReport:
    present: bool = False
    rua: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return vars(self).copy()


@dataclass
class DaneReport:
    mx: str
    present: bool = False
    authenticated: bool = False  # the resolver set AD
    usable: list[str] = field(default_factory=list)  # records of usage 2 or 3
    ignored: list[str] = field(default_factory=list)  # usage 0/1, ignored for SMTP
    matched: bool = False
    rollover_ready: bool = False
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return vars(self).copy()


def _fields(text: str, separator: str = ";") -> dict[str, str]:
    found: dict[str, str] = {}
    for part in text.split(separator):
        key, sep, value = part.strip().partition("=")
        if sep:
            found.setdefault(key.strip().lower(), value.strip())
    return found


def mx_pattern_matches(pattern: str, mx: str) -> bool:
    """RFC 8461 §4.1: a leading ``*.`` covers exactly one left-most label."""
    p, h = pattern.lower().rstrip("."), mx.lower().rstrip(".")
    if p.startswith("*."):
        return "." in h and h.split(".", 1)[1] == p[2:]
    return p == h


def mta_sts(
    txt_records: Sequence[str],
    *,
    policy: bytes | None,
    content_type: str,
    fetch_error: str,
    mx_hosts: Sequence[str],
) -> MtaStsReport:
    report = MtaStsReport()
    sts = [t for t in txt_records if t.lower().startswith("v=stsv1")]
    report.present = bool(sts)
    if not sts:
        return report
    if len(sts) > 1:
        report.errors.append(f"{len(sts)} v=STSv1 TXT records: there must be exactly one")
    else:
        record = _fields(sts[0])
        report.id = record.get("id", "")
        if not report.id or not report.id.isalnum() or len(report.id) > 32:
            report.errors.append("the TXT record needs an id of 1-32 letters and digits")
        else:
            report.record_ok = True
    if policy is None:
        report.errors.append(f"policy not fetched: {fetch_error}")
        return report
    if not content_type.lower().startswith("text/plain"):
        report.errors.append(f"the policy is served as {content_type or 'nothing'}, not text/plain")
    if len(policy) > MAX_POLICY_BYTES:
        report.errors.append(f"the policy is {len(policy)} bytes, over 64 KiB")
        return report
    lines = policy.decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n")
    values: dict[str, list[str]] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            values.setdefault(key.strip().lower(), []).append(value.strip())
    if values.get("version") != ["STSv1"]:
        report.errors.append("the policy must say version: STSv1")
    report.mode = (values.get("mode") or [""])[0]
    if report.mode not in ("enforce", "testing", "none"):
        report.errors.append(f"mode must be enforce, testing or none, not {report.mode!r}")
    raw_age = (values.get("max_age") or [""])[0]
    if raw_age.isdigit() and 0 <= int(raw_age) <= 31_557_600:
        report.max_age = int(raw_age)
    else:
        report.errors.append(f"max_age must be 0 to 31557600 seconds, not {raw_age!r}")
    report.mx_patterns = values.get("mx", [])
    if report.mode in ("enforce", "testing") and not report.mx_patterns:
        report.errors.append("the policy names no mx")
    report.mx_covered = {
        mx: any(mx_pattern_matches(p, mx) for p in report.mx_patterns) for mx in mx_hosts
    }
    for mx, covered in report.mx_covered.items():
        if not covered:
            report.errors.append(f"MX {mx} is not covered by the policy's mx patterns")
    report.policy_ok = not [e for e in report.errors if "TXT" not in e and "id" not in e]
    return report


def tls_rpt(txt_records: Sequence[str]) -> TlsRptReport:
    report = TlsRptReport()
    records = [t for t in txt_records if t.lower().startswith("v=tlsrptv1")]
    report.present = bool(records)
    if not records:
        return report
    if len(records) > 1:
        report.errors.append("more than one v=TLSRPTv1 record")
    rua = _fields(records[0]).get("rua", "")
    report.rua = [u.strip() for u in rua.split(",") if u.strip()]
    if not report.rua:
        report.errors.append("the record has no rua")
    for uri in report.rua:
        if not uri.startswith(("mailto:", "https:")):
            report.errors.append(f"rua {uri!r} is neither mailto: nor https:")
    return report


@dataclass(frozen=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


def _tlsa_digest(cert: x509.Certificate, selector: int, mtype: int) -> bytes | None:
    if selector == 0:
        material = cert.public_bytes(serialization.Encoding.DER)
    elif selector == 1:
        material = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        return None
    if mtype == 0:
        return material
    if mtype == 1:
        return hashlib.sha256(material).digest()
    if mtype == 2:
        return hashlib.sha512(material).digest()
    return None


def dane(
    mx: str,
    records: Sequence[Tlsa],
    *,
    authenticated: bool,
    chain: Sequence[x509.Certificate],
) -> DaneReport:
    """RFC 7672: only DNSSEC-validated answers count; usages 2 (trust anchor) and 3 (the
    server's own key) are used for SMTP, 0 and 1 are ignored."""
    report = DaneReport(mx)
    report.present = bool(records)
    report.authenticated = authenticated
    if not records:
        return report
    if not authenticated:
        report.errors.append("the TLSA answer was not DNSSEC-validated (no AD flag): ignored")
    usable = [r for r in records if r.usage in (2, 3)]
    report.usable = [str(r) for r in usable]
    report.ignored = [str(r) for r in records if r.usage not in (2, 3)]
    for record in usable:
        candidates = chain[:1] if record.usage == 3 else chain[1:]
        if any(_tlsa_digest(c, record.selector, record.mtype) == record.data for c in candidates):
            report.matched = True
    if usable and not report.matched:
        report.errors.append("no usable TLSA record matches the certificate chain presented")
    threes = [r for r in usable if r.usage == 3]
    twos = [r for r in usable if r.usage == 2]
    report.rollover_ready = len(threes) >= 2 or (bool(threes) and bool(twos))
    return report

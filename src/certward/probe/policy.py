"""Mail-domain policies, judged purely: MTA-STS (RFC 8461), TLS-RPT (RFC 8460), DANE TLSA
for SMTP (RFC 7672). The DNS answers and the fetched policy come in as data."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

MAX_POLICY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class MtaStsReport:
    present: bool = False
    record_ok: bool = False
    id: str = ""
    policy_ok: bool = False
    mode: str = ""
    max_age: int = 0
    mx_patterns: tuple[str, ...] = ()
    mx_covered: Mapping[str, bool] = field(default_factory=dict)
    errors: tuple[str, ...] = ()  # the record's, then the policy's

    def to_json(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "record_ok": self.record_ok,
            "id": self.id,
            "policy_ok": self.policy_ok,
            "mode": self.mode,
            "max_age": self.max_age,
            "mx_patterns": list(self.mx_patterns),
            "mx_covered": dict(self.mx_covered),
            "errors": list(self.errors),
        }


@dataclass(frozen=True, slots=True)
class TlsRptReport:
    present: bool = False
    rua: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"present": self.present, "rua": list(self.rua), "errors": list(self.errors)}


@dataclass(frozen=True, slots=True)
class DaneReport:
    mx: str
    present: bool = False
    authenticated: bool = False  # the resolver set AD
    usable: tuple[str, ...] = ()  # records of usage 2 or 3
    ignored: tuple[str, ...] = ()  # usage 0/1, ignored for SMTP
    matched: bool = False
    rollover_ready: bool = False
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "mx": self.mx,
            "present": self.present,
            "authenticated": self.authenticated,
            "usable": list(self.usable),
            "ignored": list(self.ignored),
            "matched": self.matched,
            "rollover_ready": self.rollover_ready,
            "errors": list(self.errors),
        }


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
    """The TXT record and the policy are judged apart: ``record_ok`` and ``policy_ok``."""
    sts = [t for t in txt_records if t.lower().startswith("v=stsv1")]
    if not sts:
        return MtaStsReport()
    record_errors: list[str] = []
    record_id = ""
    if len(sts) > 1:
        record_errors.append(f"{len(sts)} v=STSv1 TXT records: there must be exactly one")
    else:
        record_id = _fields(sts[0]).get("id", "")
        if not record_id or not record_id.isalnum() or len(record_id) > 32:
            record_errors.append("the TXT record needs an id of 1-32 letters and digits")
    record = MtaStsReport(
        present=True, record_ok=not record_errors, id=record_id, errors=tuple(record_errors)
    )
    if policy is None:
        return replace(record, errors=(*record_errors, f"policy not fetched: {fetch_error}"))
    errors: list[str] = []
    if not content_type.lower().startswith("text/plain"):
        errors.append(f"the policy is served as {content_type or 'nothing'}, not text/plain")
    if len(policy) > MAX_POLICY_BYTES:
        errors.append(f"the policy is {len(policy)} bytes, over 64 KiB")
        return replace(record, errors=(*record_errors, *errors))
    lines = policy.decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n")
    values: dict[str, list[str]] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            values.setdefault(key.strip().lower(), []).append(value.strip())
    if values.get("version") != ["STSv1"]:
        errors.append("the policy must say version: STSv1")
    mode = (values.get("mode") or [""])[0]
    if mode not in ("enforce", "testing", "none"):
        errors.append(f"mode must be enforce, testing or none, not {mode!r}")
    raw_age = (values.get("max_age") or [""])[0]
    max_age = 0
    if raw_age.isdigit() and 0 <= int(raw_age) <= 31_557_600:
        max_age = int(raw_age)
    else:
        errors.append(f"max_age must be 0 to 31557600 seconds, not {raw_age!r}")
    patterns = tuple(values.get("mx", []))
    if mode in ("enforce", "testing") and not patterns:
        errors.append("the policy names no mx")
    covered = {mx: any(mx_pattern_matches(p, mx) for p in patterns) for mx in mx_hosts}
    errors += [
        f"MX {mx} is not covered by the policy's mx patterns"
        for mx, ok in covered.items()
        if not ok
    ]
    return replace(
        record, policy_ok=not errors, mode=mode, max_age=max_age, mx_patterns=patterns,
        mx_covered=covered, errors=(*record_errors, *errors),
    )  # fmt: skip


def tls_rpt(txt_records: Sequence[str]) -> TlsRptReport:
    records = [t for t in txt_records if t.lower().startswith("v=tlsrptv1")]
    if not records:
        return TlsRptReport()
    errors: list[str] = []
    if len(records) > 1:
        errors.append("more than one v=TLSRPTv1 record")
    rua = tuple(u.strip() for u in _fields(records[0]).get("rua", "").split(",") if u.strip())
    if not rua:
        errors.append("the record has no rua")
    errors += [f"rua {u!r} is neither mailto: nor https:" for u in rua
               if not u.startswith(("mailto:", "https:"))]  # fmt: skip
    return TlsRptReport(present=True, rua=rua, errors=tuple(errors))


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
    if not records:
        return DaneReport(mx, authenticated=authenticated)
    errors: list[str] = []
    if not authenticated:
        errors.append("the TLSA answer was not DNSSEC-validated (no AD flag): ignored")
    usable = [r for r in records if r.usage in (2, 3)]
    matched = any(
        _tlsa_digest(c, record.selector, record.mtype) == record.data
        for record in usable
        for c in (chain[:1] if record.usage == 3 else chain[1:])
    )
    if usable and not matched:
        errors.append("no usable TLSA record matches the certificate chain presented")
    threes = [r for r in usable if r.usage == 3]
    twos = [r for r in usable if r.usage == 2]
    return DaneReport(
        mx,
        present=True,
        authenticated=authenticated,
        usable=tuple(str(r) for r in usable),
        ignored=tuple(str(r) for r in records if r.usage not in (2, 3)),
        matched=matched,
        rollover_ready=len(threes) >= 2 or (bool(threes) and bool(twos)),
        errors=tuple(errors),
    )

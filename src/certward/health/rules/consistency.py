"""The same certificate across the servers of the organisation."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator

from certward.health.findings import Finding, Remediation, rule
from certward.health.rules._common import (
    WARNING,
    copy_pfx,
    copy_pfx_command,
    subject_text,
)
from certward.health.snapshot import HeldCertificate, OrgSnapshot
from certward.model import Evidence


@rule(
    "CW-CONS-001",
    "Certificate renewed on some servers only",
    WARNING,
    prevents="Seed 002: a renewed certificate imported on one server; the others keep "
    "presenting the old one until it expires",
    needs=(Evidence.MY_STORE,),
)
def renewal_consistency(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """The same CA-issued certificate (same names) is on several servers, and one server has
    a newer issue of it that another server lacks."""
    newest: dict[tuple[str, ...], dict[str, HeldCertificate]] = defaultdict(dict)
    names_key = snap.names_key
    for state in snap.servers:
        name = state.name
        for cert in state.certificates:
            profile = cert.profile
            if profile.self_signed:
                continue
            key = names_key(profile)
            if not key:  # no names (neither SAN nor subject CN)
                continue
            per_server = newest[key]
            held = per_server.get(name)
            if held is None or profile.not_before > held.profile.not_before:
                per_server[name] = cert
    for per_server in newest.values():
        if len(per_server) < 2:
            continue
        latest_server, latest = max(per_server.items(), key=lambda i: i[1].profile.not_before)
        for server, cert in sorted(per_server.items()):
            if cert.profile.not_before >= latest.profile.not_before:
                continue
            yield Finding(
                "CW-CONS-001",
                WARNING,
                server,
                f"{subject_text(cert.profile)} was renewed on {latest_server} "
                f"({latest.thumbprint}) but {server} still has only {cert.thumbprint}",
                Remediation(
                    copy_pfx_command(latest.thumbprint, latest_server, server, "renewed.pfx"),
                    copy_pfx(latest.thumbprint, latest_server, server, "renewed.pfx"),
                ),
                {"renewed": latest.thumbprint, "renewed_on": latest_server},
                thumbprint=cert.thumbprint,
            )

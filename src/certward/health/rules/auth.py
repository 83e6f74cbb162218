"""The OAuth auth certificate (Get-AuthConfig)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from certward.commandline import AND, certward_command
from certward.health.findings import Finding, Remediation, not_judged, rule
from certward.health.rules._common import (
    AUTH_RENEWAL_DAYS,
    CRITICAL,
    ERROR,
    WARNING,
    copy_pfx,
    copy_pfx_command,
    day,
)
from certward.health.snapshot import OrgSnapshot
from certward.interop.powershell import SWITCH, Raw, command, script
from certward.model import Evidence

_NEW_AUTH = Remediation(
    certward_command("auth", "new-next") + AND + certward_command("auth", "publish"),
    script(
        command(
            "New-ExchangeCertificate",
            KeySize="2048",
            PrivateKeyExportable=True,
            SubjectName="cn=Microsoft Exchange Server Auth Certificate",
            FriendlyName="Microsoft Exchange Server Auth Certificate",
            DomainName=[],
        ),
        command(
            "Set-AuthConfig",
            NewCertificateThumbprint=Raw("<thumbprint>"),
            NewCertificateEffectiveDate=Raw("(Get-Date)"),
        ),
        command("Set-AuthConfig", PublishCertificate=SWITCH),
    ),
)


@rule(
    "CW-AUTH-001",
    "Auth certificate missing, expired or due",
    CRITICAL,
    ERROR,
    WARNING,
    prevents="Seed 002: OAuth (hybrid free/busy, eDiscovery) fails without a valid auth "
    "certificate",
    needs=(Evidence.AUTH_CONFIG,),
)
def auth_certificate(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """The organisation's OAuth certificate (Get-AuthConfig) is not set or not published:
    critical; expired: critical; within 60 days of expiry with no next certificate staged:
    error; a next certificate past its effective date but not published: warning. A real
    organisation whose dumps did not include Get-AuthConfig is not judged (info), nor one whose
    auth certificate is in no dumped Personal store."""
    org = snap.organisation
    if org is None:
        return
    current = org.auth.current_thumbprint
    profile = snap.auth_certificates.get(current) if current else None
    unseen = not any(snap.shows_on(s, Evidence.MY_STORE) for s in snap.servers)
    if current is not None and profile is None and snap.observed and unseen:
        yield not_judged("CW-AUTH-001", None, [Evidence.MY_STORE])
        return
    if current is None or profile is None:
        yield Finding(
            "CW-AUTH-001",
            CRITICAL,
            None,
            "no auth certificate is configured (Get-AuthConfig CurrentCertificateThumbprint)"
            if current is None
            else f"the auth certificate {current} is not published in the organisation",
            _NEW_AUTH,
            {"current": current},
            thumbprint=current,
        )
        return
    days = profile.days_left(now)
    nxt = org.auth.next_thumbprint
    if days < 0:
        yield Finding(
            "CW-AUTH-001",
            CRITICAL,
            None,
            f"the auth certificate expired on {day(profile.not_after)}",
            _NEW_AUTH,
            {"not_after": profile.not_after.isoformat()},
            thumbprint=current,
        )
    elif days <= AUTH_RENEWAL_DAYS and nxt is None:
        yield Finding(
            "CW-AUTH-001",
            ERROR,
            None,
            f"the auth certificate expires in {int(days)} days and no next certificate is staged",
            Remediation(
                certward_command("auth", "new-next"),
                script(
                    command(
                        "Set-AuthConfig",
                        NewCertificateThumbprint=Raw("<thumbprint>"),
                        NewCertificateEffectiveDate=Raw("(Get-Date).AddHours(48)"),
                    )
                ),
            ),
            {"days_left": int(days)},
            thumbprint=current,
        )
    effective = org.auth.next_effective
    if nxt is not None and effective is not None and effective <= now:
        yield Finding(
            "CW-AUTH-001",
            WARNING,
            None,
            f"the next auth certificate {nxt} took effect on {day(effective)} but is not published",
            Remediation(
                certward_command("auth", "publish")
                + AND
                + certward_command("auth", "clear-previous"),
                script(
                    command("Set-AuthConfig", PublishCertificate=SWITCH),
                    command("Set-AuthConfig", ClearPreviousCertificate=SWITCH),
                ),
            ),
            {"next_effective": effective.isoformat()},
            thumbprint=nxt,
        )


@rule(
    "CW-AUTH-002",
    "Auth certificate missing on a server",
    ERROR,
    prevents="Seed 002: OAuth fails on the server that lacks the auth certificate",
    needs=(Evidence.AUTH_CONFIG, Evidence.MY_STORE),
    scope=lambda snap, state: not state.server.is_edge,
)
def auth_certificate_on_servers(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """Every Exchange server except Edge Transport needs the current auth certificate, with
    its private key, in its Personal store."""
    org = snap.organisation
    current = org.auth.current_thumbprint if org else None
    if current is None:
        return
    holders = [s.name for s in snap.servers if (c := s.find(current)) and c.has_private_key]
    source = holders[0] if holders else "<server>"
    holding = set(holders)
    for state in snap.servers:
        if state.server.is_edge or state.name in holding:
            continue
        yield Finding(
            "CW-AUTH-002",
            ERROR,
            state.name,
            f"the auth certificate {current} is not in the Personal store (with its key)",
            Remediation(
                copy_pfx_command(current, source, state.name, "auth.pfx"),
                copy_pfx(current, source, state.name, "auth.pfx"),
            ),
            thumbprint=current,
        )

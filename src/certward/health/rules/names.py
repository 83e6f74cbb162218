"""Names clients look for on the IIS, IMAP and POP certificates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from certward.commandline import certward_command
from certward.health.findings import Finding, Remediation, rule
from certward.health.rules._common import (
    ERROR,
    WARNING,
    request_command,
    subject_text,
    url_hosts,
)
from certward.health.snapshot import ByIdentity, OrgSnapshot
from certward.interop.powershell import SWITCH, File, Raw, command, script
from certward.model import (
    Evidence,
    Service,
    ServiceSet,
)
from certward.pki import hostnames


@rule(
    "CW-NAME-001",
    "IIS certificate does not cover a virtual directory's host name",
    ERROR,
    prevents="Seed 002 figure 3: Outlook's 'the name on the security certificate is invalid'",
    needs=(Evidence.VIRTUAL_DIRECTORIES, Evidence.EXCHANGE_CERTIFICATE),
    scope=lambda snap, state: not state.server.is_edge,
)
def iis_names(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """The certificate bound to IIS must carry (CN or SAN, wildcards per RFC 6125) the host of
    every virtual directory's internal and external URL."""
    for state in snap.servers:
        if not state.vdirs:
            continue
        chosen = snap.iis_choice(state, now)
        hosts = url_hosts(tuple(u for v in state.vdirs for u in (v.internal_url, v.external_url)))
        if chosen is None:
            yield Finding(
                "CW-NAME-001",
                ERROR,
                state.name,
                "no certificate is bound to IIS",
                Remediation(
                    certward_command(
                        "cert",
                        "enable",
                        "<thumbprint>",
                        "--server",
                        state.name,
                        "--services",
                        "IIS",
                    ),
                    script(
                        command(
                            "Enable-ExchangeCertificate",
                            Thumbprint=Raw("<thumbprint>"),
                            Server=state.name,
                            Services="IIS",
                        )
                    ),
                ),
                {"hosts": ", ".join(hosts)},
            )
            continue
        covered = snap.host_names(chosen.profile)
        missing = [h for h in hosts if not covered.covers(h)]
        if missing:
            yield Finding(
                "CW-NAME-001",
                ERROR,
                state.name,
                f"the IIS certificate {subject_text(chosen.profile)} does not cover "
                f"{', '.join(missing)}",
                Remediation(
                    request_command(state.name, f"CN={missing[0]}", missing),
                    script(
                        command(
                            "New-ExchangeCertificate",
                            Server=state.name,
                            GenerateRequest=SWITCH,
                            SubjectName=f"CN={missing[0]}",
                            DomainName=missing,
                            PrivateKeyExportable=True,
                            RequestFile=File("request.req"),
                        )
                    ),
                ),
                {"missing": ", ".join(missing)},
                thumbprint=chosen.thumbprint,
            )


@rule(
    "CW-NAME-002",
    "No autodiscover name for an accepted domain",
    WARNING,
    prevents="Seed 002: Outlook's certificate warning when it looks up autodiscover.<domain>",
    needs=(Evidence.VIRTUAL_DIRECTORIES, Evidence.EXCHANGE_CERTIFICATE),
    scope=lambda snap, state: not state.server.is_edge,
)
def autodiscover_names(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """Where Autodiscover is published (its virtual directory has an external URL), the IIS
    certificate should carry autodiscover.<domain> for every accepted domain."""
    for state in snap.servers:
        published = any(
            v.name.lower() == "autodiscover" and v.external_url for v in state.vdirs
        )  # fmt: skip
        chosen = snap.iis_choice(state, now) if published else None
        if chosen is None:
            continue
        wanted = [f"autodiscover.{d.lower()}" for d in snap.accepted_domains if "*" not in d]
        covered = snap.host_names(chosen.profile)
        missing = [h for h in wanted if not covered.covers(h)]
        if missing:
            yield Finding(
                "CW-NAME-002",
                WARNING,
                state.name,
                f"the IIS certificate does not carry {', '.join(missing)}",
                Remediation(
                    request_command(
                        state.name,
                        subject_text(chosen.profile),
                        [*chosen.profile.certificate_domains, *missing],
                    ),
                    script(
                        command(
                            "New-ExchangeCertificate",
                            GenerateRequest=SWITCH,
                            DomainName=[*chosen.profile.certificate_domains, *missing],
                        )
                    ),
                ),
                {"missing": ", ".join(missing)},
                thumbprint=chosen.thumbprint,
            )


@rule(
    "CW-NAME-003",
    "Wildcard certificate enabled for IMAP or POP",
    WARNING,
    prevents="Exchange does not support wildcard certificates for IMAP and POP",
    needs=(Evidence.EXCHANGE_CERTIFICATE,),
)
def wildcard_pop_imap(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A wildcard certificate is enabled for IMAP or POP; Exchange does not use it there."""
    # Each service set's IMAP and POP, by the set's identity (servers share the objects).
    pop_imap: ByIdentity[ServiceSet, list[Service]] = ByIdentity(
        lambda held: [s for s in (Service.IMAP, Service.POP) if s in held]
    )
    for state in snap.servers:
        for cert in state.certificates:
            services = pop_imap(cert.services)
            if services and hostnames.is_wildcard(cert.profile):
                names = ",".join(s.name or "" for s in services)
                yield Finding(
                    "CW-NAME-003",
                    WARNING,
                    state.name,
                    f"wildcard certificate {subject_text(cert.profile)} is enabled for {names}",
                    Remediation(
                        certward_command(
                            "cert",
                            "enable",
                            "<thumbprint>",
                            "--server",
                            state.name,
                            "--services",
                            names,
                        ),
                        script(
                            command(
                                "Set-ImapSettings",
                                Server=state.name,
                                X509CertificateName=Raw("mail.<domain>"),
                            ),
                            command(
                                "Enable-ExchangeCertificate",
                                Thumbprint=Raw("<thumbprint>"),
                                Services=names.split(","),
                            ),
                        ),
                    ),
                    {"services": names},
                    thumbprint=cert.thumbprint,
                )

"""Edge subscriptions and EdgeSync (seed 004)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from certward.commandline import certward_command
from certward.health import edgesync
from certward.health.findings import Finding, Remediation, rule
from certward.health.rules._common import (
    CRITICAL,
    ERROR,
    WARNING,
    import_issuer,
)
from certward.health.snapshot import OrgSnapshot
from certward.interop.powershell import File, Raw, command, script
from certward.model import (
    CAPI_SCHANNEL_PROVIDER,
    Evidence,
    is_cng_provider,
)


@rule(
    "CW-EDGE-001",
    "CNG key on a Hub's default transport certificate",
    CRITICAL,
    WARNING,
    prevents="Seed 004: EdgeSync fails with event 1035 (it only supports CAPI keys): "
    '"EdgeSync failed to synchronize because it only supports Cryptographic API '
    'certificates"',
    needs=(Evidence.TRANSPORT_SERVICE, Evidence.MY_STORE),
    scope=lambda snap, state: edgesync.is_subscribed_hub(state),
)
def edge_cng_key(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A Hub (Mailbox) server's default transport certificate has its private key in a CNG
    Key Storage Provider: with an Edge subscription EdgeSync fails (critical); without one,
    the first subscription will (warning)."""
    subscribed: bool | None = bool(snap.edge_subscriptions)
    if not subscribed and not snap.shows(Evidence.EDGE_SUBSCRIPTION):
        subscribed = None  # a real organisation whose Get-EdgeSubscription was not dumped
    for hub in edgesync.subscribed_hubs(snap):
        cert = hub.find(hub.server.default_smtp_thumbprint)
        if cert is None or not is_cng_provider(cert.key_provider):
            continue
        tp = cert.thumbprint
        if subscribed is None:
            when = "EdgeSync fails with event 1035 if an Edge is subscribed (no dump showed)"
        elif subscribed:
            when = "EdgeSync fails with event 1035"
        else:
            when = "EdgeSync will fail with event 1035 once an Edge subscribes"
        yield Finding(
            "CW-EDGE-001",
            CRITICAL if subscribed else WARNING,
            hub.name,
            f"the default transport certificate {tp} has a CNG key ({cert.key_provider}); {when}",
            Remediation(
                certward_command(
                    "cert", "convert-key-provider", tp, "--server", hub.name, "--to", "capi"
                ),
                script(
                    command(
                        "certutil",
                        Raw("-csp"),
                        CAPI_SCHANNEL_PROVIDER,
                        Raw("-importpfx"),
                        "my",
                        File("converted.pfx"),
                    ),
                    command(
                        "Enable-ExchangeCertificate",
                        Thumbprint=tp,
                        Server=hub.name,
                        Services="SMTP",
                    ),
                ),
            ),
            {
                "key_provider": cert.key_provider,
                "event": edgesync.EVENT_CNG,
                "edge_subscribed": subscribed,
            },
            thumbprint=tp,
        )


@rule(
    "CW-EDGE-002",
    "Edge lacks the chain of a Hub's transport certificate",
    ERROR,
    prevents="Seed 004: the Edge, not domain-joined, cannot validate a CA-issued Hub "
    "certificate without its root (Root store) and intermediates (CA store)",
    needs=(Evidence.EDGE_SUBSCRIPTION, Evidence.ROOT_STORE, Evidence.CA_STORE),
    scope=lambda snap, state: state.server.is_edge,
)
def edge_chain(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """An Edge Transport server with a subscription lacks, in its own stores, the root or an
    intermediate of a subscribed Hub's CA-issued default transport certificate."""
    for sub in snap.edge_subscriptions:
        edge = snap.server(sub.edge)
        if edge is None:
            continue
        for hub in edgesync.subscribed_hubs(snap):
            check = edgesync.check_hub(hub, edge)
            for missing in check.missing:
                store = "Root" if missing.store == "Root" else "CA"
                yield Finding(
                    "CW-EDGE-002",
                    ERROR,
                    edge.name,
                    f"{edge.name} lacks {missing.subject} (the chain of {hub.name}'s default "
                    f"transport certificate) in its {missing.store} store",
                    Remediation(
                        certward_command(
                            "store", "add", "--server", edge.name, "--store", store, "issuer.cer"
                        ),
                        import_issuer(store),
                    ),
                    {"hub": hub.name, "missing": missing.subject, "store": missing.store},
                    thumbprint=missing.thumbprint,
                )

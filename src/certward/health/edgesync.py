"""What EdgeSync needs from each subscribed Hub (Mailbox) server (seed 004), as pure logic.

EdgeSync encrypts what it sends to an Edge with the Hub's default transport certificate and
only supports CAPI keys: a CNG key fails with event 1035. The Edge, not domain-joined, must
also hold the chain of a CA-issued Hub certificate itself: the root in its Trusted Root store
and the intermediates in its Intermediate (CA) store.
"""

from __future__ import annotations

from typing import NamedTuple

from certward.health.snapshot import OrgSnapshot, ServerState
from certward.model import EdgeSubscription, Role, Thumbprint, is_cng_provider
from certward.pki.names import dotnet_x500
from certward.pki.profile import CertProfile

EVENT_CNG = 1035


def event_1035_message(thumbprint: str) -> str:
    return (
        "EdgeSync failed to synchronize because it only supports Cryptographic API "
        "certificates. The local Hub Transport server's default certificate with thumbprint "
        f"{thumbprint} isn't a CAPI certificate. To set a CAPI certificate as the default "
        "certificate, use the Enable-ExchangeCertificate cmdlet with the Services parameter "
        "using the value of SMTP."
    )


class MissingChain(NamedTuple):
    """A certificate of a Hub's chain that the Edge lacks."""

    store: str  # "Root" or "CA": where the Edge needs it
    subject: str
    thumbprint: Thumbprint | None  # None: the Hub's own stores lack it too


class HubCheck(NamedTuple):
    """Whether EdgeSync can use one subscribed Hub, and if not, why."""

    server: str
    thumbprint: Thumbprint | None
    key_provider: str | None
    problem: str | None = None  # None: EdgeSync can use this Hub
    event: int | None = None
    missing: tuple[MissingChain, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.missing


def subscribed_hubs(snap: OrgSnapshot) -> list[ServerState]:
    """The Hub (Mailbox) servers that synchronise to Edge servers. certward has no AD sites
    yet, so every Mailbox or Hub Transport server is taken to be in the subscribed site."""
    return [s for s in snap.servers if is_subscribed_hub(s)]


def is_subscribed_hub(state: ServerState) -> bool:
    """Whether the server is one of :func:`subscribed_hubs`."""
    return not state.server.is_edge and bool(
        state.server.roles & {Role.MAILBOX, Role.HUB_TRANSPORT}
    )


def check_hub(hub: ServerState, edge: ServerState) -> HubCheck:
    tp = hub.server.default_smtp_thumbprint
    cert = hub.find(tp)
    if tp is None or cert is None:
        return HubCheck(hub.name, tp, None, f"{hub.name} has no default transport certificate")
    if not cert.has_private_key:
        return HubCheck(hub.name, tp, cert.key_provider, f"{tp} has no private key on {hub.name}")
    if is_cng_provider(cert.key_provider):
        return HubCheck(hub.name, tp, cert.key_provider, event_1035_message(tp), EVENT_CNG)
    missing = () if cert.profile.self_signed else _missing_chain(hub, edge, cert.profile)
    return HubCheck(hub.name, tp, cert.key_provider, missing=missing)


def _missing_chain(
    hub: ServerState, edge: ServerState, profile: CertProfile
) -> tuple[MissingChain, ...]:
    """The chain certificates (found through the Hub's stores) that the Edge lacks."""
    edge_roots, edge_cas = edge.root_subjects, edge.ca_subjects
    chain, not_found = hub.issuer_chain(profile)
    missing: list[MissingChain] = []
    for found in chain:
        p = found.profile
        is_root = p.self_signed or p.self_issued
        if p.subject_der not in (edge_roots if is_root else edge_cas):
            store = "Root" if is_root else "CA"
            missing.append(MissingChain(store, p.subject_text, found.thumbprint))
    if not_found is not None:
        missing.append(MissingChain("Root/CA", dotnet_x500(not_found), None))
    return tuple(missing)


def check_subscription(snap: OrgSnapshot, subscription: EdgeSubscription) -> list[HubCheck]:
    edge = snap.server(subscription.edge)
    if edge is None:
        return []
    return [check_hub(hub, edge) for hub in subscribed_hubs(snap)]

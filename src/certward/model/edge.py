"""Edge subscriptions (direct trust between the organisation and an Edge Transport server)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from certward.model.certificates import Thumbprint

DEFAULT_SITE = "Default-First-Site-Name"


@dataclass(frozen=True, slots=True)
class PublishedHubCertificate:
    """A Hub (Mailbox) server's default transport certificate, as EdgeSync published it to
    the Edge's AD LDS: the Edge trusts exactly these certificates (direct trust)."""

    server: str
    thumbprint: Thumbprint


@dataclass(frozen=True, slots=True)
class EdgeSubscription:
    edge: str
    site: str
    created: dt.datetime
    # The Edge's default SMTP certificate when the subscription was made: published to the
    # organisation, so Hub servers trust it for the Edge (direct trust).
    edge_thumbprint: Thumbprint
    edge_der: bytes
    hub_certificates: tuple[PublishedHubCertificate, ...] = ()
    last_sync: dt.datetime | None = None
    last_sync_ok: bool | None = None

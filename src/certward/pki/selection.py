"""Which certificate a server presents: Exchange's documented selection, as a pure function.

Inbound STARTTLS (SMTP): the name to match is the connector's TlsCertificateName, else the
connector's FQDN, else the server's FQDN. Eligible certificates are X.509 v3, have a private
key, are enabled for SMTP, and carry the name (issuer+subject for a TlsCertificateName;
subject CN or SAN, wildcards per RFC 6125, for a host name). The newest NotBefore ranks
first; the first CA-issued one wins, else the first self-signed one. None eligible: STARTTLS
is not advertised and event 12014 is logged. An expired winner is still used, and event
12016 is logged.

IMAP and POP use the same logic with their own service binding (and no wildcard
certificates, which Exchange does not support for them); IIS uses its single binding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509

from certward.model import Service, ServiceSet, Thumbprint, TlsNameStatus
from certward.pki import hostnames, tlsname
from certward.pki.profile import CertProfile


@dataclass(frozen=True)
class Candidate:
    """A certificate of the server's My store, as selection sees it.

    ``certificate`` is None for a certificate certward knows only from a real server's
    output (an observed server): selection and health need only the profile."""

    thumbprint: Thumbprint
    profile: CertProfile = field(repr=False)
    has_private_key: bool
    services: ServiceSet
    certificate: x509.Certificate | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        thumbprint: Thumbprint,
        certificate: x509.Certificate,
        has_private_key: bool,
        services: ServiceSet,
    ) -> Candidate:
        return cls(thumbprint, CertProfile.of(certificate), has_private_key, services, certificate)

    def x509(self) -> x509.Certificate:
        """The certificate itself, for presenting it in a handshake."""
        if self.certificate is None:
            raise ValueError(f"certificate {self.thumbprint} is known only by its description")
        return self.certificate


@dataclass(frozen=True, slots=True)
class Event:
    """An Exchange-style event (application log)."""

    id: int
    message: str


@dataclass(frozen=True)
class Selection:
    chosen: Candidate | None
    name: str
    events: tuple[Event, ...] = ()

    @property
    def starttls(self) -> bool:
        return self.chosen is not None


def select_certificate(
    candidates: Sequence[Candidate],
    *,
    service: Service,
    now: dt.datetime,
    host_name: str,
    tls_certificate_name: str | None = None,
    connector: str = "",
) -> Selection:
    """Choose the certificate for ``service`` (SMTP, IMAP or POP) and the events to log."""
    by_tls_name = bool(tls_certificate_name and tlsname.check(tls_certificate_name) is None)
    name = tls_certificate_name if by_tls_name and tls_certificate_name else host_name

    def eligible(candidate: Candidate) -> bool:
        cert = candidate.profile
        if cert.version != 3 or not candidate.has_private_key:
            return False
        if service not in candidate.services:
            return False
        if service in (Service.IMAP, Service.POP) and hostnames.is_wildcard(cert):
            return False
        if by_tls_name:
            return tlsname.matches(cert, name)
        return hostnames.covers(cert, name)

    ranked = sorted(
        (c for c in candidates if eligible(c)),
        key=lambda c: c.profile.not_before,
        reverse=True,
    )
    chosen = next((c for c in ranked if not c.profile.self_signed), None)
    chosen = chosen or (ranked[0] if ranked else None)
    if chosen is None:
        return Selection(None, name, (_event_12014(name, connector),))
    events: tuple[Event, ...] = ()
    if chosen.profile.expired(now):
        events = (_event_12016(chosen),)
    return Selection(chosen, name, events)


def select_iis(candidates: Sequence[Candidate], *, now: dt.datetime) -> Selection:
    """IIS binds exactly one certificate: the one enabled for IIS."""
    bound = [c for c in candidates if Service.IIS in c.services and c.has_private_key]
    if not bound:
        return Selection(None, "IIS", (Event(0, "no certificate is bound to IIS"),))
    chosen = bound[0]
    events: tuple[Event, ...] = ()
    if chosen.profile.expired(now):
        events = (_event_12016(chosen),)
    return Selection(chosen, "IIS", events)


def resolve_tls_name(
    candidates: Sequence[Candidate], value: str | None, *, now: dt.datetime
) -> tuple[TlsNameStatus, list[Candidate]]:
    """The certificates a TlsCertificateName names, best first: valid before expired,
    CA-issued before self-signed, newest NotBefore first (what a Send connector presents)."""
    status, found = tlsname.resolve(value, [(c, c.profile) for c in candidates])
    found.sort(
        key=lambda c: (
            c.profile.expired(now),
            c.profile.self_signed,
            -c.profile.not_before.timestamp(),
        )
    )
    return status, found


def _event_12014(name: str, connector: str) -> Event:
    return Event(
        12014,
        f"Microsoft Exchange could not find a certificate that contains the domain name "
        f"{name} in the personal store on the local computer. Therefore, it is unable to "
        f"support the STARTTLS SMTP verb for the connector {connector} with a FQDN parameter "
        f"of {name}. If the connector's FQDN is not specified, the computer's FQDN is used. "
        "Verify the connector configuration and the installed certificates to make sure that "
        "there is a certificate with a domain name for that FQDN. If this certificate exists, "
        "run Enable-ExchangeCertificate -Services SMTP to make sure that the Microsoft "
        "Exchange Transport service has access to the certificate key.",
    )


def _event_12016(chosen: Candidate) -> Event:
    expired = chosen.profile.not_after
    return Event(
        12016,
        f"There is a problem with the certificate for the SMTP service. The certificate "
        f"with thumbprint {chosen.thumbprint} expired on {expired:%Y-%m-%d %H:%M:%S} UTC. "
        "It is still used; renew it and enable the new certificate for SMTP.",
    )

"""The organisation as the health rules see it: pure data, read from the store in one go.

A server is either one certward runs (its certificates' bytes are known) or an observed one,
built from what a real Exchange server printed (certutil, Get-ExchangeCertificate, CliXML, a
collection): then the certificates' profiles are known (from the DER when a dump carried it),
with what else the dumps showed (:class:`ObservedFacts`), and the rules judge only that.

Which outputs a server (or the organisation) showed is :meth:`ServerState.shows` /
:meth:`OrgSnapshot.shows`: everything for what certward runs; for an observed server, the
evidence its collection recorded, or, for one observed by the older single-server path with
no recorded facts, what its stores and records show (:func:`inferred_evidence`).
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic, NamedTuple, TypeVar

from cryptography import x509

from certward.model import (
    Connector,
    ConnectorKind,
    EdgeSubscription,
    Evidence,
    ObservedFacts,
    ObservedOrganisationFacts,
    Organisation,
    Role,
    Server,
    Service,
    ServiceSet,
    Thumbprint,
    TlsNameStatus,
    VirtualDirectory,
)
from certward.model.acme import AcmeOrder
from certward.model.deploy import DeployRecord
from certward.pki import hostnames, tlsname
from certward.pki.names import dotnet_x500
from certward.pki.profile import CertProfile
from certward.pki.selection import Candidate, select_iis

_MAX_DEPTH = 10
K = TypeVar("K")
V = TypeVar("V")
C = TypeVar("C", "HeldCertificate", Candidate)  # what a connector may present
_RECEIVE = ConnectorKind.RECEIVE


@dataclass(frozen=True)
class HeldCertificate:
    """A certificate of a server's Personal (My) store."""

    thumbprint: Thumbprint
    profile: CertProfile
    services: ServiceSet = field(default_factory=ServiceSet)
    has_private_key: bool = True
    key_provider: str | None = None
    status: str | None = None  # Get-ExchangeCertificate's Status, as a real server showed it

    def candidate(self) -> Candidate:
        return self._candidate

    @cached_property
    def _candidate(self) -> Candidate:
        return Candidate(self.thumbprint, self.profile, self.has_private_key, self.services)


@dataclass(frozen=True)
class TrustedCertificate:
    """A certificate of a server's Trusted Root (Root) or Intermediate (CA) store."""

    thumbprint: Thumbprint
    profile: CertProfile

    # Worked out once per certificate: servers that trust the same roots share these objects.
    @cached_property
    def subject_key(self) -> NameKey:
        return name_key(self.profile.subject)

    @property
    def subject_bytes(self) -> bytes:
        return self.profile.subject_der


NameKey = tuple[frozenset[tuple[str, str | bytes]], ...]


def name_key(name: x509.Name) -> NameKey:
    """A key equal for two names exactly when the names are equal (``==``: RDN by RDN, each
    attribute's type and value), cheaper to hash than the name."""
    return tuple(frozenset((a.oid.dotted_string, a.value) for a in rdn) for rdn in name.rdns)


class TrustIndex:
    """A server's Root and CA stores indexed by subject; made once for each pair of store
    tuples (servers read at once share the tuples of equal stores, so 1,000 servers trusting
    the same 300 roots share one index) and kept while a server state refers to it."""

    def __init__(
        self, roots: tuple[TrustedCertificate, ...], intermediates: tuple[TrustedCertificate, ...]
    ) -> None:
        # Holding the tuples keeps their ids from being reused while this index is shared.
        self._stores = (roots, intermediates)
        found: dict[NameKey, TrustedCertificate] = {}
        for cert in (*intermediates, *roots):
            found.setdefault(cert.subject_key, cert)  # the first, as a scan finds it
        self.issuers_by_subject = found
        # The same answers by the subject's DER, for the encodings in the stores (a name
        # encoded otherwise, but equal, is looked up by its key).
        self.issuers_by_der = {
            c.subject_bytes: found[c.subject_key] for c in (*intermediates, *roots)
        }
        self.root_subjects = frozenset(r.subject_bytes for r in roots)
        self.ca_subjects = frozenset(c.subject_bytes for c in intermediates)

    @classmethod
    def of(
        cls, roots: tuple[TrustedCertificate, ...], intermediates: tuple[TrustedCertificate, ...]
    ) -> TrustIndex:
        key = (id(roots), id(intermediates))
        index = _TRUST_INDEXES.get(key)
        if index is None:
            index = _TRUST_INDEXES[key] = cls(roots, intermediates)
        return index


_TRUST_INDEXES: weakref.WeakValueDictionary[tuple[int, int], TrustIndex] = (
    weakref.WeakValueDictionary()
)


class HostNames:
    """The host names a certificate covers as :func:`certward.pki.hostnames.covers` matches
    them (subject CN or SAN; RFC 6125 wildcards), read once: the plain names normalised
    into a set, the wildcard patterns kept as they are and matched one by one."""

    __slots__ = ("_exact", "_wildcards")

    def __init__(self, profile: CertProfile) -> None:
        exact: set[str] = set()
        wildcards: list[str] = []
        cn = profile.common_name
        for name in (*profile.dns_names, cn) if cn is not None else profile.dns_names:
            key = name.strip().rstrip(".").lower()  # as _host_key
            if "*" in key:
                wildcards.append(name)
            elif key:
                exact.add(key)
        self._exact = exact
        self._wildcards = wildcards

    def covers(self, host: str) -> bool:
        key = _host_key(host)
        if not key:
            return False
        return key in self._exact or any(
            hostnames.pattern_matches(pattern, host) for pattern in self._wildcards
        )


def names_key(profile: CertProfile) -> tuple[str, ...]:
    """What makes two certificates "the same certificate, renewed": their names."""
    return tuple(sorted({d.lower() for d in profile.certificate_domains}))


def _host_key(name: str) -> str:
    """A name as :func:`certward.pki.hostnames.pattern_matches` compares it."""
    return name.strip().rstrip(".").lower()


class ByIdentity(Generic[K, V]):
    """What ``make`` gives for each key object, made once per object: remembered by the
    object's identity (cheaper than hashing a profile), and holding the object so that its
    id names it alone while remembered. Later arguments are passed to ``make`` the first
    time only (they do not change its answer)."""

    __slots__ = ("_found", "_make")

    def __init__(self, make: Callable[..., V]) -> None:
        self._found: dict[int, tuple[K, V]] = {}
        self._make = make

    def __call__(self, key: K, *args: object) -> V:
        found = self._found.get(id(key))
        if found is None:
            found = self._found[id(key)] = (key, self._make(key, *args))
        return found[1]


class ChainGap(NamedTuple):
    """Where a certificate's chain stops short of the server's Root store."""

    issuer_missing: bool  # the leaf's own issuer is in no store: the server cannot send a chain
    text: str


@dataclass(frozen=True)
class ServerState:
    server: Server
    certificates: tuple[HeldCertificate, ...] = ()
    roots: tuple[TrustedCertificate, ...] = ()
    intermediates: tuple[TrustedCertificate, ...] = ()
    vdirs: tuple[VirtualDirectory, ...] = ()
    # What an observed server's outputs showed; None: certward runs it, or no facts recorded.
    facts: ObservedFacts | None = None
    # Certificates left out as HealthChecker leaves them out, each with the reason.
    skipped: tuple[tuple[HeldCertificate, str], ...] = ()

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def observed(self) -> bool:
        return self.server.observed

    def find(self, thumbprint: Thumbprint | None) -> HeldCertificate | None:
        if thumbprint is None:
            return None
        return self._by_thumbprint.get(thumbprint)

    # Indexes, made once per state (rules ask for each certificate of each server).
    @cached_property
    def _by_thumbprint(self) -> dict[Thumbprint, HeldCertificate]:
        found: dict[Thumbprint, HeldCertificate] = {}
        for cert in self.certificates:
            found.setdefault(cert.thumbprint, cert)  # the first, as a scan finds it
        return found

    @property
    def root_subjects(self) -> frozenset[bytes]:
        """The Root store's subjects, DER-encoded."""
        return self._trust.root_subjects

    @property
    def ca_subjects(self) -> frozenset[bytes]:
        """The CA (intermediate) store's subjects, DER-encoded."""
        return self._trust.ca_subjects

    @cached_property
    def _trust(self) -> TrustIndex:
        return TrustIndex.of(self.roots, self.intermediates)

    def issuer_chain(
        self, profile: CertProfile
    ) -> tuple[list[TrustedCertificate], x509.Name | None]:
        """The issuers of ``profile`` found by name in the CA and Root stores, nearest first,
        up to a self-issued one; and the name of the first issuer in neither store (None when
        the walk reached a self-issued certificate)."""
        trust = self._trust
        by_der, by_key = trust.issuers_by_der, trust.issuers_by_subject
        chain: list[TrustedCertificate] = []
        wanted = profile
        for _ in range(_MAX_DEPTH):
            found = by_der.get(wanted.issuer_der) or by_key.get(name_key(wanted.issuer))
            if found is None:
                return chain, wanted.issuer
            chain.append(found)
            if found.profile.self_signed or found.profile.self_issued:
                break
            wanted = found.profile
        return chain, None  # ends at a self-issued certificate, or at the depth limit

    def chain_gap(self, profile: CertProfile) -> ChainGap | None:
        """None when the chain reaches a root in the Root store; else where it stops. Past
        the leaf, a missing issuer is the root."""
        roots = self.root_subjects
        if profile.subject_der in roots:
            return None
        chain, missing = self.issuer_chain(profile)
        if any(c.subject_bytes in roots for c in chain):
            return None
        if missing is None:
            last = chain[-1].profile
            if not (last.self_signed or last.self_issued):
                return ChainGap(True, f"the chain is longer than {_MAX_DEPTH} certificates")
            root = chain[-1].profile.subject_text
            return ChainGap(False, f"root {root} is not in the Root store")
        name = dotnet_x500(missing)
        if not chain:
            return ChainGap(True, f"issuer {name} is in neither the CA nor the Root store")
        return ChainGap(False, f"root {name} is not in the Root store")

    def candidates(self) -> list[Candidate]:
        return list(self._candidates)

    @cached_property
    def _candidates(self) -> tuple[Candidate, ...]:
        return tuple(c.candidate() for c in self.certificates)

    @property
    def is_transport(self) -> bool:
        """Runs the transport service (and so has a default SMTP certificate)."""
        return bool(self.server.roles & {Role.MAILBOX, Role.HUB_TRANSPORT, Role.EDGE_TRANSPORT})


@dataclass(frozen=True)
class OrgSnapshot:
    organisation: Organisation | None
    servers: tuple[ServerState, ...]
    connectors: tuple[Connector, ...] = ()
    accepted_domains: tuple[str, ...] = ()
    # The auth certificates published organisation-wide (current, next, previous).
    auth_certificates: Mapping[Thumbprint, CertProfile] = field(default_factory=dict)
    edge_subscriptions: tuple[EdgeSubscription, ...] = ()
    # What the organisation-wide outputs of a real organisation showed (a collection).
    observed_organisation: ObservedOrganisationFacts | None = None
    # Certificates kept by ACME with their last attempt (issue 15; rule CW-ACME-001).
    acme_orders: tuple[AcmeOrder, ...] = ()
    # Deployments to Linux daemons with their newest outcome (issue 15; rule CW-DEPLOY-001).
    deployments: tuple[DeployRecord, ...] = ()

    @property
    def observed(self) -> bool:
        """The organisation is a real one certward observes: a collection said so, or every
        server is observed (an organisation with a server certward runs is certward's own)."""
        if self.observed_organisation is not None:
            return True
        return bool(self.servers) and all(s.observed for s in self.servers)

    @cached_property
    def evidence(self) -> frozenset[Evidence]:
        """What the organisation-wide outputs showed: everything for certward's own."""
        if not self.observed:
            return frozenset(Evidence)
        if self.observed_organisation is not None:
            return self.observed_organisation.evidence
        shown = set()
        if self.organisation is not None and self.organisation.auth.current_thumbprint:
            shown.add(Evidence.AUTH_CONFIG)
        if self.send_connectors():
            shown.add(Evidence.SEND_CONNECTOR)
        if self.edge_subscriptions:
            shown.add(Evidence.EDGE_SUBSCRIPTION)
        return frozenset(shown)

    def shows(self, evidence: Evidence) -> bool:
        return evidence in self.evidence

    def evidence_of(self, state: ServerState) -> frozenset[Evidence]:
        """What one server's outputs showed: everything for a server certward runs."""
        return self._server_evidence[state.name]

    def shows_on(self, state: ServerState, evidence: Evidence) -> bool:
        return evidence in self._server_evidence[state.name]

    @cached_property
    def partly_shown(self) -> tuple[ServerState, ...]:
        """The servers whose outputs did not show everything (the others are certward's
        own, or observed with every output shown), in their order."""
        everything = frozenset(Evidence)
        return tuple(s for s in self.servers if self.evidence_of(s) != everything)

    @cached_property
    def _server_evidence(self) -> dict[str, frozenset[Evidence]]:
        result = {}
        for state in self.servers:
            if not state.observed:
                result[state.name] = frozenset(Evidence)
            elif state.facts is not None:
                result[state.name] = state.facts.evidence
            else:
                result[state.name] = inferred_evidence(state, self.receive_connectors(state.name))
        return result

    def server(self, name: str) -> ServerState | None:
        return self._servers_by_name.get(name.lower())

    def receive_connectors(self, server: str) -> list[Connector]:
        return [c for c in self._connectors_by_server.get(server, ()) if c.kind is _RECEIVE]

    def send_connectors(self) -> list[Connector]:
        return [c for c in self.connectors if c.kind is ConnectorKind.SEND]

    def connectors_of(self, server: str) -> list[Connector]:
        """The connectors (of either kind) that list ``server`` among their servers."""
        return list(self._connectors_by_server.get(server, ()))

    # Indexes, made once per snapshot: rules ask for each server and each certificate.
    @cached_property
    def _servers_by_name(self) -> dict[str, ServerState]:
        found: dict[str, ServerState] = {}
        for state in self.servers:
            found.setdefault(state.name.lower(), state)  # the first, as a scan finds it
        return found

    @cached_property
    def _connectors_by_server(self) -> dict[str, list[Connector]]:
        """Each server name (as connectors spell it) and its connectors, in their order."""
        found: dict[str, list[Connector]] = {}
        for connector in self.connectors:
            for name in dict.fromkeys(connector.servers):
                found.setdefault(name, []).append(connector)
        return found

    @cached_property
    def _naming_by_server(self) -> dict[str, list[tuple[Connector, tuple[str, str]]]]:
        """Each server's connectors whose TlsCertificateName is set and well formed, with
        the name's issuer and subject as :func:`certward.pki.names.same_name` compares them."""
        texts: dict[int, tuple[str, str]] = {}
        for c in self.connectors:
            value = c.tls_certificate_name
            if value:
                named = self.tls_name(value)[1]
                if named is not None:
                    texts[id(c)] = named
        return {
            name: [(c, named) for c in connectors if (named := texts.get(id(c))) is not None]
            for name, connectors in self._connectors_by_server.items()
        }

    def in_use(self, state: ServerState) -> list[tuple[HeldCertificate, list[str]]]:
        """The server's certificates that something uses, each with what uses it."""
        return self._uses[state.name]

    @cached_property
    def _uses(self) -> dict[str, list[tuple[HeldCertificate, list[str]]]]:
        """Worked out once per snapshot: several rules and the report's timeline ask."""
        auth = self.organisation.auth.current_thumbprint if self.organisation else None
        result: dict[str, list[tuple[HeldCertificate, list[str]]]] = {}
        # Each service set's words, by the set's identity (servers share the objects).
        services: ByIdentity[ServiceSet, list[str]] = ByIdentity(
            lambda held: [f"{s.name} service" for s in Service if s in held and s.name]
        )
        naming_by_server = self._naming_by_server
        for state in self.servers:
            used = result.setdefault(state.name, [])
            smtp = state.server.default_smtp_thumbprint
            naming = naming_by_server.get(state.name)
            subjects = {text[1] for _, text in naming} if naming else set()
            for cert in state.certificates:
                named = services(cert.services)
                tp = cert.thumbprint
                if not (named or tp in (smtp, auth) or naming):
                    continue
                uses = list(named)
                if tp == smtp:
                    uses.append("default SMTP certificate")
                if tp == auth:
                    uses.append("auth certificate")
                if naming and cert.profile.subject_text.casefold() in subjects:  # subject first
                    names = self.compared(cert.profile)
                    uses += [f"connector {c.identity}" for c, text in naming if text == names]
                if uses:
                    used.append((cert, uses))
        return result

    def connectors_naming(self, state: ServerState, cert: HeldCertificate) -> list[Connector]:
        """The server's connectors whose TlsCertificateName names ``cert``
        (:func:`certward.pki.tlsname.matches`, each name's text made once)."""
        naming = self._naming_by_server.get(state.name)
        if not naming:
            return []
        names = self.compared(cert.profile)
        return [connector for connector, named in naming if named == names]

    def resolve_tls_name(
        self, state: ServerState, value: str | None, *, now: dt.datetime
    ) -> tuple[TlsNameStatus, list[Candidate]]:
        """:func:`certward.pki.selection.resolve_tls_name` over the server's certificates,
        each name's text made once: the certificates ``value`` names, best first (valid
        before expired, CA-issued before self-signed, newest NotBefore first)."""
        status, named = self.tls_name(value)
        if named is None:
            assert status is not None
            return status, []
        compared = self.compared
        found = [
            c.candidate()
            for c in state.certificates
            if c.profile.subject_text.casefold() == named[1] and compared(c.profile) == named
        ]
        found.sort(
            key=lambda c: (
                c.profile.expired(now),
                c.profile.self_signed,
                -c.profile.not_before.timestamp(),
            )
        )
        return (TlsNameStatus.MATCH if found else TlsNameStatus.NOT_FOUND), found

    def tls_name(self, value: str | None) -> tuple[TlsNameStatus | None, tuple[str, str] | None]:
        """:func:`certward.pki.tlsname.check` of a TlsCertificateName, and when it is well
        formed (None) the issuer and subject it names as
        :func:`certward.pki.names.same_name` compares them: once per value and snapshot."""
        known = self._tls_names.get(value)
        if known is None:
            status = tlsname.check(value)
            named = None
            if status is None:
                assert value is not None
                issuer, subject = tlsname.parse_names(value)
                named = dotnet_x500(issuer).casefold(), dotnet_x500(subject).casefold()
            known = self._tls_names[value] = (status, named)
        return known

    @cached_property
    def _tls_names(self) -> dict[str | None, tuple[TlsNameStatus | None, tuple[str, str] | None]]:
        return {}

    @staticmethod
    def compared(profile: CertProfile) -> tuple[str, str]:
        """Issuer and subject as :func:`certward.pki.names.same_name` compares them."""
        return profile.issuer_text.casefold(), profile.subject_text.casefold()

    # What rules ask of each certificate (each server), once per certificate (server) and
    # snapshot: servers holding the same certificate share its profile.
    def host_names(self, profile: CertProfile) -> HostNames:
        """The host names ``profile`` covers."""
        return self._host_names(profile)

    @cached_property
    def _host_names(self) -> ByIdentity[CertProfile, HostNames]:
        return ByIdentity(HostNames)

    def names_key(self, profile: CertProfile) -> tuple[str, ...]:
        """:func:`names_key` of ``profile``."""
        return self._names_keys(profile)

    @cached_property
    def _names_keys(self) -> ByIdentity[CertProfile, tuple[str, ...]]:
        return ByIdentity(names_key)

    def smtp_choice(self, state: ServerState, connector: Connector) -> tuple[Candidate | None, str]:
        """The certificate a receive connector of ``state`` presents for STARTTLS, and the
        name it was chosen by: :func:`certward.pki.selection.select_certificate`'s choice
        and name for SMTP by the connector's TlsCertificateName, else its FQDN, else the
        server's (the choice does not depend on the date, only the events do), with each
        certificate's names and each TlsCertificateName's text made once per snapshot."""
        pool, name = self._naming(state, connector, self._smtp_ready(state))
        if not pool:
            return None, name
        ranked = sorted(pool, key=lambda c: c.profile.not_before, reverse=True)
        return next((c for c in ranked if not c.profile.self_signed), ranked[0]), name

    def smtp_candidate(self, state: ServerState, connector: Connector) -> HeldCertificate | None:
        """The server's certificate that would serve the connector once enabled for SMTP:
        the one its TlsCertificateName names (whatever it is enabled for), else the first
        carrying its FQDN (the server's)."""
        pool, _ = self._naming(state, connector, state.certificates)
        return pool[0] if pool else None

    def _naming(
        self, state: ServerState, connector: Connector, certificates: Iterable[C]
    ) -> tuple[list[C], str]:
        """Those of ``certificates`` the connector's TlsCertificateName names, when it is
        well formed, else those carrying its FQDN (else the server's); and that name."""
        value = connector.tls_certificate_name
        host = connector.fqdn or state.server.fqdn
        named = self.tls_name(value)[1] if value else None
        if named is not None:
            return [c for c in certificates if self.compared(c.profile) == named], value or host
        covers = [c for c in certificates if self.host_names(c.profile).covers(host)]
        return covers, host

    @cached_property
    def _smtp_ready(self) -> ByIdentity[ServerState, list[Candidate]]:
        """The server's certificates SMTP can present: X.509 v3, with a private key,
        enabled for SMTP (the selection's tests before names)."""
        return ByIdentity(
            lambda state: [
                c.candidate()
                for c in state.certificates
                if c.profile.version == 3 and c.has_private_key and Service.SMTP in c.services
            ]
        )

    def iis_choice(self, state: ServerState, now: dt.datetime) -> Candidate | None:
        """:func:`certward.pki.selection.select_iis`'s choice (the date changes only its
        events)."""
        return self._iis_choice(state, now)

    @cached_property
    def _iis_choice(self) -> ByIdentity[ServerState, Candidate | None]:
        def choice(state: ServerState, now: dt.datetime) -> Candidate | None:
            bound = [
                c.candidate()
                for c in state.certificates
                if Service.IIS in c.services and c.has_private_key  # what select_iis binds
            ]
            return select_iis(bound, now=now).chosen

        return ByIdentity(choice)


def inferred_evidence(
    state: ServerState, receive_connectors: list[Connector]
) -> frozenset[Evidence]:
    """What an observed server with no recorded facts (observed file by file, before
    collections) showed, told by what is in its stores and records: a store with certificates
    was dumped; certificates with services came from Get-ExchangeCertificate; a default SMTP
    thumbprint came from Get-TransportService; a receive connector of the server, from
    Get-ReceiveConnector. An empty store cannot be told from one not dumped: it counts as not
    shown, so a rule that needs it says so rather than judging an empty store."""
    shown: set[Evidence] = set()
    if state.certificates:
        shown.add(Evidence.MY_STORE)
    if any(c.services or c.status for c in state.certificates):
        shown.add(Evidence.EXCHANGE_CERTIFICATE)
    if state.roots:
        shown.add(Evidence.ROOT_STORE)
    if state.intermediates:
        shown.add(Evidence.CA_STORE)
    if state.server.default_smtp_thumbprint is not None:
        shown.add(Evidence.TRANSPORT_SERVICE)
    if state.vdirs:
        shown.add(Evidence.VIRTUAL_DIRECTORIES)
    if receive_connectors:
        shown.add(Evidence.RECEIVE_CONNECTOR)
    return frozenset(shown)


# Certificates HealthChecker leaves out of its certificate checks (CSS-Exchange,
# Shared/CertificateFunctions/Get-ExchangeServerCertificateInformation.ps1): a pattern matched
# against the subject or issuer, whether the certificate must be self-signed, and the reason.
_SKIPPED = (
    (
        re.compile(r"CN=MS-Organization-P2P-Access \[[12][0-9]{3}\]$", re.IGNORECASE),
        False,
        "MS-Organization-P2P-Access: a one-day certificate of Azure-hosted machines "
        "(Azure AD device access), not Exchange's",
    ),
    (
        re.compile(r"DC=Windows Azure CRP Certificate Generator", re.IGNORECASE),
        True,
        "Windows Azure CRP Certificate Generator: the Azure VM agent's tenant encryption "
        "certificate, re-created by the agent when needed",
    ),
)


def skipped_reason(subject: str, issuer: str, self_signed: bool) -> str | None:
    """Why HealthChecker (and so certward) leaves a certificate out, or None. ``subject`` and
    ``issuer`` as Windows prints them (.NET X500 form)."""
    for pattern, must_be_self_signed, reason in _SKIPPED:
        if (
            pattern.search(subject) or pattern.search(issuer)
        ) and self_signed == must_be_self_signed:
            return reason
    return None

"""The repository's reads of the whole organisation for health (issue 16), mixed into
:class:`certward.storage.Repository`: a few set-based queries, whatever the number of
servers, instead of one set per server.

A certificate's DER is read once per thumbprint (the 300 roots every server trusts are read
once, not once per server), and only for thumbprints the caller has not parsed yet: a
thumbprint names one certificate, whose content never changes.
"""

from __future__ import annotations

import operator
from collections.abc import Collection
from typing import NamedTuple

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from certward.model import (
    AuthMechanism,
    Binding,
    Connector,
    ConnectorKind,
    ObservedCertificate,
    ObservedFacts,
    Service,
    ServiceSet,
    SmartHost,
    StoreName,
    Thumbprint,
    TlsAuthLevel,
    VirtualDirectory,
)
from certward.storage import facts, rows
from certward.storage.schema import (
    CertificateRow,
    ConnectorRow,
    ObservedCertificateRow,
    ObservedFactsRow,
    PrivateKeyRow,
    ServerRow,
    VirtualDirectoryRow,
)

_CHUNK = 500  # SQLite's bound parameters per IN (...)


class HeldRow(NamedTuple):
    """A completed certificate in a store of a server certward runs (without its DER)."""

    store: StoreName
    thumbprint: Thumbprint
    services: ServiceSet
    has_private_key: bool
    key_provider: str | None


def _in_id_order(
    thumbprints: str, ids: str, first: dict[str, tuple[list[int], tuple[Thumbprint, ...]]]
) -> tuple[Thumbprint, ...]:
    """A store's thumbprints (comma-separated, listed as ``ids`` are) in id order; ``first``
    remembers the first store seen with each list. A store whose ids are those of the first
    store with the same list, shifted by one number (rows added in the same order), shares
    its tuple; any other is sorted."""
    values = list(map(int, ids.split(",")))
    known = first.get(thumbprints)
    if known is not None:
        shift = list(map(operator.sub, values, known[0]))
        if shift.count(shift[0]) == len(shift):
            return known[1]
    listed = thumbprints.split(",")
    ordered = sorted(range(len(values)), key=values.__getitem__)
    result: tuple[Thumbprint, ...] = tuple(map(listed.__getitem__, ordered))  # type: ignore[arg-type]
    first.setdefault(thumbprints, (values, result))
    return result


class SnapshotRepository:
    _session: Session

    def personal_certificates(self) -> dict[str, list[HeldRow]]:
        """Every completed certificate in the Personal store of every server certward runs,
        by server name (in the order they were stored), and whether each has a key: one
        query, which finds each server's rows by the stores' index."""
        names = self._run_servers()
        rows = self._session.execute(
            select(
                CertificateRow.server_id,
                CertificateRow.thumbprint,
                CertificateRow.services,
                CertificateRow.key_provider,
                PrivateKeyRow.id,
            )
            .outerjoin(PrivateKeyRow, PrivateKeyRow.certificate_id == CertificateRow.id)
            .where(
                CertificateRow.server_id.in_(
                    select(ServerRow.id).where(ServerRow.observed.is_(False))
                ),
                CertificateRow.store == StoreName.MY.value,
                CertificateRow.der.is_not(None),
            )
            .order_by(CertificateRow.id)
        )
        found: dict[str, list[HeldRow]] = {}
        service_sets: dict[int, ServiceSet] = {}
        for server_id, thumb, services, provider, key_id in rows:
            name = names.get(server_id)
            if name is None:  # a server added since its name was read
                continue
            service_set = service_sets.get(services)
            if service_set is None:
                service_set = service_sets[services] = ServiceSet(Service(services))
            found.setdefault(name, []).append(
                HeldRow(StoreName.MY, Thumbprint(thumb), service_set, key_id is not None, provider)
            )
        return found

    def _run_servers(self) -> dict[int, str]:
        """The servers certward runs (not observed ones): names by id."""
        return dict(
            self._session.execute(
                select(ServerRow.id, ServerRow.name).where(ServerRow.observed.is_(False))
            ).all()
        )

    def trusted_thumbprints(self) -> dict[tuple[str, StoreName], tuple[Thumbprint, ...]]:
        """The thumbprints in the Root and CA stores of every server certward runs, by
        (server name, store), in the order they were stored; servers whose store holds the
        same thumbprints in the same order share one tuple. One query over the stores' index
        (not their rows): each store's thumbprints and ids as two strings, put in id order
        here (both strings list the rows in the same order, whatever order the database
        chose). A pending request's row (no DER) is listed too: its thumbprint is its CSR's
        hash, which names no certificate, so no DER or profile is found for it."""
        names = self._run_servers()
        rows = self._session.execute(
            select(
                CertificateRow.server_id,
                CertificateRow.store,
                func.aggregate_strings(CertificateRow.thumbprint, ","),
                func.aggregate_strings(cast(CertificateRow.id, String), ","),
            )
            .where(CertificateRow.store.in_((StoreName.ROOT.value, StoreName.CA.value)))
            .group_by(CertificateRow.server_id, CertificateRow.store)
        )
        found: dict[tuple[str, StoreName], tuple[Thumbprint, ...]] = {}
        first: dict[str, tuple[list[int], tuple[Thumbprint, ...]]] = {}
        for server_id, store, thumbprints, ids in rows:
            name = names.get(server_id)
            if name is not None:
                found[(name, StoreName(store))] = _in_id_order(thumbprints, ids, first)
        return found

    def distinct_ders(self, thumbprints: Collection[str]) -> dict[Thumbprint, bytes]:
        """The DER of each of ``thumbprints`` the store holds, read once per thumbprint
        however many servers hold it (any server certward runs, any store)."""
        wanted = sorted(set(thumbprints))
        found: dict[Thumbprint, bytes] = {}
        first = (
            select(func.min(CertificateRow.id))
            .where(CertificateRow.der.is_not(None))
            .group_by(CertificateRow.thumbprint)
        )
        for start in range(0, len(wanted), _CHUNK):
            rows = self._session.execute(
                select(CertificateRow.thumbprint, CertificateRow.der).where(
                    CertificateRow.id.in_(
                        first.where(CertificateRow.thumbprint.in_(wanted[start : start + _CHUNK]))
                    )
                )
            )
            for thumb, der in rows:
                if der is not None:
                    found[Thumbprint(thumb)] = der
        return found

    def all_virtual_directories(self) -> dict[str, list[VirtualDirectory]]:
        """Every server's virtual directories by server name: one query, of columns."""
        v = VirtualDirectoryRow
        rows = self._session.execute(
            select(ServerRow.name, v.name, v.path, v.internal_url, v.external_url, v.require_ssl)
            .join(ServerRow, v.server_id == ServerRow.id)
            .order_by(v.id)
        )
        found: dict[str, list[VirtualDirectory]] = {}
        for server, name, path, internal, external, require_ssl in rows:
            found.setdefault(server, []).append(
                VirtualDirectory(server, name, path, internal, external, require_ssl)
            )
        return found

    def all_connectors(self) -> list[Connector]:
        """Every connector, as :meth:`Repository.connectors` reads them (by identity): one
        query, of columns; each distinct binding, smart host and setting made once."""
        c = ConnectorRow
        rows = self._session.execute(
            select(
                c.name, c.kind, c.servers, c.fqdn, c.bindings, c.address_spaces, c.smart_hosts,
                c.auth_mechanism, c.require_tls, c.tls_auth_level, c.tls_domain,
                c.domain_secure_enabled, c.tls_certificate_name, c.ignore_starttls,
                c.cloud_services_mail_enabled,
            ).order_by(c.identity_key)
        )  # fmt: skip
        lists: dict[str | None, tuple[str, ...]] = {}
        bindings: dict[str, tuple[Binding, ...]] = {}
        hosts: dict[str, tuple[SmartHost, ...]] = {}
        mechanisms: dict[int, AuthMechanism] = {}

        def split(value: str | None) -> tuple[str, ...]:
            found = lists.get(value)
            if found is None:
                found = lists[value] = tuple(part for part in (value or "").split(",") if part)
            return found

        connectors = []
        for (name, kind, servers, fqdn, binds, spaces, smart, auth, require_tls, level, domain,
             secure, tls_name, ignore, cloud) in rows:  # fmt: skip
            bound = bindings.get(binds)
            if bound is None:
                bound = bindings[binds] = tuple(Binding.parse(b) for b in split(binds))
            smart_hosts = hosts.get(smart)
            if smart_hosts is None:
                smart_hosts = hosts[smart] = tuple(SmartHost.parse(h) for h in split(smart))
            mechanism = mechanisms.get(auth)
            if mechanism is None:
                mechanism = mechanisms[auth] = AuthMechanism(auth)
            connectors.append(
                Connector(
                    name=name,
                    kind=ConnectorKind(kind),
                    servers=split(servers),
                    fqdn=fqdn,
                    bindings=bound,
                    address_spaces=split(spaces),
                    smart_hosts=smart_hosts,
                    auth_mechanism=mechanism,
                    require_tls=require_tls,
                    tls_auth_level=TlsAuthLevel(level) if level else None,
                    tls_domain=domain,
                    domain_secure_enabled=secure,
                    tls_certificate_name=tls_name,
                    ignore_starttls=ignore,
                    cloud_services_mail_enabled=cloud,
                )
            )
        return connectors

    def all_observed_certificates(self) -> dict[str, list[ObservedCertificate]]:
        """Every observed server's certificates (as its dumps showed them) by server name,
        in the order they were recorded: one query."""
        rows = self._session.execute(
            select(ServerRow.name, ObservedCertificateRow)
            .join(ServerRow, ObservedCertificateRow.server_id == ServerRow.id)
            .order_by(ObservedCertificateRow.id)
        )
        found: dict[str, list[ObservedCertificate]] = {}
        for server, row in rows:
            found.setdefault(server, []).append(observed_certificate(row, server))
        return found

    def all_observed_facts(self) -> dict[str, ObservedFacts]:
        """What each observed server's collection showed besides certificates: one query."""
        rows = self._session.execute(
            select(ServerRow.name, ObservedFactsRow.document).join(
                ServerRow, ObservedFactsRow.server_id == ServerRow.id
            )
        )
        return {server: facts.read_facts(server, document) for server, document in rows}


def observed_certificate(row: ObservedCertificateRow, server: str) -> ObservedCertificate:
    """An observed certificate as stored (the one reading of its row, for every caller)."""
    return rows.observed_certificate_of(row, server)

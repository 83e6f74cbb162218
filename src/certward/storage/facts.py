"""Observed facts as JSON documents: what an observed server's (or the organisation's)
collection showed besides certificates, stored whole and read back whole.

The document names its shape (``"v": 1``); a value this code does not know (a newer
certward's evidence kind) is dropped on reading rather than refused, so an older reader
still judges what it understands.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from certward.model import (
    Evidence,
    HybridConfiguration,
    IisBinding,
    NetTlsSetting,
    ObservedFacts,
    ObservedOrganisationFacts,
    SchannelSetting,
    Thumbprint,
    TlsRegistry,
)

_VERSION = 1

OBSERVED_ORGANISATION = "observed.organisation"
"""The ``meta`` row holding the observed organisation's document."""


def _evidence(names: list[str]) -> frozenset[Evidence]:
    known = {e.name: e for e in Evidence}
    return frozenset(known[n] for n in names if n in known)


def _when(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _read_when(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def facts_document(facts: ObservedFacts) -> str:
    tls = facts.tls
    doc: dict[str, Any] = {
        "v": _VERSION,
        "evidence": sorted(e.name for e in facts.evidence),
        "iis_bindings": [
            {
                "site": b.site,
                "port": b.port,
                "address": b.address,
                "host_header": b.host_header,
                "protocol": b.protocol,
                "thumbprint": b.thumbprint,
                "store": b.store,
            }
            for b in facts.iis_bindings
        ],
        "tls": None
        if tls is None
        else {
            "schannel": [
                [s.protocol, s.side, s.enabled, s.disabled_by_default] for s in tls.schannel
            ],
            "net": [
                [n.version, n.wow6432, n.system_default_tls_versions, n.sch_use_strong_crypto]
                for n in tls.net
            ],
            "disable_root_auto_update": tls.disable_root_auto_update,
        },
        "exchange_build": facts.exchange_build,
        "collected_at": _when(facts.collected_at),
        "culture": facts.culture,
        "sources": list(facts.sources),
    }
    return json.dumps(doc, sort_keys=True)


def read_facts(server: str, document: str) -> ObservedFacts:
    doc = json.loads(document)
    tls = doc.get("tls")
    return ObservedFacts(
        server=server,
        evidence=_evidence(doc.get("evidence", [])),
        iis_bindings=tuple(
            IisBinding(
                site=b["site"],
                port=int(b["port"]),
                address=b["address"],
                host_header=b["host_header"],
                protocol=b["protocol"],
                thumbprint=Thumbprint(b["thumbprint"]) if b["thumbprint"] else None,
                store=b["store"],
            )
            for b in doc.get("iis_bindings", [])
        ),
        tls=None
        if tls is None
        else TlsRegistry(
            schannel=tuple(SchannelSetting(*row) for row in tls["schannel"]),
            net=tuple(NetTlsSetting(*row) for row in tls["net"]),
            disable_root_auto_update=tls["disable_root_auto_update"],
        ),
        exchange_build=doc.get("exchange_build"),
        collected_at=_read_when(doc.get("collected_at")),
        culture=doc.get("culture"),
        sources=tuple(doc.get("sources", [])),
    )


def organisation_document(facts: ObservedOrganisationFacts) -> str:
    hybrid = facts.hybrid
    doc: dict[str, Any] = {
        "v": _VERSION,
        "evidence": sorted(e.name for e in facts.evidence),
        "hybrid": None
        if hybrid is None
        else {
            "tls_certificate_name": hybrid.tls_certificate_name,
            "domains": list(hybrid.domains),
            "features": list(hybrid.features),
            "on_premises_smart_host": hybrid.on_premises_smart_host,
        },
        "collected_at": _when(facts.collected_at),
        "sources": list(facts.sources),
    }
    return json.dumps(doc, sort_keys=True)


def read_organisation(document: str) -> ObservedOrganisationFacts:
    doc = json.loads(document)
    hybrid = doc.get("hybrid")
    return ObservedOrganisationFacts(
        evidence=_evidence(doc.get("evidence", [])),
        hybrid=None
        if hybrid is None
        else HybridConfiguration(
            tls_certificate_name=hybrid["tls_certificate_name"],
            domains=tuple(hybrid["domains"]),
            features=tuple(hybrid["features"]),
            on_premises_smart_host=hybrid["on_premises_smart_host"],
        ),
        collected_at=_read_when(doc.get("collected_at")),
        sources=tuple(doc.get("sources", [])),
    )

"""Judge only what was shown (issue 13): a real organisation's rules run on what its dumps
showed; a rule whose input no dump provided gives one info finding "not judged: needs …",
never a failure; Exchange's defaults the dumps do not contradict are assumed, and said so.

Snapshots are the healthy organisation of builders.py observed as a real one (every server
observed, with ObservedFacts), changed one thing at a time; the clock is ``NOW``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from certward.health.catalogue import rules_markdown
from certward.health.engine import evaluate, registered_rules
from certward.health.findings import Finding, Rule, Severity
from certward.health.snapshot import OrgSnapshot, inferred_evidence
from certward.model import (
    ORGANISATION_EVIDENCE,
    AuthConfig,
    ConnectorKind,
    Evidence,
)
from certward.pki import clientca
from tests.health.builders import (
    NOW,
    SERVER_EVIDENCE,
    change_server,
    healthy,
    observed,
)
from tests.health.test_rules import _roots

REPO = Path(__file__).resolve().parents[2]


def findings(snap: OrgSnapshot, rule_id: str) -> list[Finding]:
    rule = next(r for r in registered_rules() if r.id == rule_id)
    return list(rule.check(snap, NOW))


def _without_auth_config() -> OrgSnapshot:
    snap = observed(healthy(), organisation=ORGANISATION_EVIDENCE - {Evidence.AUTH_CONFIG})
    assert snap.organisation is not None
    return dataclasses.replace(
        snap, organisation=dataclasses.replace(snap.organisation, auth=AuthConfig())
    )


def test_the_healthy_organisation_observed_whole_has_no_findings() -> None:
    assert evaluate(observed(healthy()), NOW).findings == ()


def test_auth_001_is_not_judged_without_get_authconfig() -> None:
    (finding,) = findings(_without_auth_config(), "CW-AUTH-001")
    assert finding.severity is Severity.INFO and finding.server is None
    assert finding.message == "not judged: needs Get-AuthConfig"
    assert "Get-AuthConfig" in finding.remediation.shell
    # ... and the same empty Get-AuthConfig, shown, is the critical finding it always was.
    shown = dataclasses.replace(_without_auth_config(), observed_organisation=None)
    shown = observed(shown)
    assert shown.organisation is not None
    shown = dataclasses.replace(
        shown, organisation=dataclasses.replace(shown.organisation, auth=AuthConfig())
    )
    assert [f.severity for f in findings(shown, "CW-AUTH-001")] == [Severity.CRITICAL]


def test_chain_001_names_the_store_actually_missing() -> None:
    snap = observed(healthy(), evidence=SERVER_EVIDENCE - {Evidence.CA_STORE})
    snap = change_server(snap, "EXCH01", lambda s: dataclasses.replace(s, intermediates=()))
    found = findings(snap, "CW-CHAIN-001")
    assert {f.server for f in found} == {"EXCH01", "EXCH02"}
    for f in found:
        assert f.severity is Severity.INFO
        assert f.message == "not judged: needs the Intermediate store (certutil -store ca)"
        assert "Root" not in f.message and "certutil -store ca" in f.remediation.shell


def test_an_exchange_2010_hub_with_355_roots_and_no_connector_dump_gets_seed_001() -> None:
    snap = observed(_roots(355), evidence=SERVER_EVIDENCE - {Evidence.RECEIVE_CONNECTOR})
    snap = dataclasses.replace(
        snap, connectors=tuple(c for c in snap.connectors if c.kind is ConnectorKind.SEND)
    )
    (finding,) = findings(snap, "CW-ROOT-001")
    assert finding.severity is Severity.CRITICAL and finding.server == "EXCH01"
    assumed = str(finding.evidence["assumed"])
    assert assumed.startswith("Exchange 2010 ") and "Default receive connector asks" in assumed
    assert finding.evidence["bytes"] > clientca.SCHANNEL_LIMIT  # type: ignore[operator]
    # A connector dump that shows no connector asking contradicts the default: no finding.
    shown = observed(_roots(355))
    no_ask = dataclasses.replace(
        shown,
        connectors=tuple(
            dataclasses.replace(c, auth_mechanism=type(c.auth_mechanism).TLS)
            if c.kind is ConnectorKind.RECEIVE
            else c
            for c in shown.connectors
        ),
    )
    assert findings(no_ask, "CW-ROOT-001") == []


@pytest.mark.parametrize("rule", registered_rules(), ids=lambda r: r.id)
def test_with_nothing_shown_each_rule_says_at_most_one_info_per_server(rule: Rule) -> None:
    snap = observed(healthy(), evidence=frozenset(), organisation=frozenset())
    found = list(rule.check(snap, NOW))
    assert all(f.severity is Severity.INFO for f in found), found
    assert all(f.message.startswith("not judged: needs ") for f in found), found
    assert max(Counter(f.server for f in found).values(), default=1) == 1
    # No server of the healthy organisation is what CW-ROOT-001 (a 2007/2010 server sending
    # its trusted-issuer list) or CW-EDGE-002 (an Edge) is about: nothing to say.
    if rule.needs and rule.id not in ("CW-ROOT-001", "CW-EDGE-002"):
        assert found, f"{rule.id} needs {rule.needs} but said nothing"


def test_the_older_file_by_file_path_infers_what_was_shown() -> None:
    """No recorded facts: a store with certificates was dumped, certificates with services
    came from Get-ExchangeCertificate, a default SMTP thumbprint from Get-TransportService."""
    snap = observed(healthy(), organisation=None)
    snap = dataclasses.replace(
        snap,
        servers=tuple(dataclasses.replace(s, facts=None, intermediates=()) for s in snap.servers),
    )
    state = snap.servers[0]
    shown = inferred_evidence(state, snap.receive_connectors(state.name))
    assert shown >= {Evidence.MY_STORE, Evidence.EXCHANGE_CERTIFICATE, Evidence.ROOT_STORE,
                     Evidence.TRANSPORT_SERVICE, Evidence.RECEIVE_CONNECTOR,
                     Evidence.VIRTUAL_DIRECTORIES}  # fmt: skip
    assert Evidence.CA_STORE not in shown and Evidence.SCHANNEL not in shown
    assert snap.shows(Evidence.AUTH_CONFIG) and snap.shows(Evidence.SEND_CONNECTOR)
    report = evaluate(snap, NOW)
    assert report.worst is Severity.INFO
    messages = {(f.rule_id, f.message) for f in report.findings}
    ca = "not judged: needs the Intermediate store (certutil -store ca)"
    assert ("CW-CHAIN-001", ca) in messages
    assert ("CW-TLS-001", "not judged: needs the SCHANNEL protocol registry settings") in messages


def test_a_server_certward_runs_beside_observed_ones_is_judged_in_full() -> None:
    snap = observed(healthy(), evidence=frozenset(), organisation=None)
    run = dataclasses.replace(healthy().servers[1])
    snap = dataclasses.replace(snap, servers=(snap.servers[0], run))
    assert not snap.observed  # an organisation with a server certward runs is its own
    assert snap.evidence_of(run) == frozenset(Evidence)
    assert all(f.server != run.name for f in evaluate(snap, NOW).findings)


# -- symptoms: a search for what the admin sees finds the finding -------------------------------

SYMPTOMS = ("36885", "1035", "12014", "12016", "1423", "TlsApiFailureException", "0x80090301")


@pytest.mark.parametrize("symptom", SYMPTOMS)
def test_each_symptom_is_in_the_rule_catalogue(symptom: str) -> None:
    assert symptom in rules_markdown()
    assert symptom in (REPO / "docs" / "rules.md").read_text(encoding="utf-8")


def test_seed_001_finding_names_its_symptoms() -> None:
    (finding,) = findings(observed(_roots(355)), "CW-ROOT-001")
    text = finding.message + " " + " ".join(str(v) for v in finding.evidence.values())
    for symptom in ("36885", "1423", "TlsApiFailureException", "0x80090301"):
        assert symptom in text
    assert finding.evidence["event"] == 36885


def test_seed_001_says_it_assumed_windows_sends_the_list() -> None:
    (finding,) = findings(observed(_roots(355)), "CW-ROOT-001")
    assert "SendTrustedIssuerList not dumped" in str(finding.evidence["assumed"])


def test_seed_004_without_get_edgesubscription_does_not_claim_an_edge() -> None:
    from certward.model import CNG_SOFTWARE_KSP
    from tests.health.test_rules import _default_smtp

    snap = _default_smtp(key_provider=CNG_SOFTWARE_KSP)
    unknown = observed(snap, organisation=ORGANISATION_EVIDENCE - {Evidence.EDGE_SUBSCRIPTION})
    (finding,) = findings(unknown, "CW-EDGE-001")
    assert finding.severity is Severity.WARNING and finding.evidence["edge_subscribed"] is None
    assert "1035" in finding.message and "no dump showed" in finding.message
    (shown,) = findings(observed(snap), "CW-EDGE-001")
    assert shown.evidence["edge_subscribed"] is False and "once an Edge" in shown.message


def test_a_server_the_rule_is_not_about_gets_neither_finding_nor_word() -> None:
    """An Edge whose collection failed (no IIS bindings, nothing else): CW-IIS-001 is about
    the Mailbox servers' Exchange Back End site, so the Edge gets nothing from it."""
    from tests.health.test_rules import _edge_without_auth

    snap = observed(_edge_without_auth())
    snap = change_server(
        snap,
        "EDGE01",
        lambda s: dataclasses.replace(
            s, facts=dataclasses.replace(s.facts, evidence=frozenset({Evidence.MY_STORE}),
                                         iis_bindings=())  # type: ignore[arg-type]
        ),
    )  # fmt: skip
    assert [f for f in findings(snap, "CW-IIS-001") if f.server == "EDGE01"] == []
    assert [f.message for f in findings(snap, "CW-TRANS-001") if f.server == "EDGE01"] == [
        "not judged: needs Get-TransportService"
    ]

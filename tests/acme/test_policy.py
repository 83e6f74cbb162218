"""The pure parts: backoff and Retry-After, the retry policy within one operation, problem
documents as coded errors, the failure notice and health rule CW-ACME-001."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from acme import messages
from certward.acme.client import RetryPolicy, problem_error, problem_name
from certward.acme.solvers import SolverSettings, make_solver, parse_options
from certward.errors import CertwardError
from certward.health.findings import Severity
from certward.health.rules.acme import acme_failures
from certward.health.snapshot import HeldCertificate, OrgSnapshot, ServerState
from certward.model import Server, Thumbprint
from certward.model.acme import AcmeError, AcmeOrder, backoff, may_attempt, next_attempt
from certward.pki import build, certinfo
from certward.pki.profile import CertProfile
from certward.services.acme import failure_notice

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_backoff_doubles_from_five_minutes_and_is_capped_at_a_day() -> None:
    assert [backoff(n) for n in (0, 1, 2, 3)] == [
        dt.timedelta(0),
        dt.timedelta(minutes=5),
        dt.timedelta(minutes=10),
        dt.timedelta(minutes=20),
    ]
    assert backoff(12) == backoff(500) == dt.timedelta(hours=24)


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=0, max_value=10**6))
def test_the_next_attempt_is_never_before_retry_after(attempts: int, seconds: int) -> None:
    retry_after = NOW + dt.timedelta(seconds=seconds)
    when = next_attempt(NOW, attempts, retry_after)
    assert when >= retry_after and when >= NOW + backoff(attempts)
    assert when == max(retry_after, NOW + backoff(attempts))


def test_may_attempt_respects_backoff_and_retry_after() -> None:
    error = AcmeError("acme.rate_limited", "slow down")
    order = AcmeOrder(1, "EXCH01", ("a.test",), "http-01", error=error, attempts=1,
                      next_attempt=NOW, retry_after=NOW + dt.timedelta(hours=1))  # fmt: skip
    assert not may_attempt(order, NOW + dt.timedelta(minutes=30))
    assert may_attempt(order, NOW + dt.timedelta(hours=1))
    assert may_attempt(AcmeOrder(1, "EXCH01", ("a.test",), "http-01"), NOW)


def test_retry_policy_within_one_operation() -> None:
    policy = RetryPolicy(attempts=4, first=1.0, cap=30.0)
    assert [policy.delay(n, None) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, None]
    assert policy.delay(1, 10.0) == 10.0  # the server's Retry-After wins when longer
    assert policy.delay(1, 3600.0) is None  # too long to wait: reported, then stored
    # certward's own pacing (the tests' pebble runs replace DEFAULT_RETRY with a quicker one)
    assert RetryPolicy() == RetryPolicy(attempts=4, first=1.0, cap=30.0)


@pytest.mark.parametrize(
    ("problem", "code"),
    [
        ("rateLimited", "acme.rate_limited"),
        ("badNonce", "acme.bad_nonce"),
        ("serverInternal", "acme.server_internal"),
        ("rejectedIdentifier", "acme.rejected_identifier"),
        ("caa", "acme.rejected_identifier"),
        ("externalAccountRequired", "acme.account_refused"),
        ("unauthorized", "acme.unauthorized"),
        ("badCSR", "acme.bad_csr"),
        ("somethingNew", "acme.problem"),
    ],
)
def test_problem_documents_become_coded_errors(problem: str, code: str) -> None:
    doc = messages.Error(typ=f"urn:ietf:params:acme:error:{problem}", detail="because")
    error = problem_error(doc, context="the ACME order", retry_after=30.0)
    assert error.code.id == code
    assert error.facts["problem"] == doc.typ and error.facts["retry_after_seconds"] == 30
    assert "\n" not in error.message and "because" in error.message
    assert problem_name("about:blank") is None


def test_solver_settings_are_checked() -> None:
    with pytest.raises(CertwardError) as unknown:
        SolverSettings("http-02")
    assert unknown.value.code.id == "acme.solver_unknown"
    with pytest.raises(CertwardError) as bad:
        make_solver(SolverSettings("http-01", {"port": "eighty"}))
    assert bad.value.code.id == "acme.solver_settings"
    with pytest.raises(CertwardError):
        make_solver(SolverSettings("http-01", {"mode": "sometimes"}))
    with pytest.raises(CertwardError) as typo:
        make_solver(SolverSettings("http-01", {"prot": "80"}))
    assert "'prot'" in typo.value.message
    assert parse_options(["port=80", "address=::"], "http-01") == {"port": "80", "address": "::"}
    with pytest.raises(CertwardError):
        parse_options(["port"], "http-01")
    assert SolverSettings.from_json(SolverSettings("http-01", {"port": "80"}).to_json()).options


def test_a_key_file_named_on_the_command_line_is_stored_absolute(monkeypatch, tmp_path) -> None:
    """The scheduler renews from another working directory: a relative TSIG key file named
    when the certificate was requested must still be found then."""
    monkeypatch.chdir(tmp_path)
    options = parse_options(["tsig-key-file=keys/tsig.key", "server=127.0.0.1"], "dns-01")
    assert options == {"tsig-key-file": str(tmp_path / "keys" / "tsig.key"), "server": "127.0.0.1"}


def _held(days_left: float) -> tuple[ServerState, Thumbprint]:
    key = build.generate_key(2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.test")])
    cert = build.self_signed(
        key, name, ["mail.contoso.test"],
        not_before=NOW - dt.timedelta(days=60),
        not_after=NOW + dt.timedelta(days=days_left),
    )  # fmt: skip
    thumb = certinfo.thumbprint(certinfo.to_der(cert))
    state = ServerState(
        Server("EXCH01", "exch01.contoso.test"),
        certificates=(HeldCertificate(thumb, CertProfile.of(cert)),),
    )
    return state, thumb


def test_health_rule_warns_then_errs_as_expiry_nears() -> None:
    state, thumb = _held(days_left=30)
    error = AcmeError("acme.rate_limited", "slow down", "urn:ietf:params:acme:error:rateLimited")
    failing = AcmeOrder(1, "EXCH01", ("mail.contoso.test",), "http-01", thumbprint=thumb,
                        attempts=2, error=error, next_attempt=NOW, order_id=7)  # fmt: skip
    snap = OrgSnapshot(None, (state,), acme_orders=(failing,))
    (finding,) = acme_failures(snap, NOW)
    assert finding.severity is Severity.WARNING and finding.thumbprint == thumb
    assert finding.evidence["code"] == "acme.rate_limited"
    assert "slow down" in finding.message and finding.remediation.certward == "certward acme renew"
    (urgent,) = acme_failures(snap, NOW + dt.timedelta(days=20))
    assert urgent.severity is Severity.ERROR
    never = OrgSnapshot(None, (state,), acme_orders=(AcmeOrder(1, "EXCH01", ("n.test",),
                        "http-01", error=error, attempts=1),))  # fmt: skip
    assert next(iter(acme_failures(never, NOW))).severity is Severity.ERROR
    healthy = OrgSnapshot(None, (state,), acme_orders=(AcmeOrder(1, "EXCH01", ("a",), "http-01"),))
    assert list(acme_failures(healthy, NOW)) == []


def test_the_failure_notice_is_keyed_per_attempt() -> None:
    error = AcmeError("acme.rejected_identifier", "no")
    order = AcmeOrder(1, "EXCH01", ("a.test",), "http-01", attempts=3, error=error, order_id=4)
    notice = failure_notice(order)
    assert notice is not None and notice.key == "acme:4:acme.rejected_identifier:3"
    assert failure_notice(AcmeOrder(1, "EXCH01", ("a.test",), "http-01")) is None


def test_the_binding_s_hmac_key_is_read_checked_and_never_shown() -> None:
    from certward.acme.client import Eab

    key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    eab = Eab.read(" kid-1 ", (key + "\n").encode(), source="eab.key")
    assert eab.kid == "kid-1" and eab.hmac_key == key
    assert key not in repr(eab) and "redacted" in repr(eab)
    for bad in (b"", b"c2hvcnQ", b"two words"):
        with pytest.raises(CertwardError) as refused:
            Eab.read("kid-1", bad, source="eab.key")
        assert refused.value.code.id == "acme.eab_invalid" and "eab.key" in refused.value.message

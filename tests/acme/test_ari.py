"""ACME Renewal Information (RFC 9773): the identifier, the pure timing policy (Hypothesis)
and the fetch over the acme library's ClientNetwork from a real HTTP server.

Debian's pebble 2.4.0 offers no renewalInfo in its directory (checked below against the real
pebble), so the fetch is tested against an HTTP server started here serving an ACME
directory and renewalInfo documents."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from acme import client as acme_client
from acme import messages
from certward.acme.ari import (
    MAX_RETRY_AFTER,
    MIN_RETRY_AFTER,
    Window,
    certificate_identifier,
    due,
    fetch_renewal_info,
    parse_renewal_info,
    parse_retry_after,
    renew_at,
    window_for,
)
from certward.errors import CertwardError
from tests.acme.helpers import at, listener, services
from tests.acme.pebble import Pebble
from tests.conftest import Cli

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def _certificate(
    serial: int,
    key_id: bytes | None = b"\x01" * 20,
    not_before: dt.datetime = NOW - dt.timedelta(days=30),
    not_after: dt.datetime = NOW + dt.timedelta(days=60),
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.test")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if key_id is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(key_id, None, None), critical=False
        )
    return builder.sign(KEY, hashes.SHA256())


# -- the certificate identifier -----------------------------------------------------------


def test_the_identifier_of_rfc_9773_s_example() -> None:
    # RFC 9773 section 4.1: keyIdentifier 69:88:5B:..:D4, serial 00:87:65:43:21.
    key_id = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    assert (
        certificate_identifier(_certificate(0x87654321, key_id))
        == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    )


@given(serial=st.integers(min_value=1, max_value=2**159 - 1))
def test_the_identifier_agrees_with_the_acme_library(serial: int) -> None:
    certificate = _certificate(serial)
    assert certificate_identifier(certificate) == acme_client._renewal_info_path_component(
        certificate
    )


def test_a_certificate_without_authority_key_identifier_has_none() -> None:
    with pytest.raises(CertwardError) as caught:
        certificate_identifier(_certificate(5, key_id=None))
    assert caught.value.code.id == "ari.no_identifier"


# -- the pure policy ----------------------------------------------------------------------

moments = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 1, 1), timezones=st.just(UTC)
)
spans = st.timedeltas(min_value=dt.timedelta(seconds=1), max_value=dt.timedelta(days=400))
seeds = st.binary(min_size=1, max_size=40)


@st.composite
def lifetimes(draw: st.DrawFn) -> tuple[dt.datetime, dt.datetime]:
    start = draw(moments)
    return start, start + draw(spans)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(moments)
    return Window(start, start + draw(spans))


@given(lifetime=lifetimes(), seed=seeds)
def test_without_a_window_renewal_is_at_two_thirds_of_the_lifetime(
    lifetime: tuple[dt.datetime, dt.datetime], seed: bytes
) -> None:
    not_before, not_after = lifetime
    at = renew_at(None, not_before, not_after, jitter_seed=seed)
    assert abs((at - not_before) - (not_after - not_before) * 2 / 3) <= dt.timedelta(microseconds=1)


@given(window=windows(), lifetime=lifetimes(), seed=seeds)
def test_with_a_window_renewal_is_inside_it_and_never_after_expiry(
    window: Window, lifetime: tuple[dt.datetime, dt.datetime], seed: bytes
) -> None:
    not_before, not_after = lifetime
    at = renew_at(window, not_before, not_after, jitter_seed=seed)
    assert at <= not_after
    if window.end <= not_after:
        assert window.start <= at <= window.end
    # Stable: the same certificate gets the same moment on every run.
    assert at == renew_at(window, not_before, not_after, jitter_seed=seed)


@given(window=st.one_of(st.none(), windows()), lifetime=lifetimes(), seed=seeds, now=moments)
def test_due_is_now_at_or_after_the_renewal_moment(
    window: Window | None,
    lifetime: tuple[dt.datetime, dt.datetime],
    seed: bytes,
    now: dt.datetime,
) -> None:
    not_before, not_after = lifetime
    at = renew_at(window, not_before, not_after, jitter_seed=seed)
    assert due(window, not_before, not_after, now, jitter_seed=seed) == (now >= at)
    # Monotone: once due, due for ever after.
    assert due(window, not_before, not_after, max(now, at), jitter_seed=seed)


def test_seeds_spread_certificates_across_the_window() -> None:
    window = Window(NOW, NOW + dt.timedelta(days=2))
    points = {
        renew_at(window, NOW - dt.timedelta(days=60), NOW + dt.timedelta(days=30), jitter_seed=s)
        for s in (f"cert-{i}" for i in range(200))
    }
    assert len(points) == 200
    first_half = sum(p < NOW + dt.timedelta(days=1) for p in points)
    assert 60 < first_half < 140  # roughly uniform, not bunched at one end


def test_a_window_already_past_is_due_now() -> None:
    window = Window(NOW - dt.timedelta(days=3), NOW - dt.timedelta(days=2))
    start, end = NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=60)
    assert due(window, start, end, NOW, jitter_seed="x")
    assert not due(None, start, end, NOW, jitter_seed="x")  # two thirds is day 60


def test_naive_times_and_inverted_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Window(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="not after"):
        Window(NOW, NOW)
    with pytest.raises(ValueError, match="time zone"):
        due(None, NOW, NOW + dt.timedelta(days=1), dt.datetime(2026, 1, 1), jitter_seed="x")


@pytest.mark.parametrize(
    ("header", "delay"),
    [
        (None, dt.timedelta(hours=6)),
        ("3600", dt.timedelta(hours=1)),
        ("5", MIN_RETRY_AFTER),
        ("9999999", MAX_RETRY_AFTER),
        ("Fri, 04 Dec 2026 03:00:00 GMT", dt.timedelta(hours=2)),
        ("soon", dt.timedelta(hours=6)),
    ],
)
def test_retry_after_is_seconds_or_a_date_within_limits(
    header: str | None, delay: dt.timedelta
) -> None:
    assert parse_retry_after(header, now=NOW) == NOW + delay


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b"not json", "not JSON"),
        (b"{}", "no suggestedWindow"),
        (b'{"suggestedWindow": {"start": "yesterday", "end": "2026-12-05T00:00:00Z"}}', "RFC 3339"),
        (
            b'{"suggestedWindow": '
            b'{"start": "2026-12-06T00:00:00Z", "end": "2026-12-05T00:00:00Z"}}',
            "before it starts",
        ),
    ],
)
def test_a_bad_document_is_ari_invalid(document: bytes, problem: str) -> None:
    with pytest.raises(CertwardError) as caught:
        parse_renewal_info(document, None, now=NOW, source="https://ca.test/ari/x")
    assert caught.value.code.id == "ari.invalid"
    assert problem in caught.value.message
    assert "https://ca.test/ari/x" in caught.value.message


# -- the fetch, over HTTP -----------------------------------------------------------------


@dataclass
class _Ca:
    """What the test ACME server answers: renewalInfo documents by certificate identifier."""

    base: str = ""
    answers: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)


@pytest.fixture
def ca() -> Iterator[_Ca]:
    state = _Ca()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.asked.append(self.path)
            if self.path == "/dir":
                status, headers, body = (
                    200,
                    {"Content-Type": "application/json"},
                    json.dumps(
                        {"newNonce": f"{state.base}/nonce", "renewalInfo": f"{state.base}/ari"}
                    ).encode(),
                )
            else:
                status, headers, body = state.answers.get(
                    self.path.removeprefix("/ari/"), (404, {}, b"")
                )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _directory(net: acme_client.ClientNetwork, url: str) -> messages.Directory:
    return messages.Directory.from_json(net.get(url).json())


def test_renewal_info_is_fetched_with_its_window_and_retry_after(ca: _Ca) -> None:
    certificate = _certificate(0x87654321)
    identifier = certificate_identifier(certificate)
    ca.answers[identifier] = (
        200,
        {"Content-Type": "application/json", "Retry-After": "21600"},
        json.dumps(
            {
                "suggestedWindow": {
                    "start": "2026-12-20T00:00:00Z",
                    "end": "2026-12-22T00:00:00.123456789Z",
                },
                "explanationURL": "https://ca.test/incident/42",
            }
        ).encode(),
    )
    net = acme_client.ClientNetwork(key=None, user_agent="certward-test")
    info = fetch_renewal_info(net, _directory(net, f"{ca.base}/dir"), certificate, now=NOW)
    assert info is not None
    assert ca.asked[-1] == f"/ari/{identifier}"
    assert info.window == Window(
        dt.datetime(2026, 12, 20, tzinfo=UTC), dt.datetime(2026, 12, 22, 0, 0, 0, 123456, UTC)
    )
    assert info.retry_after == NOW + dt.timedelta(hours=6)
    assert info.explanation_url == "https://ca.test/incident/42"
    at = renew_at(
        info.window,
        certificate.not_valid_before_utc,
        certificate.not_valid_after_utc,
        jitter_seed=identifier,
    )
    assert info.window.start <= at <= info.window.end


def test_a_problem_document_is_ari_fetch_failed_with_a_time_to_retry(ca: _Ca) -> None:
    certificate = _certificate(77)
    ca.answers[certificate_identifier(certificate)] = (
        429,
        {"Content-Type": "application/problem+json"},
        json.dumps(
            {"type": "urn:ietf:params:acme:error:rateLimited", "detail": "slow down"}
        ).encode(),
    )
    net = acme_client.ClientNetwork(key=None)
    with pytest.raises(CertwardError) as caught:
        fetch_renewal_info(net, _directory(net, f"{ca.base}/dir"), certificate, now=NOW)
    assert caught.value.code.id == "ari.fetch_failed"
    assert "slow down" in caught.value.message
    assert caught.value.facts["problem"] == "urn:ietf:params:acme:error:rateLimited"
    assert caught.value.facts["retry_after"] == (NOW + dt.timedelta(hours=6)).isoformat()


def test_a_missing_document_and_an_unreachable_server_are_ari_fetch_failed(ca: _Ca) -> None:
    net = acme_client.ClientNetwork(key=None)
    directory = _directory(net, f"{ca.base}/dir")
    with pytest.raises(CertwardError) as caught:
        fetch_renewal_info(net, directory, _certificate(78), now=NOW)
    assert caught.value.code.id == "ari.fetch_failed"
    assert "HTTP 404" in caught.value.message
    gone = messages.Directory.from_json({"renewalInfo": "http://127.0.0.1:9/ari"})
    with pytest.raises(CertwardError) as caught:
        fetch_renewal_info(net, gone, _certificate(78), now=NOW)
    assert caught.value.code.id == "ari.fetch_failed"


def test_a_directory_without_renewal_info_means_two_thirds() -> None:
    directory = messages.Directory.from_json({"newNonce": "https://ca.test/nonce"})
    net = acme_client.ClientNetwork(key=None)
    assert fetch_renewal_info(net, directory, _certificate(5), now=NOW) is None


def test_window_for_reads_the_directory_and_the_window(ca: _Ca) -> None:
    # What certward's ACME service asks when it decides whether a certificate is due.
    certificate = _certificate(0x1234)
    ca.answers[certificate_identifier(certificate)] = (
        200,
        {"Content-Type": "application/json"},
        b'{"suggestedWindow": {"start": "2026-12-10T00:00:00Z", "end": "2026-12-11T00:00:00Z"}}',
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    start, end = window_for(der, f"{ca.base}/dir", None, now=NOW) or (None, None)
    assert (start, end) == (
        dt.datetime(2026, 12, 10, tzinfo=UTC),
        dt.datetime(2026, 12, 11, tzinfo=UTC),
    )
    with pytest.raises(CertwardError) as caught:
        window_for(der, "http://127.0.0.1:9/dir", None, now=NOW)
    assert caught.value.code.id == "ari.fetch_failed"
    assert "http://127.0.0.1:9/dir" in caught.value.message


def test_debian_s_pebble_offers_no_renewal_info(pebble: Pebble) -> None:
    # Pebble 2.4.0 (Debian 12) predates ARI: its directory has no renewalInfo, so certward
    # falls back to two thirds of the lifetime against it.
    net = acme_client.ClientNetwork(key=None, verify_ssl=str(pebble.ca_bundle))  # type: ignore[arg-type]
    directory = _directory(net, pebble.directory_url)
    assert "newOrder" in directory.to_partial_json()
    assert fetch_renewal_info(net, directory, _certificate(5), now=NOW) is None
    der = _certificate(5).public_bytes(serialization.Encoding.DER)
    assert window_for(der, pebble.directory_url, str(pebble.ca_bundle), now=NOW) is None


# -- end to end: certward's ACME service renewing inside the CA's window ------------------


@dataclass
class _AriFront:
    """An HTTPS front for Pebble: its directory with a ``renewalInfo`` URL added, and the
    renewal information the test sets (Pebble's own order, account and nonce URLs stay
    Pebble's)."""

    url: str = ""
    window: tuple[str, str] | None = None
    asked: list[str] = field(default_factory=list)


@pytest.fixture
def ari_front(pebble: Pebble) -> Iterator[_AriFront]:
    front = _AriFront()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            front.asked.append(self.path)
            if self.path == "/dir":
                with urllib.request.urlopen(
                    pebble.directory_url, context=pebble.ssl_context(), timeout=10
                ) as answer:
                    directory = json.load(answer)
                directory["renewalInfo"] = f"{front.url}/renewal-info"
                status, body, headers = 200, json.dumps(directory).encode(), {}
            elif self.path.startswith("/renewal-info/") and front.window is not None:
                start, end = front.window
                document = {"suggestedWindow": {"start": start, "end": end}}
                status, body, headers = 200, json.dumps(document).encode(), {"Retry-After": "3600"}
            else:
                status, body, headers = 404, b"", {}
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        pebble.config.parent / "pebble-cert.pem", pebble.config.parent / "pebble-key.pem"
    )
    server.socket = context.wrap_socket(server.socket, server_side=True)
    front.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield front
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_certward_renews_inside_the_window_the_ca_suggests(
    org: Cli, pebble: Pebble, ari_front: _AriFront
) -> None:
    app, acme = services()
    try:
        acme.add_account(
            f"{ari_front.url}/dir", "admin@contoso.test", ca_bundle=str(pebble.ca_bundle)
        )
        obtained = acme.request(
            "EXCH01",
            subject="CN=mail.contoso.test",
            domains=["mail.contoso.test"],
            solver_options=listener(pebble),
        )
        with app.store.transaction() as repo:
            der = repo.certificate("EXCH01", obtained.thumbprint).der
        assert der is not None
    finally:
        app.store.close()
    issued = x509.load_der_x509_certificate(der)
    # A window long before two thirds of the (five-year) lifetime: only ARI makes it due.
    start = issued.not_valid_before_utc.replace(microsecond=0) + dt.timedelta(days=10)
    end = start + dt.timedelta(seconds=1)
    ari_front.window = (_rfc3339(start), _rfc3339(end))

    app, acme = services(at(start - dt.timedelta(minutes=1)))
    try:
        (outcome,) = acme.renew().outcomes
        assert outcome.action == "not-due", outcome.reason
    finally:
        app.store.close()
    assert f"/renewal-info/{certificate_identifier(issued)}" in ari_front.asked

    app, acme = services(at(end + dt.timedelta(minutes=1)))
    try:
        (outcome,) = acme.renew().outcomes
        assert outcome.action == "renewed", outcome.reason
        assert "window" in outcome.reason
        assert outcome.old == obtained.thumbprint and outcome.new not in {None, outcome.old}
    finally:
        app.store.close()

"""The command line's main flows over the REST API, on a real store over real HTTP."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from certward.interfaces.api.problems import MEDIA_TYPE, PROBLEM_BASE
from certward.model.access import AccessRole
from tests.api.conftest import ApiServer
from tests.conftest import OpenSslCa
from tests.probe.conftest import valid

V1 = "/api/v1"


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem document for ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["type"] == PROBLEM_BASE + code
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def new_certificate(api: ApiServer, subject: str, **fields: Any) -> dict[str, Any]:
    response = api.client().post(
        f"{V1}/servers/EXCH01/certificates", json={"subject": subject, **fields}
    )
    assert response.status_code == 201, response.text
    certificate: dict[str, Any] = response.json()["certificate"]
    return certificate


def test_servers_and_their_certificates(api: ApiServer) -> None:
    reader = api.client(AccessRole.READER)
    organisation = reader.get(f"{V1}/organisation").json()
    assert organisation["name"] == "Contoso" and organisation["domain"] == "contoso.com"
    servers = reader.get(f"{V1}/servers").json()
    assert [s["name"] for s in servers] == ["EXCH01", "EXCH02"]
    exch01 = reader.get(f"{V1}/servers/exch01").json()
    assert exch01["fqdn"] == "exch01.contoso.com" and exch01["roles"] == ["Mailbox"]
    listed = reader.get(f"{V1}/servers/EXCH01/certificates").json()
    default = exch01["default_smtp_thumbprint"]
    assert default in {c["thumbprint"] for c in listed}
    shown = reader.get(f"{V1}/servers/EXCH01/certificates/{default.lower()}").json()
    assert shown["is_default_smtp"] is True and shown["has_private_key"] is True
    assert "private_key" not in shown  # the view never holds key material
    problem(reader.get(f"{V1}/servers/EXCH09"), 404, "server.not_found")
    everything = reader.get(f"{V1}/certificates", params={"limit": 1000}).json()
    assert everything["total"] == len(everything["items"]) >= 2
    pages = [
        reader.get(f"{V1}/certificates", params={"limit": 1, "offset": i}).json()["items"][0]
        for i in range(everything["total"])
    ]
    assert pages == everything["items"]
    beyond = reader.get(f"{V1}/certificates", params={"offset": everything["total"]}).json()
    assert beyond["items"] == [] and beyond["total"] == everything["total"]
    problem(reader.get(f"{V1}/servers/EXCH01/certificates/zz"), 422, "input.invalid")


def test_the_default_smtp_question_is_answered_by_repeating_the_call(api: ApiServer) -> None:
    operator = api.client(AccessRole.OPERATOR)
    body = {"subject": "CN=smtp.contoso.com", "services": "SMTP"}
    question = problem(
        operator.post(f"{V1}/servers/EXCH01/certificates", json=body),
        409,
        "smtp.default_overwrite",
    )
    assert {a["name"] for a in question["answers"]} == {"replace", "keep"}
    assert question["question"]
    kept = operator.post(f"{V1}/servers/EXCH01/certificates", json={**body, "answer": "keep"})
    assert kept.status_code == 201, kept.text
    assert kept.json()["default_smtp_changed"] is False
    thumbprint = kept.json()["certificate"]["thumbprint"]
    enable = f"{V1}/servers/EXCH01/certificates/{thumbprint}/enable"
    problem(operator.post(enable, json={"services": "SMTP"}), 409, "smtp.default_overwrite")
    replaced = operator.post(enable, json={"services": "SMTP", "answer": "replace"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["default_smtp_changed"] is True
    server = operator.get(f"{V1}/servers/EXCH01").json()
    assert server["default_smtp_thumbprint"] == thumbprint
    problem(operator.post(enable, json={"services": "BOGUS"}), 422, "input.invalid")


def test_request_import_reply_export_renew_and_remove(
    api: ApiServer, openssl_ca: OpenSslCa, tmp_path: Path
) -> None:
    operator = api.client(AccessRole.OPERATOR)
    made = operator.post(
        f"{V1}/servers/EXCH01/certificate-requests",
        json={"subject": "CN=webmail.contoso.com", "domains": ["autodiscover.contoso.com"],
              "exportable": True},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    pending = made.json()
    assert pending["certificate"]["status"] == "PendingRequest"
    assert pending["csr_pem"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    csr = tmp_path / "request.csr"
    csr.write_text(pending["csr_pem"])
    reply = openssl_ca.p7b(openssl_ca.sign(csr))
    imported = operator.post(
        f"{V1}/servers/EXCH01/certificate-imports",
        files={"file": ("reply.p7b", reply.read_bytes(), "application/octet-stream")},
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["completed_request"] is True
    thumbprint = imported.json()["thumbprint"]
    assert {a["store"] for a in imported.json()["chain_added"]} == {"CA", "Root"}

    export = f"{V1}/servers/EXCH01/certificates/{thumbprint}/export"
    problem(operator.post(export, json={"password": "x"}), 403, "access.denied")
    admin = api.client(AccessRole.ADMIN)
    exported = admin.post(export, json={"password": "Pa55word!"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/x-pkcs12"
    key, cert, chain = pkcs12.load_key_and_certificates(exported.content, b"Pa55word!")
    assert key is not None and cert is not None and len(chain) == 2
    audit = admin.get(f"{V1}/audit", params={"action": "key.export"}).json()
    assert audit[0]["actor"] == "tests-admin" and audit[0]["via"] == "api"
    assert audit[0]["detail"]["thumbprint"] == thumbprint
    assert len([e for e in audit if e["detail"]["thumbprint"] == thumbprint]) == 1
    assert "Pa55word" not in str(audit)

    # The CA-issued certificate renewed: a new request, the CA's reply, the plan, applied.
    renewal = f"{V1}/renewals/{thumbprint}"
    started = operator.post(f"{renewal}/start", json={"server": "EXCH01"})
    assert started.status_code == 200, started.text
    assert started.json()["plan"] is None and started.json()["request"]
    renewal_csr = tmp_path / "renewal.csr"
    renewal_csr.write_text(started.json()["csr_pem"])
    reply_pem = openssl_ca.sign(renewal_csr, name="renewal").read_text()
    problem(operator.post(f"{renewal}/plan", json={}), 409, "renewal.reply_required")
    planned = operator.post(f"{renewal}/plan", json={"reply_pem": reply_pem})
    assert planned.status_code == 200, planned.text
    assert planned.json()["applied"] is False
    both = {"reply_pem": reply_pem, "reply_base64": "AA=="}
    problem(operator.post(f"{renewal}/plan", json=both), 422, "input.conflict")
    bad = {"reply_base64": "not base64!"}
    problem(operator.post(f"{renewal}/plan", json=bad), 422, "input.invalid")
    reply_der = x509.load_pem_x509_certificate(reply_pem.encode()).public_bytes(Encoding.DER)
    binary = {"reply_base64": base64.b64encode(reply_der).decode()}
    assert operator.post(f"{renewal}/plan", json=binary).json() == planned.json()
    applied = operator.post(f"{renewal}/apply", json={"reply_pem": reply_pem})
    assert applied.status_code == 200, applied.text
    assert applied.json()["new_thumbprint"] == planned.json()["new_thumbprint"]
    renewed = f"{V1}/servers/EXCH01/certificates/{applied.json()['new_thumbprint']}"
    assert operator.get(renewed).json()["status"] == "Valid"

    url = f"{V1}/servers/EXCH01/certificates/{thumbprint}"
    problem(operator.delete(url), 403, "access.denied")
    assert admin.delete(url).json() == {"removed": [thumbprint]}
    problem(admin.get(url), 404, "certificate.not_found")


def test_changes_are_audited_under_the_token_and_route(api: ApiServer) -> None:
    made = new_certificate(api, "CN=audited.contoso.com", services="IMAP")
    entries = api.client(AccessRole.READER).get(f"{V1}/audit", params={"actor": "tests-admin"})
    assert entries.status_code == 200, entries.text
    mine = [
        e for e in entries.json()
        if any(made["thumbprint"] in change["identity"] for change in e["changes"])
    ]  # fmt: skip
    assert mine, entries.json()
    assert mine[0]["via"] == "api"
    assert mine[0]["action"] == "POST /api/v1/servers/{server}/certificates"


def a_root_ca_pem() -> bytes:
    """A self-signed CA certificate (an EC key: made in a millisecond)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "API Test Root CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_trust_stores(api: ApiServer) -> None:
    operator = api.client(AccessRole.OPERATOR)
    added = operator.post(
        f"{V1}/servers/EXCH02/stores/Root",
        files={"file": ("root.pem", a_root_ca_pem(), "application/x-pem-file")},
    )
    assert added.status_code == 201, added.text
    [root] = added.json()["added"]
    listed = operator.get(f"{V1}/servers/EXCH02/stores/root").json()
    assert root["thumbprint"] in {c["thumbprint"] for c in listed}
    problem(operator.get(f"{V1}/servers/EXCH02/stores/Nope"), 422, "input.invalid")
    url = f"{V1}/servers/EXCH02/stores/Root/{root['thumbprint']}"
    problem(operator.delete(url), 403, "access.denied")
    assert api.client().delete(url).status_code == 200


def test_connectors_and_their_tls_certificate_name(api: ApiServer) -> None:
    made = new_certificate(api, "CN=relay.contoso.com", services="IIS")
    operator = api.client(AccessRole.OPERATOR)
    connectors = operator.get(f"{V1}/connectors").json()
    receive = next(c for c in connectors if c["kind"] == "receive" and "EXCH01" in c["servers"])
    url = f"{V1}/connectors/{receive['identity']}"
    assert operator.get(url).json()["identity"] == receive["identity"]
    changed = operator.put(
        f"{url}/tls-certificate-name", json={"tls_certificate": made["thumbprint"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["tls_certificate_name"].endswith("<S>CN=relay.contoso.com")
    assert changed.json()["tls_certificate_name_status"] == "Match"
    problem(operator.get(f"{V1}/connectors/Nope"), 404, "connector.not_found")


def test_auth_certificate_and_its_monitor(api: ApiServer) -> None:
    reader = api.client(AccessRole.READER)
    auth = reader.get(f"{V1}/auth-certificate").json()
    assert auth["current"]["thumbprint"] == auth["current_certificate_thumbprint"]
    soon = reader.get(f"{V1}/auth-certificate/monitor").json()
    assert soon["decision"] and soon["applied"] is False
    late = reader.get(f"{V1}/auth-certificate/monitor", params={"as_of": "2031-12-01"}).json()
    assert late["status"] != "OK"
    problem(reader.post(f"{V1}/auth-certificate/monitor"), 403, "access.denied")


def test_health_with_as_of_server_and_severity(api: ApiServer) -> None:
    reader = api.client(AccessRole.READER)
    now = reader.get(f"{V1}/health", params={"server": "EXCH02"}).json()
    assert now["servers"] == ["EXCH02"]
    later = reader.get(
        f"{V1}/health", params={"as_of": "2040-01-01T00:00:00Z", "min_severity": "error"}
    ).json()
    assert later["as_of"].startswith("2040-01-01")
    assert later["findings"] and all(
        f["severity"] in {"error", "critical"} for f in later["findings"]
    )
    assert all(
        f["remediation"]["certward"] and f["remediation"]["shell"] for f in later["findings"]
    )
    problem(reader.get(f"{V1}/health", params={"min_severity": "loud"}), 422, "input.invalid")
    problem(reader.get(f"{V1}/health", params={"as_of": "0001-01-01"}), 422, "input.invalid")
    problem(reader.get(f"{V1}/health", params={"server": "EXCH09"}), 404, "server.not_found")


def test_renewal_start_plan_and_apply(api: ApiServer) -> None:
    made = new_certificate(api, "CN=renew.contoso.com", services="POP")
    operator = api.client(AccessRole.OPERATOR)
    base = f"{V1}/renewals/{made['thumbprint']}"
    started = operator.post(f"{base}/start", json={}).json()
    assert started["plan"]["self_signed"] is True and started["csr_pem"] is None
    planned = operator.post(f"{base}/plan", json={})
    assert planned.status_code == 200, planned.text
    assert planned.json()["applied"] is False and planned.json()["steps"]
    applied = operator.post(f"{base}/apply", json={}).json()
    assert applied["applied"] is True
    new = operator.get(f"{V1}/servers/EXCH01/certificates/{applied['new_thumbprint']}").json()
    assert new["services"] == ["POP"]
    problem(
        operator.post(f"{V1}/renewals/{'0' * 40}/plan", json={}), 404, "renewal.certificate_unknown"
    )


def test_probe_targets_runs_and_findings_history(api: ApiServer) -> None:
    from certward.model.watch import Job, JobKind

    operator = api.client(AccessRole.OPERATOR)
    url = "smtps://mail.contoso.test:465"
    added = operator.post(f"{V1}/probes/targets", json={"url": url, "every": "2h"})
    assert added.status_code == 201, added.text
    assert added.json()["every_seconds"] == 7200
    assert url in {t["url"] for t in operator.get(f"{V1}/probes/targets").json()}
    problem(
        operator.post(f"{V1}/probes/targets", json={"url": "ftp://x", "every": "1h"}),
        422,
        "probe.target_invalid",
    )
    removed = operator.delete(f"{V1}/probes/targets", params={"target": url})
    assert removed.status_code == 200, removed.text
    assert url not in {t["url"] for t in operator.get(f"{V1}/probes/targets").json()}
    assert operator.get(f"{V1}/probes/runs", params={"target": url}).json() == []

    api.app.watch.run_job(Job(JobKind.HEALTH, api.app.watch.schedule.health))
    runs = operator.get(f"{V1}/runs", params={"job": "health"}).json()
    assert runs and runs[0]["job"] == "health"
    history = operator.get(f"{V1}/health/history").json()
    assert all(h["first_seen"] <= h["last_seen"] for h in history)
    problem(operator.get(f"{V1}/runs", params={"job": "nope"}), 422, "api.request_invalid")


def test_events_of_a_server(api: ApiServer) -> None:
    import datetime as dt

    from certward.endpoints.logs import EventLog

    reader = api.client(AccessRole.READER)
    assert reader.get(f"{V1}/servers/EXCH02/events").json() == []
    # What a running endpoint of EXCH02 writes when its certificate is missing (event 12014).
    path = api.app.settings.state_dir / "logs" / "EXCH02" / "events.jsonl"
    log = EventLog(path, server="EXCH02", now=lambda: dt.datetime.now(dt.UTC))
    log.write(12014, "no certificate for the FQDN", source="MSExchangeTransport", level="Error")
    [event] = reader.get(f"{V1}/servers/exch02/events").json()
    assert event["id"] == 12014 and event["server"] == "EXCH02" and event["level"] == "Error"
    problem(reader.get(f"{V1}/servers/EXCH09/events"), 404, "server.not_found")


def test_a_probe_of_a_closed_port_is_a_critical_report(api: ApiServer) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    operator = api.client(AccessRole.OPERATOR)
    probed = operator.post(
        f"{V1}/probes", json={"targets": [f"smtp://127.0.0.1:{port}"], "timeout": 5}
    )
    assert probed.status_code == 200, probed.text
    report = valid(probed.json())  # the same report as certward probe --json
    assert report["status"] == "CRITICAL"
    assert report["targets"][0]["port"] == port
    problem(
        operator.post(f"{V1}/probes", json={"targets": ["gopher://x"]}), 422, "probe.target_invalid"
    )


@pytest.mark.parametrize(
    ("request_", "status", "code"),
    [
        (("GET", "/api/v1/nowhere", None), 404, "api.route_not_found"),
        (("PATCH", "/api/v1/servers", None), 405, "api.method_not_allowed"),
        (("POST", "/api/v1/servers/EXCH01/certificates", b"{"), 400, "api.request_malformed"),
        (("POST", "/api/v1/servers/EXCH01/certificates", b"{}"), 422, "api.request_invalid"),
    ],
)
def test_what_the_api_cannot_take_is_a_problem(
    api: ApiServer, request_: tuple[str, str, bytes | None], status: int, code: str
) -> None:
    method, path, content = request_
    headers = {"Content-Type": "application/json"} if content is not None else {}
    problem(api.client().request(method, path, content=content, headers=headers), status, code)


def test_without_a_valid_token_nothing_is_served(api: ApiServer) -> None:
    missing = problem(api.client(None).get(f"{V1}/servers"), 401, "api.token_missing")
    assert missing is not None
    response = httpx.get(
        f"{api.base_url}{V1}/servers", headers={"Authorization": "Bearer cw_0000_nope"}
    )
    problem(response, 401, "access.token_invalid")
    assert response.headers["www-authenticate"].startswith("Bearer ")
    api.app.access.revoke_token(api.tokens[AccessRole.OPERATOR].split("_")[1])
    try:
        revoked = api.client(AccessRole.OPERATOR).get(f"{V1}/servers")
        problem(revoked, 401, "access.token_invalid")
    finally:
        _token, secret = api.app.access.create_token(
            "tests-operator-2", AccessRole.OPERATOR, expires_in=None, created_by="tests"
        )
        api.tokens[AccessRole.OPERATOR] = secret
        api.clients.pop(AccessRole.OPERATOR).close()


def test_a_refused_export_never_echoes_its_password(api: ApiServer) -> None:
    admin = api.client(AccessRole.ADMIN)
    default = admin.get(f"{V1}/servers/EXCH02").json()["default_smtp_thumbprint"]
    export = f"{V1}/servers/EXCH02/certificates/{default}/export"
    secret = "S3cret-Value-7"
    invalid = admin.post(export, json={"password": secret, "legacy_encryption": "maybe"})
    problem(invalid, 422, "api.request_invalid")
    not_exportable = admin.post(export, json={"password": secret})
    problem(not_exportable, 409, "certificate.not_exportable")
    unknown = admin.post(export.replace(default, "0" * 40), json={"password": secret})
    problem(unknown, 404, "certificate.not_found")
    for response in (invalid, not_exportable, unknown):
        assert secret not in response.text

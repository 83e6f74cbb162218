"""Real servers (openssl s_server on 127.0.0.1): trust failures in a person's words, a name
sent as SNI for an address (--sni), an address for a name (--connect-to), IP targets against
IP-address SANs, and a client certificate the server requires (TLS 1.2 and 1.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import OpenSslCa, openssl
from tests.probe.test_probe_live import CRITICAL, OK, _self_signed_files, probe_json, s_server


def by_target(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {report["target"]: report for report in result["targets"]}


def signed_for(openssl_ca: OpenSslCa, tmp_path: Path, name: str) -> tuple[Path, Path]:
    key, csr = tmp_path / f"{name}.key", tmp_path / f"{name}.csr"
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
            "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
            "-out", str(csr))  # fmt: skip
    return openssl_ca.sign(csr, name=name), key


def test_trust_failures_read_as_a_person_writes_them(
    openssl_ca: OpenSslCa, tmp_path: Path, isolated_store: Path
) -> None:
    leaf, key = signed_for(openssl_ca, tmp_path, "localhost")
    own, own_key = _self_signed_files(tmp_path, "own", cn="localhost", sans=["localhost"])
    chain = ["-cert_chain", str(openssl_ca.intermediate_pem)]
    with (
        s_server("-cert", str(leaf), "-key", str(key)) as bare,
        s_server("-cert", str(own), "-key", str(own_key)) as self_signed,
        s_server("-cert", str(leaf), "-key", str(key), *chain) as complete,
    ):
        urls = [f"https://localhost:{port}" for port in (bare, self_signed, complete)]
        code, result = probe_json(isolated_store, *urls, "--ca-file", str(openssl_ca.root_pem))
    reports = by_target(result)
    no_intermediate, not_a_root, trusted = (reports[url]["certificate"] for url in urls)
    assert no_intermediate["trust_error"].startswith(
        "issuer not found: the server sent no intermediate (localhost is issued by "
        "Bar Test Issuing CA, which is not a trusted root)"
    )
    assert not_a_root["trust_error"] == "self-signed, not in the trusted roots"
    assert trusted["trusted"] and trusted["trust_error"] == ""
    assert reports[urls[0]]["status_reasons"][0].startswith("untrusted: issuer not found")
    assert code == CRITICAL and reports[urls[2]]["status"] == "OK"


def _ip_certificate(tmp_path: Path, name: str, san: str) -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
            "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}", "-days", "90",
            "-out", str(cert))  # fmt: skip
    return cert, key


def test_sni_connect_to_and_ip_targets(tmp_path: Path, isolated_store: Path) -> None:
    mail, mail_key = _ip_certificate(tmp_path, "mail.contoso.test", "DNS:mail.contoso.test")
    default, default_key = _ip_certificate(tmp_path, "default.test", "DNS:default.test")
    by_ip, by_ip_key = _ip_certificate(tmp_path, "by-ip", "IP:127.0.0.1")
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(b"".join(p.read_bytes() for p in (mail, default, by_ip)))
    named = ["-servername", "mail.contoso.test", "-cert2", str(mail), "-key2", str(mail_key)]
    with (
        s_server("-cert", str(default), "-key", str(default_key), *named) as web,
        s_server("-cert", str(by_ip), "-key", str(by_ip_key)) as ip_web,
    ):
        # --sni: the address is probed by name; the server picks its certificate by the SNI.
        code, sent = probe_json(isolated_store, f"https://127.0.0.1:{web}",
                                "--sni", "mail.contoso.test", "--ca-file", str(bundle))  # fmt: skip
        # Without it no SNI goes out (an address is never sent), so the default certificate
        # comes back and is judged against the address; --connect-to probes a name that no
        # DNS knows at a given address; an IP-address SAN names an IP target.
        mixed_code, mixed = probe_json(
            isolated_store, f"https://127.0.0.1:{web}", f"https://mail.contoso.test:{web}",
            f"https://127.0.0.1:{ip_web}", "--connect-to", "mail.contoso.test:127.0.0.1",
            "--ca-file", str(bundle),
        )  # fmt: skip
    (report,) = sent["targets"]
    assert code == OK and report["secure"] and report["certificate"]["name_match"] == "san"
    assert report["certificate"]["chain"][0]["subject"] == "CN=mail.contoso.test"
    reports = by_target(mixed)
    address = reports[f"https://127.0.0.1:{web}"]
    assert address["certificate"]["chain"][0]["subject"] == "CN=default.test"
    assert address["certificate"]["trusted"] and address["certificate"]["name_match"] == "none"
    assert not address["secure"] and address["score"] <= 70 and address["status"] == "CRITICAL"
    assert address["stages"][0]["name"] == "connect"  # an address needs no DNS answer
    pinned = reports[f"https://mail.contoso.test:{web}"]
    assert [s["name"] for s in pinned["stages"]][:1] == ["connect"]
    assert (
        pinned["secure"] and pinned["certificate"]["chain"][0]["subject"] == "CN=mail.contoso.test"
    )
    ip_san = reports[f"https://127.0.0.1:{ip_web}"]
    assert ip_san["secure"] and ip_san["certificate"]["name_match"] == "san"
    assert ip_san["score"] == 100
    assert mixed_code == CRITICAL


def test_a_required_client_certificate_is_told_by_the_servers_refusal(
    openssl_ca: OpenSslCa, tmp_path: Path, isolated_store: Path
) -> None:
    leaf, key = signed_for(openssl_ca, tmp_path, "localhost")
    common = ["-cert", str(leaf), "-key", str(key), "-cert_chain", str(openssl_ca.intermediate_pem),
              "-Verify", "1", "-CAfile", str(openssl_ca.root_pem)]  # fmt: skip
    with s_server(*common, "-tls1_3") as tls13, s_server(*common, "-tls1_2") as tls12:
        urls = [f"https://localhost:{tls13}", f"https://localhost:{tls12}"]
        code, result = probe_json(isolated_store, *urls, "--ca-file", str(openssl_ca.root_pem))
    reports = by_target(result)
    # TLS 1.3: the handshake completes, then the server's alert says a certificate is required.
    after = reports[urls[0]]
    assert after["client_auth"]["requested"] == "required"
    assert after["failure"]["reason"] == "client-certificate-required"
    assert after["failure"]["stage"] == "HTTP status"
    # TLS 1.2: the server refuses the handshake itself.
    during = reports[urls[1]]
    assert during["client_auth"]["requested"] == "required"
    assert during["failure"]["reason"] == "tls-failed"
    assert during["client_auth"]["ca_names_count"] == 1  # the root, from -CAfile
    assert code == CRITICAL

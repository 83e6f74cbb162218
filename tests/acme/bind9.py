"""Debian's BIND 9 (``named``) started on a free loopback port for the DNS-01 tests.

The server is primary for two zones:

- ``contoso.test``: updatable with the TSIG key ``tsig-keygen`` made for this start
  (``allow-update { key ...; }``); ``ns1`` and every other name (a wildcard) have the
  address 127.0.0.1, so an ACME server resolving through this named reaches loopback
  listeners.
- ``fabrikam.test``: updatable by nobody (``allow-update { none; }``): the REFUSED case.

It runs in the foreground (``-g``), with no rndc channel, no recursion and no DNSSEC
validation (nothing leaves the machine), and is stopped after the test module.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import josepy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from acme import challenges, crypto_util, messages
from acme import client as acme_client
from certward.acme.dns01 import DnsServer, TsigKey, load_tsig_key
from certward.acme.solvers import ChallengeSolver
from tests.ports import free_udp_tcp_port

START_DEADLINE = 20.0
ZONE = "contoso.test"
REFUSING_ZONE = "fabrikam.test"


def _zone_file(zone: str) -> str:
    return (
        "$TTL 60\n"
        f"@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 60 60 600 60\n"
        f"@ IN NS ns1.{zone}.\n"
        "@ IN A 127.0.0.1\n"
        "ns1 IN A 127.0.0.1\n"
        "* IN A 127.0.0.1\n"
    )


@dataclass
class Bind9:
    """A running named: its address, the key file and key that may update :data:`ZONE`."""

    server: DnsServer
    key_file: Path
    key: TsigKey
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, as Pebble's ``-dnsserver`` takes it."""
        return str(self.server)

    def txt(self, name: str) -> list[str]:
        """The TXT strings ``name`` has now, by a plain dnspython query to this server."""
        query = dns.message.make_query(name, dns.rdatatype.TXT)
        query.flags &= ~dns.flags.RD
        response = dns.query.tcp(query, self.server.address, port=self.server.port, timeout=5)
        return sorted(
            b"".join(rdata.strings).decode()
            for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.TXT
            for rdata in rrset
        )

    def log(self) -> str:
        return (self.directory / "named.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_bind9(directory: Path, *, zone: str = ZONE, refusing_zone: str = REFUSING_ZONE) -> Bind9:
    """named on a free 127.0.0.1 port in ``directory``, primary for ``zone`` (updatable with
    the key) and ``refusing_zone`` (updatable by nobody); returns once it answers the SOA."""
    named, keygen = shutil.which("named", path=_SBIN), shutil.which("tsig-keygen", path=_SBIN)
    if named is None or keygen is None:
        raise RuntimeError("named and tsig-keygen are not installed (.ci/run installs bind9)")
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "certward-acme.key"
    key_file.write_bytes(
        subprocess.run(
            [keygen, "-a", "hmac-sha256", "certward-acme"], check=True, capture_output=True
        ).stdout
    )
    key_file.chmod(0o600)
    for name in (zone, refusing_zone):
        (directory / f"{name}.zone").write_text(_zone_file(name))
    port = free_udp_tcp_port()
    conf = directory / "named.conf"
    conf.write_text(
        f'include "{key_file}";\n'
        "options {\n"
        f'    directory "{directory}";\n'
        f"    listen-on port {port} {{ 127.0.0.1; }};\n"
        "    listen-on-v6 { none; };\n"
        f'    pid-file "{directory}/named.pid";\n'
        f'    session-keyfile "{directory}/session.key";\n'
        f'    managed-keys-directory "{directory}";\n'
        "    recursion no;\n"
        "    dnssec-validation no;\n"
        "    notify no;\n"
        "};\n"
        "controls { };\n"
        f'zone "{zone}" {{ type primary; file "{zone}.zone"; '
        'allow-update { key "certward-acme"; }; };\n'
        f'zone "{refusing_zone}" {{ type primary; file "{refusing_zone}.zone"; '
        "allow-update { none; }; };\n"
    )
    command = [_unconfined(named, directory), "-g", "-c", str(conf)]
    if os.geteuid() == 0:
        command += ["-u", "root"]  # stay root rather than switch to the 'bind' user
    log = directory / "named.log"
    key = load_tsig_key(key_file)  # before named starts: a failure here leaves no server
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    bind = Bind9(DnsServer("127.0.0.1", port), key_file, key, directory, process)
    deadline = time.monotonic() + START_DEADLINE
    query = dns.message.make_query(zone, dns.rdatatype.SOA)
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"named exited: {bind.log()[-2000:]}")
        try:
            answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
            if answer.answer:
                return bind
        except (OSError, dns.exception.Timeout):
            pass
        if time.monotonic() > deadline:
            bind.stop()
            raise RuntimeError(f"named did not answer the SOA of {zone}: {bind.log()[-2000:]}")
        time.sleep(0.05)


def _unconfined(named: str, directory: Path) -> str:
    """``named``, or where AppArmor confines it (Ubuntu and Debian enforce a profile that
    keeps it out of temporary directories) a copy of it in ``directory``: the profile
    attaches by path, and this throwaway server must read its files where the test puts
    them."""
    enabled = Path("/sys/module/apparmor/parameters/enabled")
    if not (enabled.exists() and enabled.read_text().strip().upper().startswith("Y")):
        return named
    copy = directory / "named"
    shutil.copy2(named, copy)
    return str(copy)


_SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def running_bind9(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind9]:
    """A named for a module-scoped fixture (``yield from running_bind9(...)``), stopped
    after it."""
    server = start_bind9(tmp_path_factory.mktemp("bind9"))
    try:
        yield server
    finally:
        server.stop()


def issue_with_acme_library(
    directory_url: str,
    ca_bundle: Path,
    names: list[str],
    kind: str,
    solver: ChallengeSolver,
) -> x509.Certificate:
    """A certificate for ``names`` from an ACME server, driven by the ``acme`` library itself
    with ``solver`` answering the ``kind`` challenges: proves a solver against a real server
    (Pebble) independently of certward's ACME service."""
    import certward.acme.tlsalpn01  # noqa: F401  (registers tls-alpn-01 with the library)

    account_key = josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = acme_client.ClientNetwork(
        account_key,
        alg=josepy.ES256,
        verify_ssl=str(ca_bundle),  # type: ignore[arg-type]
        user_agent="certward-tests",
    )
    client = acme_client.ClientV2(acme_client.ClientV2.get_directory(directory_url, net), net)
    net.account = client.new_account(
        messages.NewRegistration.from_data(
            email="hostmaster@contoso.test", terms_of_service_agreed=True
        )
    )
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    order = client.new_order(crypto_util.make_csr(key_pem, names))
    performed = []
    try:
        for authorization in order.authorizations:
            domain = authorization.body.identifier.value
            if authorization.body.wildcard:
                domain = f"*.{domain}"
            challenge_body = next(c for c in authorization.body.challenges if c.chall.typ == kind)
            chall = challenge_body.chall
            assert isinstance(chall, challenges.KeyAuthorizationChallenge)
            solver.perform(domain, chall, account_key)
            performed.append((domain, chall))
            client.answer_challenge(challenge_body, chall.response(account_key))
        deadline = dt.datetime.now() + dt.timedelta(seconds=60)
        order = client.poll_and_finalize(order, deadline)
    finally:
        for domain, chall in performed:
            solver.cleanup(domain, chall, account_key)
    assert order.fullchain_pem is not None
    return x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]

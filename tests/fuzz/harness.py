"""The fuzz harness shared by the tests (``tests/fuzz``) and the long campaign
(``benchmarks/fuzz_campaign.py``): the readers, the seeds they start from and the mutations.

A reader takes bytes as a user hands them to certward and does what certward does with them:
it loads the file and reads every fact a service reads afterwards (facts, CA flag, TLS name,
profile), because ``cryptography`` parses a certificate's parts lazily. The contract
(:func:`attempt`): a reader returns, or raises a coded :class:`CertwardError` whose message is
one line and names the file; anything else is a crash.

Mutations are plain data (``Op``) applied by :func:`mutate`, so hypothesis draws them in the
tests and ``random.Random`` in the campaign, and a failing input replays from its ops.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

from certward.errors import CertwardError
from certward.model import Password, StoreName
from certward.pki import build, ca, certinfo, formats, pfx, tlsname
from certward.pki.names import parse_exchange_dn
from certward.pki.pfx._kdf import HASHES, mac
from certward.pki.profile import CertProfile

SOURCE = "fuzzed-input.bin"  # what every reader is told the file is called
PASSWORD = Password(b"Pa55word!")
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
FIXTURES = Path(__file__).parents[1] / "interop" / "fixtures"
CORPUS = Path(__file__).parent / "corpus"

Outcome = Literal["parsed", "refused"]


# -- readers ------------------------------------------------------------------------------------
def read_certificate(cert: x509.Certificate) -> None:
    """Every fact the services read from a certificate once it is in the store."""
    certinfo.facts(cert)
    certinfo.is_ca(cert)
    certinfo.spki(cert)
    tlsname.tls_certificate_name(cert)
    CertProfile.of(cert)


def read_bundle(data: bytes) -> object:
    """``cert import`` / ``store add``: PEM, DER, PKCS#7, PKCS#12 by content."""
    bundle = formats.load_bundle(data, source=SOURCE, password=PASSWORD)
    for cert in bundle.certificates:
        read_certificate(cert)
    return bundle


def read_store_file(data: bytes) -> object:
    """``store add``: certificates only."""
    certificates = formats.load_certificates(data, source=SOURCE)
    for cert in certificates:
        read_certificate(cert)
    return certificates


def read_pfx_file(data: bytes) -> object:
    """``pfx inspect``, without then with the password (which reads the certificates, the key
    and the chain), then every certificate's facts as an import reads them."""
    from certward.services.pfx_files import inspect_pfx

    inspect_pfx(data, None, source=SOURCE)
    inspect_pfx(data, PASSWORD, source=SOURCE)
    contents = pfx.read_pfx(data, PASSWORD, source=SOURCE)
    for entry in contents.certificates:
        read_certificate(entry.certificate)
    leaf = contents.leaf
    if leaf is not None:
        read_certificate(leaf.certificate)
    return contents


def with_mac(data: bytes) -> bytes:
    """``data`` with its MAC made right again for :data:`PASSWORD` (when it still parses as a
    PFX), so that a mutation inside the safes reaches the bag and certificate readers instead
    of stopping at the MAC check."""
    try:
        parsed = asn1_pkcs12.Pfx.load(data)
        auth = parsed["auth_safe"]["content"].native
        mac_data = parsed["mac_data"]
        digest = mac_data["mac"]["digest_algorithm"]["algorithm"].native
        iterations = mac_data["iterations"].native
        if digest not in HASHES or not 1 <= iterations <= 10_000:
            return data
        salt = mac_data["mac_salt"].native
        mac_data["mac"]["digest"] = mac(
            auth, PASSWORD.reveal(), digest, salt, iterations
        ).finalize()
        return bytes(parsed.dump(force=True))
    except Exception:  # not a PFX any more: the reader is given it as it is
        return data


def read_pfx_remac(data: bytes) -> object:
    return read_pfx_file(with_mac(data))


def read_dump(data: bytes) -> object:
    """``observe``: a dump's bytes read as the command line reads them (decoded in interop,
    as PowerShell writes text), as one observation."""
    from certward.services.observe import read_observation

    # A dump whose header names no store (an excerpt, a custom store) is read as My.
    return read_observation(SOURCE, data, "EXCH01", store=StoreName.MY)


def read_clixml_file(data: bytes) -> object:
    """``observe`` of an Export-Clixml file: decoded and dispatched as ``interop.parse_bytes``
    does, then every entry mapped to the model as the services map them."""
    from certward.interop.dump import parse_bytes

    dump = parse_bytes(data, source=SOURCE)
    for entry in dump.exchange_certificates:
        entry.to_observed("EXCH01", source=SOURCE)
    for stored in dump.store_certificates:
        stored.certificate.to_observed("EXCH01", StoreName.ROOT, source=SOURCE)
    for receive in dump.receive_connectors:
        receive.to_connector()
    for send in dump.send_connectors:
        send.to_connector()
    if dump.auth_config is not None:
        dump.auth_config.to_auth_config()
    return dump


def read_collection_file(data: bytes) -> object:
    """``observe collection.zip``: the zip read as the command line reads it, every file
    mapped to the model as the service maps it (before its transaction)."""
    from certward.interop.collection import read_collection
    from certward.services.observe import observation_of

    collection = read_collection(data, source=SOURCE)
    for f in collection.files:
        try:
            observation_of(f.source, f.dump, f.entry.server or "EXCH01")
        except CertwardError as exc:  # as observe_collection names the file
            raise exc.code(f"{f.source}: {exc.message}", **exc.facts) from None
    return collection


@dataclass(frozen=True)
class Reader:
    name: str
    read: Callable[[bytes], object]
    seed_kind: str  # which seeds it starts from (Seeds.of)


READERS: dict[str, Reader] = {
    r.name: r
    for r in (
        Reader("pem", read_bundle, "pem"),
        Reader("der", read_bundle, "der"),
        Reader("pkcs7", read_bundle, "pkcs7"),
        Reader("pfx", read_pfx_file, "pfx"),
        Reader("pfx-remac", read_pfx_remac, "pfx"),
        Reader("pfx-import", read_bundle, "pfx"),
        Reader("csr", read_bundle, "csr"),
        Reader("store", read_store_file, "pem"),
        Reader("certutil", read_dump, "certutil"),
        Reader("formatlist", read_dump, "formatlist"),
        Reader("clixml", read_clixml_file, "clixml"),
        Reader("collection", read_collection_file, "collection"),
    )
}


class ContractBroken(AssertionError):
    """A reader refused with a message that is not one line, or does not name the file."""


def attempt(reader: Reader, data: bytes) -> Outcome:
    """Run ``reader`` on ``data``: "parsed", "refused" (a coded one-line error naming the
    file); a message that breaks the contract raises :class:`ContractBroken`, and any other
    exception (a crash) propagates."""
    try:
        reader.read(data)
    except CertwardError as exc:
        message = exc.message
        if len(message.splitlines()) != 1 or "\n" in message or "\r" in message:
            raise ContractBroken(f"{exc.code}: message is not one line: {message!r}") from exc
        if SOURCE not in message:
            raise ContractBroken(
                f"{exc.code}: message does not name the file: {message!r}"
            ) from exc
        return "refused"
    return "parsed"


# -- seeds --------------------------------------------------------------------------------------
@dataclass
class Seeds:
    """Valid artefacts made in this session, by kind (see ``Reader.seed_kind``)."""

    by_kind: dict[str, list[bytes]] = field(default_factory=dict)

    def of(self, kind: str) -> list[bytes]:
        return self.by_kind[kind]

    def add(self, kind: str, *items: bytes) -> None:
        self.by_kind.setdefault(kind, []).extend(items)


def make_seeds(*, with_openssl: bool = True) -> Seeds:
    """Real certificates from a test CA (RSA) and an EC one, bundles, PKCS#7, PFX files
    (certward's export, modern and legacy, and ``openssl pkcs12`` when installed), CSRs, and
    the Windows dumps of ``tests/interop/fixtures``."""
    root = ca.make_root("Fuzz Root CA", now=NOW)
    issuing = ca.make_intermediate(root, "Fuzz Issuing CA", now=NOW)
    key = build.generate_key()
    subject = parse_exchange_dn("C=NL, O=Contoso, CN=mail.contoso.com")
    csr = build.certificate_request(key, subject, ["mail.contoso.com", "autodiscover.contoso.com"])
    leaf = ca.issue(issuing, csr, now=NOW)
    chain = [leaf, issuing.certificate, root.certificate]
    ec_cert = _ec_self_signed()

    def pem(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    def der(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.DER)

    seeds = Seeds()
    seeds.add("der", *(der(c) for c in [*chain, ec_cert]))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    seeds.add("pem", pem(leaf), b"".join(pem(c) for c in chain), pem(ec_cert), pem(leaf) + key_pem)
    seeds.add(
        "pkcs7",
        pkcs7.serialize_certificates(chain, serialization.Encoding.DER),
        pkcs7.serialize_certificates(chain, serialization.Encoding.PEM),
    )
    seeds.add(
        "csr",
        csr.public_bytes(serialization.Encoding.PEM),
        csr.public_bytes(serialization.Encoding.DER),
    )
    seeds.add(
        "pfx",
        pfx.export_pfx(key, leaf, chain[1:], PASSWORD, friendly_name="mail"),
        pfx.export_pfx(
            key,
            leaf,
            chain[1:],
            PASSWORD,
            legacy=True,
            key_provider="Microsoft RSA SChannel Cryptographic Provider",
            machine_key_set=True,
        ),
    )
    if with_openssl and shutil.which("openssl"):
        seeds.add("pfx", _openssl_pkcs12(leaf, key_pem, chain[1:]))
    for directory, kind_of in (
        (FIXTURES / "windows", _dump_kind),
        (FIXTURES / "built", _dump_kind),
    ):
        for path in sorted(directory.glob("*.txt")):
            seeds.add(kind_of(path.name), path.read_bytes())
    # HealthChecker's real CliXML (the smaller files, so that each example stays quick), one
    # of them as Windows PowerShell writes it: UTF-16 LE with a BOM.
    for name in CLIXML_SEEDS:
        seeds.add("clixml", (FIXTURES / "clixml" / name).read_bytes())
    auth = (FIXTURES / "clixml" / "e19-GetAuthConfig.xml").read_text(encoding="utf-8-sig")
    seeds.add("clixml", auth.encode("utf-16"))
    seeds.add("collection", *_collection_seeds())
    return seeds


def _collection_seeds() -> list[bytes]:
    """Small collections cut from the fixture zip (a few files each, so that an example stays
    quick), stored and deflated: the manifest and the members as the collector writes them."""
    import io
    import json
    import zipfile

    source = FIXTURES / "collection" / "contoso-1.zip"
    picks = (
        ("organisation/auth-config.xml", "servers/EXCH01/transport-service.xml"),
        ("organisation/send-connector.xml", "servers/EXCH02/root-store.xml"),
    )
    seeds = []
    with zipfile.ZipFile(source) as archive:
        manifest = json.loads(archive.read("manifest.json").decode("utf-8-sig"))
        for files, compression in zip(
            picks, (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED), strict=True
        ):
            small = dict(manifest, files=[e for e in manifest["files"] if e["file"] in files])
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", compression) as seed:
                seed.writestr("manifest.json", json.dumps(small).encode())
                for name in files:
                    seed.writestr(name, archive.read(name))
            seeds.append(out.getvalue())
    return seeds


CLIXML_SEEDS = (
    "e19-GetExchangeCertificate.xml",
    "e19-GetInternalTransportCertificateFromServer.xml",
    "e19-GetAllTlsSettings.xml",
    "e19-GetSendConnector.xml",
    "e19-GetWebBinding.xml",
    "e19-GetHybridConfiguration.xml",
)


def _dump_kind(name: str) -> str:
    return "certutil" if name.startswith("certutil") else "formatlist"


def _ec_self_signed() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return _ec_plain(key, parse_exchange_dn("CN=edge.contoso.com"))


def _ec_plain(key: ec.EllipticCurvePrivateKey, name: x509.Name) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes

    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("edge.contoso.com")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(key, hashes.SHA256())
    )


def _openssl_pkcs12(
    leaf: x509.Certificate, key_pem: bytes, chain: Sequence[x509.Certificate]
) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        (d / "key.pem").write_bytes(key_pem)
        (d / "chain.pem").write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        )
        (d / "pass.txt").write_bytes(PASSWORD.reveal() + b"\n")
        subprocess.run(
            [
                "openssl",
                "pkcs12",
                "-export",
                "-in",
                "leaf.pem",
                "-inkey",
                "key.pem",
                "-certfile",
                "chain.pem",
                "-name",
                "mail",
                "-passout",
                "file:pass.txt",
                "-out",
                "out.pfx",
            ],
            cwd=d,
            check=True,
            capture_output=True,
        )
        return (d / "out.pfx").read_bytes()


# -- mutations ----------------------------------------------------------------------------------
KINDS = (
    "flip",
    "byte",
    "truncate",
    "delete",
    "insert",
    "splice",
    "length",  # a DER length tampered
    "tag",  # a DER tag changed, lengths kept: the file still loads
    "value",  # a byte inside a DER value changed: the file still loads, a part fails later
    "pem",  # one of the DER mutations inside a PEM file's first block
    "line",
)

# One mutation: its kind and three numbers it reads as it needs (positions, a byte, a seed).
Op = tuple[str, int, int, int]


def mutate(data: bytes, ops: Sequence[Op], donors: Sequence[bytes]) -> bytes:
    """``data`` changed by ``ops`` in order; ``donors`` are the seeds a splice takes from."""
    for op in ops:
        data = _apply(data, op, donors)
    return data


def _apply(data: bytes, op: Op, donors: Sequence[bytes]) -> bytes:
    kind, a, b, c = op
    n = len(data)
    if kind == "flip" and n:
        i = a % n
        return data[:i] + bytes([data[i] ^ (1 << (b % 8))]) + data[i + 1 :]
    if kind == "byte" and n:
        i = a % n
        return data[:i] + bytes([c % 256]) + data[i + 1 :]
    if kind == "truncate":
        return data[: a % (n + 1)]
    if kind == "delete" and n:
        i = a % n
        return data[:i] + data[i + 1 + b % 16 :]
    if kind == "insert":
        i = a % (n + 1)
        return data[:i] + bytes([c % 256]) * (1 + b % 8) + data[i:]
    if kind == "splice" and donors:
        donor = donors[c % len(donors)]
        return data[: a % (n + 1)] + donor[b % (len(donor) + 1) :]
    if kind == "length":
        return _tamper_length(data, a, b)
    if kind in ("tag", "value"):
        return _tamper_value(data, kind, a, b, c)
    if kind == "pem":
        return _inside_pem(data, a, b, c)
    if kind == "line":
        return _line_op(data, a, b, c)
    return data


# DER lengths worth trying: off by one, zero, indefinite, long forms, absurd.
LENGTHS = (
    b"\x00",
    b"\x01",
    b"\x7f",
    b"\x80",
    b"\x81\x00",
    b"\x81\xff",
    b"\x82\xff\xff",
    b"\x84\xff\xff\xff\xff",
    b"\x88\x7f\xff\xff\xff\xff\xff\xff\xff",
    b"\x89",
    b"\xff",
)


def _tamper_length(data: bytes, a: int, b: int) -> bytes:
    """Replace the length of one TLV (found by walking the DER) with another."""
    headers = der_headers(data)
    if not headers:
        return data
    start, size, length = headers[a % len(headers)]
    choice = b % (len(LENGTHS) + 2)
    if choice == len(LENGTHS):
        new = _encode_length(length + 1)
    elif choice == len(LENGTHS) + 1:
        new = _encode_length(max(length - 1, 0))
    else:
        new = LENGTHS[choice]
    return data[:start] + new + data[start + size :]


_TAGS = (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x16, 0x17, 0x18, 0x1E, 0x30, 0x31)
_TAGS += (0xA0, 0xA3, 0x80, 0x82, 0x86, 0x87)


def _tamper_value(data: bytes, kind: str, a: int, b: int, c: int) -> bytes:
    """Change a TLV's tag (its lengths kept), or one byte of its value."""
    headers = der_headers(data)
    if not headers:
        return data
    start, size, length = headers[a % len(headers)]
    if kind == "tag":
        at = start - 1  # the tag byte of a low tag number
        return data[:at] + bytes([_TAGS[b % len(_TAGS)]]) + data[at + 1 :]
    if not length:
        return data
    at = start + size + b % length
    return data[:at] + bytes([c % 256]) + data[at + 1 :]


_PEM = re.compile(rb"(-----BEGIN [A-Z0-9 ]+-----\r?\n)(.*?)(-----END )", re.DOTALL)


def _inside_pem(data: bytes, a: int, b: int, c: int) -> bytes:
    """A DER mutation (tag, value or length) of the first PEM block's content."""
    match = _PEM.search(data)
    if match is None:
        return data
    try:
        der = base64.b64decode(b"".join(match.group(2).split()))
    except ValueError:
        return data
    der = _apply(der, (("tag", "value", "length")[c % 3], a, b, c // 3), ())
    body = base64.encodebytes(der)
    return data[: match.start(2)] + body + data[match.end(2) :]


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der_headers(data: bytes, limit: int = 400) -> list[tuple[int, int, int]]:
    """(offset of a length, its size in bytes, the length) of the TLVs of ``data``, walking
    into constructed values; stops at the first thing that is not DER."""
    found: list[tuple[int, int, int]] = []
    stack = [(0, len(data))]
    while stack and len(found) < limit:
        pos, end = stack.pop()
        while pos < end and len(found) < limit:
            tag = data[pos]
            pos += 1
            if tag & 0x1F == 0x1F:  # high tag number
                while pos < end and data[pos] & 0x80:
                    pos += 1
                pos += 1
            if pos >= end:
                break
            first = data[pos]
            if first < 0x80:
                size, length = 1, first
            else:
                count = first & 0x7F
                if count == 0 or count > 4 or pos + 1 + count > end:
                    break
                size, length = 1 + count, int.from_bytes(data[pos + 1 : pos + 1 + count], "big")
            found.append((pos, size, length))
            body = pos + size
            if body + length > end:
                break
            if tag & 0x20:
                stack.append((body, body + length))
            pos = body + length
    return found


def _line_op(data: bytes, a: int, b: int, c: int) -> bytes:
    """Text mutations: drop, repeat, swap or cut a line, or put a hostile value in one."""
    lines = data.splitlines(keepends=True)
    if not lines:
        return data
    i = a % len(lines)
    action = c % 6
    if action == 0:
        del lines[i]
    elif action == 1:
        lines.insert(i, lines[i])
    elif action == 2:
        j = b % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif action == 3:
        lines[i] = lines[i][: b % (len(lines[i]) + 1)]
    elif action == 4:
        lines[i] = lines[i].rstrip(b"\r\n")[: b % 40] + _HOSTILE[b % len(_HOSTILE)] + b"\r\n"
    else:
        lines[i] = lines[i].replace(b":", b"", 1)
    return b"".join(lines)


_HOSTILE = (
    b"",
    b" ",
    b" : ",
    b"\x00",
    b"\xff\xfe",
    b"\xe2\x80\xa8",
    b"\x0c",
    b"\x85",
    b"-1",
    b"99999999999999999999999",
    b"13/45/2026 25:61:61 PM",
    b"{",
    b"}",
    b"=",
    b"\t",
    b"-----BEGIN CERTIFICATE-----",
    b"0x80",
    b"Cert Hash(sha1): zz",
    b"================ Certificate 0 ================",
)

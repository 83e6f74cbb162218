"""Rewrite the committed regression files of this directory (``python -m tests.fuzz.corpus.make``).

Each is a real certificate from a test CA with a few bytes changed so that it still loads
(``x509.load_der_x509_certificate`` succeeds: ``cryptography`` parses these parts lazily)
but one part fails when read. Before issue 12 each gave a traceback from
``certinfo.facts`` / ``certinfo.is_ca``; the PFX one gave a message on two lines.

``request-version-invalid.der`` is not made here: it is the input the fuzz campaign saved
(``benchmarks/fuzz_campaign.py``, reader ``csr``), a mutated DER request.
"""

from __future__ import annotations

from pathlib import Path

from asn1crypto import pkcs12

from certward.pki.formats import looks_like_pkcs12
from tests.fuzz import harness

HERE = Path(__file__).parent

# name: (what it is, the bytes found, the bytes put in their place: same length)
SURGERY: dict[str, tuple[str, bytes, bytes]] = {
    "extension-not-der.der": (
        "the subjectAltName's value is an OCTET STRING, not a SEQUENCE (ValueError on reading)",
        b"\x06\x03\x55\x1d\x11\x04",  # subjectAltName, then its OCTET STRING
        b"\x06\x03\x55\x1d\x11\x04",
    ),
    "extension-duplicate.der": (
        "extendedKeyUsage's OID made basicConstraints': DuplicateExtension (in is_ca)",
        b"\x06\x03\x55\x1d\x25",
        b"\x06\x03\x55\x1d\x13",
    ),
    "subject-bit-string.der": (
        "the subject's country as a BIT STRING: TypeError when the name is built",
        b"\x06\x03\x55\x04\x06\x13\x02NL",
        b"\x06\x03\x55\x04\x06\x03\x02NL",
    ),
    "key-algorithm-unknown.der": (
        "rsaEncryption's OID 1.2.840.113549.1.1.1 made ...1.1.99: UnsupportedAlgorithm",
        b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01",
        b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x63",
    ),
}


def leaf_der() -> bytes:
    seeds = harness.make_seeds(with_openssl=False)
    return seeds.of("der")[0]


def damaged(der: bytes, name: str) -> bytes:
    _, old, new = SURGERY[name]
    assert der.count(old) >= 1, name
    if name == "extension-not-der.der":
        at = der.index(old) + len(old)
        length = der[at]  # short form: the SAN is small
        return der[: at + 1] + b"\x04" + der[at + 2 : at + 1 + length] + der[at + 1 + length :]
    return der.replace(old, new, 1)


def pfx_two_line_message() -> bytes:
    """A PFX with one DER length tampered so that asn1crypto's own message has two lines
    ("Insufficient data ... while parsing ..."): the first such length, walking the file."""
    data = harness.make_seeds(with_openssl=False).of("pfx")[0]
    for a in range(len(harness.der_headers(data))):
        for b in range(len(harness.LENGTHS)):
            tampered = harness.mutate(data, [("length", a, b, 0)], [])
            if not looks_like_pkcs12(tampered):
                continue
            try:
                pkcs12.Pfx.load(tampered, strict=True).native  # noqa: B018 (parses it all)
            except ValueError as exc:
                if "\n" in str(exc):
                    return tampered
    raise AssertionError("no tampered length gives a two-line message")


def main() -> None:
    der = leaf_der()
    for name in SURGERY:
        (HERE / name).write_bytes(damaged(der, name))
    (HERE / "pfx-length-overflow.pfx").write_bytes(pfx_two_line_message())


if __name__ == "__main__":
    main()

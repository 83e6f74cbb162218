"""Facts worked out for a bundle (``certward.pki.certfacts``) are the facts worked out one
certificate at a time the slow way, every part checked (``certward.pki.profile.checked_facts``),
field for field, and a damaged certificate gives the same coded error: whichever shortcut
was taken (a name read from its DER, a self-issued name read once, a key loaded once, a
self-signature verified by the helper process)."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from certward.errors import CertwardError
from certward.pki import certfacts, certinfo, formats, names
from certward.pki.profile import checked_facts

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()
OTHER_EC_KEY = ec.generate_private_key(ec.SECP256R1())
CORPUS = Path(__file__).parents[1] / "fuzz" / "corpus"

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


def _cert(
    subject: x509.Name,
    *,
    issuer: x509.Name | None = None,
    key: Key = EC_KEY,
    signer: Key | None = None,
    digest: hashes.HashAlgorithm | None = None,
    pss: bool = False,
    extensions: bool = True,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
    )
    if extensions:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("mail.contoso.com")]), critical=False
        ).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    signing = key if signer is None else signer
    if isinstance(signing, ed25519.Ed25519PrivateKey):
        return builder.sign(signing, None)
    if pss:
        return builder.sign(
            signing,
            hashes.SHA256(),
            rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
        )
    return builder.sign(signing, digest or hashes.SHA256())


ROOT = _name((NameOID.ORGANIZATION_NAME, "Contoso"), (NameOID.COMMON_NAME, "Contoso Root"))


def _printable_twin() -> x509.Certificate:
    """Self-issued by name, not by bytes: the issuer's CN a PrintableString, the subject's a
    UTF8String of the same text (equal as names, different as DER)."""
    subject = _name((NameOID.COMMON_NAME, "Twin Root"))
    issuer = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Twin Root", x509.name._ASN1Type.PrintableString)]
    )
    return _cert(subject, issuer=issuer)


def _variety() -> list[x509.Certificate]:
    multi = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "NL")]),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, 'R&D, "Mail"'),
                ]
            ),
        ]
    )
    return [
        _cert(ROOT),  # EC, self-signed
        _cert(_name((NameOID.COMMON_NAME, "rsa")), key=RSA_KEY),  # RSA PKCS#1 v1.5
        _cert(_name((NameOID.COMMON_NAME, "rsa384")), key=RSA_KEY, digest=hashes.SHA384()),
        _cert(_name((NameOID.COMMON_NAME, "pss")), key=RSA_KEY, pss=True),
        _cert(_name((NameOID.COMMON_NAME, "edge")), key=ED_KEY),
        _cert(_name((NameOID.COMMON_NAME, "forged")), signer=RSA_KEY),  # EC key, RSA signature
        _cert(_name((NameOID.COMMON_NAME, "forged ec")), signer=OTHER_EC_KEY),
        _cert(_name((NameOID.COMMON_NAME, "issued")), issuer=ROOT),
        _cert(_name((NameOID.COMMON_NAME, "no extensions")), extensions=False),
        _cert(multi),
        _printable_twin(),
    ]


VARIETY = _variety()


@pytest.mark.parametrize("index", range(len(VARIETY)))
def test_the_facts_are_the_one_at_a_time_facts(index: int) -> None:
    cert = VARIETY[index]
    der = certinfo.to_der(cert)
    expected = checked_facts(der)
    keys = certfacts.KeyCache()
    assert certfacts.certificate_facts(der) == expected
    assert certfacts.certificate_facts(der, cert, keys=keys) == expected
    assert certfacts.certificate_facts(der, keys=keys) == expected  # the key remembered


def test_one_cache_for_every_kind_of_key_and_signature_gives_the_same_facts() -> None:
    """A bundle's keys and signature algorithms remembered across its certificates (those
    of one kind met before another's), twice over."""
    keys = certfacts.KeyCache()
    for cert in [*VARIETY, *reversed(VARIETY)]:
        der = certinfo.to_der(cert)
        assert certfacts.certificate_facts(der, keys=keys) == checked_facts(der)


@pytest.mark.parametrize("index", range(len(VARIETY)))
def test_the_to_be_signed_part_is_the_bytes_cryptography_verifies(index: int) -> None:
    cert = VARIETY[index]
    parts = certfacts._tbs_parts(certinfo.to_der(cert))
    assert parts is not None
    assert parts.tbs == cert.tbs_certificate_bytes


@pytest.fixture(scope="module")
def sha1_self_signed(tmp_path_factory: pytest.TempPathFactory) -> x509.Certificate:
    """Exchange 2010-2016's own default (cryptography no longer signs with SHA-1)."""
    where = tmp_path_factory.mktemp("sha1")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha1", "-days", "2",
         "-subj", "/CN=EXCH01", "-keyout", str(where / "key.pem"), "-out", str(where / "c.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return x509.load_pem_x509_certificate((where / "c.pem").read_bytes())


def test_a_sha1_self_signed_certificate_is_self_signed(sha1_self_signed: x509.Certificate) -> None:
    der = certinfo.to_der(sha1_self_signed)
    facts = certfacts.certificate_facts(der)
    assert facts == checked_facts(der)
    assert facts.self_signed and facts.signature_algorithm == "sha1RSA"


def test_the_self_signature_verdicts_are_signed_by() -> None:
    verdicts = {
        cert.subject.rfc4514_string(): certfacts.certificate_facts(
            certinfo.to_der(cert)
        ).self_signed
        for cert in VARIETY
    }
    assert verdicts["CN=rsa"] and verdicts["CN=pss"]
    assert verdicts["CN=edge"] and verdicts["CN=Twin Root"]
    assert not verdicts["CN=forged"] and not verdicts["CN=forged ec"]
    assert not verdicts["CN=issued"]


@pytest.mark.parametrize(
    "name", sorted(p.name for p in CORPUS.glob("*.der") if "request" not in p.name)
)
def test_a_damaged_certificate_gives_the_one_at_a_time_error(name: str) -> None:
    der = (CORPUS / name).read_bytes()
    try:
        expected: CertwardError | None = None
        facts = checked_facts(der)
    except CertwardError as exc:
        expected = exc
    if expected is None:
        assert certfacts.certificate_facts(der) == facts
        return
    with pytest.raises(type(expected)) as made:
        certfacts.certificate_facts(der)
    assert str(made.value) == str(expected)


def _bundle(*, damaged_at: int | None = None) -> list[bytes]:
    """Enough certificates for the helper (made the way tests call it), the variety at the
    end, where the helper starts; perhaps a damaged one."""
    ders = [certinfo.to_der(_cert(_name((NameOID.COMMON_NAME, f"Bulk {n}")))) for n in range(80)]
    ders += [certinfo.to_der(c) for c in VARIETY]
    if damaged_at is not None:
        ders.insert(damaged_at, (CORPUS / "extension-duplicate.der").read_bytes())
    return ders


def _worked_out(ders: list[bytes], **options: int) -> tuple[list[object], bool, int]:
    """The facts (or the error's message) as a BundleFacts gives them; whether it forked and
    how many came from its helper."""
    made: list[object] = []
    bundle = certfacts.BundleFacts(ders, [None] * len(ders), source="bundle.pem", **options)
    with bundle:
        try:
            made.extend(bundle)
        except CertwardError as exc:
            made.append(str(exc))
    return made, bundle.helped, bundle.from_helper


def _one_at_a_time(ders: list[bytes]) -> list[object]:
    """As store add worked them out before: an error checked again to name the file."""
    made: list[object] = []
    for der in ders:
        try:
            made.append(checked_facts(der))
        except CertwardError:
            try:
                certinfo.check_readable(certinfo.load_der(der), source="bundle.pem")
            except CertwardError as exc:
                made.append(str(exc))
            break
    return made


def test_with_another_thread_running_no_helper_is_forked() -> None:
    ders = _bundle()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        made, helped, _ = _worked_out(ders, parallel_from=1)
    finally:
        stop.set()
        other.join()
    assert not helped
    assert made == _one_at_a_time(ders)


def test_below_the_threshold_no_helper_is_forked() -> None:
    ders = _bundle()
    made, helped, _ = _worked_out(ders, parallel_from=len(ders) + 1)
    assert not helped
    assert made == _one_at_a_time(ders)


def test_only_the_wanted_certificates_are_worked_out() -> None:
    ders = _bundle(damaged_at=3)  # passed over: no error
    wanted = range(4, len(ders), 2)
    bundle = certfacts.BundleFacts(ders, [None] * len(ders), source="bundle.pem")
    assert list(bundle.facts(wanted)) == [checked_facts(ders[at]) for at in wanted]


def test_a_damaged_certificate_is_named_with_the_file() -> None:
    made, _, _ = _worked_out(_bundle(damaged_at=5), parallel_from=len(_bundle()) + 10)
    assert len(made) == 6
    assert isinstance(made[-1], str) and made[-1].startswith("bundle.pem: the certificate's")


# Run in a process of its own: a helper is forked only from a process of one thread, which
# the test runner's may not be.
HELPED = textwrap.dedent(
    """
    import os, select, sys, time
    from certward.pki import certfacts
    from tests.pki.test_certfacts import _bundle, _one_at_a_time

    def reaped() -> bool:
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        return False

    def helped(ders, wanted=None, **wait):
        made = []
        bundle = certfacts.BundleFacts(ders, [None] * len(ders), source="bundle.pem",
                                       parallel_from=1)
        with bundle:
            assert bundle.helped
            # Wait (not time: a loaded machine may take long) for the helper to claim some,
            # so that facts surely come from it.
            while bundle.claimed_by_helper() < wait.get("claimed", 0):
                time.sleep(0.01)
            try:
                made.extend(bundle if wanted is None else bundle.facts(wanted))
            except certfacts.CertwardError as exc:
                made.append(str(exc))
        assert reaped(), "the helper process was not reaped"
        return made, bundle.from_helper

    ders = _bundle()
    made, from_helper = helped(ders, claimed=64)
    assert made == _one_at_a_time(ders), "the helper's facts differ"
    assert from_helper > 0, "nothing came from the helper"
    # A damaged certificate where the helper works: reported here, naming the file.
    for damaged_at in (len(ders) - 3, 2):
        damaged = _bundle(damaged_at=damaged_at)
        made, _ = helped(damaged, claimed=64)
        assert made == _one_at_a_time(damaged)
        assert made[-1].startswith("bundle.pem: the certificate's"), made[-1]
    # Only some wanted (the others already stored): theirs, in order; a damaged one passed
    # over is no error. Wanted only at the start, or only at the end, where the helper works.
    damaged = _bundle(damaged_at=len(ders) - 3)
    for wanted in (
        {at for at in range(len(damaged)) if at % 3 == 0 and at != len(ders) - 3},
        set(range(5)),
        set(range(len(damaged) - 2, len(damaged))),
    ):
        made, _ = helped(damaged, wanted, claimed=64)
        assert made == [_one_at_a_time([damaged[at]])[0] for at in sorted(wanted)], wanted
    # As made: each wanted index once, the same facts, what the helper sent meanwhile given
    # between this process's own (waited for on the pipe: some has come before the first).
    def as_made(ders, wanted):
        made = []
        bundle = certfacts.BundleFacts(ders, [None] * len(ders), source="bundle.pem",
                                       parallel_from=1)
        with bundle:
            select.select([bundle._pipe], [], [])
            try:
                made.extend(bundle.facts_as_made(wanted))
            except certfacts.CertwardError as exc:
                made.append((None, str(exc)))
        assert reaped(), "the helper process was not reaped"
        return made, bundle.from_helper

    big = _bundle() * 4
    for wanted in (range(len(big)), {at for at in range(len(big)) if at % 3}):
        made, from_helper = as_made(big, wanted)
        order = [at for at, _ in made]
        assert order[0] != min(wanted) and from_helper > 0, "nothing came before the first"
        assert sorted(order) == sorted(wanted)
        assert [facts for _, facts in sorted(made, key=lambda m: m[0])] == _one_at_a_time(
            [big[at] for at in sorted(wanted)])
    damaged = _bundle(damaged_at=len(ders) - 3) * 4  # the first where this process works
    made, _ = as_made(damaged, range(len(damaged)))
    assert made[-1] == (None, _one_at_a_time(damaged)[-1]), made[-1]
    # Leaving the block on an error ends the helper too.
    try:
        with certfacts.BundleFacts(ders, [None] * len(ders), source="b", parallel_from=1):
            raise KeyError("the pass failed")
    except KeyError:
        pass
    assert reaped()
    print("ok")
    """
)


def test_a_helper_process_gives_the_same_facts_and_is_reaped() -> None:
    root = Path(__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-c", HELPED], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# -- names read from their DER ----------------------------------------------------------------

_TYPES = [
    x509.name._ASN1Type.UTF8String,
    x509.name._ASN1Type.PrintableString,
    x509.name._ASN1Type.IA5String,
    x509.name._ASN1Type.BMPString,
]
_OIDS = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.COUNTRY_NAME,
    NameOID.DOMAIN_COMPONENT,
    NameOID.EMAIL_ADDRESS,
    NameOID.POSTAL_CODE,
    NameOID.BUSINESS_CATEGORY,  # no .NET key: not plain
]
_TEXT = st.text(st.sampled_from(list("aZ09 '()+,-./:=?\"#<>;\\é€\u00a0")), max_size=8)


@st.composite
def _names(draw: st.DrawFn, *, plain: bool = False) -> x509.Name:
    """Names of every kind; ``plain``: of single-valued RDNs, UTF8 and Printable strings."""
    types = _TYPES[:2] if plain else _TYPES
    rdns = []
    for _ in range(draw(st.integers(0, 4))):
        drawn = {  # an RDN holds each attribute (type and value) once
            (draw(st.sampled_from(_OIDS[:-1] if plain else _OIDS)), draw(_TEXT)): draw(
                st.sampled_from(types)
            )
            for _ in range(draw(st.integers(1, 1 if plain else 2)))
        }
        with certinfo.quietly():  # a country code of the wrong length: a warning
            attributes = [
                x509.NameAttribute(oid, value, kind, _validate=False)
                for (oid, value), kind in drawn.items()
            ]
        rdns.append(x509.RelativeDistinguishedName(attributes))
    return x509.Name(rdns)


def _encoded(name: x509.Name) -> bytes | None:
    try:
        return name.public_bytes()
    except (ValueError, UnicodeError):  # e.g. a PrintableString cryptography will not write
        return None


def _agrees(der: bytes) -> None:
    """A plain name is read as cryptography reads it (and cryptography reads it)."""
    plain = names.plain_name(der)
    if plain is None:
        return
    with certinfo.quietly():
        parsed = x509.Name.from_bytes(der)
    assert names.plain_dotnet_x500(plain) == names.dotnet_x500(parsed)
    assert names.plain_common_name(plain) == names.common_name(parsed)
    assert parsed.public_bytes() == der


@settings(max_examples=300, derandomize=True)
@given(_names(), st.data())
def test_a_plain_name_is_read_as_cryptography_reads_it(
    name: x509.Name, data: st.DataObject
) -> None:
    der = _encoded(name)
    if der is None:
        return
    _agrees(der)
    # One byte changed anywhere: still no name cryptography would read otherwise (or not at all)
    at = data.draw(st.integers(0, len(der) - 1))
    _agrees(der[:at] + bytes([data.draw(st.integers(0, 255))]) + der[at + 1 :])


@settings(max_examples=200, derandomize=True)
@given(_names(plain=True), st.data())
def test_plain_names_are_equal_when_cryptography_s_are(a: x509.Name, data: st.DataObject) -> None:
    # another name, or the same attributes in other string types
    kinds = [data.draw(st.sampled_from(_TYPES[:2])) for _ in a.rdns]
    with certinfo.quietly():
        retyped = x509.Name(
            [
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(n.oid, n.value, kind, _validate=False) for n in rdn]
                )
                for rdn, kind in zip(a.rdns, kinds, strict=True)
            ]
        )
    b = data.draw(st.one_of(_names(plain=True), st.just(retyped)))
    der_a, der_b = _encoded(a), _encoded(b)
    if der_a is None or der_b is None:  # not filtered out: most are, and that is fine
        return
    plain_a, plain_b = names.plain_name(der_a), names.plain_name(der_b)
    if plain_a is None or plain_b is None:
        return
    with certinfo.quietly():
        same = x509.Name.from_bytes(der_a) == x509.Name.from_bytes(der_b)
    assert (plain_a == plain_b) is same


def test_a_name_of_different_string_types_is_the_same_name() -> None:
    utf8 = _name((NameOID.COMMON_NAME, "Twin Root"))
    printable = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Twin Root", x509.name._ASN1Type.PrintableString)]
    )
    assert utf8.public_bytes() != printable.public_bytes()
    assert names.plain_name(utf8.public_bytes()) == names.plain_name(printable.public_bytes())


# -- a plain PEM bundle, read directly -----------------------------------------------------------


def _pem_of(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def _general(data: bytes) -> list[bytes] | str:
    """What formats.load_certificates gives (each certificate's DER), or its error."""
    try:
        loaded = formats.load_certificates(data, source="bundle.pem", check=False)
    except CertwardError as exc:
        return str(exc)
    return [certinfo.to_der(c) for c in loaded]


PLAIN_PEMS = {
    "variety": _pem_of(*VARIETY),
    "one": _pem_of(VARIETY[0]),
    "crlf": _pem_of(*VARIETY[:3]).replace(b"\n", b"\r\n"),
    "text between": b"subject=CN = rsa\n"
    + _pem_of(VARIETY[1])
    + b"\n# and a comment\n-----END CERTIFICATE-----\n"
    + _pem_of(VARIETY[2]),
    "an end line first": b"-----END CERTIFICATE-----\n" + _pem_of(*VARIETY[:2]),
    "damaged inside": b"-----BEGIN CERTIFICATE-----\n"  # read as formats reads it: facts judge
    + base64.encodebytes((CORPUS / "extension-duplicate.der").read_bytes())
    + b"-----END CERTIFICATE-----\n",
    "one line": b"-----BEGIN CERTIFICATE-----\n"
    + base64.b64encode(VARIETY[0].public_bytes(Encoding.DER))
    + b"\n-----END CERTIFICATE-----\n",
}


@pytest.mark.parametrize("name", PLAIN_PEMS)
def test_a_plain_pem_bundle_reads_as_formats_reads_it(name: str) -> None:
    data = PLAIN_PEMS[name]
    plain = certfacts.plain_pem_certificates(data)
    assert plain is not None
    ders, certs = plain
    assert ders == _general(data)
    assert [certinfo.to_der(c) for c in certs] == ders


def _damaged_body(pem: bytes, old: bytes, new: bytes) -> bytes:
    """``pem`` (one certificate) with the first ``old`` of its body made ``new``."""
    begin, body = pem.split(b"\n", 1)
    return begin + b"\n" + body.replace(old, new, 1)


def _untrimmed_bits() -> bytes:
    """A body whose last group sets bits its bytes do not use (not canonical base64)."""
    der = VARIETY[0].public_bytes(Encoding.DER)
    while len(der) % 3 == 0:  # a DER of a length that leaves a partial group
        der = VARIETY[1].public_bytes(Encoding.DER)
    text = base64.b64encode(der)
    at = text.index(b"=") - 1
    wrong = text[:at] + bytes([text[at] + 1]) + text[at + 1 :]
    assert base64.b64decode(wrong) == der
    return b"-----BEGIN CERTIFICATE-----\n" + wrong + b"\n-----END CERTIFICATE-----\n"


KEY_PEM = EC_KEY.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
NOT_PLAIN_PEMS = {
    "a key": _pem_of(VARIETY[0]) + KEY_PEM,
    "another label": _pem_of(VARIETY[0]).replace(b"CERTIFICATE", b"X509 CERTIFICATE"),
    "no end": _pem_of(VARIETY[0])[:-26],
    "the last without its end": _pem_of(*VARIETY[:2])[:-26],
    "a header": _pem_of(VARIETY[0]).replace(b"-----\n", b"-----\nProc-Type: 4,ENCRYPTED\n", 1),
    "a space": _damaged_body(_pem_of(VARIETY[0]), b"A", b" A"),
    "not base64": _damaged_body(_pem_of(VARIETY[0]), b"A", b"*"),
    "no padding": _untrimmed_bits().replace(b"=", b""),
    "untrimmed bits": _untrimmed_bits(),
    "not DER": b"-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
    "no newline": _pem_of(VARIETY[0]).replace(b"-----\n", b"-----", 1),
    "nested": _pem_of(VARIETY[0]).replace(b"-----\n", b"-----\n" + _pem_of(VARIETY[1]), 1),
    "no block": b"-----BEGIN nothing",
}


@pytest.mark.parametrize("name", NOT_PLAIN_PEMS)
def test_anything_but_a_plain_pem_bundle_is_left_to_formats(name: str) -> None:
    data = NOT_PLAIN_PEMS[name]
    assert certfacts.plain_pem_certificates(data) is None
    _general(data)  # formats reads it, or refuses it with its own error

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certward.errors import PkiError
from certward.model import Password
from certward.pki import formats
from certward.pki.pfx import export_pfx
from tests.pki.conftest import Pki

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def test_pem_bundle_keeps_file_order(pki: Pki) -> None:
    data = b"".join(
        c.public_bytes(PEM) for c in (pki.leaf, pki.issuing.certificate, pki.root.certificate)
    )
    bundle = formats.load_bundle(data, source="chain.pem")
    assert bundle.certificates == [pki.leaf, pki.issuing.certificate, pki.root.certificate]
    assert bundle.private_key is None


def test_der_certificate(pki: Pki) -> None:
    bundle = formats.load_bundle(pki.leaf.public_bytes(DER), source="leaf.cer")
    assert bundle.certificates == [pki.leaf]
    assert bundle.kind == "DER"


@pytest.mark.parametrize("encoding", [DER, PEM])
def test_pkcs7_in_both_encodings(pki: Pki, encoding: serialization.Encoding) -> None:
    data = pkcs7.serialize_certificates([pki.leaf, pki.issuing.certificate], encoding)
    assert set(formats.load_certificates(data, source="reply.p7b")) == {
        pki.leaf,
        pki.issuing.certificate,
    }


@pytest.mark.parametrize("legacy", [False, True])
def test_pkcs12_round_trip_with_chain_and_friendly_name(pki: Pki, legacy: bool) -> None:
    data = export_pfx(
        pki.leaf_key,
        pki.leaf,
        [pki.issuing.certificate],
        Password(b"s3cret"),
        friendly_name="webmail",
        legacy=legacy,
    )
    assert formats.looks_like_pkcs12(data)
    bundle = formats.load_bundle(data, source="x.pfx", password=Password(b"s3cret"))
    assert bundle.certificates == [pki.leaf, pki.issuing.certificate]
    assert bundle.friendly_name == "webmail"
    assert bundle.private_key is not None
    assert bundle.private_key.public_key() == pki.leaf_key.public_key()
    assert "s3cret" not in repr(bundle)


def test_pkcs12_wrong_or_missing_password_names_the_file(pki: Pki) -> None:
    data = export_pfx(pki.leaf_key, pki.leaf, [], Password(b"right"))
    with pytest.raises(PkiError, match=r"^x\.pfx: wrong password"):
        formats.load_bundle(data, source="x.pfx", password=Password(b"wrong"))
    with pytest.raises(PkiError, match=r"^x\.pfx: .*password-protected"):
        formats.load_bundle(data, source="x.pfx")


def test_pkcs12_without_password_opens_without_one(pki: Pki) -> None:
    data = pkcs12.serialize_key_and_certificates(
        None, pki.leaf_key, pki.leaf, None, serialization.NoEncryption()
    )
    assert formats.load_bundle(data, source="open.pfx").private_key is not None


def test_pem_with_key(pki: Pki) -> None:
    key = pki.leaf_key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    bundle = formats.load_bundle(pki.leaf.public_bytes(PEM) + key, source="both.pem")
    assert bundle.private_key is not None
    with pytest.raises(PkiError, match="contains a private key"):
        formats.load_certificates(pki.leaf.public_bytes(PEM) + key, source="both.pem")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x00\x01garbage bytes", "not a certificate file"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "damaged PEM"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "damaged"),
        (b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "unsupported PEM block"),
    ],
)
def test_garbage_is_refused_with_the_file_name(data: bytes, message: str) -> None:
    with pytest.raises(PkiError, match=rf"^junk\.bin: .*{message}"):
        formats.load_bundle(data, source="junk.bin")


def test_a_csr_is_recognised_as_a_request(pki: Pki) -> None:
    from certward.pki import build
    from certward.pki.names import parse_exchange_dn

    csr = build.certificate_request(pki.leaf_key, parse_exchange_dn("CN=a.example"), [])
    with pytest.raises(PkiError, match="certificate request, not a certificate"):
        formats.load_bundle(csr.public_bytes(PEM), source="req.pem")

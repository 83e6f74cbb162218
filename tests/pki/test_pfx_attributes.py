"""Microsoft's PKCS#12 bag attributes (provider, machine key set), checked with real openssl.

Files written by certward are opened by ``openssl pkcs12 -info`` (which verifies the MAC and
decrypts every safe); files written by ``openssl pkcs12 -export -CSP ... -LMK`` are read by
certward. The PKCS#12 key derivation is compared with OpenSSL's own PKCS12KDF.
"""

from __future__ import annotations

import contextlib
import string
import subprocess
from pathlib import Path

import pytest
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certward.errors import PkiError
from certward.model import CAPI_SCHANNEL_PROVIDER, CNG_SOFTWARE_KSP, Password
from certward.pki import certinfo, pfx
from tests.conftest import find_openssl, openssl
from tests.pki.conftest import Pki

PASSWORD = Password(b"Pa55word!")
SECRET = "Pa55word!"


@pytest.fixture(scope="module")
def modern(pki: Pki) -> bytes:
    return pfx.export_pfx(
        pki.leaf_key,
        pki.leaf,
        [pki.issuing.certificate, pki.root.certificate],
        PASSWORD,
        friendly_name="webmail",
    )


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def openssl_info(path: Path, password: str = SECRET) -> str:
    """``openssl pkcs12 -info``: verifies the MAC, decrypts every safe, prints the bags
    (stdout) and the layout (stderr); both are returned."""
    args = ["pkcs12", "-info", "-nodes", "-passin", f"pass:{password}", "-in", str(path)]
    done = subprocess.run([find_openssl(), *args], capture_output=True, check=False)
    output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.returncode == 0, f"openssl {' '.join(args)} failed: {output}"
    return output


# -- the KDF against OpenSSL's ----------------------------------------------------------------
def test_kdf_matches_the_published_vector() -> None:
    secret = pfx.bmp_password(b"smeg")
    salt = bytes.fromhex("0A58CF64530D823F")
    assert pfx.pkcs12_kdf("sha1", secret, salt, pfx.KDF_KEY, 1, 24).hex().upper() == (
        "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3"
    )


@settings(max_examples=12, deadline=None)
@given(
    password=st.text(alphabet=string.ascii_letters + "é€ß", min_size=0, max_size=20),
    salt=st.binary(min_size=1, max_size=20),
    purpose=st.sampled_from([1, 2, 3]),
    iterations=st.integers(min_value=1, max_value=50),
    digest=st.sampled_from(["sha1", "sha256", "sha512"]),
    length=st.integers(min_value=1, max_value=70),
)
def test_kdf_matches_openssl(
    password: str, salt: bytes, purpose: int, iterations: int, digest: str, length: int
) -> None:
    secret = pfx.bmp_password(password.encode())
    out = openssl(
        "kdf", "-keylen", str(length), "-kdfopt", f"digest:{digest.upper()}",
        "-kdfopt", f"hexpass:{secret.hex()}", "-kdfopt", f"hexsalt:{salt.hex()}",
        "-kdfopt", f"id:{purpose}", "-kdfopt", f"iter:{iterations}", "PKCS12KDF",
    )  # fmt: skip
    expected = bytes.fromhex(out.strip().replace(":", ""))
    assert pfx.pkcs12_kdf(digest, secret, salt, purpose, iterations, length) == expected


# -- round trips, both profiles -------------------------------------------------------------
@pytest.mark.parametrize(
    ("legacy", "encryption", "mac"),
    [
        (False, "PBES2, PBKDF2, AES-256-CBC", "MAC: sha256"),
        (True, "pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1"),
    ],
)
def test_round_trip_with_the_cng_provider(
    pki: Pki, tmp_path: Path, legacy: bool, encryption: str, mac: str
) -> None:
    chain = [pki.issuing.certificate, pki.root.certificate]
    data = pfx.export_pfx(
        pki.leaf_key,
        pki.leaf,
        chain,
        PASSWORD,
        friendly_name="webmail",
        legacy=legacy,
        key_provider=CNG_SOFTWARE_KSP,
        machine_key_set=True,
    )
    info = openssl_info(write(tmp_path, "cng.pfx", data))
    assert f"Microsoft CSP Name: {CNG_SOFTWARE_KSP}" in info
    assert "Microsoft Local Key set" in info
    assert f"Shrouded Keybag: {encryption}" in info
    assert f"PKCS7 Encrypted data: {encryption}" in info
    assert mac in info
    assert info.count("BEGIN CERTIFICATE") == 3

    read = pfx.read_pfx(data, PASSWORD, source="cng.pfx")
    assert read.key_attributes is not None
    assert read.key_attributes.provider == CNG_SOFTWARE_KSP
    assert read.key_attributes.machine_key_set
    assert read.key_attributes.friendly_name == "webmail"
    assert read.mac is not None and read.mac.verified
    assert read.mac.digest == ("SHA-1" if legacy else "SHA-256")
    assert read.key_place is pfx.KeyPlace.PLAIN_SAFE
    assert read.key_protection is not None and read.key_protection.is_aes is not legacy
    assert [certinfo.to_der(c.certificate) for c in read.certificates] == [
        certinfo.to_der(c) for c in [pki.leaf, *chain]
    ]
    assert read.leaf is not None and read.leaf.certificate == pki.leaf
    assert read.leaf.friendly_name == "webmail"
    assert read.private_key is not None
    assert read.private_key.private_numbers() == pki.leaf_key.private_numbers()  # type: ignore[union-attr]


def test_without_attributes_the_file_is_what_cryptography_writes(pki: Pki, modern: bytes) -> None:
    read = pfx.read_pfx(modern, PASSWORD, source="plain.pfx")
    assert read.key_attributes is not None
    assert read.key_attributes.provider is None
    assert not read.key_attributes.machine_key_set


@pytest.mark.parametrize("legacy", [False, True])
def test_rewriting_changes_key_and_certificate_bags(pki: Pki, tmp_path: Path, legacy: bool) -> None:
    data = pfx.export_pfx(
        pki.leaf_key, pki.leaf, [], PASSWORD, friendly_name="old", legacy=legacy,
        key_provider=CNG_SOFTWARE_KSP, machine_key_set=True,
    )  # fmt: skip
    out = pfx.set_attributes(
        data,
        PASSWORD,
        provider=CAPI_SCHANNEL_PROVIDER,
        machine_key_set=False,
        friendly_name="Exchange 2019",
        local_key_id=b"\x01\x00\x00\x00",
    )
    read = pfx.read_pfx(out, PASSWORD, source="out.pfx")
    assert read.key_attributes == pfx.KeyAttributes(
        provider=CAPI_SCHANNEL_PROVIDER,
        machine_key_set=False,
        friendly_name="Exchange 2019",
        local_key_id=b"\x01\x00\x00\x00",
    )
    # the certificate bag sits in the encrypted safe: decrypted, changed, encrypted again
    assert read.safes[0].protection is not None
    assert read.leaf is not None
    assert (read.leaf.friendly_name, read.leaf.local_key_id) == (
        "Exchange 2019",
        b"\x01\x00\x00\x00",
    )
    info = openssl_info(write(tmp_path, "capi.pfx", out))
    assert f"Microsoft CSP Name: {CAPI_SCHANNEL_PROVIDER}" in info
    assert CNG_SOFTWARE_KSP not in info
    assert "Microsoft Local Key set" not in info
    assert info.count("friendlyName: Exchange 2019") == 2
    assert info.count("localKeyID: 01 00 00 00") == 2


# -- files made by openssl ------------------------------------------------------------------
@pytest.fixture(scope="module")
def pem_bundle(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pem") / "all.pem"
    key = pki.leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certs = [pki.leaf, pki.issuing.certificate]
    path.write_bytes(key + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


@pytest.mark.parametrize(
    "profile",
    [
        [],
        ["-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1"],
        ["-keypbe", "NONE", "-certpbe", "NONE"],
    ],
    ids=["aes", "3des", "unencrypted"],
)
def test_reads_what_openssl_writes(pem_bundle: Path, tmp_path: Path, profile: list[str]) -> None:
    out = tmp_path / "openssl.pfx"
    openssl(
        "pkcs12", "-export", "-in", str(pem_bundle), "-out", str(out), "-passout",
        f"pass:{SECRET}", "-CSP", CNG_SOFTWARE_KSP, "-LMK", "-name", "from openssl", *profile,
    )  # fmt: skip
    data = out.read_bytes()
    blind = pfx.read_pfx(data, None, source="openssl.pfx")
    assert blind.key_attributes is not None  # the key bag is outside any encrypted safe
    assert blind.key_attributes.provider == CNG_SOFTWARE_KSP
    assert blind.key_attributes.machine_key_set
    assert blind.mac is not None and not blind.mac.verified
    read = pfx.read_pfx(data, PASSWORD, source="openssl.pfx")
    assert read.key_attributes == blind.key_attributes
    assert read.leaf is not None and read.leaf.friendly_name == "from openssl"
    assert len(read.certificates) == 2
    # and back: certward's rewrite opens in openssl
    again = pfx.set_attributes(
        data, PASSWORD, provider=CAPI_SCHANNEL_PROVIDER, machine_key_set=True
    )
    info = openssl_info(write(tmp_path, "again.pfx", again))
    assert f"Microsoft CSP Name: {CAPI_SCHANNEL_PROVIDER}" in info
    assert "Microsoft Local Key set" in info


def test_without_the_password_the_certificates_stay_closed(modern: bytes) -> None:
    read = pfx.read_pfx(modern, None, source="m.pfx")
    assert not read.certificates_readable
    assert read.certificates == ()
    assert read.private_key is None
    assert read.safes[0].bags is None
    assert read.safes[1].bags == ("pkcs8_shrouded_key_bag",)


def test_key_bag_in_an_encrypted_safe_is_unknown_without_password(pki: Pki, modern: bytes) -> None:
    """A file whose only safe is encrypted (keys inside): nothing about the key is readable."""
    source = asn1_pkcs12.Pfx.load(modern)
    safes = list(source.authenticated_safe)
    encrypted_only = asn1_pkcs12.Pfx(
        {
            "version": "v3",
            "auth_safe": {
                "content_type": "data",
                "content": asn1_pkcs12.AuthenticatedSafe([safes[0]]).dump(),
            },
        }
    ).dump()
    read = pfx.read_pfx(encrypted_only, None, source="x.pfx")
    assert read.key_place is pfx.KeyPlace.UNKNOWN
    assert read.key_attributes is None


# -- refusals ---------------------------------------------------------------------------------
def test_wrong_password_is_refused(modern: bytes) -> None:
    with pytest.raises(PkiError, match=r"^m\.pfx: wrong password"):
        pfx.read_pfx(modern, Password(b"nope"), source="m.pfx")


def test_tampered_file_is_refused(modern: bytes, tmp_path: Path) -> None:
    data = bytearray(modern)
    data[len(data) // 2] ^= 0x01  # inside the encrypted certificates
    with pytest.raises(PkiError, match="MAC does not match"):
        pfx.read_pfx(bytes(data), PASSWORD, source="t.pfx")
    with pytest.raises(PkiError):
        pfx.set_attributes(bytes(data), PASSWORD, provider=CNG_SOFTWARE_KSP, machine_key_set=True)
    with pytest.raises(AssertionError, match=r"(?i)mac"):
        openssl_info(write(tmp_path, "t.pfx", bytes(data)))


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01\x03", b"not a pfx at all"])
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(PkiError, match=r"^g\.pfx: "):
        pfx.read_pfx(data, PASSWORD, source="g.pfx")


# -- provider names -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (CNG_SOFTWARE_KSP, pfx.ProviderKind.CNG),
        ("Microsoft Platform Crypto Provider", pfx.ProviderKind.CNG),
        ("Microsoft Smart Card Key Storage Provider", pfx.ProviderKind.CNG),
        (CAPI_SCHANNEL_PROVIDER, pfx.ProviderKind.CAPI),
        ("Microsoft Enhanced RSA and AES Cryptographic Provider", pfx.ProviderKind.CAPI),
        ("Microsoft Base Smart Card Crypto Provider", pfx.ProviderKind.CAPI),
        ("Contoso HSM", pfx.ProviderKind.UNKNOWN),
    ],
)
def test_provider_kind(name: str, kind: pfx.ProviderKind) -> None:
    assert pfx.provider_kind(name) is kind


@pytest.mark.parametrize("name", ["", "   ", "a\x00b", "emoji 😀", "x" * 257])
def test_unusable_provider_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="provider name"):
        pfx.validate_provider_name(name)


_BMP_TEXT = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFFFF, exclude_categories=("Cs", "Cc")
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s and s != "")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(provider=_BMP_TEXT, friendly=_BMP_TEXT, machine=st.booleans())
def test_any_bmp_names_round_trip(
    modern: bytes, provider: str, friendly: str, machine: bool
) -> None:
    out = pfx.set_attributes(
        modern, PASSWORD, provider=provider, machine_key_set=machine, friendly_name=friendly
    )
    read = pfx.read_pfx(out, PASSWORD, source="h.pfx")
    assert read.key_attributes is not None
    assert read.key_attributes.provider == provider
    assert read.key_attributes.machine_key_set is machine
    assert read.key_attributes.friendly_name == friendly
    assert read.leaf is not None and read.leaf.friendly_name == friendly


def test_certificates_survive_unchanged(pki: Pki, modern: bytes) -> None:
    out = pfx.set_attributes(modern, PASSWORD, provider=CNG_SOFTWARE_KSP, machine_key_set=True)
    read = pfx.read_pfx(out, PASSWORD, source="s.pfx")
    assert read.leaf is not None
    assert certinfo.thumbprint(certinfo.to_der(read.leaf.certificate)) == certinfo.thumbprint(
        certinfo.to_der(pki.leaf)
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_a_damaged_file_is_read_or_refused_never_a_crash(
    modern: bytes, position: int, value: int
) -> None:
    """Any one byte changed: without the password (nothing authenticated) certward either
    reads the layout or refuses the file with a PkiError; with it, the MAC refuses it."""
    data = bytearray(modern)
    index = position % len(data)
    if data[index] == value:
        return
    data[index] = value
    with contextlib.suppress(PkiError):
        pfx.read_pfx(bytes(data), None, source="d.pfx")
    with pytest.raises(PkiError):
        pfx.read_pfx(bytes(data), PASSWORD, source="d.pfx")


def test_an_absurd_iteration_count_is_refused_not_computed(modern: bytes) -> None:
    pfx_asn1 = asn1_pkcs12.Pfx.load(modern)
    mac_data = pfx_asn1["mac_data"]
    hostile = asn1_pkcs12.Pfx(
        {
            "version": "v3",
            "auth_safe": pfx_asn1["auth_safe"],
            "mac_data": {
                "mac": mac_data["mac"],
                "mac_salt": mac_data["mac_salt"],
                "iterations": 10**9,
            },
        }
    ).dump()
    with pytest.raises(PkiError, match="asks for 1000000000 iterations"):
        pfx.read_pfx(hostile, PASSWORD, source="h.pfx")

"""The committed regression files of ``corpus/`` (made by ``corpus/make.py``): certificates
that load but fail when a part is read, and a PFX whose parser's message had two lines. Each
gave a traceback (or a two-line error) before issue 12; each is now one coded line naming the
file and the part."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509

from certward.errors import CertwardError
from certward.pki import certinfo, formats, pfx
from certward.pki.profile import CertProfile
from tests.fuzz.harness import PASSWORD, Seeds

CORPUS = Path(__file__).parent / "corpus"

# file: the part named in the refusal
DAMAGED = {
    "extension-not-der.der": "extensions",
    "extension-duplicate.der": "extensions",
    "subject-bit-string.der": "subject",
    "key-algorithm-unknown.der": "public key",
}


def one_line(error: CertwardError) -> str:
    assert "\n" not in error.message and len(error.message.splitlines()) == 1
    return error.message


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_certificate_file_is_refused_naming_the_file_and_the_part(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    with pytest.raises(CertwardError) as refused:
        formats.load_bundle(data, source=name)
    assert refused.value.code.id == "pki.certificate_damaged"
    assert refused.value.facts["field"] == DAMAGED[name]
    assert one_line(refused.value).startswith(f"{name}: the certificate's {DAMAGED[name]} ")


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_facts_of_a_damaged_certificate_loaded_elsewhere_are_a_coded_error(name: str) -> None:
    """A certificate that did not come through a reader (a prober's chain, an old store)."""
    cert = x509.load_der_x509_certificate((CORPUS / name).read_bytes())
    thumb = certinfo.thumbprint((CORPUS / name).read_bytes())
    for read in (certinfo.facts, CertProfile.of, certinfo.is_ca):
        try:
            read(cert)
        except CertwardError as exc:
            assert exc.code.id == "pki.certificate_damaged"
            assert one_line(exc).startswith(f"certificate {thumb}: the certificate's ")
        else:  # is_ca reads the extensions only; it need not fail for a damaged key
            assert read is certinfo.is_ca and DAMAGED[name] != "extensions"


def test_is_ca_of_a_certificate_with_a_duplicate_extension_names_it() -> None:
    cert = x509.load_der_x509_certificate((CORPUS / "extension-duplicate.der").read_bytes())
    with pytest.raises(CertwardError, match=r"extensions cannot be read .*Duplicate 2\.5\.29\.19"):
        certinfo.is_ca(cert)


def test_a_pfx_whose_parser_message_had_two_lines_is_refused_on_one() -> None:
    data = (CORPUS / "pfx-length-overflow.pfx").read_bytes()
    for password in (None, PASSWORD):
        with pytest.raises(CertwardError) as refused:
            pfx.read_pfx(data, password, source="pfx-length-overflow.pfx")
        assert refused.value.code.id == "pfx.damaged"
        assert "while parsing" in one_line(refused.value)  # asn1crypto's second line, joined
        assert refused.value.message.startswith("pfx-length-overflow.pfx: ")


def test_a_pfx_of_many_costly_safes_is_refused_before_any_key_is_derived(
    seeds: Seeds,
) -> None:
    """Five encrypted safes of 2,000,000 iterations each (each allowed alone): hours of the
    PKCS#12 key derivation, refused before the first (the campaign's hang class)."""
    legacy = next(d for d in seeds.of("pfx") if b"\x2a\x86\x48\x86\xf7\x0d\x01\x0c\x01\x03" in d)
    pfx_file = asn1_pkcs12.Pfx.load(legacy)
    infos = asn1_pkcs12.AuthenticatedSafe.load(pfx_file["auth_safe"]["content"].native)
    encrypted = next(i for i in infos if i["content_type"].native == "encrypted_data")
    algorithm = encrypted["content"]["encrypted_content_info"]["content_encryption_algorithm"]
    algorithm["parameters"]["iterations"] = pfx.MAX_ITERATIONS
    costly = asn1_pkcs12.AuthenticatedSafe(
        [encrypted] * 5 + [i for i in infos if i is not encrypted]
    )
    pfx_file["auth_safe"]["content"] = costly.dump(force=True)
    data = pfx_file.dump(force=True)
    start = time.monotonic()
    with pytest.raises(CertwardError) as refused:
        pfx.read_pfx(data, PASSWORD, source="costly.pfx")
    assert time.monotonic() - start < 2
    assert refused.value.code.id == "pfx.iterations_out_of_range"
    assert one_line(refused.value).startswith("costly.pfx: the file's MAC and encryptions ask for")


def test_a_request_with_an_invalid_version_is_refused_as_unrecognised() -> None:
    """Found by the campaign: cryptography's InvalidVersion (not a ValueError) from a DER
    request whose version is 2, raised while telling a request from other files."""
    data = (CORPUS / "request-version-invalid.der").read_bytes()
    with pytest.raises(CertwardError) as refused:
        formats.load_bundle(data, source="request-version-invalid.der")
    assert refused.value.code.id == "pki.file_unrecognised"
    assert one_line(refused.value).startswith("request-version-invalid.der: ")

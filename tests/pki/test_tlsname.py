"""TlsCertificateName built from real certificates, parsed back, and resolved like HealthChecker.

The issue's example: a certificate for ``webmail.p365labs.com`` whose subject has C, S, L, O,
OU and CN (seed 002's request), issued by "Bar Test Issuing CA".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from certward.model import TlsCertificateName, TlsNameStatus
from certward.pki import build, ca, tlsname
from certward.pki.names import dotnet_x500, parse_exchange_dn

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
SEED_SUBJECT = "c=NL, S=Noord-Holland, L=Amsterdam, O=Contoso, OU=RND, CN=webmail.p365labs.com"
EXPECTED = (
    "<I>CN=Bar Test Issuing CA, O=Bar Test, C=US"
    "<S>CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL"
)


@dataclass(frozen=True)
class Certificates:
    leaf: x509.Certificate  # CA-issued, the issue's example
    self_signed: x509.Certificate  # same subject, issued by itself
    other_ca: x509.Certificate  # same subject, another issuing CA
    quoted: x509.Certificate  # values that need quotes in the .NET form


@pytest.fixture(scope="module")
def certs() -> Certificates:
    root = ca.make_root("Bar Test Root CA", now=NOW, organisation="Bar Test")
    issuing = ca.make_intermediate(root, "Bar Test Issuing CA", now=NOW)
    other = ca.make_intermediate(root, "Bar Test Issuing CA 2", now=NOW)
    key = build.generate_key()
    subject = parse_exchange_dn(SEED_SUBJECT)
    domains = ["webmail.p365labs.com", "autodiscover.p365labs.com"]
    csr = build.certificate_request(key, subject, domains)
    quoted_subject = parse_exchange_dn(
        'C=NL, O="Contoso, Ltd", OU="Mail ""Ops""", CN=mail.contoso.com'
    )
    return Certificates(
        leaf=ca.issue(issuing, csr, now=NOW),
        self_signed=build.self_signed(
            key, subject, domains, not_before=NOW, not_after=NOW + dt.timedelta(days=365)
        ),
        other_ca=ca.issue(other, csr, now=NOW),
        quoted=ca.issue(
            issuing,
            build.certificate_request(key, quoted_subject, ["mail.contoso.com"]),
            now=NOW,
        ),
    )


def all_of(certs: Certificates) -> list[tuple[str, x509.Certificate]]:
    return [
        ("leaf", certs.leaf),
        ("self-signed", certs.self_signed),
        ("other-ca", certs.other_ca),
        ("quoted", certs.quoted),
    ]


# -- building the name --------------------------------------------------------------------------
def test_the_subject_has_every_attribute_of_the_seed_request(certs: Certificates) -> None:
    oids = [attribute.oid for attribute in certs.leaf.subject]
    assert oids == [
        NameOID.COUNTRY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    ]


def test_name_is_issuer_and_subject_in_the_dotnet_form(certs: Certificates) -> None:
    name = tlsname.tls_certificate_name(certs.leaf)
    assert str(name) == EXPECTED
    assert name == TlsCertificateName(
        "CN=Bar Test Issuing CA, O=Bar Test, C=US",
        "CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL",
    )


def test_a_self_signed_certificate_names_itself_twice(certs: Certificates) -> None:
    subject = "CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL"
    assert str(tlsname.tls_certificate_name(certs.self_signed)) == f"<I>{subject}<S>{subject}"


# -- parsing it back ----------------------------------------------------------------------------
def test_parsing_the_name_gives_back_the_certificates_names(certs: Certificates) -> None:
    issuer, subject = tlsname.parse_names(EXPECTED)
    assert issuer == certs.leaf.issuer
    assert subject == certs.leaf.subject
    assert tlsname.check(EXPECTED) is None  # well formed: not Empty, not SyntaxInvalid


def test_the_parsed_name_matches_the_same_certificate_only(certs: Certificates) -> None:
    assert tlsname.matches(certs.leaf, EXPECTED)
    assert not tlsname.matches(certs.self_signed, EXPECTED)  # same subject, other issuer
    assert not tlsname.matches(certs.other_ca, EXPECTED)
    assert tlsname.resolve(EXPECTED, all_of(certs)) == (TlsNameStatus.MATCH, ["leaf"])


def test_every_certificate_resolves_by_its_own_name(certs: Certificates) -> None:
    for ident, cert in all_of(certs):
        name = str(tlsname.tls_certificate_name(cert))
        assert tlsname.resolve(name, all_of(certs)) == (TlsNameStatus.MATCH, [ident])


def test_all_certificates_carrying_the_name_are_found(certs: Certificates) -> None:
    twin = build.self_signed(
        build.generate_key(),
        certs.self_signed.subject,
        ["webmail.p365labs.com"],
        not_before=NOW,
        not_after=NOW + dt.timedelta(days=30),
    )
    name = str(tlsname.tls_certificate_name(certs.self_signed))
    pairs = [*all_of(certs), ("twin", twin)]
    assert tlsname.resolve(name, pairs) == (TlsNameStatus.MATCH, ["self-signed", "twin"])


@pytest.mark.parametrize(
    "variant",
    [
        EXPECTED.lower(),
        EXPECTED.upper(),
        EXPECTED.swapcase(),
        EXPECTED.replace("<I>", "<i>").replace("<S>", "<s>"),
        f"  {EXPECTED}\n",
    ],
    ids=["lower", "upper", "swapcase", "lower-tags", "blanks"],
)
def test_matching_is_case_insensitive(certs: Certificates, variant: str) -> None:
    assert tlsname.resolve(variant, all_of(certs)) == (TlsNameStatus.MATCH, ["leaf"])


# -- HealthChecker's four verdicts ---------------------------------------------------------------
@pytest.mark.parametrize("value", [None, "", "   ", "\t\n"])
def test_no_name_is_empty(certs: Certificates, value: str | None) -> None:
    assert tlsname.check(value) is TlsNameStatus.EMPTY
    assert tlsname.resolve(value, all_of(certs)) == (TlsNameStatus.EMPTY, [])


@pytest.mark.parametrize(
    "value",
    [
        "CN=webmail.p365labs.com",
        "<I>CN=Bar Test Issuing CA<S>",
        "<I><S>CN=webmail.p365labs.com",
        "<I>CN=Bar Test Issuing CA, X=1<S>CN=webmail.p365labs.com",
        "<I>CN=Bar Test Issuing CA<S>CN=webmail.p365labs.com, C=Netherlands",
        "<I>CN=Bar Test Issuing CA<S>CN=webmail.p365labs.com,",
        '<I>CN=Bar Test Issuing CA<S>CN="webmail.p365labs.com',
        "<I>Bar Test Issuing CA<S>webmail.p365labs.com",
    ],
    ids=[
        "no-tags",
        "no-subject",
        "no-issuer",
        "unknown-attribute",
        "bad-country",
        "trailing-comma",
        "open-quote",
        "no-keys",
    ],
)
def test_malformed_names_are_syntax_invalid(certs: Certificates, value: str) -> None:
    assert tlsname.check(value) is TlsNameStatus.SYNTAX_INVALID
    assert tlsname.resolve(value, all_of(certs)) == (TlsNameStatus.SYNTAX_INVALID, [])
    with pytest.raises(ValueError, match="TlsCertificateName"):
        tlsname.parse_names(value)


@pytest.mark.parametrize(
    "value",
    [
        "<I>CN=Fabrikam Issuing CA, O=Fabrikam, C=US"
        "<S>CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL",
        "<I>CN=Bar Test Issuing CA, O=Bar Test, C=US<S>CN=webmail.p365labs.com",
        # the RDNs in encoding order instead of .NET's most-specific-first: not the same name
        "<I>C=US, O=Bar Test, CN=Bar Test Issuing CA"
        "<S>C=NL, S=Noord-Holland, L=Amsterdam, O=Contoso, OU=RND, CN=webmail.p365labs.com",
    ],
    ids=["other-issuer", "partial-subject", "reversed-order"],
)
def test_well_formed_names_without_a_certificate_are_not_found(
    certs: Certificates, value: str
) -> None:
    assert tlsname.check(value) is None
    assert tlsname.resolve(value, all_of(certs)) == (TlsNameStatus.NOT_FOUND, [])


def test_nothing_to_search_is_not_found() -> None:
    assert tlsname.resolve(EXPECTED, []) == (TlsNameStatus.NOT_FOUND, [])


# -- values with commas and quotes ---------------------------------------------------------------
def test_values_with_commas_are_quoted_and_round_trip(certs: Certificates) -> None:
    name = str(tlsname.tls_certificate_name(certs.quoted))
    assert name == (
        "<I>CN=Bar Test Issuing CA, O=Bar Test, C=US"
        '<S>CN=mail.contoso.com, OU="Mail ""Ops""", O="Contoso, Ltd", C=NL'
    )
    issuer, subject = tlsname.parse_names(name)
    assert (issuer, subject) == (certs.quoted.issuer, certs.quoted.subject)
    organisation = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert organisation == "Contoso, Ltd"
    assert tlsname.resolve(name, all_of(certs)) == (TlsNameStatus.MATCH, ["quoted"])


def test_an_unquoted_comma_value_is_not_the_same_name(certs: Certificates) -> None:
    unquoted = (
        "<I>CN=Bar Test Issuing CA, O=Bar Test, C=US"
        '<S>CN=mail.contoso.com, OU="Mail ""Ops""", O=Contoso, Ltd, C=NL'
    )
    assert tlsname.resolve(unquoted, all_of(certs)) == (TlsNameStatus.SYNTAX_INVALID, [])


# -- property: any X.500 name survives the trip through a TlsCertificateName ---------------------
_VALUE = st.text(
    alphabet=st.characters(
        codec="ascii", categories=["L", "N", "P", "Zs"], exclude_characters="<>"
    ),
    min_size=1,
    max_size=20,
)
_KEYS = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
]
_NAME = st.lists(
    st.builds(x509.NameAttribute, st.sampled_from(_KEYS), _VALUE), min_size=1, max_size=5
).map(x509.Name)


@given(issuer=_NAME, subject=_NAME)
def test_any_name_round_trips_through_the_dotnet_form(
    issuer: x509.Name, subject: x509.Name
) -> None:
    text = str(TlsCertificateName(dotnet_x500(issuer), dotnet_x500(subject)))
    assert tlsname.parse_names(text) == (issuer, subject)

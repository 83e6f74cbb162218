import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from certward.pki.names import NameSyntaxError, dotnet_x500, exchange_dn, parse_exchange_dn

SEED = "c=NL, S=Noord-Holland, L=Amsterdam, O=Contoso, OU=RND, CN=webmail.p365labs.com"


def test_seed_002_subject_keeps_the_given_order() -> None:
    name = parse_exchange_dn(SEED)
    oids = [rdn.get_attributes_for_oid(a.oid)[0].oid for rdn in name.rdns for a in rdn]
    assert oids == [
        NameOID.COUNTRY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    ]


def test_dotnet_form_is_most_specific_first() -> None:
    assert dotnet_x500(parse_exchange_dn(SEED)) == (
        "CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL"
    )


def test_quoted_values_may_hold_commas_and_quotes() -> None:
    name = parse_exchange_dn('CN=mail.contoso.com, O="Contoso, Ltd", OU="The ""A"" team"')
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Contoso, Ltd"
    assert name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == 'The "A" team'
    assert dotnet_x500(name) == 'OU="The ""A"" team", O="Contoso, Ltd", CN=mail.contoso.com'


def test_aliases_and_case() -> None:
    name = parse_exchange_dn("cn=a.example, st=Utrecht, email=admin@example.com")
    assert dotnet_x500(name) == "E=admin@example.com, S=Utrecht, CN=a.example"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("CN=a, X=b", "unknown attribute 'X'"),
        ("CN=", "empty value"),
        ('CN="unterminated', "unterminated"),
        ("CN=a,", "trailing comma"),
        ("just text", "KEY=value"),
        ("C=Netherlands", "two-letter"),
        ('CN="a" b', "after quoted value"),
    ],
)
def test_malformed_names_are_refused(text: str, message: str) -> None:
    with pytest.raises(NameSyntaxError, match=message):
        parse_exchange_dn(text)


_KEYS = ["CN", "OU", "O", "L", "S", "C", "E", "DC", "STREET", "T", "SN", "G"]
_OIDS = {
    "CN": NameOID.COMMON_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "L": NameOID.LOCALITY_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME,
    "E": NameOID.EMAIL_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "STREET": NameOID.STREET_ADDRESS,
    "T": NameOID.TITLE,
    "SN": NameOID.SURNAME,
    "G": NameOID.GIVEN_NAME,
}
_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(lambda v: v.strip() == v and v != "" and len(v.encode()) <= 64)


@st.composite
def names(draw: st.DrawFn) -> x509.Name:
    keys = draw(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=6))
    attrs = []
    for key in keys:
        value = draw(st.sampled_from(["NL", "US", "DE", "GB"])) if key == "C" else draw(_value)
        attrs.append(x509.NameAttribute(_OIDS[key], value))
    return x509.Name(attrs)


@given(names())
def test_input_syntax_round_trips(name: x509.Name) -> None:
    assert parse_exchange_dn(exchange_dn(name)) == name


@given(names())
def test_dotnet_form_reverses_the_encoding_order(name: x509.Name) -> None:
    reversed_name = x509.Name(list(reversed(list(name))))
    assert dotnet_x500(name) == exchange_dn(reversed_name)

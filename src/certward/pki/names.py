"""X.500 names in Exchange's two string forms.

* Input: New-ExchangeCertificate's ``-SubjectName`` syntax (seed 002), e.g.
  ``"c=NL, S=Noord-Holland, L=Amsterdam, O=Contoso, OU=RND, CN=webmail.p365labs.com"``:
  comma-separated ``KEY=value`` pairs, keys case-insensitive, values optionally in double
  quotes (``""`` inside quotes is one quote). The RDNs are encoded in the order given.
* Output: the .NET ``X500DistinguishedName.Name`` form Exchange prints (``Subject``,
  ``Issuer``, ``TlsCertificateName``): most specific RDN first, ``", "`` separated, e.g.
  ``CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL``.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from certward.codes.pki import NAME_SYNTAX_INVALID
from certward.pki import _der
from certward.pki._kinds import NameSyntaxError as NameSyntaxError  # raised here, caught as this

# Keys as CryptoAPI / .NET print them, with the aliases Exchange also accepts on input.
_KEY_TO_OID: dict[str, ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "L": NameOID.LOCALITY_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME,
    "E": NameOID.EMAIL_ADDRESS,
    "STREET": NameOID.STREET_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "T": NameOID.TITLE,
    "G": NameOID.GIVEN_NAME,
    "SN": NameOID.SURNAME,
    "I": NameOID.INITIALS,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "POSTALCODE": NameOID.POSTAL_CODE,
}
_ALIASES = {
    "ST": "S",
    "EMAIL": "E",
    "EMAILADDRESS": "E",
    "TITLE": "T",
    "GIVENNAME": "G",
    "SURNAME": "SN",
}
_OID_TO_KEY = {oid: key for key, oid in _KEY_TO_OID.items()}
_OID_TO_KEY[NameOID.POSTAL_CODE] = "PostalCode"

# .NET quotes a value that contains one of these, or has leading/trailing blanks.
_NEEDS_QUOTES = re.compile(r'[,+=";<>#\n\r]|^\s|\s$')


def known_keys() -> list[str]:
    return sorted({*_KEY_TO_OID, *_ALIASES})


def parse_exchange_dn(text: str) -> x509.Name:
    """Parse an X.500 name in Exchange's ``-SubjectName`` syntax, keeping the given order."""
    attributes = [_attribute(key, value) for key, value in _split(text)]
    if not attributes:
        raise NAME_SYNTAX_INVALID("the subject name is empty", name=text)
    return x509.Name(attributes)


def _attribute(key: str, value: str) -> x509.NameAttribute[str]:
    canonical = key.upper()
    canonical = _ALIASES.get(canonical, canonical)
    if canonical.startswith("OID."):
        try:
            oid = ObjectIdentifier(canonical.removeprefix("OID."))
        except ValueError:
            raise NAME_SYNTAX_INVALID(f"bad object identifier in key {key!r}", key=key) from None
    else:
        found = _KEY_TO_OID.get(canonical)
        if found is None:
            raise NAME_SYNTAX_INVALID(
                f"unknown attribute {key!r} (known: {', '.join(known_keys())})", key=key
            )
        oid = found
    if not value:
        raise NAME_SYNTAX_INVALID(f"attribute {key!r} has an empty value", key=key)
    if oid == NameOID.COUNTRY_NAME and not re.fullmatch(r"[A-Za-z]{2}", value):
        raise NAME_SYNTAX_INVALID(f"country {value!r} must be a two-letter ISO 3166 code", key=key)
    try:
        return x509.NameAttribute(oid, value)
    except ValueError as exc:
        raise NAME_SYNTAX_INVALID(f"attribute {key}={value!r}: {exc}", key=key) from None


def _split(text: str) -> list[tuple[str, str]]:
    """Split ``K=v, K="v, with comma"`` into (key, value) pairs."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise NAME_SYNTAX_INVALID(f"expected KEY=value at {text[i:]!r}", name=text)
        key = text[i:eq].strip()
        if not key or "," in key:
            raise NAME_SYNTAX_INVALID(f"expected KEY=value at {text[i:]!r}", name=text)
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            value, i = _quoted(text, i)
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] != ",":
                raise NAME_SYNTAX_INVALID(
                    f"unexpected text after quoted value of {key!r}", name=text
                )
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            value = text[i:end].strip()
            if '"' in value:
                raise NAME_SYNTAX_INVALID(f"stray quote in value of {key!r}", name=text)
            i = end
        pairs.append((key, value))
        if i < n:  # at a comma
            i += 1
            if not text[i:].strip():
                raise NAME_SYNTAX_INVALID("trailing comma in subject name", name=text)
    return pairs


def _quoted(text: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if i + 1 < len(text) and text[i + 1] == '"':
                out.append('"')
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise NAME_SYNTAX_INVALID("unterminated quoted value in subject name", name=text)


def dotnet_x500(name: x509.Name) -> str:
    """The .NET / Exchange string form: most specific RDN first, ``", "`` separated."""
    rdns = []
    for rdn in reversed(list(name.rdns)):
        rdns.append(" + ".join(_format_attribute(attr) for attr in rdn))
    return ", ".join(rdns)


def exchange_dn(name: x509.Name) -> str:
    """The input syntax (encoding order), which :func:`parse_exchange_dn` reads back."""
    return ", ".join(_format_attribute(attr) for rdn in name.rdns for attr in rdn)


def _format_attribute(attr: x509.NameAttribute[str | bytes]) -> str:
    key = _OID_TO_KEY.get(attr.oid, f"OID.{attr.oid.dotted_string}")
    return _format(key, attr.value if isinstance(attr.value, str) else attr.value.hex())


def _format(key: str, value: str) -> str:
    if value == "" or _NEEDS_QUOTES.search(value):
        value = '"' + value.replace('"', '""') + '"'
    return f"{key}={value}"


def common_name(name: x509.Name) -> str | None:
    """The most specific CN (the one .NET and Exchange print first), if any."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return None
    value = values[-1].value
    return value if isinstance(value, str) else None


def parse_dotnet_x500(text: str) -> x509.Name:
    """Parse the .NET form (most specific RDN first), as found in a TlsCertificateName."""
    parsed = parse_exchange_dn(text)
    return x509.Name(list(reversed(list(parsed))))


def same_name(a: x509.Name, b: x509.Name) -> bool:
    """Equal as Windows compares names: attribute by attribute, case-insensitive."""
    return dotnet_x500(a).casefold() == dotnet_x500(b).casefold()


# -- plain names, read from their DER (issue 16: thousands of certificates at a time) -------------

PlainName = tuple[tuple[bytes, str], ...]
"""A name as (attribute type's DER, value) pairs in encoding order, one attribute per RDN."""

_KEY_BY_OID_DER = {_der.oid(oid.dotted_string): key for oid, key in _OID_TO_KEY.items()}
_CN_DER = _der.oid(NameOID.COMMON_NAME.dotted_string)
_UTF8_STRING, _PRINTABLE_STRING = 0x0C, 0x13
_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*")


def plain_name(der: bytes) -> PlainName | None:
    """The name whose DER (tag and length included) is ``der``, when it is plain: each RDN
    one attribute of a type :func:`dotnet_x500` has a key for, its value a non-empty
    UTF8String or a PrintableString of printable characters, all in DER. Its pairs are what
    ``x509.Name.from_bytes(der)`` holds (equal pairs: equal names), and ``der`` is what that
    name's ``public_bytes()`` gives. None for any other name (read it with cryptography):
    making a Name object is most of the cost of reading a certificate."""
    name = _der.tlv(der, 0, len(der))
    if name is None or name[0] != 0x30 or name[2] != len(der):
        return None
    at, end = name[1], name[2]
    pairs: list[tuple[bytes, str]] = []
    while at < end:
        rdn = _der.tlv(der, at, end)  # RDN ::= SET OF AttributeTypeAndValue (here: one)
        if rdn is None or rdn[0] != 0x31:
            return None
        atv = _der.tlv(der, rdn[1], rdn[2])
        if atv is None or atv[0] != 0x30 or atv[2] != rdn[2]:
            return None
        oid = _der.tlv(der, atv[1], atv[2])
        if oid is None or oid[0] != 0x06:
            return None
        oid_der = der[atv[1] : oid[2]]
        value = _der.tlv(der, oid[2], atv[2])
        if oid_der not in _KEY_BY_OID_DER or value is None or value[2] != atv[2]:
            return None
        try:
            text = der[value[1] : value[2]].decode("utf-8")  # strict, as cryptography's
        except UnicodeDecodeError:
            return None
        if not text:  # cryptography tolerates it with a warning: left to it
            return None
        if value[0] == _PRINTABLE_STRING:
            if not _PRINTABLE.fullmatch(text):
                return None
        elif value[0] != _UTF8_STRING:
            return None
        pairs.append((oid_der, text))
        at = rdn[2]
    return tuple(pairs)


def plain_dotnet_x500(name: PlainName) -> str:
    """:func:`dotnet_x500` of a plain name."""
    return ", ".join(_format(_KEY_BY_OID_DER[oid], value) for oid, value in reversed(name))


def plain_common_name(name: PlainName) -> str | None:
    """:func:`common_name` of a plain name."""
    return next((value for oid, value in reversed(name) if oid == _CN_DER), None)

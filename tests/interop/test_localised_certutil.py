"""certutil in the system's display language, and what Windows' lines mean (issue 13).

French is read from real dumps (fixtures/windows, SaltStack's); German and Russian dumps
are built here in the English dump's shape from a real certificate, with the labels
fixtures/windows/SOURCES.md lists (no real German or Russian dump was found).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from certward.errors import InteropError
from certward.interop import Format, detect, parse, parse_certutil
from certward.interop.dates import DateOrder
from certward.model import StoreName
from certward.pki.names import dotnet_x500
from tests.interop.fixtures.windows_shapes import serial_hex, sha1

FIXTURES = Path(__file__).parent / "fixtures" / "windows"
UTC = dt.UTC


def windows(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cert() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "mail.contoso.de")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2026, 1, 13, 9, 5, tzinfo=UTC))
        .not_valid_after(dt.datetime(2027, 1, 13, 9, 5, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )


# ---------------------------------------------------------------- French, real


def test_french_root_store_is_read() -> None:
    text = windows("certutil-store-root-fr-FR.txt")
    assert detect(text) is Format.CERTUTIL_STORE
    dump = parse_certutil(text)
    assert (dump.language, dump.store, dump.date_order) == ("fr", StoreName.ROOT, DateOrder.DMY)
    first, second = dump.certificates
    assert first.serial_number == "79AD16A14AA0A5AD4C7358F407132E65"
    assert first.subject == "CN=Microsoft Root Certificate Authority, DC=microsoft, DC=com"
    assert first.issuer == first.subject and first.is_root is True
    assert first.thumbprint == "CDD4EEAE6000AC7F40C3802C171E30148030C072"
    # 10/05/2001 00:19: a 24-hour time with slashes is never en-US, so 10 May
    assert first.not_before == dt.datetime(2001, 5, 10, 0, 19, tzinfo=UTC)
    assert first.has_private_key is False  # "Aucune information sur le fournisseur de clé"
    assert second.serial_number == "00"
    assert second.thumbprint == "BE36A4562FB2EE05DBB3D32323ADF445084ED656"
    observed = second.to_observed("PARIS-EX01", StoreName.ROOT)
    assert observed.not_after == dt.datetime(2021, 1, 1, 0, 59, tzinfo=UTC)
    assert observed.has_private_key is False and observed.archived is False


def test_french_excerpt_day_above_twelve() -> None:
    dump = parse(windows("certutil-store-root-fr-FR-excerpt.txt"))
    assert dump.certutil is not None and dump.certutil.language == "fr"
    five, eleven = dump.certutil.certificates
    assert five.index == 5 and five.not_before == dt.datetime(2011, 3, 23, 0, 5, tzinfo=UTC)
    assert eleven.not_after == dt.datetime(2004, 1, 8, 1, 59, tzinfo=UTC)  # 08/01/2004
    assert five.is_root is True  # "Certificat racine : …" with the escaped apostrophe


# ---------------------------------------------------------------- German and Russian, built


def _record(cert: x509.Certificate, labels: dict[str, str], date: str, *tail: str) -> str:
    when = {
        "nb": cert.not_valid_before_utc.strftime(date),
        "na": cert.not_valid_after_utc.strftime(date),
    }
    return "\n".join(
        [
            'My "' + labels["store"] + '"',
            f"================ {labels['record']} 0 ================",
            f"{labels['serial']}: {serial_hex(cert)}",
            f"{labels['issuer']}: {dotnet_x500(cert.issuer)}",
            f" NotBefore: {when['nb']}",
            f" NotAfter: {when['na']}",
            f"{labels['subject']}: {dotnet_x500(cert.subject)}",
            f"{labels['hash']}: {sha1(cert)}",
            *tail,
            "",
        ]
    )


GERMAN = {
    "store": "Eigene Zertifikate",
    "record": "Zertifikat",
    "serial": "Seriennummer",
    "issuer": "Aussteller",
    "subject": "Antragsteller",
    "hash": "Zertifikathash(sha1)",
}
RUSSIAN = {
    "store": "Личное",
    "record": "Сертификат",
    "serial": "Серийный номер",
    "issuer": "Издатель",
    "subject": "Субъект",
    "hash": "Хеш сертификата(sha1)",
}


def test_german_store_with_a_capi_key(cert: x509.Certificate) -> None:
    text = _record(
        cert,
        GERMAN,
        "%d.%m.%Y %H:%M",
        "  Schlüsselcontainer = le-WebServer-1234",
        "  Anbieter = Microsoft RSA SChannel Cryptographic Provider",
        "Der private Schlüssel ist NICHT exportierbar",
        "Verschlüsselungstest wurde durchgeführt",
        "CertUtil: -store-Befehl wurde erfolgreich ausgeführt.",
    )
    dump = parse_certutil(text)
    assert (dump.language, dump.store, dump.completed) == ("de", StoreName.MY, True)
    (one,) = dump.certificates
    assert one.thumbprint == sha1(cert).upper()
    assert one.subject == "CN=mail.contoso.de"
    assert one.not_before == dt.datetime(2026, 1, 13, 9, 5, tzinfo=UTC)
    assert one.key is not None
    assert one.key.provider == "Microsoft RSA SChannel Cryptographic Provider"
    assert one.key.container == "le-WebServer-1234"
    observed = one.to_observed("BER-EX01", StoreName.MY)
    assert observed.has_private_key is True and observed.exportable is False


def test_russian_store_with_a_missing_keyset_and_an_archived_certificate(
    cert: x509.Certificate,
) -> None:
    text = _record(
        cert,
        RUSSIAN,
        "%d.%m.%Y %H:%M",
        "Архивирован!",
        "  Контейнер ключа = {5F0E0C7B-0C57-4E41-A3D6-5D7C6C1A8F11}",
        "  Поставщик = Microsoft Software Key Storage Provider",
        "Отсутствует сохраненный набор ключей",
    )
    (one,) = parse_certutil(text).certificates
    assert one.thumbprint == sha1(cert).upper() and one.archived is True
    observed = one.to_observed("MSK-EX01", StoreName.MY)
    # the key provider information is there, the key is not
    assert observed.has_private_key is False
    assert observed.key_provider == "Microsoft Software Key Storage Provider"
    assert observed.archived is True


def test_an_unknown_language_names_its_first_unknown_label(cert: x509.Certificate) -> None:
    spanish = {
        "store": "Personal",
        "record": "Certificado",
        "serial": "Número de serie",
        "issuer": "Emisor",
        "subject": "Sujeto",
        "hash": "Hash de cert(sha1)",
    }
    text = _record(cert, spanish, "%d/%m/%Y %H:%M")
    assert detect(text) is Format.CERTUTIL_STORE
    with pytest.raises(InteropError) as refused:
        parse(text)
    assert refused.value.code.id == "dump.language_unknown"
    assert "first unknown label 'Número de serie'" in refused.value.message
    assert "Certificado 0" in refused.value.message
    assert "\n" not in refused.value.message


# ---------------------------------------------------------------- what Windows means (English)

_ENGLISH = """\
My "Personal"
================ Certificate 0 ================
Serial Number: 1a2b3c4d
Issuer: CN=mail.contoso.com
 NotBefore: 1/13/2026 9:05 AM
 NotAfter: 1/13/2027 9:05 AM
Subject: CN=mail.contoso.com
{extra}
Cert Hash(sha1): 0123456789abcdef0123456789abcdef01234567
  Key Container = {{c1}}
  Provider = Microsoft Software Key Storage Provider
{key}
"""


@pytest.mark.parametrize(
    ("extra", "key", "has_key", "exportable", "archived"),
    [
        ("", "Missing stored keyset", False, None, False),
        ("Archived!", "Encryption test passed", True, None, True),
        ("", "Private key is NOT exportable\nEncryption test passed", True, False, False),
        # certutil's line for a key that can leave the server in a PFX
        ("", "Private key is NOT plain text exportable\nSignature test passed", True, True, False),
    ],
)
def test_what_certutil_lines_mean(
    extra: str, key: str, has_key: bool, exportable: bool | None, archived: bool
) -> None:
    (one,) = parse_certutil(_ENGLISH.format(extra=extra, key=key)).certificates
    observed = one.to_observed("EX01", StoreName.MY)
    assert (observed.has_private_key, observed.exportable, observed.archived) == (
        has_key,
        exportable,
        archived,
    )


@pytest.mark.parametrize(
    ("objectid", "algorithm"),
    [
        ("1.2.840.113549.1.1.1 RSA", "RSA"),
        ("1.2.840.10045.2.1 ECC", "ECC"),
        ("1.2.840.10045.2.1", "ECC"),  # no name printed: the OID tells
    ],
)
def test_verbose_public_key_algorithm_and_length(objectid: str, algorithm: str) -> None:
    text = _ENGLISH.format(extra="", key="Encryption test passed").replace(
        "Subject: CN=mail.contoso.com\n",
        "Subject: CN=mail.contoso.com\n"
        "Public Key Algorithm:\n"
        f"    Algorithm ObjectId: {objectid}\n"
        "    Algorithm Parameters:\n"
        "    05 00\n"
        "Public Key Length: 2048 bits\n",
    )
    dump = parse_certutil(text)
    assert dump.verbose is True
    observed = dump.certificates[0].to_observed("EX01", StoreName.MY)
    assert (observed.public_key_algorithm, observed.key_size) == (algorithm, 2048)


def test_french_with_non_breaking_spaces_before_colons() -> None:
    # French typography puts U+00A0 before ":"; a console copy keeps it, a forum often not
    text = windows("certutil-store-root-fr-FR.txt").replace(" :", "\u00a0:")
    first, _ = parse_certutil(text).certificates
    assert first.thumbprint == "CDD4EEAE6000AC7F40C3802C171E30148030C072"
    assert first.not_before == dt.datetime(2001, 5, 10, 0, 19, tzinfo=UTC)
    assert first.serial_number == "79AD16A14AA0A5AD4C7358F407132E65"

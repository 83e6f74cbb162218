"""``certutil -store`` and ``certutil -v -store`` output, certificate by certificate.

Both shapes are read by one parser, line by line, so an excerpt (``...`` where the source
left lines out) gives what it shows:

* ``certutil -store my|root|ca`` and ``certutil -store -user My``: ``Serial Number:``,
  ``Issuer:`` and ``Subject:`` on one line each (most specific RDN first), `` NotBefore:``
  and `` NotAfter:`` in the server's culture, ``Cert Hash(sha1):`` (compact hex, or hex
  pairs with spaces on older builds), then the key: ``Key Container =``,
  ``Unique container name:`` or ``Simple container name:``, ``Provider =``, and the key
  test (``Encryption test passed``, ``Signature test passed``) or
  ``No key provider information`` / ``Cannot find the certificate and private key for
  decryption.`` when there is none;
* ``certutil -v -store``: the same and the certificate's fields, names one RDN a line under
  ``Issuer:`` / ``Subject:``, the signature algorithm, ``Public Key Length:``, the
  ``Subject Alternative Name`` extension's ``DNS Name=`` lines, ``Cert Hash(sha256):``,
  and the ``CERT_KEY_PROV_INFO_PROP_ID(2):`` block with ``ProviderType`` (hex) and
  ``KeySpec``.

A key whose ``ProviderType`` is 0 lives in a CNG Key Storage Provider (seed 004 reads
``ProviderType = 0`` with ``KeySpec = 0 -- XCN_AT_NONE``; the Microsoft support article's
CA key shows ``ProviderType = 0`` with ``KeySpec = 2 -- AT_SIGNATURE`` in the
``Microsoft Software Key Storage Provider``, so ProviderType alone decides); a non-zero
ProviderType is a CAPI CSP. Without ``-v`` the provider's name decides.

What Windows means: ``Missing stored keyset`` is certutil's word for a certificate whose
private key is gone (the key provider information points at no key); ``Archived!`` marks
an archived certificate, which Exchange and the health rules do not see; ``Private key is
NOT exportable`` is a key that cannot leave the server, while ``Private key is NOT plain
text exportable`` is what certutil prints for a key that *can* be exported (encrypted, in
a PFX) but not as plain text (the export policy allows export, not plaintext export).

Localised output (French, German, Russian) is read through the label vocabulary of
:mod:`certward.interop.certutil_labels`: the language is told by the record header's word
(``Certificat 0``, ``Zertifikat 0``, ``Сертификат 0``) and every line is rewritten into
English first. A header in another language is refused, naming the first label of the
dump that no known language prints.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import re
from dataclasses import dataclass, field

from certward.codes.interop import DUMP_LANGUAGE_UNKNOWN, DUMP_UNRECOGNISED, DUMP_VALUE_INVALID
from certward.interop import _fields as f
from certward.interop import certutil_labels as vocabulary
from certward.interop.dates import DateOrder, infer_order, parse_datetime
from certward.interop.formatlist import is_prompt
from certward.model import (
    ObservedCertificate,
    StoreName,
    Thumbprint,
    is_cng_provider,
    parse_thumbprint,
)

__all__ = [
    "CertutilCertificate",
    "CertutilDump",
    "KeyKind",
    "KeyProviderInfo",
    "looks_like_certutil",
    "looks_verbose",
    "parse_certutil",
]

# "================ Certificate 0 ================", the word in the display language.
_RECORD = re.compile(r"=+ *(?P<word>[^\W\d_][^\s=]*(?: [^\W\d_][^\s=]*)?) +(?P<index>\d+) *=+")
_STORE_HEADER = re.compile(r'(?P<name>[^\s"=:]+)(?:\s+"(?P<title>[^"]*)")?')
_COMMAND = re.compile(r"certutil(?:\.exe)?\s+(?P<args>.*)", re.IGNORECASE)
_OTHER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 ]*=.*")  # IP Address=, RFC822 Name=
_RDN = re.compile(r"(?:[A-Za-z]+|OID\.[0-9.]+)=.*")
_HEX_HASH = re.compile(r"(?:[0-9a-fA-F]{2} ?)+")
_KEY_SPEC = re.compile(r"(?P<value>\d+)(?:\s*--\s*(?P<name>\S+))?")
_FLAGS = re.compile(r"(?P<hex>[0-9a-fA-F]+) \((?P<dec>\d+)\)")
_CRYPT_MACHINE_KEYSET = 0x20

# What certutil prints about the private key, and what it tells.
_KEY_PRESENT = ("Encryption test passed", "Signature test passed")
_KEY_ABSENT = (
    "No key provider information",
    "Cannot find the certificate and private key for decryption.",
    "Missing stored keyset",  # key provider information that points at no key
)
# Public Key Algorithm's ObjectId when certutil prints no name after it.
_KEY_ALGORITHMS = {
    "1.2.840.113549.1.1.1": "RSA",
    "1.2.840.10045.2.1": "ECC",
    "1.2.840.10040.4.1": "DSA",
}


class KeyKind(enum.StrEnum):
    """Where a private key lives: seed 004's EdgeSync (event 1035) needs CAPI."""

    CNG = "CNG"  # a Key Storage Provider
    CAPI = "CAPI"  # a legacy Cryptographic Service Provider


@dataclass(frozen=True, slots=True)
class KeyProviderInfo:
    """The certificate's key provider information (CERT_KEY_PROV_INFO_PROP_ID)."""

    container: str | None = None  # Key Container =
    unique_container: str | None = None  # Unique container name: (the key file's name)
    simple_container: str | None = None  # Simple container name:
    provider: str | None = None  # Provider =
    provider_type: int | None = None  # ProviderType = (hex), -v only
    key_spec: int | None = None  # KeySpec = , -v only
    key_spec_name: str | None = None  # e.g. AT_KEYEXCHANGE, XCN_AT_NONE
    machine_keyset: bool | None = None  # Flags has CRYPT_MACHINE_KEYSET, -v only

    @property
    def kind(self) -> KeyKind | None:
        """CNG or CAPI: ProviderType when printed (0 is CNG), else the provider's name."""
        if self.provider_type is not None:
            return KeyKind.CNG if self.provider_type == 0 else KeyKind.CAPI
        if self.provider is None:
            return None
        return KeyKind.CNG if is_cng_provider(self.provider) else KeyKind.CAPI


@dataclass(frozen=True, slots=True)
class CertutilCertificate:
    """One ``================ Certificate N ================`` record; None: not shown."""

    index: int
    serial_number: str | None = None  # upper-case hex, as Get-ExchangeCertificate prints it
    issuer: str | None = None  # .NET X500 form, most specific RDN first
    subject: str | None = None
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    thumbprint: Thumbprint | None = None  # Cert Hash(sha1)
    sha256: str | None = None  # Cert Hash(sha256), -v only
    key: KeyProviderInfo | None = None
    has_private_key: bool | None = None  # a key test passed / certutil says there is none
    exportable: bool | None = None  # NOT exportable → False; NOT plain text exportable → True
    archived: bool = False  # "Archived!": hidden from Exchange and the rules
    is_root: bool | None = None  # "Root Certificate: Subject matches Issuer"
    template: str | None = None
    dns_names: tuple[str, ...] = ()  # Subject Alternative Name, -v only
    signature_algorithm: str | None = None  # e.g. sha256RSA, -v only
    public_key_length: int | None = None  # -v only
    public_key_algorithm: str | None = None  # "RSA", "ECC", "DSA"; -v only
    friendly_name: str | None = None  # CERT_FRIENDLY_NAME_PROP_ID, -v only
    der: bytes | None = None  # a PEM block pasted inside the record
    complete: bool = True  # False when the dump left lines out ("...")

    @property
    def key_kind(self) -> KeyKind | None:
        return None if self.key is None else self.key.kind

    def to_observed(self, server: str, store: StoreName, source: str = "") -> ObservedCertificate:
        """certward's record of it; refused when the dump left out what certward needs."""
        f.require_shown(
            f"certutil certificate {self.index}",
            (
                ("Cert Hash(sha1)", self.thumbprint),
                ("Subject", self.subject),
                ("Issuer", self.issuer),
                ("NotBefore", self.not_before),
                ("NotAfter", self.not_after),
            ),
        )
        assert self.thumbprint is not None and self.subject is not None
        assert self.issuer is not None
        assert self.not_before is not None and self.not_after is not None
        has_key = self.has_private_key
        return ObservedCertificate(
            server=server,
            store=store,
            thumbprint=self.thumbprint,
            subject=self.subject,
            issuer=self.issuer,
            not_before=self.not_before,
            not_after=self.not_after,
            dns_names=self.dns_names,
            has_private_key=(self.key is not None) if has_key is None else has_key,
            key_provider=None if self.key is None else self.key.provider,
            key_size=self.public_key_length,
            signature_algorithm=self.signature_algorithm,
            serial_number=self.serial_number or "",
            friendly_name=self.friendly_name or "",
            source=source,
            archived=self.archived,
            exportable=self.exportable,
            public_key_algorithm=self.public_key_algorithm,
            der=self.der,
        )


@dataclass(frozen=True, slots=True)
class CertutilDump:
    """A whole ``certutil -store`` dump."""

    certificates: tuple[CertutilCertificate, ...]
    store: StoreName | None = None  # My, Root or CA when the header or command names one
    store_name: str | None = None  # as printed: "My", "Root", "TestStore"
    store_title: str | None = None  # "Personal", "Trusted Root Certification Authorities"
    user_store: bool | None = None  # -user on the pasted command line; None: not pasted
    verbose: bool = False  # certutil -v output
    completed: bool = False  # "CertUtil: -store command completed successfully."
    date_order: DateOrder | None = None  # how the dates were read
    language: str = "en"  # the display language certutil printed in: en, fr, de, ru


def looks_like_certutil(text: str) -> bool:
    return any(_RECORD.fullmatch(line.strip()) for line in text.splitlines())


_VERBOSE_MARKS = ("X509 Certificate:", "Certificate Extensions:", "Public Key Algorithm:")
_VERBOSE_PREFIXES = ("Name Hash(", "CERT_KEY_PROV_INFO_PROP_ID")


def looks_verbose(text: str) -> bool:
    """certutil -v output (see :func:`_verbose`); :func:`parse_certutil` gives the same answer."""
    header, records, _ = _split(text)
    return _verbose(header, records)


def _verbose(header: list[str], records: list[list[str]]) -> bool:
    """certutil -v output: ``-v`` (or ``-verbose``) on the pasted command line, or a line
    only -v prints (the certificate's fields, its property IDs) anywhere in the dump. The one
    rule for both :func:`looks_verbose` (``detect``) and :func:`parse_certutil` (``parse``)."""
    if _read_header(header).verbose:
        return True
    lines = [*header, *(line for record in records for line in record)]
    return any(_is_verbose_line(line.strip()) for line in lines)


def _is_verbose_line(line: str) -> bool:
    return line in _VERBOSE_MARKS or line.startswith(_VERBOSE_PREFIXES)


def _split(text: str) -> tuple[list[str], list[list[str]], bool]:
    """The lines before the first record, each record's lines (its title line first), and
    whether certutil said the command completed successfully."""
    header: list[str] = []
    records: list[list[str]] = []
    completed = False
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if _RECORD.fullmatch(line):
            records.append([line])
        elif line.lower().startswith("certutil:"):
            completed = completed or any(
                language.completed in line for language in vocabulary.LANGUAGES
            )
        elif records:
            records[-1].append(raw_line.rstrip())
        else:
            header.append(raw_line.rstrip())
    return header, records, completed


@dataclass
class _Raw:
    """A record as read, before dates are interpreted."""

    index: int
    values: dict[str, object] = field(default_factory=dict)
    key: dict[str, object] = field(default_factory=dict)
    not_before: str | None = None
    not_after: str | None = None
    dns_names: list[str] = field(default_factory=list)


def parse_certutil(
    text: str, *, date_order: DateOrder | None = None, tz: dt.tzinfo = dt.UTC
) -> CertutilDump:
    """Every certificate of a ``certutil [-v] -store`` dump.

    ``date_order`` overrides the inferred culture; ``tz`` is the server's time zone (the
    dump prints local times without an offset).
    """
    header, records, completed = _split(text)
    if not records:
        raise DUMP_UNRECOGNISED("no '================ Certificate N ================' record found")
    language = _language(records)
    records = [
        [lines[0], *(vocabulary.to_english(line.strip(), language) for line in lines[1:])]
        for lines in records
    ]
    raws = [_read_record(lines) for lines in records]
    dates = [d for r in raws for d in (r.not_before, r.not_after) if d is not None]
    order = date_order or (infer_order(dates) if dates else None)
    head = _read_header(header)
    name = head.store_name or head.command_store
    return CertutilDump(
        certificates=tuple(_finish(r, order, tz) for r in raws),
        store=_store(name),
        store_name=name,
        store_title=head.store_title,
        user_store=head.user_store,
        verbose=_verbose(header, records),
        completed=completed,
        date_order=order,
        language=language.code,
    )


def _language(records: list[list[str]]) -> vocabulary.Language:
    """The display language, from the first record's header word; refused, naming the
    first label no known language prints, when it is none certward reads."""
    match = _RECORD.fullmatch(records[0][0])
    assert match is not None
    word = match.group("word")
    language = vocabulary.language_of(word)
    if language is not None:
        return language
    for lines in records:
        for line in lines[1:]:
            label, sep, _ = line.strip().partition(":")
            if sep and label.strip() and "=" not in label and not vocabulary.known_label(label):
                raise DUMP_LANGUAGE_UNKNOWN(
                    f"certutil output in a language certward cannot read (record header "
                    f"{records[0][0].strip('= ')!r}): first unknown label {label.strip()!r}; "
                    "it reads English, French, German and Russian",
                    word=word,
                    label=label.strip(),
                )
    raise DUMP_LANGUAGE_UNKNOWN(
        f"certutil output in a language certward cannot read: record header "
        f"{records[0][0].strip('= ')!r}; it reads English, French, German and Russian",
        word=word,
    )


def _store(name: str | None) -> StoreName | None:
    if name is None:
        return None
    try:
        return StoreName.parse(name)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Header:
    """What the lines before the first record tell."""

    store_name: str | None = None  # the store's header line: My "Personal"
    store_title: str | None = None
    user_store: bool | None = None  # -user on the pasted command line; None: not pasted
    verbose: bool = False  # -v or -verbose on the pasted command line
    command_store: str | None = None  # the store the pasted command names


def _read_header(lines: list[str]) -> _Header:
    """Store name and title from the first line; -user, -v and the store from a command."""
    store_name = store_title = command_store = None
    user_store: bool | None = None
    verbose = False
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        command = _COMMAND.search(stripped)
        if command is not None and (is_prompt(stripped) or stripped.lower().startswith("cert")):
            args = command.group("args").split()
            lowered = [a.lower().lstrip("/-") for a in args]
            options = {a.lower().lstrip("/-") for a in args if a.startswith(("-", "/"))}
            user_store = "user" in options
            verbose = bool(options & {"v", "verbose"})
            if "store" in lowered:
                position = lowered.index("store") + 1
                rest = [a for a in args[position:] if not a.startswith(("-", "/", ">"))]
                command_store = rest[0] if rest else "My"
            continue
        if is_prompt(stripped):
            continue
        match = _STORE_HEADER.fullmatch(stripped)
        if match is not None and store_name is None:
            store_name, store_title = match.group("name"), match.group("title")
    return _Header(store_name, store_title, user_store, verbose, command_store)


def _read_record(lines: list[str]) -> _Raw:
    match = _RECORD.fullmatch(lines[0].strip())
    assert match is not None
    raw = _Raw(int(match.group("index")))
    values, key = raw.values, raw.key
    name_block: str | None = None  # "issuer" / "subject": -v prints one RDN a line
    name_parts: list[str] = []
    in_san = False
    expect: str | None = None  # the next line's meaning ("signature", "friendly")
    pem: list[str] | None = None
    for raw_line in lines[1:]:
        line = raw_line.strip()
        if pem is not None:
            if line.startswith("-----END"):
                values["der"] = _decode_pem(pem, raw.index)
                pem = None
            else:
                pem.append(line)
            continue
        if name_block is not None:
            if _RDN.fullmatch(line):
                name_parts.append(line)
                continue
            values.setdefault(name_block, ", ".join(name_parts))
            name_block, name_parts = None, []
        if in_san:
            if line.startswith("DNS Name="):
                raw.dns_names.append(line.removeprefix("DNS Name=").strip())
                continue
            in_san = _OTHER_NAME.fullmatch(line) is not None
            if in_san:  # another kind of name
                continue
        if expect == "signature" and line.startswith("Algorithm ObjectId:"):
            algorithm = line.split()[-1]
            if not re.fullmatch(r"[0-9.]+", algorithm):
                values.setdefault("signature_algorithm", algorithm)
            expect = None
            continue
        if expect == "key_algorithm" and line.startswith("Algorithm ObjectId:"):
            words = line.split()
            name = words[-1] if len(words) > 3 else _KEY_ALGORITHMS.get(words[-1])
            if name is not None:
                values.setdefault("public_key_algorithm", name.upper())
            expect = None
            continue
        if expect == "friendly" and line:
            values.setdefault("friendly_name", line)
            expect = None
            continue
        expect = None
        _read_line(line, raw, values, key)
        if line in ("Issuer:", "Subject:"):
            name_block = line[:-1].lower()
        elif line == "Subject Alternative Name":
            in_san = True
        elif line == "Signature Algorithm:" and "signature_algorithm" not in values:
            expect = "signature"
        elif line == "Public Key Algorithm:":
            expect = "key_algorithm"
        elif line.startswith("CERT_FRIENDLY_NAME_PROP_ID"):
            expect = "friendly"
        elif line == "-----BEGIN CERTIFICATE-----":
            pem = []
    if name_block is not None and name_parts:
        values.setdefault(name_block, ", ".join(name_parts))
    return raw


def _read_line(line: str, raw: _Raw, values: dict[str, object], key: dict[str, object]) -> None:
    label, sep, rest = line.partition(":")
    value = rest.strip()
    if line == "...":
        values["incomplete"] = True
    if sep and label == "Serial Number":
        values.setdefault("serial", value.replace(" ", "").upper())
    elif sep and label in ("Issuer", "Subject") and value:
        values.setdefault(label.lower(), value)
    elif sep and label == "NotBefore":
        raw.not_before = raw.not_before or _date_or_none(value)
    elif sep and label == "NotAfter":
        raw.not_after = raw.not_after or _date_or_none(value)
    elif sep and label == "Cert Hash(sha1)":
        values.setdefault("sha1", value)
    elif sep and label == "Cert Hash(sha256)":
        values.setdefault("sha256", value.replace(" ", "").lower())
    elif sep and label == "Template" and value:
        values.setdefault("template", value)
    elif sep and label == "Public Key Length":
        length = value.split()[0] if value else ""
        if length.isdigit():
            values.setdefault("public_key_length", int(length))
    elif sep and label in ("Unique container name", "Simple container name"):
        key.setdefault(label.split()[0].lower(), value)
    elif line.startswith("Root Certificate:"):
        values.setdefault("root", True)
    elif line == "Non-root Certificate":
        values.setdefault("root", False)
    elif line in _KEY_PRESENT:
        values["key_present"] = True
    elif line in _KEY_ABSENT:
        values.setdefault("key_absent", True)
    elif line == "Private key is NOT exportable":
        values["exportable"] = False
    elif line == "Private key is NOT plain text exportable":
        values["exportable"] = True  # exportable encrypted (PFX), not as plain text
    elif line == "Archived!":
        values["archived"] = True
    elif line == "CRYPT_MACHINE_KEYSET" or line.startswith("CRYPT_MACHINE_KEYSET "):
        key["machine"] = True
    else:
        _read_key_line(line, key)


def _read_key_line(line: str, key: dict[str, object]) -> None:
    label, sep, rest = line.partition(" = ")
    if not sep:
        return
    value = rest.strip()
    if label == "Key Container":
        key.setdefault("container", value)
    elif label == "Provider":
        key.setdefault("provider", value)
    elif label == "ProviderType":
        try:
            key.setdefault("provider_type", int(value, 16))
        except ValueError:
            return
    elif label == "KeySpec":
        match = _KEY_SPEC.fullmatch(value)
        if match is not None:
            key.setdefault("key_spec", int(match.group("value")))
            if match.group("name"):
                key.setdefault("key_spec_name", match.group("name"))
    elif label == "Flags":
        match = _FLAGS.fullmatch(value)
        if match is not None:
            key.setdefault("machine", bool(int(match.group("hex"), 16) & _CRYPT_MACHINE_KEYSET))


def _date_or_none(value: str) -> str | None:
    """The printed date; None for a placeholder the source put in (``<DateTime>``)."""
    return value if value and any(ch.isdigit() for ch in value) else None


def _decode_pem(lines: list[str], index: int) -> bytes:
    try:
        return base64.b64decode("".join(lines), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DUMP_VALUE_INVALID(
            f"certificate {index}: the PEM block is damaged ({exc})",
            certificate=index,
            field="-----BEGIN CERTIFICATE-----",
        ) from None


def _thumbprint(value: object, index: int) -> Thumbprint | None:
    if not isinstance(value, str) or not _HEX_HASH.fullmatch(value.strip()):
        return None
    try:
        return parse_thumbprint(value)
    except ValueError:
        raise DUMP_VALUE_INVALID(
            f"certificate {index}: Cert Hash(sha1) {value!r} is not 40 hex digits",
            certificate=index,
            field="Cert Hash(sha1)",
        ) from None


def _finish(raw: _Raw, order: DateOrder | None, tz: dt.tzinfo) -> CertutilCertificate:
    values, key = raw.values, raw.key

    def date(text: str | None) -> dt.datetime | None:
        if text is None or order is None:
            return None
        return parse_datetime(text, order, tz)

    def text(mapping: dict[str, object], name: str) -> str | None:
        value = mapping.get(name)
        return value if isinstance(value, str) else None

    def number(mapping: dict[str, object], name: str) -> int | None:
        value = mapping.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def flag(mapping: dict[str, object], name: str) -> bool | None:
        value = mapping.get(name)
        return value if isinstance(value, bool) else None

    provider_info = None
    if key:
        provider_info = KeyProviderInfo(
            container=text(key, "container"),
            unique_container=text(key, "unique"),
            simple_container=text(key, "simple"),
            provider=text(key, "provider"),
            provider_type=number(key, "provider_type"),
            key_spec=number(key, "key_spec"),
            key_spec_name=text(key, "key_spec_name"),
            machine_keyset=flag(key, "machine"),
        )
    has_key = True if values.get("key_present") else (False if values.get("key_absent") else None)
    der = values.get("der")
    return CertutilCertificate(
        index=raw.index,
        serial_number=text(values, "serial"),
        issuer=text(values, "issuer"),
        subject=text(values, "subject"),
        not_before=date(raw.not_before),
        not_after=date(raw.not_after),
        thumbprint=_thumbprint(values.get("sha1"), raw.index),
        sha256=text(values, "sha256"),
        key=provider_info,
        has_private_key=has_key,
        exportable=flag(values, "exportable"),
        archived=values.get("archived") is True,
        is_root=flag(values, "root"),
        template=text(values, "template"),
        dns_names=tuple(raw.dns_names),
        signature_algorithm=text(values, "signature_algorithm"),
        public_key_length=number(values, "public_key_length"),
        public_key_algorithm=text(values, "public_key_algorithm"),
        friendly_name=text(values, "friendly_name"),
        der=der if isinstance(der, bytes) else None,
        complete=not values.get("incomplete"),
    )

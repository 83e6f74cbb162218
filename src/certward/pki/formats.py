"""Reading certificate files of every shape an admin is handed (bytes in, objects out).

PEM (one certificate or a bundle, PKCS#7 blocks, an optional private key), DER
certificates, PKCS#7 (.p7b, PEM or DER) and PKCS#12 (.pfx). Errors name the source.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import types
from cryptography.hazmat.primitives.serialization import pkcs12

from certward.codes.pki import (
    CERTIFICATE_DAMAGED,
    CERTIFICATE_MISSING,
    FILE_EMPTY,
    FILE_IS_REQUEST,
    FILE_UNRECOGNISED,
    PEM_BLOCK_UNSUPPORTED,
    PEM_DAMAGED,
    PFX_PASSWORD_MISSING,
    PFX_PASSWORD_WRONG,
    PRIVATE_KEY_DUPLICATE,
    PRIVATE_KEY_ENCRYPTED,
    PRIVATE_KEY_UNEXPECTED,
)
from certward.model import Password
from certward.pki import certinfo

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class Bundle:
    """What a file held: certificates in file order, perhaps a private key."""

    certificates: list[x509.Certificate]
    private_key: types.PrivateKeyTypes | None = field(default=None, repr=False)
    friendly_name: str | None = None
    kind: str = "PEM"

    def __repr__(self) -> str:  # never show key material
        key = "yes" if self.private_key is not None else "no"
        return f"Bundle(kind={self.kind}, certificates={len(self.certificates)}, key={key})"


def looks_like_pkcs12(data: bytes) -> bool:
    """PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, macData OPTIONAL }."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    length_byte = data[1]
    offset = 2 if length_byte < 0x80 else 2 + (length_byte & 0x7F)
    return data[offset : offset + 3] == b"\x02\x01\x03"


def load_bundle(
    data: bytes, *, source: str, password: Password | None = None, check: bool = True
) -> Bundle:
    """Read certificates (and a key, for PKCS#12 or PEM with a key) from any supported format.

    Every certificate returned can be read in full (:func:`certinfo.check_readable`; with
    ``check=False`` the caller reads every part itself and checks a failure so); any other
    content is refused with a coded error naming ``source``."""
    with certinfo.quietly():
        bundle = _load_bundle(data, source=source, password=password)
    if check:
        for cert in bundle.certificates:
            certinfo.check_readable(cert, source=source)
    return bundle


def _load_bundle(data: bytes, *, source: str, password: Password | None) -> Bundle:
    if not data.strip():
        raise FILE_EMPTY(f"{source}: the file is empty", file=source)
    if b"-----BEGIN " in data:
        return _load_pem(data, source=source, password=password)
    if looks_like_pkcs12(data):
        return load_pkcs12(data, source=source, password=password)
    try:
        return Bundle([x509.load_der_x509_certificate(data)], kind="DER")
    except ValueError:
        pass
    except x509.InvalidVersion as exc:
        raise CERTIFICATE_DAMAGED(
            f"{source}: the certificate's version cannot be read ({exc})",
            file=source,
            field="version",
        ) from exc
    try:
        return Bundle(load_pkcs7(data), kind="PKCS#7")
    except ValueError:
        pass
    if _is_der_request(data):
        raise FILE_IS_REQUEST(
            f"{source}: this is a certificate request (DER), not a certificate; "
            "send it to your certificate authority and import its reply",
            file=source,
        )
    raise FILE_UNRECOGNISED(
        f"{source}: not a certificate file (expected PEM, DER, PKCS#7 .p7b or PKCS#12 .pfx)",
        file=source,
    )


def _is_der_request(data: bytes) -> bool:
    try:
        x509.load_der_x509_csr(data)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion):
        return False
    return True


def load_pkcs7(data: bytes) -> list[x509.Certificate]:
    """Certificates of a PKCS#7 SignedData (.p7b), DER or BER.

    ``openssl crl2pkcs7`` and many CAs write BER (indefinite lengths), which
    ``cryptography`` only reads with a deprecation warning; asn1crypto parses BER, and each
    certificate inside is DER. Raises ValueError when the data is not PKCS#7.
    """
    # Imported here: asn1crypto's CMS modules cost some 20 ms of every command's start-up,
    # and most files are PEM or DER certificates.
    from asn1crypto import cms

    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "signed_data":
            raise ValueError("not a PKCS#7 SignedData")
        choices = info["content"]["certificates"]
        ders = [choice.chosen.dump() for choice in choices] if choices else []
    except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
        raise ValueError(f"not PKCS#7: {exc}") from exc
    if not ders:
        raise ValueError("the PKCS#7 file holds no certificate")
    try:
        return [x509.load_der_x509_certificate(der) for der in ders]
    except x509.InvalidVersion as exc:
        raise ValueError(f"a certificate in the PKCS#7 file: {exc}") from exc


def _pem_body(block: bytes) -> bytes:
    lines = block.strip().splitlines()[1:-1]
    return base64.b64decode(b"".join(line.strip() for line in lines if b":" not in line))


def load_certificates(data: bytes, *, source: str, check: bool = True) -> list[x509.Certificate]:
    """Certificates only (a store import); a file that carries a private key is refused
    (``check``: as :func:`load_bundle`)."""
    bundle = load_bundle(data, source=source, check=check)
    if bundle.private_key is not None:
        raise PRIVATE_KEY_UNEXPECTED(f"{source}: contains a private key", file=source)
    return bundle.certificates


def load_pkcs12(data: bytes, *, source: str, password: Password | None) -> Bundle:
    secret = password.reveal() if password is not None else None
    attempts = [secret] if secret is not None else [None, b""]
    for attempt in attempts:
        try:
            loaded = pkcs12.load_pkcs12(data, attempt)
        except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
            continue
        if loaded.cert is None:
            raise CERTIFICATE_MISSING(
                f"{source}: the PKCS#12 file holds no certificate", file=source
            )
        friendly = (
            loaded.cert.friendly_name.decode("utf-8", "replace")
            if loaded.cert.friendly_name
            else None
        )
        chain = [extra.certificate for extra in loaded.additional_certs]
        return Bundle(
            [loaded.cert.certificate, *chain],
            private_key=loaded.key,
            friendly_name=friendly,
            kind="PKCS#12",
        )
    if secret is None:
        raise PFX_PASSWORD_MISSING(f"{source}: the PKCS#12 file is password-protected", file=source)
    raise PFX_PASSWORD_WRONG(
        f"{source}: wrong password for the PKCS#12 file, or the file is damaged", file=source
    )


def _load_pem(data: bytes, *, source: str, password: Password | None) -> Bundle:
    certificates: list[x509.Certificate] = []
    key: types.PrivateKeyTypes | None = None
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        raise PEM_DAMAGED(f"{source}: damaged PEM (a BEGIN line without its END line)", file=source)
    for match in blocks:
        label = match.group(1).decode()
        block = match.group(0)
        try:
            if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
                certificates.append(x509.load_pem_x509_certificate(block))
            elif label in ("PKCS7", "CERTIFICATE CHAIN"):
                certificates.extend(load_pkcs7(_pem_body(block)))
            elif label.endswith("PRIVATE KEY"):
                if key is not None:
                    raise PRIVATE_KEY_DUPLICATE(
                        f"{source}: more than one private key in the file", file=source
                    )
                secret = password.reveal() if password is not None else None
                key = serialization.load_pem_private_key(block, secret)
            elif label in ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"):
                raise FILE_IS_REQUEST(
                    f"{source}: this is a certificate request, not a certificate; "
                    "send it to your certificate authority and import its reply",
                    file=source,
                )
            else:
                raise PEM_BLOCK_UNSUPPORTED(
                    f"{source}: unsupported PEM block {label!r}", file=source, block=label
                )
        except TypeError as exc:
            raise PRIVATE_KEY_ENCRYPTED(
                f"{source}: the private key is encrypted", file=source
            ) from exc
        except (ValueError, binascii.Error, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
            raise PEM_DAMAGED(
                f"{source}: damaged {label} block ({exc})", file=source, block=label
            ) from exc
    if not certificates:
        raise CERTIFICATE_MISSING(f"{source}: no certificate in the file", file=source)
    return Bundle(certificates, private_key=key, kind="PEM")

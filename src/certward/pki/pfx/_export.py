"""Writing password-protected PKCS#12 (.pfx) files, as Export-ExchangeCertificate does."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from certward.model import Password
from certward.pki.pfx._write import set_attributes

# AES-256 with PBKDF2-SHA256 and a SHA-256 MAC (Windows Server 2019 and later, OpenSSL 3)
# or the legacy 3DES / SHA-1 profile that Windows Server 2016 and older can import.
MODERN_KDF_ROUNDS = 20_000
LEGACY_KDF_ROUNDS = 2_000


def export_pfx(
    key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    password: Password,
    *,
    friendly_name: str | None = None,
    legacy: bool = False,
    key_provider: str | None = None,
    machine_key_set: bool = False,
) -> bytes:
    """The PFX with the chain; ``key_provider`` and ``machine_key_set``, when given, are
    written as Windows' key bag attributes (see :mod:`certward.pki.pfx`). The password must
    not be empty (ValueError: the caller checks it)."""
    if not password.reveal():
        raise ValueError("a PFX export needs a non-empty password")
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        builder = (
            builder.kdf_rounds(LEGACY_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())  # noqa: S303 - the legacy profile is SHA-1 by definition
        )
    else:
        builder = (
            builder.kdf_rounds(MODERN_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    data = pkcs12.serialize_key_and_certificates(
        name=friendly_name.encode() if friendly_name else None,
        key=key,
        cert=certificate,
        cas=list(chain) or None,
        encryption_algorithm=builder.build(password.reveal()),
    )
    if key_provider is None and not machine_key_set:
        return data
    return set_attributes(data, password, provider=key_provider, machine_key_set=machine_key_set)

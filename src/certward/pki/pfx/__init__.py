"""PKCS#12 (.pfx) files with the bag attributes Windows writes and reads (bytes in, bytes out).

``cryptography`` reads and writes PFX files but keeps only a friendly name and a local key ID;
Windows also records in the key bag where the key is to live (seed 004):

- ``1.3.6.1.4.1.311.17.1`` (szOID_PKCS_12_KEY_PROVIDER_NAME_ATTR): the provider, a BMPString
  such as ``Microsoft Software Key Storage Provider`` (CNG) or ``Microsoft RSA SChannel
  Cryptographic Provider`` (CAPI); ``openssl pkcs12 -info`` prints it as "Microsoft CSP Name";
- ``1.3.6.1.4.1.311.17.2`` (szOID_LOCAL_MACHINE_KEYSET): an empty SET, "import the key into
  the machine's key set" ("Microsoft Local Key set").

The structure is read with asn1crypto and the cryptography done with ``cryptography``:
PBES2 (PBKDF2 + AES-CBC) and the PKCS#12 PBEs (3DES, RC2-128) with the RFC 7292 appendix B
key derivation, which ``cryptography`` does not offer as an API, for the legacy ciphers and
for the MAC key. Rewriting a file changes the bags' attributes, re-encrypts the safes that
were encrypted (same algorithm and iterations, fresh salt and IV) and recomputes the MAC.

Shrouded key bags keep their attributes outside the encryption: when the key bag sits in an
unencrypted safe (Windows, OpenSSL and ``cryptography`` all put it there) the provider can be
read without the password.

The modules, by concern (private; this package's ``__all__`` is the API):

======================  ====================================================================
``_asn1``               the ASN.1 specs (bags with Microsoft's attributes) and bag helpers
``_kdf``                the RFC 7292 key derivation and the file's MAC
``_ciphers``            encryption parameters (parsed once), describing, decrypting, encrypting
``_providers``          key-provider attributes: provider names and kinds, the machine key set
``_read``               parsing, verifying the MAC, opening safes: :func:`read_pfx`
``_write``              rewriting the attributes: :func:`set_attributes`
``_export``             writing a new file, as Export-ExchangeCertificate: :func:`export_pfx`
======================  ====================================================================
"""

from certward.pki.pfx._asn1 import (
    OID_FRIENDLY_NAME,
    OID_KEY_PROVIDER_NAME,
    OID_LOCAL_KEY_ID,
    OID_LOCAL_MACHINE_KEYSET,
)
from certward.pki.pfx._ciphers import Protection, protection
from certward.pki.pfx._export import LEGACY_KDF_ROUNDS, MODERN_KDF_ROUNDS, export_pfx
from certward.pki.pfx._kdf import KDF_IV, KDF_KEY, KDF_MAC, bmp_password, pkcs12_kdf
from certward.pki.pfx._providers import (
    DEFAULT_PROVIDER,
    DEFAULT_PROVIDERS,
    MAX_PROVIDER_LENGTH,
    KeyAttributes,
    ProviderKind,
    effective_provider,
    provider_kind,
    validate_provider_name,
)
from certward.pki.pfx._read import (
    MAX_ITERATIONS,
    CertificateEntry,
    KeyPlace,
    MacInfo,
    PfxContents,
    SafeInfo,
    read_pfx,
)
from certward.pki.pfx._write import set_attributes

__all__ = [
    "DEFAULT_PROVIDER",
    "DEFAULT_PROVIDERS",
    "KDF_IV",
    "KDF_KEY",
    "KDF_MAC",
    "LEGACY_KDF_ROUNDS",
    "MAX_ITERATIONS",
    "MAX_PROVIDER_LENGTH",
    "MODERN_KDF_ROUNDS",
    "OID_FRIENDLY_NAME",
    "OID_KEY_PROVIDER_NAME",
    "OID_LOCAL_KEY_ID",
    "OID_LOCAL_MACHINE_KEYSET",
    "CertificateEntry",
    "KeyAttributes",
    "KeyPlace",
    "MacInfo",
    "PfxContents",
    "Protection",
    "ProviderKind",
    "SafeInfo",
    "bmp_password",
    "effective_provider",
    "export_pfx",
    "pkcs12_kdf",
    "protection",
    "provider_kind",
    "read_pfx",
    "set_attributes",
    "validate_provider_name",
]

"""Where Windows puts an imported key: the key bag's provider attributes (seed 004).

- ``1.3.6.1.4.1.311.17.1`` (szOID_PKCS_12_KEY_PROVIDER_NAME_ATTR): the provider, a BMPString
  such as ``Microsoft Software Key Storage Provider`` (CNG) or ``Microsoft RSA SChannel
  Cryptographic Provider`` (CAPI); ``openssl pkcs12 -info`` prints it as "Microsoft CSP Name";
- ``1.3.6.1.4.1.311.17.2`` (szOID_LOCAL_MACHINE_KEYSET): an empty SET, "import the key into
  the machine's key set" ("Microsoft Local Key set").
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace

from certward.codes.pki import PROVIDER_NAME_INVALID
from certward.model import CAPI_SCHANNEL_PROVIDER, CNG_SOFTWARE_KSP, is_cng_provider
from certward.pki.pfx._asn1 import (
    OID_FRIENDLY_NAME,
    OID_KEY_PROVIDER_NAME,
    OID_LOCAL_KEY_ID,
    OID_LOCAL_MACHINE_KEYSET,
    SafeBag,
    attribute_type,
    attributes,
)

# What Windows imports a PFX into when the file names no provider (CryptoAPI's default for
# an exportable RSA key used by Schannel).
DEFAULT_PROVIDER = CAPI_SCHANNEL_PROVIDER  # Windows, when a PFX names no provider
MAX_PROVIDER_LENGTH = 256  # the column certward stores it in


class ProviderKind(enum.StrEnum):
    CNG = "CNG"  # a Key Storage Provider (Cryptography Next Generation)
    CAPI = "CAPI"  # a legacy CryptoAPI Cryptographic Service Provider
    UNKNOWN = "unknown"


_CAPI_NAMES = re.compile(r"cryptographic provider|crypto provider|\bcsp\b", re.IGNORECASE)


def provider_kind(name: str) -> ProviderKind:
    """CNG for Key Storage Providers (software, smart card, TPM), CAPI for the CSPs."""
    if is_cng_provider(name):
        return ProviderKind.CNG
    if _CAPI_NAMES.search(name):
        return ProviderKind.CAPI
    return ProviderKind.UNKNOWN


DEFAULT_PROVIDERS = {ProviderKind.CAPI: CAPI_SCHANNEL_PROVIDER, ProviderKind.CNG: CNG_SOFTWARE_KSP}


@dataclass(frozen=True, slots=True)
class KeyAttributes:
    """The key bag's attributes."""

    provider: str | None = None
    machine_key_set: bool = False
    friendly_name: str | None = None
    local_key_id: bytes | None = None
    others: tuple[str, ...] = ()  # dotted OIDs of attributes certward does not interpret


def effective_provider(attributes: KeyAttributes | None) -> str:
    """Where Windows puts an imported key: the key bag's provider, else the CAPI default."""
    provider = attributes.provider if attributes is not None else None
    return provider or DEFAULT_PROVIDER


def validate_provider_name(name: str) -> str:
    """A provider name as Windows can store it: 1-256 BMP characters, no control characters.
    Raises ``pfx.provider_invalid`` (a ValueError too)."""
    cleaned = name.strip()
    if not cleaned:
        raise PROVIDER_NAME_INVALID("the provider name must not be empty", provider=name)
    if len(cleaned) > MAX_PROVIDER_LENGTH:
        raise PROVIDER_NAME_INVALID(
            f"the provider name is longer than {MAX_PROVIDER_LENGTH} characters",
            maximum=MAX_PROVIDER_LENGTH,
        )
    if any(ord(ch) > 0xFFFF or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in cleaned):
        raise PROVIDER_NAME_INVALID(
            f"the provider name {cleaned!r} has characters a BMPString cannot hold",
            provider=cleaned,
        )
    return cleaned


def key_attributes(bag: SafeBag) -> KeyAttributes:
    """The attributes of a key bag (read without decrypting anything)."""
    result = KeyAttributes()
    others: list[str] = []
    for attr in attributes(bag):
        oid = attribute_type(attr)
        values = list(attr["values"])
        if oid == OID_KEY_PROVIDER_NAME:
            result = replace(result, provider=values[0].native if values else None)
        elif oid == OID_LOCAL_MACHINE_KEYSET:
            result = replace(result, machine_key_set=True)
        elif oid == OID_FRIENDLY_NAME:
            result = replace(result, friendly_name=values[0].native if values else None)
        elif oid == OID_LOCAL_KEY_ID:
            result = replace(result, local_key_id=values[0].native if values else None)
        else:
            others.append(oid)
    return replace(result, others=tuple(others))


def key_bag_updates(provider: str | None, machine_key_set: bool) -> dict[str, object | None]:
    """The key bag's provider attributes as :func:`_asn1.with_attributes` sets them."""
    return {
        OID_KEY_PROVIDER_NAME: provider,
        OID_LOCAL_MACHINE_KEYSET: () if machine_key_set else None,
    }

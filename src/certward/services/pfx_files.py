"""PFX files on their own (no store): what one holds, as Windows will see it, and the seed 004
fix — the key moved to another provider in one step, same certificate, same thumbprint.

Pure: bytes in, a report or bytes out; the CLI reads and writes the files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certward.codes.interop import (
    PFX_CONVERT_KEY_NOT_RSA,
    PFX_CONVERT_NO_KEY,
    PFX_CONVERT_NO_LEAF,
)
from certward.model import Password
from certward.pki import certinfo, chain, pfx, profile
from certward.pki.pfx import ProviderKind

# Windows Server 2016 and older import only the PKCS#12 PBEs (3DES/SHA-1): PBES2 needs 2019.
AES_WARNING = (
    "encrypted with AES-256 (PBES2): Windows Server 2016 and older cannot import it; "
    "give them a copy written with the legacy PKCS#12 encryption (3DES/SHA-1)"
)


@dataclass(frozen=True, slots=True)
class CertificateLine:
    """One certificate of the file, in file order."""

    thumbprint: str
    subject: str
    issuer: str
    not_after: dt.datetime
    role: str  # "leaf", "intermediate", "root", "unrelated"
    has_key: bool
    friendly_name: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "thumbprint": self.thumbprint,
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "role": self.role,
            "has_private_key": self.has_key,
            "friendly_name": self.friendly_name,
        }


@dataclass(frozen=True)
class PfxInspection:
    source: str
    password_given: bool
    provider: str | None  # the key bag's provider attribute
    provider_readable: bool  # False: the key bag was not reached (no password)
    provider_kind: ProviderKind | None  # of the provider Windows will use
    effective_provider: str | None  # the attribute, else Windows' CAPI default
    provider_note: str
    machine_key_set: bool | None
    key_friendly_name: str | None
    local_key_id: str | None  # hex
    has_private_key: bool | None  # None: not known without the password
    key_type: str | None
    key_size: int | None
    certificates: tuple[CertificateLine, ...]
    certificates_readable: bool
    chain: tuple[str, ...]  # thumbprints, leaf first, as far as the file goes
    chain_complete: bool | None
    key_encryption: str | None
    certificate_encryption: tuple[str, ...]
    mac: str | None
    mac_verified: bool
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "password_given": self.password_given,
            "key": {
                "present": self.has_private_key,
                "provider": self.provider,
                "provider_readable": self.provider_readable,
                "effective_provider": self.effective_provider,
                "provider_kind": self.provider_kind.value if self.provider_kind else None,
                "provider_note": self.provider_note,
                "machine_key_set": self.machine_key_set,
                "friendly_name": self.key_friendly_name,
                "local_key_id": self.local_key_id,
                "type": self.key_type,
                "size": self.key_size,
                "encryption": self.key_encryption,
            },
            "certificates": [c.to_json() for c in self.certificates],
            "certificates_readable": self.certificates_readable,
            "chain": list(self.chain),
            "chain_complete": self.chain_complete,
            "certificate_encryption": list(self.certificate_encryption),
            "mac": self.mac,
            "mac_verified": self.mac_verified,
            "warnings": list(self.warnings),
        }


def inspect_pfx(data: bytes, password: Password | None, *, source: str) -> PfxInspection:
    """What a PFX holds and what Windows (and EdgeSync) will make of it."""
    contents = pfx.read_pfx(data, password, source=source)
    attrs = contents.key_attributes
    warnings: list[str] = []
    provider = attrs.provider if attrs else None
    readable = attrs is not None or contents.key_place is pfx.KeyPlace.NONE
    effective: str | None = None
    kind: ProviderKind | None = None
    if contents.key_place is pfx.KeyPlace.NONE:
        note = "the file holds no private key"
        warnings.append("the file holds no private key: Exchange cannot use its certificate")
    elif attrs is None:
        note = "not readable without the password: the key bag is inside an encrypted safe"
    else:
        where = (
            "read without the password: the key bag sits in an unencrypted safe"
            if contents.key_place is pfx.KeyPlace.PLAIN_SAFE and password is None
            else f"the key bag sits in an {contents.key_place.value}"
        )
        effective = pfx.effective_provider(attrs)
        note = (
            where
            if provider is not None
            else f"no provider attribute: Windows imports the key into {effective}; {where}"
        )
        kind = pfx.provider_kind(effective)
        if kind is ProviderKind.CNG:
            warnings.append(
                f"the key goes to a CNG Key Storage Provider ({effective}): EdgeSync accepts "
                "only a CAPI key on the default transport (SMTP) certificate and fails with "
                "event 1035; move the key to a CAPI provider first (certward pfx convert)"
            )
    protections = [s.protection for s in contents.safes if s.protection is not None]
    if any(p.scheme == "PBES2" for p in [*protections, contents.key_protection] if p):
        warnings.append(AES_WARNING)
    lines, chain_thumbs, complete = _certificates(contents)
    if complete is False:
        warnings.append(
            "chain missing: the file does not carry the issuers of its certificate up to a "
            "root; Windows and the Edge Transport server need them in their CA and Root stores "
            "(export with the chain, or import them with 'certward store add')"
        )
    key = contents.private_key
    leaf = contents.leaf
    public = (
        key.public_key() if key is not None else leaf.certificate.public_key() if leaf else None
    )
    return PfxInspection(
        source=source,
        password_given=password is not None,
        provider=provider,
        provider_readable=readable,
        provider_kind=kind,
        effective_provider=effective,
        provider_note=note,
        machine_key_set=attrs.machine_key_set if attrs else None,
        key_friendly_name=attrs.friendly_name if attrs else None,
        local_key_id=attrs.local_key_id.hex().upper() if attrs and attrs.local_key_id else None,
        has_private_key=(
            None
            if contents.key_place is pfx.KeyPlace.UNKNOWN
            else contents.key_place is not pfx.KeyPlace.NONE
        ),
        key_type=_key_type(public) if public is not None else None,
        key_size=certinfo.key_size(public) if public is not None else None,
        certificates=tuple(lines),
        certificates_readable=contents.certificates_readable,
        chain=tuple(chain_thumbs),
        chain_complete=complete,
        key_encryption=str(contents.key_protection) if contents.key_protection else None,
        certificate_encryption=tuple(dict.fromkeys(str(p) for p in protections)),
        mac=str(contents.mac) if contents.mac else None,
        mac_verified=bool(contents.mac and contents.mac.verified),
        warnings=tuple(warnings),
    )


def _certificates(
    contents: pfx.PfxContents,
) -> tuple[list[CertificateLine], list[str], bool | None]:
    certs = [entry.certificate for entry in contents.certificates]
    leaf = contents.leaf
    path: list[x509.Certificate] = []
    complete: bool | None = None
    if leaf is not None:
        path = [leaf.certificate, *chain.build_chain(leaf.certificate, certs)]
        complete = certinfo.is_self_signed(path[-1])
    in_path = {certinfo.to_der(c) for c in path}
    lines = []
    for entry in contents.certificates:
        cert = entry.certificate
        facts = certinfo.facts(cert)
        if leaf is not None and cert == leaf.certificate:
            role = "leaf"
        elif certinfo.to_der(cert) in in_path:
            role = "root" if facts.is_self_signed else "intermediate"
        else:
            role = "unrelated"
        lines.append(
            CertificateLine(
                thumbprint=facts.thumbprint,
                subject=facts.subject,
                issuer=facts.issuer,
                not_after=facts.not_after,
                role=role,
                has_key=role == "leaf" and contents.private_key is not None,
                friendly_name=entry.friendly_name,
            )
        )
    return lines, [certinfo.facts(c).thumbprint for c in path], complete


def _key_type(public: object) -> str:
    """pki.profile's key type, with the curve of an EC key ("ECDSA secp256r1")."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        return f"ECDSA {public.curve.name}"
    kind = profile.key_type(public)
    return type(public).__name__ if kind == "unknown" else kind


# -- convert ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvertResult:
    data: bytes
    thumbprint: str
    old_provider: str | None  # the attribute in the input (None: none)
    provider: str
    legacy: bool


def target_provider(kind: ProviderKind, provider: str | None) -> str:
    """The provider for ``--to capi|cng [--provider NAME]``; a name of the other kind is
    refused (ValueError)."""
    if provider is None:
        return pfx.DEFAULT_PROVIDERS[kind]
    name = pfx.validate_provider_name(provider)
    actual = pfx.provider_kind(name)
    if actual is not ProviderKind.UNKNOWN and actual is not kind:
        raise ValueError(f"{name!r} is a {actual.value} provider, not {kind.value}")
    return name


def parse_kind(text: str) -> ProviderKind:
    value = text.strip().lower()
    if value == "capi":
        return ProviderKind.CAPI
    if value == "cng":
        return ProviderKind.CNG
    raise ValueError(f"the provider kind must be capi or cng, not {text!r}")


def convert_pfx(
    data: bytes,
    password: Password,
    *,
    source: str,
    provider: str,
    legacy: bool = False,
) -> ConvertResult:
    """The same key, certificate and chain in a new PFX whose key bag names ``provider``
    (seed 004: ``openssl pkcs12`` out and in again, in one step). The certificate's friendly
    name and the machine key set are kept; the password stays the same."""
    contents = pfx.read_pfx(data, password, source=source)
    key = contents.private_key
    if key is None:
        raise PFX_CONVERT_NO_KEY(
            f"{source}: the file holds no private key; there is nothing to convert", file=source
        )
    leaf = contents.leaf
    if leaf is None:
        raise PFX_CONVERT_NO_LEAF(
            f"{source}: no certificate in the file belongs to its private key", file=source
        )
    if not isinstance(key, rsa.RSAPrivateKey):
        key_type = _key_type(key.public_key())
        raise PFX_CONVERT_KEY_NOT_RSA(
            f"{source}: only RSA keys can be converted ({key_type} key)",
            file=source,
            key_type=key_type,
        )
    others = [e.certificate for e in contents.certificates if e is not leaf]
    ordered = chain.build_chain(leaf.certificate, others)
    rest = [c for c in others if c not in ordered]
    attrs = contents.key_attributes or pfx.KeyAttributes()
    out = pfx.export_pfx(
        key,
        leaf.certificate,
        [*ordered, *rest],
        password,
        # the certificate's friendly name (Windows names the key bag after its key container)
        friendly_name=leaf.friendly_name,
        legacy=legacy,
        key_provider=provider,
        machine_key_set=attrs.machine_key_set,
    )
    thumbprint = certinfo.thumbprint(certinfo.to_der(leaf.certificate))
    return ConvertResult(out, thumbprint, attrs.provider, provider, legacy)

"""What a deploy writes: the certificate, its chain and the private key, as PEM bytes.

The key is a secret: it is never in ``repr``, never logged, and only the executor turns it
into a file. :meth:`DeployMaterial.check` proves the pieces belong together before any
file is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certward.codes.deploy import DEPLOY_MATERIAL_INVALID
from certward.model.certificates import Thumbprint
from certward.pki import certinfo

__all__ = ["DeployMaterial"]


@dataclass(frozen=True, slots=True)
class DeployMaterial:
    """A certificate (PEM), the issuers above it up to but not including the root (PEM each,
    nearest first) and its private key (unencrypted PKCS#8 PEM)."""

    certificate_pem: bytes
    chain_pems: tuple[bytes, ...] = ()
    key_pem: bytes = field(default=b"", repr=False)

    def __repr__(self) -> str:
        return (
            f"DeployMaterial(thumbprint={self.thumbprint}, chain={len(self.chain_pems)}, "
            "key=<redacted>)"
        )

    @property
    def thumbprint(self) -> Thumbprint:
        """The certificate's thumbprint (what the probe must see served)."""
        return _thumbprint(self.certificate)

    @property
    def certificate(self) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self.certificate_pem)
        except ValueError:
            raise DEPLOY_MATERIAL_INVALID(
                "the certificate to deploy is not a PEM certificate"
            ) from None

    def check(self) -> Thumbprint:
        """The certificate's thumbprint once the chain and key are readable and the key is
        the certificate's; else ``deploy.material_invalid`` (the key never in the message)."""
        cert = self.certificate
        for index, pem in enumerate(self.chain_pems, start=1):
            try:
                x509.load_pem_x509_certificate(pem)
            except ValueError:
                raise DEPLOY_MATERIAL_INVALID(
                    f"chain certificate {index} is not a PEM certificate"
                ) from None
        try:
            key = serialization.load_pem_private_key(self.key_pem, password=None)
        except (ValueError, TypeError):
            raise DEPLOY_MATERIAL_INVALID("the private key to deploy cannot be read") from None
        thumb = _thumbprint(cert)
        if certinfo.spki(key) != certinfo.spki(cert):
            raise DEPLOY_MATERIAL_INVALID(
                f"the private key is not the key of certificate {thumb}", thumbprint=thumb
            )
        return thumb

    def to_json(self) -> dict[str, Any]:
        """For the agent's API only (TLS, authenticated, the agent's own host): the key is
        in it."""
        return {
            "certificate": self.certificate_pem.decode("ascii"),
            "chain": [pem.decode("ascii") for pem in self.chain_pems],
            "key": self.key_pem.decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeployMaterial:
        try:
            return cls(
                str(data["certificate"]).encode("ascii"),
                tuple(str(p).encode("ascii") for p in data.get("chain") or ()),
                str(data["key"]).encode("ascii"),
            )
        except (KeyError, ValueError, UnicodeError):
            raise DEPLOY_MATERIAL_INVALID(
                "the material received is not a deploy document"
            ) from None


def _thumbprint(cert: x509.Certificate) -> Thumbprint:
    return certinfo.thumbprint(cert.public_bytes(serialization.Encoding.DER))

"""The PKCS#12 structures as certward reads and writes them (asn1crypto specs).

asn1crypto's ``pkcs12`` module maps ``1.3.6.1.4.1.311.17.1`` to the wrong name, so the bags
are declared again here with certward's attribute map.
"""

from __future__ import annotations

from typing import Any, ClassVar

from asn1crypto import core, keys, pkcs12

OID_KEY_PROVIDER_NAME = "1.3.6.1.4.1.311.17.1"
OID_LOCAL_MACHINE_KEYSET = "1.3.6.1.4.1.311.17.2"
OID_FRIENDLY_NAME = "1.2.840.113549.1.9.20"
OID_LOCAL_KEY_ID = "1.2.840.113549.1.9.21"


class AttributeType(core.ObjectIdentifier):  # type: ignore[misc]
    _map: ClassVar[dict[str, str]] = {
        OID_FRIENDLY_NAME: "friendly_name",
        OID_LOCAL_KEY_ID: "local_key_id",
        OID_KEY_PROVIDER_NAME: "key_provider_name",
        OID_LOCAL_MACHINE_KEYSET: "local_machine_keyset",
    }


class Attribute(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [("type", AttributeType), ("values", None)]
    _oid_specs: ClassVar[dict[str, type]] = {
        "friendly_name": pkcs12.SetOfBMPString,
        "local_key_id": pkcs12.SetOfOctetString,
        "key_provider_name": pkcs12.SetOfBMPString,
    }

    def _values_spec(self) -> type:
        spec: type = self._oid_specs.get(self["type"].native, pkcs12.SetOfAny)
        return spec

    _spec_callbacks: ClassVar[dict[str, Any]] = {"values": _values_spec}


class Attributes(core.SetOf):  # type: ignore[misc]
    _child_spec = Attribute


class SafeBag(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("bag_id", pkcs12.BagId),
        ("bag_value", core.Any, {"explicit": 0}),
        ("bag_attributes", Attributes, {"optional": True}),
    ]
    _oid_pair = ("bag_id", "bag_value")
    _oid_specs: ClassVar[dict[str, type]] = {
        "key_bag": keys.PrivateKeyInfo,
        "pkcs8_shrouded_key_bag": keys.EncryptedPrivateKeyInfo,
        "cert_bag": pkcs12.CertBag,
        "crl_bag": pkcs12.CrlBag,
        "secret_bag": pkcs12.SecretBag,
    }


class SafeContents(core.SequenceOf):  # type: ignore[misc]
    _child_spec = SafeBag


KEY_BAGS = ("key_bag", "pkcs8_shrouded_key_bag")


def bag_kind(bag: SafeBag) -> str:
    return str(bag["bag_id"].native)


def attributes(bag: SafeBag) -> list[Attribute]:
    attrs = bag["bag_attributes"]
    return [] if isinstance(attrs, core.Void) else list(attrs)


def attribute_type(attr: Attribute) -> str:
    return str(attr["type"].dotted)


def text_attribute(bag: SafeBag, oid: str) -> str | bytes | None:
    """The first value of the bag's attribute ``oid`` (a BMPString or an OCTET STRING)."""
    for attr in attributes(bag):
        if attribute_type(attr) == oid:
            values = list(attr["values"])
            if values:
                value: str | bytes = values[0].native
                return value
    return None


def with_attributes(bag: SafeBag, updates: dict[str, object | None]) -> SafeBag:
    """The bag with the attributes in ``updates`` (dotted OID -> value; None removes it) set,
    others kept in their order. A value of ``()`` writes an empty SET (the machine key set)."""
    kept = [a for a in attributes(bag) if attribute_type(a) not in updates]
    for oid, value in updates.items():
        if value is None:
            continue
        values: list[object] = [] if value == () else [value]
        kept.append(Attribute({"type": oid, "values": values}))
    contents: dict[str, object] = {
        "bag_id": bag["bag_id"].native,
        "bag_value": bag["bag_value"].copy(),
    }
    if kept:
        contents["bag_attributes"] = Attributes(kept)
    return SafeBag(contents)

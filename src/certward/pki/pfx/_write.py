"""Rewriting a PFX file's bag attributes: the safes that change are written anew (encrypted
again with the same algorithm and iterations, a fresh salt and IV), the MAC recomputed."""

from __future__ import annotations

import os

from asn1crypto import cms, pkcs12
from cryptography.hazmat.primitives.asymmetric import types

from certward.codes.pki import PFX_KEY_COUNT_UNSUPPORTED, PFX_LEAF_MISSING, PFX_UNSUPPORTED
from certward.model import Password
from certward.pki import certinfo
from certward.pki.pfx._asn1 import (
    OID_FRIENDLY_NAME,
    OID_LOCAL_KEY_ID,
    SafeContents,
    bag_kind,
    text_attribute,
    with_attributes,
)
from certward.pki.pfx._ciphers import encrypt, fresh
from certward.pki.pfx._kdf import mac
from certward.pki.pfx._providers import key_bag_updates, validate_provider_name
from certward.pki.pfx._read import (
    Opened,
    Safe,
    certificate,
    find_leaf,
    key_bags,
    key_encryption,
    load_key,
    open_pfx,
    parsing,
)


def set_attributes(
    data: bytes,
    password: Password,
    *,
    provider: str | None,
    machine_key_set: bool,
    friendly_name: str | None = None,
    local_key_id: bytes | None = None,
    source: str = "PFX",
) -> bytes:
    """Rewrite a PFX so its key bag names ``provider`` (None: no provider attribute) and the
    machine key set (or not). ``friendly_name`` and ``local_key_id``, when given, replace
    those of the key bag and of the key's certificate bag; otherwise they are kept. Safes
    that were encrypted are encrypted again; the MAC is recomputed with the same digest and
    iterations (a fresh salt)."""
    if provider is not None:
        provider = validate_provider_name(provider)
    with parsing(source):
        return _set_attributes(
            data,
            password.reveal(),
            source,
            provider=provider,
            machine_key_set=machine_key_set,
            friendly_name=friendly_name,
            local_key_id=local_key_id,
        )


def _set_attributes(
    data: bytes,
    secret: bytes,
    source: str,
    *,
    provider: str | None,
    machine_key_set: bool,
    friendly_name: str | None,
    local_key_id: bytes | None,
) -> bytes:
    opened = open_pfx(data, secret, source)
    for safe in opened.safes:
        if safe.bags is None:
            raise PFX_UNSUPPORTED(
                f"{source}: a safe uses {safe.unsupported}; certward cannot rewrite it",
                file=source,
            )
    found_keys = key_bags(opened)
    if len(found_keys) != 1:
        raise PFX_KEY_COUNT_UNSUPPORTED(
            f"{source}: holds {len(found_keys)} private keys; certward rewrites exactly one",
            file=source,
            count=len(found_keys),
        )
    key_safe, key_index = found_keys[0]
    assert key_safe.bags is not None
    key_bag = key_safe.bags[key_index]
    updates = key_bag_updates(provider, machine_key_set)
    cert_updates: dict[str, object | None] = {}
    if friendly_name is not None:
        updates[OID_FRIENDLY_NAME] = cert_updates[OID_FRIENDLY_NAME] = friendly_name
    if local_key_id is not None:
        updates[OID_LOCAL_KEY_ID] = cert_updates[OID_LOCAL_KEY_ID] = local_key_id
    key_safe.changed = True
    old_key_id = text_attribute(key_bag, OID_LOCAL_KEY_ID)
    key_safe.bags[key_index] = with_attributes(key_bag, updates)
    if cert_updates:
        key = load_key(key_bag, key_encryption(key_bag), secret, source)
        target = _leaf_bag(opened, key, old_key_id, source)
        if target is None:
            raise PFX_LEAF_MISSING(
                f"{source}: no certificate in the file belongs to its private key", file=source
            )
        safe, index = target
        assert safe.bags is not None
        safe.bags[index] = with_attributes(safe.bags[index], cert_updates)
        safe.changed = True
    return _rebuild(opened, secret)


def _leaf_bag(
    opened: Opened, key: types.PrivateKeyTypes | None, key_id: object, source: str
) -> tuple[Safe, int] | None:
    return find_leaf(
        (
            ((safe, index), certificate(bag, source), text_attribute(bag, OID_LOCAL_KEY_ID))
            for safe in opened.safes
            for index, bag in enumerate(safe.bags or [])
            if bag_kind(bag) == "cert_bag"
        ),
        certinfo.spki(key) if key is not None else None,
        key_id,
    )


def _rebuild(opened: Opened, password: bytes) -> bytes:
    """The file again: safes that did not change as they were read; changed ones written
    anew (an encrypted one with a fresh salt and IV); a new MAC over it all."""
    infos = []
    for safe in opened.safes:
        if not safe.changed and safe.info is not None:
            infos.append(safe.info)
            continue
        assert safe.bags is not None
        contents = SafeContents(safe.bags).dump(force=True)
        if safe.encryption is None:
            infos.append(cms.ContentInfo({"content_type": "data", "content": contents}))
            continue
        encryption = fresh(safe.encryption)
        encrypted = encrypt(encryption, contents, password)
        infos.append(
            cms.ContentInfo(
                {
                    "content_type": "encrypted_data",
                    "content": {
                        "version": "v0",
                        "encrypted_content_info": {
                            "content_type": "data",
                            "content_encryption_algorithm": encryption.algorithm(),
                            "encrypted_content": encrypted,
                        },
                    },
                }
            )
        )
    auth_bytes = pkcs12.AuthenticatedSafe(infos).dump(force=True)
    pfx: dict[str, object] = {
        "version": "v3",
        "auth_safe": {"content_type": "data", "content": auth_bytes},
    }
    if opened.mac is not None and opened.mac_digest is not None:
        iterations = opened.mac.iterations
        salt = os.urandom(opened.mac.salt_length or 8)
        digest = mac(auth_bytes, password, opened.mac_digest, salt, iterations)
        pfx["mac_data"] = {
            "mac": {
                "digest_algorithm": {"algorithm": opened.mac_digest},
                "digest": digest.finalize(),
            },
            "mac_salt": salt,
            "iterations": iterations,
        }
    result: bytes = pkcs12.Pfx(pfx).dump(force=True)
    return result

"""Certificates' profiles for a health snapshot, parsed once per thumbprint (pure, no I/O).

An organisation's servers share certificates (the same roots in every Root store, a SAN
certificate on every server) and a scheduled health run sees the same certificates again and
again, while a thumbprint names one certificate whose content never changes. So a profile
is made once per thumbprint and remembered (:class:`ProfileMemo`), and made by
:func:`profile_of_der`, which reads each part of the certificate once, in one warnings
context, instead of :meth:`CertProfile.of`'s context per part: the same profile, about a
third of the time. Anything unusual (a part that cannot be read) goes the checked way,
so a damaged certificate gives the same coded error.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Collection, Mapping

from cryptography import x509

from certward.model import Thumbprint
from certward.pki import certinfo
from certward.pki.names import dotnet_x500
from certward.pki.profile import CertProfile, key_type


def checked_profile(der: bytes) -> CertProfile:
    """:meth:`CertProfile.of` the certificate: each part checked, a damaged one coded."""
    return CertProfile.of(certinfo.load_der(der))


def profile_of_der(der: bytes) -> CertProfile:
    """The certificate's profile, equal to :func:`checked_profile`'s (and raising what it
    raises for a certificate it cannot read)."""
    with certinfo.quietly():
        return _unchecked_or_checked(der)


def profiles_of_ders(ders: Mapping[Thumbprint, bytes]) -> dict[Thumbprint, CertProfile]:
    """:func:`profile_of_der` of each, in one warnings context."""
    with certinfo.quietly():
        return {tp: _unchecked_or_checked(der) for tp, der in ders.items()}


def _unchecked_or_checked(der: bytes) -> CertProfile:
    try:
        return _profile(x509.load_der_x509_certificate(der))
    except Exception:  # any surprise: the checked way says what it is
        return checked_profile(der)


def _profile(cert: x509.Certificate) -> CertProfile:
    # What certinfo.check_readable reads, each part once (a failure: the checked way); the
    # subject's text is remembered (the report's timeline shows it), the issuer's is made
    # from the name read here, which is all that can fail.
    version = cert.version
    _ = cert.serial_number
    subject, issuer = cert.subject, cert.issuer
    x500(subject)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    # Each extension read once; the first of each class, as get_extension_for_class finds it.
    san: x509.SubjectAlternativeName | None = None
    constraints: x509.BasicConstraints | None = None
    for extension in cert.extensions:
        value = extension.value
        if san is None and isinstance(value, x509.SubjectAlternativeName):
            san = value
        elif constraints is None and isinstance(value, x509.BasicConstraints):
            constraints = value
    public_key = cert.public_key()
    signature = certinfo.signature_algorithm(cert)
    dns_names = () if san is None else tuple(san.get_values_for_type(x509.DNSName))
    self_issued = issuer == subject
    if constraints is not None:
        is_ca = bool(constraints.ca)
    else:  # a v1 self-signed certificate is a root by convention
        is_ca = version is x509.Version.v1 and self_issued
    return CertProfile(
        subject=subject,
        issuer=issuer,
        dns_names=dns_names,
        not_before=not_before,
        not_after=not_after,
        self_signed=self_issued and certinfo.signed_by(cert, cert),
        is_ca=is_ca,
        version=version.value + 1,
        key_type=key_type(public_key),
        key_size=certinfo.key_size(public_key),
        signature_algorithm=signature,
    )


# Texts by the id of their name object, each held only while the name lives (a weak
# reference), so the memo never keeps a snapshot's names alive after it.
_TEXTS: dict[int, tuple[weakref.ref[x509.Name], str]] = {}


def x500(name: x509.Name) -> str:
    """:func:`dotnet_x500` of ``name``, remembered for the name object while it lives
    (profiles made here have their subject's already: reading a certificate makes it)."""
    key = id(name)
    found = _TEXTS.get(key)
    if found is not None and found[0]() is name:
        return found[1]
    text = dotnet_x500(name)
    _TEXTS[key] = (weakref.ref(name, functools.partial(_forget, key)), text)
    return text


def _forget(key: int, ref: weakref.ref[x509.Name]) -> None:
    found = _TEXTS.get(key)
    if found is not None and found[0] is ref:
        del _TEXTS[key]


class ProfileMemo:
    """Profiles by thumbprint, shared by the snapshots one process reads; safe to use from
    several threads. Bounded: past ``limit`` it keeps only what the last read asked for."""

    def __init__(self, limit: int = 100_000) -> None:
        self._known: dict[Thumbprint, CertProfile] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def profiles(
        self,
        thumbprints: Collection[Thumbprint],
        ders: Callable[[Collection[Thumbprint]], Mapping[Thumbprint, bytes]],
    ) -> dict[Thumbprint, CertProfile]:
        """The profile of each of ``thumbprints`` whose DER ``ders`` gives; ``ders`` is
        asked only for the thumbprints not known yet."""
        wanted = set(thumbprints)
        with self._lock:
            known = self._known
            unknown = wanted - known.keys()
        made = profiles_of_ders(ders(unknown)) if unknown else {}
        with self._lock:
            if len(self._known) + len(made) > self._limit:
                self._known = {tp: p for tp, p in self._known.items() if tp in wanted}
            self._known.update(made)
            known = self._known
        return {tp: p for tp in wanted if (p := known.get(tp)) is not None}


PROFILES = ProfileMemo()
"""The process's memo (the web service's scheduled runs share it)."""

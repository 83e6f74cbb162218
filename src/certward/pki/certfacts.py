""":class:`CertFacts` worked out from certificates, one or thousands at a time (issue 16).

The answers are :func:`certward.pki.profile.certificate_facts`' own, field for field (a test
compares them); what differs is the work done for a bundle of thousands:

* A self-issued certificate's issuer is its subject, byte for byte in the DER: its name is
  made into an object, encoded and rendered once, not twice.
* A certificate's key is loaded once per distinct key (a bundle's certificates often share
  their CA's key), and a self-signature is verified with that key directly. Only a
  signature that verifies is taken from this path; anything else (a key or algorithm it
  does not handle, a signature that fails) is judged by :func:`certinfo.signed_by`, so
  the verdict is always signed_by's.
* Verifying self-signatures is most of the work (an ECDSA P-256 verification costs more
  than parsing and storing the certificate), so above :data:`PARALLEL_FROM` certificates
  a helper process forked from this one verifies from the end of the list while this one
  works from its start (:class:`SelfSignatures`): the two meet wherever their speeds put
  them, and what the helper has not done when this process gets there, this one does. The
  helper writes verdicts and nothing else: the facts, and any error, are this process's.
"""

from __future__ import annotations

import mmap
import os
import signal
import threading
from collections.abc import Sequence
from types import TracebackType

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from certward.model.certfacts import CertFacts
from certward.pki import _der, certinfo
from certward.pki.names import (
    common_name,
    dotnet_x500,
    plain_common_name,
    plain_dotnet_x500,
    plain_name,
)
from certward.pki.profile import checked_facts, key_type

PARALLEL_FROM = 256
"""Self-signatures to verify from which a helper process shares the work: a fork costs a few
milliseconds, about 50 verifications; below this the helper would not pay for itself."""

_KEYS_KEPT = 64  # distinct keys remembered per bundle (a bundle of many keys gains nothing)

# One byte per certificate in shared memory: the helper's verdict, or this process's mark.
_UNKNOWN, _NOT_SIGNED, _SIGNED, _TAKEN = 0, 1, 2, 3


class _Key:
    """A public key loaded once, with what the facts say about it."""

    __slots__ = ("key", "size", "type")

    def __init__(self, spki: bytes) -> None:
        self.key = load_der_public_key(spki)
        self.type = key_type(self.key)
        self.size = certinfo.key_size(self.key)


class KeyCache:
    """Public keys by their SubjectPublicKeyInfo bytes, at most :data:`_KEYS_KEPT`."""

    def __init__(self) -> None:
        self._keys: dict[bytes, _Key] = {}

    def get(self, spki: bytes) -> _Key:
        found = self._keys.get(spki)
        if found is None:
            if len(self._keys) >= _KEYS_KEPT:
                self._keys.clear()
            found = self._keys[spki] = _Key(spki)
        return found


def certificate_facts(
    der: bytes,
    cert: x509.Certificate | None = None,
    *,
    keys: KeyCache | None = None,
    self_signed: bool | None = None,
) -> CertFacts:
    """What the certificate ``der`` says about itself, as
    :func:`certward.pki.profile.certificate_facts` gives it (and, for one that cannot be
    read, the same coded error); ``cert``: ``der`` already parsed; ``keys``: keys loaded
    for earlier certificates; ``self_signed``: the verdict of its self-signature check when
    already known (:class:`SelfSignatures`), used only if it is self-issued."""
    with certinfo.quietly():
        try:
            parsed = certinfo.load_der(der) if cert is None else cert
            return _facts(der, parsed, KeyCache() if keys is None else keys, self_signed)
        except Exception:  # any surprise: the checked way says what it is
            return checked_facts(der)


def _facts(
    der: bytes, cert: x509.Certificate, keys: KeyCache, self_signed: bool | None
) -> CertFacts:
    # What profile.certificate_facts reads, each part once.
    version = cert.version
    serial = cert.serial_number
    parts = _tbs_parts(der)
    names = _plain_names(parts) if parts is not None else None
    if names is not None:  # read from the DER: no Name objects made
        subject_der, issuer_der, subject_text, issuer_text, cn, self_issued = names
    else:
        subject, issuer = cert.subject, cert.issuer
        self_issued = issuer == subject
        subject_der, issuer_der = subject.public_bytes(), issuer.public_bytes()
        subject_text, issuer_text = dotnet_x500(subject), dotnet_x500(issuer)
        cn = common_name(subject)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    san: x509.SubjectAlternativeName | None = None
    constraints: x509.BasicConstraints | None = None
    for extension in cert.extensions:  # the first of each class, as get_extension_for_class
        value = extension.value
        if san is None and isinstance(value, x509.SubjectAlternativeName):
            san = value
        elif constraints is None and isinstance(value, x509.BasicConstraints):
            constraints = value
    if parts is not None:
        key = keys.get(parts.spki)
        kind, size = key.type, key.size
    else:
        public_key = cert.public_key()
        kind, size = key_type(public_key), certinfo.key_size(public_key)
    signature = certinfo.signature_algorithm(cert)
    if constraints is not None:
        is_ca = bool(constraints.ca)
    else:  # a v1 self-signed certificate is a root by convention
        is_ca = version is x509.Version.v1 and self_issued
    if not self_issued:
        signed = False
    elif self_signed is not None:
        signed = self_signed
    else:
        signed = verify_self_signature(cert, parts, keys)
    return CertFacts(
        thumbprint=certinfo.thumbprint(der),
        subject=subject_der,
        issuer=issuer_der,
        subject_text=subject_text,
        issuer_text=issuer_text,
        common_name=cn,
        dns_names=() if san is None else tuple(san.get_values_for_type(x509.DNSName)),
        not_before=not_before,
        not_after=not_after,
        self_signed=signed,
        is_ca=is_ca,
        version=version.value + 1,
        key_type=kind,
        key_size=size,
        signature_algorithm=signature,
        serial_number=f"{serial:X}".rjust(2, "0"),
    )


def _plain_names(parts: _TbsParts) -> tuple[bytes, bytes, str, str, str | None, bool] | None:
    """The subject's and issuer's DER and .NET text, the subject's CN and whether the two
    names are equal, read from the DER when both are plain (:func:`names.plain_name`);
    a self-issued certificate's issuer, the same bytes as its subject, read once."""
    subject = plain_name(parts.subject)
    if subject is None:
        return None
    issuer = subject if parts.issuer == parts.subject else plain_name(parts.issuer)
    if issuer is None:
        return None
    subject_text = plain_dotnet_x500(subject)
    issuer_text = subject_text if issuer is subject else plain_dotnet_x500(issuer)
    return (
        parts.subject,
        parts.issuer,
        subject_text,
        issuer_text,
        plain_common_name(subject),
        issuer == subject,  # as x509.Name compares them: attribute types and values
    )


def verify_self_signature(cert: x509.Certificate, parts: _TbsParts | None, keys: KeyCache) -> bool:
    """:func:`certinfo.signed_by` (``cert``, ``cert``): its own key verifies its signature.

    ECDSA and RSA PKCS#1 v1.5 signatures are verified here with the key loaded once; a
    signature that verifies that way verifies in signed_by too (the same key, algorithm and
    bytes). Everything else, a failed signature included, is signed_by's to judge."""
    if parts is not None:
        try:
            key = keys.get(parts.spki).key
            algorithm = cert.signature_algorithm_parameters
            if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(algorithm, ec.ECDSA):
                key.verify(cert.signature, cert.tbs_certificate_bytes, algorithm)
                return True
            digest = cert.signature_hash_algorithm
            if (
                isinstance(key, rsa.RSAPublicKey)
                and isinstance(algorithm, padding.PKCS1v15)
                and digest is not None
            ):
                key.verify(cert.signature, cert.tbs_certificate_bytes, algorithm, digest)
                return True
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            pass
    return certinfo.signed_by(cert, cert)


# -- the DER of a certificate, walked just far enough -------------------------------------------


class _TbsParts:
    """Slices of a certificate's DER: its issuer and subject names and its key, each whole
    (tag, length and content), as the certificate encodes them."""

    __slots__ = ("issuer", "spki", "subject")

    def __init__(self, issuer: bytes, subject: bytes, spki: bytes) -> None:
        self.issuer = issuer
        self.subject = subject
        self.spki = spki


def _tbs_parts(der: bytes) -> _TbsParts | None:
    """The issuer, subject and key of the certificate ``der`` (whose parser accepted it);
    None when its layout is not the one expected, and the slower way is taken."""
    # Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, ... }
    cert = _der.tlv(der, 0, len(der))
    tbs = None if cert is None else _der.tlv(der, cert[1], cert[2])
    if tbs is None or tbs[0] != 0x30:
        return None
    # TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
    #   validity, subject, subjectPublicKeyInfo, ... }
    at, end = tbs[1], tbs[2]
    fields: list[tuple[int, int]] = []
    while at < end and len(fields) < 6:
        field = _der.tlv(der, at, end)
        if field is None:
            return None
        if not (field[0] == 0xA0 and not fields):  # the version is not counted
            fields.append((at, field[2]))
        at = field[2]
    if len(fields) < 6:
        return None
    (issuer_at, issuer_end), (subject_at, subject_end), (spki_at, spki_end) = (
        fields[2],
        fields[4],
        fields[5],
    )
    return _TbsParts(der[issuer_at:issuer_end], der[subject_at:subject_end], der[spki_at:spki_end])


# -- self-signatures shared with a helper process ----------------------------------------------


class SelfSignatures:
    """The self-signature verdicts of ``ders``, for :func:`certificate_facts`' ``self_signed``.

    Used as a context manager around the pass over ``ders``: with at least ``parallel_from``
    of them, and when this process may fork (one thread: a fork copies only the calling
    thread, and a lock another thread held would never be released in the copy), a helper
    process verifies them from the last one back, writing each verdict into memory both
    share, until it reaches one already done. :meth:`get` gives a verdict the helper has
    written, else None (this process verifies it itself, and marks it done so that the
    helper stops there). Leaving the block ends the helper, whatever state it is in: it
    owns nothing (no lock, no file it writes), and what it had not done was not needed."""

    def __init__(self, ders: Sequence[bytes], *, parallel_from: int = PARALLEL_FROM) -> None:
        self._ders = ders
        self._parallel = len(ders) >= parallel_from
        self._shared: mmap.mmap | None = None
        self._helper: int | None = None

    def __enter__(self) -> SelfSignatures:
        if self._parallel and _may_fork():
            shared = mmap.mmap(-1, len(self._ders))  # anonymous, shared with the fork
            pid = os.fork()
            if pid == 0:  # the helper: verdicts only, then gone without running any cleanup
                try:
                    _verify_from_the_end(self._ders, shared)
                finally:
                    os._exit(0)
            self._shared, self._helper = shared, pid
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._helper is not None:
            # Killed rather than told: it may be in the middle of a verification nobody
            # needs any more, and has nothing to flush.
            os.kill(self._helper, signal.SIGKILL)
            os.waitpid(self._helper, 0)
            self._helper = None
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    @property
    def helped(self) -> bool:
        """Whether a helper process was started."""
        return self._shared is not None

    def get(self, index: int) -> bool | None:
        """The helper's verdict on ``ders[index]``, if it has given it (None: verify it
        here). Asking marks it taken: the helper goes no further back than this."""
        shared = self._shared
        if shared is None:
            return None
        verdict = shared[index]
        if verdict == _UNKNOWN:
            shared[index] = _TAKEN  # this process gives the verdict: the helper stops here
            return None
        return verdict == _SIGNED

    def done_by_helper(self) -> int:
        """How many verdicts the helper has given (for tests and figures)."""
        if self._shared is None:
            return 0
        given = self._shared[:]
        return given.count(_SIGNED) + given.count(_NOT_SIGNED)


def _may_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


def _verify_from_the_end(ders: Sequence[bytes], shared: mmap.mmap) -> None:
    keys = KeyCache()
    with certinfo.quietly():
        for index in range(len(ders) - 1, -1, -1):
            if shared[index] != _UNKNOWN:  # the other process has got this far
                return
            verdict = _verdict(ders[index], keys)
            if verdict != _UNKNOWN:
                shared[index] = verdict


def _verdict(der: bytes, keys: KeyCache) -> int:
    """The self-signature verdict on ``der``, or _UNKNOWN: not self-issued by its bytes
    (names that differ in encoding but compare equal are left to the other process, which
    compares them anyway), or damaged (the other process reports it)."""
    try:
        parts = _tbs_parts(der)
        if parts is None or parts.issuer != parts.subject:
            return _UNKNOWN
        return (
            _SIGNED if verify_self_signature(certinfo.load_der(der), parts, keys) else _NOT_SIGNED
        )
    except Exception:
        return _UNKNOWN

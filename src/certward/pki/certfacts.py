""":class:`CertFacts` worked out from certificates, one or thousands at a time (issue 16).

The answers are :func:`certward.pki.profile.certificate_facts`' own, field for field (a test
compares them); what differs is the work done for a bundle of thousands:

* Names are read straight from the DER when they are plain (:func:`names.plain_name`: what
  nearly every certificate has), not made into ``x509.Name`` objects, which was most of the
  cost of reading a certificate; a self-issued certificate's issuer, the same bytes as its
  subject, is read once.
* A certificate's key is loaded once per distinct key (a bundle's certificates often share
  their CA's key), and a self-signature is verified with that key directly. Only a
  signature that verifies is taken from this path; anything else (a key or algorithm it
  does not handle, a signature that fails) is judged by :func:`certinfo.signed_by`, so
  the verdict is always signed_by's.
* Verifying self-signatures is most of the work (an ECDSA P-256 verification costs more
  than parsing and storing the certificate), so from :data:`PARALLEL_FROM` certificates on
  a helper process forked from this one works out facts from the end of the bundle while
  this one works from its start (:class:`BundleFacts`): the two meet wherever their speeds
  put them, and what the helper has not sent, this process works out itself (and any
  error is this process's).
"""

from __future__ import annotations

import binascii
import mmap
import os
import pickle
import signal
import struct
import threading
from collections.abc import Container, Iterator, Sequence
from types import TracebackType
from typing import Any, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from certward.errors import CertwardError
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
"""Certificates from which a helper process shares the work: a fork costs a few
milliseconds, the facts of some 30 certificates; below this it would not pay for itself."""

_KEYS_KEPT = 64  # distinct keys remembered per bundle (a bundle of many keys gains nothing)


class _Key:
    """A public key loaded once, with what the facts say about it."""

    __slots__ = ("ec", "key", "rsa", "size", "type")

    def __init__(self, spki: bytes) -> None:
        self.key = load_der_public_key(spki)
        self.type = key_type(self.key)
        self.size = certinfo.key_size(self.key)
        self.ec = isinstance(self.key, ec.EllipticCurvePublicKey)
        self.rsa = isinstance(self.key, rsa.RSAPublicKey)


_Algorithm = tuple[Any, hashes.HashAlgorithm | None]


class KeyCache:
    """Public keys by their SubjectPublicKeyInfo bytes, at most :data:`_KEYS_KEPT`; and the
    signature algorithms met, by their OID."""

    def __init__(self) -> None:
        self._keys: dict[bytes, _Key] = {}
        self._algorithms: dict[x509.ObjectIdentifier, _Algorithm] = {}

    def get(self, spki: bytes) -> _Key:
        found = self._keys.get(spki)
        if found is None:
            if len(self._keys) >= _KEYS_KEPT:
                self._keys.clear()
            found = self._keys[spki] = _Key(spki)
        return found

    def algorithm(self, cert: x509.Certificate) -> _Algorithm:
        """``cert``'s signature_algorithm_parameters and signature_hash_algorithm: kept for
        ECDSA and RSA PKCS#1 v1.5, which their OID alone decides (RSA-PSS's parameters are
        the certificate's own)."""
        oid = cert.signature_algorithm_oid
        found = self._algorithms.get(oid)
        if found is None:
            found = cert.signature_algorithm_parameters, cert.signature_hash_algorithm
            if isinstance(found[0], ec.ECDSA | padding.PKCS1v15):
                self._algorithms[oid] = found
        return found


def certificate_facts(
    der: bytes,
    cert: x509.Certificate | None = None,
    *,
    keys: KeyCache | None = None,
) -> CertFacts:
    """What the certificate ``der`` says about itself, as
    :func:`certward.pki.profile.certificate_facts` gives it (and, for one that cannot be
    read, the same coded error); ``cert``: ``der`` already parsed; ``keys``: keys loaded
    for earlier certificates."""
    with certinfo.quietly():
        try:
            parsed = certinfo.load_der(der) if cert is None else cert
            return _facts(der, parsed, KeyCache() if keys is None else keys)
        except Exception:  # any surprise: the checked way says what it is
            return checked_facts(der)


def _facts(der: bytes, cert: x509.Certificate, keys: KeyCache) -> CertFacts:
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
        signed = self_issued and verify_self_signature(cert, parts, keys, key)
    else:
        public_key = cert.public_key()
        kind, size = key_type(public_key), certinfo.key_size(public_key)
        signed = self_issued and certinfo.signed_by(cert, cert)
    signature = certinfo.signature_algorithm(cert)
    if constraints is not None:
        is_ca = bool(constraints.ca)
    else:  # a v1 self-signed certificate is a root by convention
        is_ca = version is x509.Version.v1 and self_issued
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
        issuer == subject,  # as x509.Name compares them: OIDs and values, not string types
    )


def verify_self_signature(
    cert: x509.Certificate, parts: _TbsParts, keys: KeyCache, key: _Key | None = None
) -> bool:
    """:func:`certinfo.signed_by` (``cert``, ``cert``): its own key verifies its signature.

    ECDSA and RSA PKCS#1 v1.5 signatures are verified here with the key loaded once (``key``:
    ``parts.spki``'s, if already looked up), over the certificate's own to-be-signed bytes
    (``parts.tbs``: what cryptography encodes again for signed_by, the same bytes, as it
    parses DER only); a signature that verifies that way verifies in signed_by too (the same
    key, algorithm and bytes). Everything else, a failed signature included, is signed_by's
    to judge."""
    try:
        if key is None:
            key = keys.get(parts.spki)
        algorithm, digest = keys.algorithm(cert)
        if key.ec and isinstance(algorithm, ec.ECDSA):
            cast(ec.EllipticCurvePublicKey, key.key).verify(cert.signature, parts.tbs, algorithm)
            return True
        if key.rsa and isinstance(algorithm, padding.PKCS1v15) and digest is not None:
            public = cast(rsa.RSAPublicKey, key.key)
            public.verify(cert.signature, parts.tbs, algorithm, digest)
            return True
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        pass
    return certinfo.signed_by(cert, cert)


# -- a PEM bundle's certificates, read directly -------------------------------------------------

_BEGIN = b"-----BEGIN "
_BEGIN_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_END_CERTIFICATE = b"-----END CERTIFICATE-----"


def plain_pem_certificates(data: bytes) -> tuple[list[bytes], list[x509.Certificate]] | None:
    """The DER and the parsed certificate of each block of ``data``, in order, when
    ``data`` is a plain PEM bundle: nothing but ``CERTIFICATE`` blocks (whatever text lies
    between them), each body its certificate's DER in canonical base64 (lines of any
    length) that cryptography reads; None for anything else (another label, headers, a
    block without its end, a body that does not decode or parse), which is
    :func:`formats.load_certificates`' to read (or refuse, with its own error).

    What :func:`formats.load_certificates` gives such a file, certificate for certificate
    (a test holds them equal), without a regular expression over the file or each
    certificate encoded again: its DER is the block's bytes (cryptography parses DER only,
    so encoding it again gives the same bytes)."""
    ders: list[bytes] = []
    certs: list[x509.Certificate] = []
    *blocks, rest = data.split(_END_CERTIFICATE)  # each up to its end line: a block at its end
    if _BEGIN in rest:  # a block without its end
        return None
    load = x509.load_der_x509_certificate
    with certinfo.quietly():
        for block in blocks:
            at = block.find(_BEGIN)
            if at < 0:  # an end line in the text between blocks
                continue
            if not block.startswith(_BEGIN_CERTIFICATE, at):
                return None
            start = at + len(_BEGIN_CERTIFICATE)
            if block.startswith(b"\n", start):
                start += 1
            elif block.startswith(b"\r\n", start):
                start += 2
            else:
                return None
            # The rest up to the end line: base64 alone (another begin line is refused here)
            body = block[start:].translate(None, b"\r\n")
            try:
                der = binascii.a2b_base64(body, strict_mode=True)
                # Strict: the alphabet and padding checked; canonical if the last group
                # leaves no bits set that its bytes do not use.
                tail = der[len(der) - (len(der) % 3 or 3) :]
                if binascii.b2a_base64(tail, newline=False) != body[-4:]:
                    return None
                certs.append(load(der))
            except (binascii.Error, ValueError, x509.InvalidVersion):
                return None
            ders.append(der)
    if not ders:
        return None
    return ders, certs


# -- the DER of a certificate, walked just far enough -------------------------------------------


class _TbsParts:
    """Slices of a certificate's DER: its to-be-signed part, its issuer and subject names and
    its key, each whole (tag, length and content), as the certificate encodes them."""

    __slots__ = ("issuer", "spki", "subject", "tbs")

    def __init__(self, tbs: bytes, issuer: bytes, subject: bytes, spki: bytes) -> None:
        self.tbs = tbs
        self.issuer = issuer
        self.subject = subject
        self.spki = spki


def _tbs_parts(der: bytes) -> _TbsParts | None:
    """The to-be-signed part, issuer, subject and key of the certificate ``der`` (whose
    parser accepted it); None when its layout is not the one expected, and the slower way is
    taken."""
    # Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, ... }
    cert = _der.tlv(der, 0, len(der))
    if cert is None:
        return None
    tbs_at = cert[1]
    tbs = _der.tlv(der, tbs_at, cert[2])
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
    return _TbsParts(
        der[tbs_at : tbs[2]],
        der[issuer_at:issuer_end],
        der[subject_at:subject_end],
        der[spki_at:spki_end],
    )


# -- a bundle's facts, shared with a helper process ----------------------------------------------

_CHUNK = 64  # certificates the helper takes at a time (at most)
_LAST_CHUNK = 8  # ... and at least, when the two processes are near each other

_SIZE = struct.Struct(">I")  # a frame's size, before its pickle

# One byte per certificate in shared memory: untouched, taken by this process, or by the helper.
_FREE, _TAKEN, _CLAIMED = 0, 1, 2
_TAKEN_MARK = bytes([_TAKEN])


class BundleFacts:
    """The facts of a bundle's certificates, in order (iterate over it, or over
    :meth:`facts` for only some of them, inside the block).

    ``ders[i]`` and ``certs[i]`` are one certificate (``certs[i]`` may be None: parsed from
    ``ders[i]`` when needed); each ``certs[i]`` is set to None once its facts are worked out,
    so that the parts it read are let go. One that cannot be read raises the coded error
    naming ``source`` (``pki.certificate_damaged``), as :func:`certinfo.check_readable`
    gives it.

    With at least ``parallel_from`` certificates, and when this process may fork (one
    thread: a fork copies only the calling thread, and a lock another thread held would
    never be released in the copy), a helper process forked on entering the block works out
    facts from the end of the bundle, at most :data:`_CHUNK` at a time (fewer as the two
    near each other), claiming each chunk in memory both processes share, while this one
    works from the start, marking each certificate it takes. The helper sends each chunk's
    facts through a pipe as it makes them, and stops at the first chunk whose last
    certificate this process has taken; this process, on reaching a claimed certificate,
    reads the rest and uses those from there on; it also reads what has come between its
    own (:meth:`facts_as_made`; :meth:`facts` puts them in the bundle's order). Both may
    work out the same certificate at the meeting point (this process keeps its own);
    whatever the helper did not send (a certificate it could not read, or a helper that
    died) is worked out here. Leaving the block ends the helper, whatever state it is in: it
    owns nothing (no lock, no file it writes) and what it had not sent was not needed."""

    def __init__(
        self,
        ders: Sequence[bytes],
        certs: list[x509.Certificate | None],
        *,
        source: str,
        parallel_from: int = PARALLEL_FROM,
    ) -> None:
        self._ders = ders
        self._certs = certs
        self._source = source
        self._parallel = len(ders) >= parallel_from
        self._keys = KeyCache()
        self._shared: mmap.mmap | None = None
        self._pipe: int | None = None
        self._inbox = bytearray()  # read from the pipe, not yet a whole frame
        self._helper: int | None = None
        self.from_helper = 0
        """How many facts were taken from the helper (for tests and figures)."""

    def __enter__(self) -> BundleFacts:
        if self._parallel and _may_fork():
            shared = mmap.mmap(-1, len(self._ders))  # anonymous: shared with the fork
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the helper: facts sent, then gone without running any cleanup
                try:
                    os.close(read)
                    _help(self._ders, self._certs, shared, write)
                finally:
                    os._exit(0)
            os.close(write)
            self._shared, self._pipe, self._helper = shared, read, pid
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._helper is not None:
            # Killed rather than told: it may be in the middle of work nobody needs any
            # more, and has nothing to flush.
            os.kill(self._helper, signal.SIGKILL)
            os.waitpid(self._helper, 0)
            self._helper = None
        self._close_pipe()
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    @property
    def helped(self) -> bool:
        """Whether a helper process was started."""
        return self._helper is not None

    def claimed_by_helper(self) -> int:
        """How many certificates the helper has claimed so far (for tests)."""
        return 0 if self._shared is None else self._shared[:].count(_CLAIMED)

    def __iter__(self) -> Iterator[CertFacts]:
        return self.facts(range(len(self._ders)))

    def facts(self, wanted: Container[int]) -> Iterator[CertFacts]:
        """The facts of the certificates whose index is in ``wanted``, in the bundle's
        order: :meth:`facts_as_made`'s, put in order; the others are passed over (marked
        taken, as the helper must not go on to them, and let go), e.g. those a store
        already holds. A certificate that cannot be read raises where it stands, after the
        facts of those before it (:meth:`facts_as_made` works out every one before it
        first)."""
        made = self.facts_as_made(wanted)
        ready: dict[int, CertFacts] = {}
        for index in range(len(self._ders)):
            if index not in wanted:
                continue
            while index not in ready:
                at, facts = next(made)
                ready[at] = facts
            yield ready.pop(index)

    def facts_as_made(self, wanted: Container[int]) -> Iterator[tuple[int, CertFacts]]:
        """The facts of the certificates whose index is in ``wanted`` (the others passed
        over and let go), each with its index, in the order they are made: this
        process's in the bundle's order, and between them (every :data:`_CHUNK`
        certificates) what the helper has sent meanwhile, so that a caller that writes them
        does so while the helper works, not after. Each wanted index comes once. A
        certificate that cannot be read raises its coded error (naming the file) once every
        wanted one before it has come: what the helper did not send is worked out here, in
        the bundle's order, at the end."""
        shared = self._shared
        count = len(self._ders)
        given = bytearray(count)  # 1: given from the helper
        for index in range(count):
            if shared is not None:
                if index % _CHUNK == 0:
                    # Sent for ``index`` on: claimed by the helper before it sent them, so
                    # this process stops at them (those before it, it worked out itself).
                    yield from self._sent(index, wanted, given, wait=False)
                if shared[index] == _CLAIMED:  # the helper's from here on
                    yield from self._sent(index, wanted, given, wait=True)
                    for at in range(index, count):
                        if not given[at]:
                            if at in wanted:
                                yield at, self._facts(at)
                            else:
                                self._certs[at] = None
                    return
                shared[index] = _TAKEN
            if index in wanted:
                yield index, self._facts(index)
            else:
                self._certs[index] = None

    def _sent(
        self, start: int, wanted: Container[int], given: bytearray, *, wait: bool
    ) -> Iterator[tuple[int, CertFacts]]:
        for index, made in self._receive(wait=wait):
            if index >= start and not given[index] and index in wanted:
                given[index] = 1
                self._certs[index] = None
                self.from_helper += 1
                yield index, CertFacts(*made)

    def _facts(self, index: int) -> CertFacts:
        der, cert = self._ders[index], self._certs[index]
        self._certs[index] = None
        try:
            return certificate_facts(der, cert, keys=self._keys)
        except CertwardError:
            certinfo.check_readable(certinfo.load_der(der) if cert is None else cert,
                                    source=self._source)  # fmt: skip
            raise

    def _receive(self, *, wait: bool) -> list[tuple[int, tuple[Any, ...]]]:
        """What the helper has sent since the last call: facts (as tuples) with their
        index; ``wait``: all it sends, until it ends or dies (then the pipe is closed)."""
        sent: list[tuple[int, tuple[Any, ...]]] = []
        pipe = self._pipe
        if pipe is None:
            return sent
        inbox = self._inbox
        os.set_blocking(pipe, wait)
        while True:
            while len(inbox) >= _SIZE.size:  # the whole frames read so far
                (size,) = _SIZE.unpack_from(inbox)
                if size == 0:  # the helper's last
                    self._close_pipe()
                    return sent
                if len(inbox) < _SIZE.size + size:
                    break
                # Our own fork's pickles: nothing else writes to this pipe.
                sent.extend(pickle.loads(inbox[_SIZE.size : _SIZE.size + size]))  # noqa: S301
                del inbox[: _SIZE.size + size]
            try:
                data = os.read(pipe, 1 << 20)
            except BlockingIOError:  # nothing more yet
                return sent
            if not data:  # the helper died: the rest is this process's
                self._close_pipe()
                return sent
            inbox += data

    def _close_pipe(self) -> None:
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        self._inbox.clear()


def _may_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


def _help(
    ders: Sequence[bytes], certs: Sequence[x509.Certificate | None], shared: mmap.mmap, pipe: int
) -> None:
    """The helper: chunks claimed from the end until the other process has got there, each
    chunk's facts sent as a frame (its size, then its pickle) once made. The pipe is written
    without waiting: what does not fit (the other process reads it only between its own
    certificates) is held and sent after the next chunk, and the rest at the end, with an
    empty frame: this process never stops for the other one while there is work."""
    keys = KeyCache()
    held = bytearray()
    end = len(ders)
    os.set_blocking(pipe, False)
    with certinfo.quietly():
        while end > 0 and shared[end - 1] == _FREE:
            # Smaller as the two near each other, so that the other process, on reaching
            # this chunk, waits for a few certificates, not for up to a whole chunk.
            free = end - 1 - shared.rfind(_TAKEN_MARK, 0, end)
            start = max(0, end - min(_CHUNK, max(_LAST_CHUNK, free // 4)))
            shared[start:end] = bytes([_CLAIMED]) * (end - start)
            chunk: list[tuple[int, tuple[Any, ...]]] = []
            for index in range(start, end):
                try:
                    chunk.append((index, tuple(certificate_facts(ders[index], certs[index],
                                                                    keys=keys))))  # fmt: skip
                except Exception:  # noqa: S112 - a damaged one: the other process reports it
                    continue
            frame = pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)
            held += _SIZE.pack(len(frame))
            held += frame
            _write(pipe, held)
            end = start
    held += _SIZE.pack(0)
    os.set_blocking(pipe, True)
    _write(pipe, held)
    os.close(pipe)


def _write(pipe: int, held: bytearray) -> None:
    """As much of ``held`` as the pipe takes (all of it, if the pipe blocks), taken off it."""
    try:
        while held:
            del held[: os.write(pipe, held)]
    except BlockingIOError:
        pass  # full: the rest later

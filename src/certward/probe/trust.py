"""Why a presented chain is not trusted, as a person says it (pure: ``now`` is a parameter).

cryptography's verifier decides; when it refuses, the chain's shape tells the reason an
administrator acts on ("self-signed, not in the trusted roots", "issuer not found: the
server sent no intermediate", "expired") instead of the verifier's own words ("candidates
exhausted ..."), which are kept only when no shape explains the refusal.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509 import verification

from certward.pki import certinfo
from certward.pki import chain as chains
from certward.pki.certinfo import to_der
from certward.pki.names import common_name
from certward.probe.report import TrustFailure


@functools.lru_cache(maxsize=1024)
def is_self_signed(cert: x509.Certificate) -> bool:
    """``certinfo.is_self_signed`` (a signature check), once per distinct certificate for
    the run: endpoints share certificates (a wildcard, the CA's intermediates)."""
    return certinfo.is_self_signed(cert)


def _name(cert: x509.Certificate | x509.Name) -> str:
    subject = cert.subject if isinstance(cert, x509.Certificate) else cert
    return common_name(subject) or subject.rfc4514_string() or "(no name)"


def _day(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d")


class TrustAnchors:
    """The trusted roots, prepared once for judging many chains: their DER encodings (is a
    certificate one of them?) and the verification store (Mozilla's bundle is over a hundred
    roots; encoding them again and building a store for every endpoint cost more than the
    rest of judging it)."""

    __slots__ = ("_ders", "certificates", "store")

    def __init__(self, roots: Sequence[x509.Certificate]) -> None:
        self.certificates = tuple(roots)
        self._ders: frozenset[bytes] | None = None
        # None for no roots: nothing is trusted (the verifier refuses an empty store).
        self.store = verification.Store(list(self.certificates)) if self.certificates else None

    @property
    def ders(self) -> frozenset[bytes]:
        """The roots' DER encodings, made when first asked: only a chain the verifier refuses
        asks, so a probe of one endpoint that validates (or is self-signed) never encodes
        the hundred-odd roots (a few milliseconds of its start-up)."""
        if self._ders is None:
            self._ders = frozenset(to_der(root) for root in self.certificates)
        return self._ders

    @classmethod
    def of(cls, roots: Sequence[x509.Certificate] | TrustAnchors) -> TrustAnchors:
        return roots if isinstance(roots, TrustAnchors) else cls(roots)


def judge(
    leaf: x509.Certificate,
    *,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate] | TrustAnchors,
    now: dt.datetime,
) -> tuple[TrustFailure | None, str]:
    """(None, "") when ``leaf`` validates through ``intermediates`` to one of ``roots``
    (prepared once with :class:`TrustAnchors` when judging many); else the reason and its
    words."""
    anchors = TrustAnchors.of(roots)
    verifier_says = chains.path_error(
        leaf, intermediates=intermediates, roots=anchors.certificates, now=now,
        store=anchors.store,
    )  # fmt: skip
    if verifier_says is None:
        return None, ""
    if now > leaf.not_valid_after_utc:
        days = (now - leaf.not_valid_after_utc).days
        return (
            TrustFailure.EXPIRED,
            f"expired on {_day(leaf.not_valid_after_utc)} ({days} days ago)",
        )
    if now < leaf.not_valid_before_utc:
        return TrustFailure.NOT_YET_VALID, f"not valid before {_day(leaf.not_valid_before_utc)}"
    if is_self_signed(leaf):
        return TrustFailure.SELF_SIGNED, "self-signed, not in the trusted roots"
    pool = [*intermediates, *anchors.certificates]
    path = chains.build_chain(leaf, pool)
    last = path[-1] if path else leaf
    for issuer in path:
        if now > issuer.not_valid_after_utc:
            return TrustFailure.ISSUER_EXPIRED, (
                f"the issuer {_name(issuer)} expired on {_day(issuer.not_valid_after_utc)}"
            )
    if not any(to_der(c) in anchors.ders for c in path):
        if path and is_self_signed(last):
            return TrustFailure.UNTRUSTED_ROOT, (
                f"the chain ends at {_name(last)}, which is not in the trusted roots"
            )
        if any(c.subject == last.issuer for c in pool):  # the name is there, the key is not
            return TrustFailure.BAD_SIGNATURE, (
                f"the signature of {_name(last)} does not verify with {_name(last.issuer)}'s key"
            )
        if not intermediates:
            return TrustFailure.NO_INTERMEDIATE, (
                f"issuer not found: the server sent no intermediate ({_name(leaf)} is issued "
                f"by {_name(leaf.issuer)}, which is not a trusted root)"
            )
        return TrustFailure.ISSUER_NOT_FOUND, (
            f"issuer not found: {_name(last.issuer)} (issuer of {_name(last)}) was neither "
            "sent by the server nor among the trusted roots"
        )
    for issuer in path:
        try:
            constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.value.ca:
            return TrustFailure.NOT_A_CA, f"{_name(issuer)} is not a CA and cannot issue"
    return TrustFailure.OTHER, f"not trusted: {verifier_says}"

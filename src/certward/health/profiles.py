"""Certificates' profiles for a health snapshot, made once per thumbprint (pure, no I/O).

An organisation's servers share certificates (the same roots in every Root store, a SAN
certificate on every server) and a scheduled health run sees the same certificates again and
again, while a thumbprint names one certificate whose content never changes. So a profile
is made once per thumbprint and remembered (:class:`ProfileMemo`), from the certificate's
recorded facts when the store has them (no parsing, no signature checked again: a fresh
process, such as ``certward health``, reads them), else from its DER by
:func:`profile_of_der`, which reads each part of the certificate once, in one warnings
context (:func:`certward.pki.profile.certificate_facts`); the facts so worked out are handed
back to be recorded. Anything unusual (a part that cannot be read) goes the checked way,
so a damaged certificate gives the same coded error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping

from certward.errors import CertwardError
from certward.model import Thumbprint
from certward.model.certfacts import CertFacts
from certward.pki import certinfo
from certward.pki.profile import CertProfile, certificate_facts

FactsReader = Callable[[Collection[Thumbprint]], Mapping[Thumbprint, CertFacts]]
FactsWriter = Callable[[list[CertFacts]], None]


def checked_profile(der: bytes) -> CertProfile:
    """:meth:`CertProfile.of` the certificate: each part checked, a damaged one coded."""
    return CertProfile.of(certinfo.load_der(der))


def profile_of_der(der: bytes) -> CertProfile:
    """The certificate's profile, equal to :func:`checked_profile`'s (and raising what it
    raises for a certificate it cannot read)."""
    return profiles_of_ders({Thumbprint(""): der})[Thumbprint("")]


def profiles_of_ders(ders: Mapping[Thumbprint, bytes]) -> dict[Thumbprint, CertProfile]:
    """:func:`profile_of_der` of each, in one warnings context."""
    return _Made().from_ders(ders)


class _Made:
    """Profiles made in one read, and the facts worked out from DER on the way."""

    def __init__(self) -> None:
        self.profiles: dict[Thumbprint, CertProfile] = {}
        self.facts: list[CertFacts] = []  # worked out from DER here, to be recorded

    def from_facts(self, stored: Mapping[Thumbprint, CertFacts]) -> dict[Thumbprint, CertProfile]:
        from_facts = CertProfile.from_facts
        for tp, facts in stored.items():
            self.profiles[tp] = from_facts(facts)
        return self.profiles

    def from_ders(self, ders: Mapping[Thumbprint, bytes]) -> dict[Thumbprint, CertProfile]:
        with certinfo.quietly():
            for tp, der in ders.items():
                try:
                    facts = certificate_facts(der)
                except CertwardError:  # damaged: the checked way's coded error
                    raise
                except Exception:  # facts it cannot record (the profile alone still reads)
                    self.profiles[tp] = checked_profile(der)
                    continue
                self.facts.append(facts)
                self.profiles[tp] = CertProfile.from_facts(facts)
        return self.profiles


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
        *,
        facts: FactsReader | None = None,
        record: FactsWriter | None = None,
    ) -> dict[Thumbprint, CertProfile]:
        """The profile of each of ``thumbprints`` whose facts ``facts`` gives or whose DER
        ``ders`` gives; each is asked only for the thumbprints not known yet (``ders`` only
        for those without facts), and ``record`` is given the facts worked out from DER."""
        wanted = set(thumbprints)
        with self._lock:
            known = self._known
            unknown = wanted - known.keys()
        made: Mapping[Thumbprint, CertProfile] = {}
        if unknown:
            making = _Made()
            stored = facts(unknown) if facts is not None else {}
            making.from_facts(stored)
            missing = unknown - stored.keys()
            made = making.from_ders(ders(missing)) if missing else making.profiles
            if record is not None and making.facts:
                record(making.facts)
        with self._lock:
            if len(self._known) + len(made) > self._limit:
                self._known = {tp: p for tp, p in self._known.items() if tp in wanted}
            self._known.update(made)
            known = self._known
        return {tp: p for tp in wanted if (p := known.get(tp)) is not None}

    def clear(self) -> None:
        """Forget every profile (a benchmark's first run, as a fresh process makes it)."""
        with self._lock:
            self._known = {}


PROFILES = ProfileMemo()
"""The process's memo (the web service's scheduled runs share it)."""

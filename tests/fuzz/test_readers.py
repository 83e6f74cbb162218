"""Bad input never crashes (issue 12): every reader, given valid artefacts mutated by
hypothesis (bit flips, bytes set, truncation, deletion, insertion, splicing two seeds, DER
lengths tampered, lines dropped, repeated, swapped, cut or given hostile values), returns a
value or refuses with a coded error whose message is one line and names the file.

Bounded for CI: derandomized (the same examples on every run), a deadline per example, no
example database. ``benchmarks/fuzz_campaign.py`` runs the same readers for as long as asked.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certward.errors import CertwardError
from tests.fuzz.harness import KINDS, READERS, Seeds, attempt, mutate, read_bundle

FUZZ = settings(
    max_examples=100,
    deadline=dt.timedelta(seconds=10),  # a 2,000,000-iteration MAC takes seconds, by design
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# The PFX readers decrypt and load RSA keys: fewer examples keep them within the budget.
EXAMPLES = {"pfx": 60, "pfx-remac": 40, "pfx-import": 60}

OPS = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=2,
)


def test_every_reader_reads_its_seeds(seeds: Seeds) -> None:
    """The seeds are what the readers read (a CSR and a key-only store file are refused)."""
    for name, reader in READERS.items():
        outcomes = [attempt(reader, seed) for seed in seeds.of(reader.seed_kind)]
        if name == "csr":
            assert set(outcomes) == {"refused"}
        else:
            assert "parsed" in outcomes, name


@pytest.mark.parametrize("name", sorted(READERS))
def test_mutated_input_is_read_or_refused_on_one_line(seeds: Seeds, name: str) -> None:
    reader = READERS[name]
    pool = seeds.of(reader.seed_kind)

    @settings(FUZZ, max_examples=EXAMPLES.get(name, FUZZ.max_examples))
    @given(seed=st.sampled_from(pool), ops=OPS)
    def check(seed: bytes, ops: list[tuple[str, int, int, int]]) -> None:
        attempt(reader, mutate(seed, ops, pool))  # a crash or a broken message fails

    check()


@settings(FUZZ, max_examples=120)
@given(data=st.binary(max_size=600), name=st.sampled_from(sorted(READERS)))
def test_arbitrary_bytes_are_read_or_refused_on_one_line(data: bytes, name: str) -> None:
    attempt(READERS[name], data)


def test_a_request_in_pem_or_der_is_refused_as_a_request(seeds: Seeds) -> None:
    for request in seeds.of("csr"):
        with pytest.raises(CertwardError) as refused:
            read_bundle(request)
        assert refused.value.code.id == "pki.file_is_request"

"""The seeds of the fuzz corpus: made once per session (real certificates from a test CA,
PKCS#7, PFX files from certward and ``openssl pkcs12``, CSRs, the Windows dumps)."""

from __future__ import annotations

import pytest

from tests.fuzz.harness import Seeds, make_seeds


@pytest.fixture(scope="session")
def seeds() -> Seeds:
    return make_seeds()

"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import datetime as dt

import pytest

from certward.pki import ca
from tests.conftest import Cli


@pytest.fixture
def contoso(org: Cli) -> Cli:
    """Organisation Contoso (EXCH01, EXCH02)."""
    return org


@pytest.fixture(scope="module")
def authority() -> ca.Authority:
    """An issuing CA under a root, standing in for the public CA of seed 002."""
    now = dt.datetime.now(dt.UTC)
    root = ca.make_root("Fabrikam Test Root CA", now=now, organisation="Fabrikam")
    return ca.make_intermediate(root, "Fabrikam Test Issuing CA", now=now)

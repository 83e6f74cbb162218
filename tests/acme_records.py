"""An ACME account and an order whose last attempt failed, written straight into a store
(no CA needed): for the tests that read, list or judge what ACME keeps, not for obtaining."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from certward.model.acme import AcmeAccount, AcmeError, AcmeOrder


def add_failing_order(
    repo: Any,
    when: dt.datetime,
    *,
    account_url: str = "https://acme.test/acct/1",
    challenge: str = "http-01",
    attempts: int = 2,
    error: AcmeError = AcmeError("acme.refused", "no", "urn:x"),  # noqa: B008 - frozen
) -> AcmeOrder:
    """An account and its order for mail.contoso.com on EXCH01, never issued, its last
    attempt at ``when`` failed with ``error``, the next due an hour later; in ``repo`` (a
    store's transaction)."""
    account = repo.add_acme_account(
        AcmeAccount("https://acme.test/dir", "admin@contoso.com", account_url, "x" * 43, "{}",
                    when),
        ec.generate_private_key(ec.SECP256R1()),
    )  # fmt: skip
    assert account.account_id is not None
    order: AcmeOrder = repo.save_acme_order(
        AcmeOrder(account.account_id, "EXCH01", ("mail.contoso.com",), challenge,
                  {"port": "80"}, attempts=attempts, last_attempt=when,
                  next_attempt=when + dt.timedelta(hours=1), error=error)
    )  # fmt: skip
    return order

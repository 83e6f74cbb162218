"""The repository's reads and writes for ACME accounts, orders and pending HTTP-01
challenges (a mixin of :class:`certward.storage.repository.Repository`, in the same
transaction). Account keys are sealed by the key vault and opened only here."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import types
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certward.codes.acme import ACME_ACCOUNT_EXISTS, ACME_ACCOUNT_NOT_FOUND
from certward.model.acme import AcmeAccount, AcmeOrder
from certward.storage import audit_capture, snapshot_rows
from certward.storage.rows import utc
from certward.storage.schema_acme import AcmeAccountRow, AcmeChallengeRow, AcmeOrderRow
from certward.storage.vault import KeyVault

# Accounts are configuration (audited; the sealed key shows only as set). Orders are the
# renewal job's own record, challenges live for one validation: neither is audited.
audit_capture.register_kind("acme_accounts", "ACME account", lambda _s, row: str(row.account_url))
audit_capture.SKIPPED_TABLES.update({"acme_orders", "acme_challenges"})


def _account(row: AcmeAccountRow) -> AcmeAccount:
    created = utc(row.created)
    assert created is not None
    return AcmeAccount(
        directory_url=row.directory_url,
        email=row.email,
        account_url=row.account_url,
        thumbprint=row.thumbprint,
        public_jwk=row.public_jwk,
        created=created,
        eab_kid=row.eab_kid,
        ca_bundle=row.ca_bundle,
        account_id=row.id,
    )


class AcmeRepository:
    """ACME accounts (their keys sealed), orders and pending HTTP-01 challenges."""

    _session: Session
    _vault: KeyVault

    # -- accounts ---------------------------------------------------------------------------
    def acme_accounts(self) -> list[AcmeAccount]:
        rows = self._session.scalars(select(AcmeAccountRow).order_by(AcmeAccountRow.id))
        return [_account(row) for row in rows]

    def acme_account(self, account_id: int) -> AcmeAccount:
        row = self._session.get(AcmeAccountRow, account_id)
        if row is None:
            raise ACME_ACCOUNT_NOT_FOUND(f"no ACME account has id {account_id}", account=account_id)
        return _account(row)

    def add_acme_account(self, account: AcmeAccount, key: types.PrivateKeyTypes) -> AcmeAccount:
        clash = self._session.scalars(
            select(AcmeAccountRow).where(
                (AcmeAccountRow.account_url == account.account_url)
                | (
                    (AcmeAccountRow.directory_url == account.directory_url)
                    & (AcmeAccountRow.email == account.email)
                )
            )
        ).first()
        if clash is not None:
            raise ACME_ACCOUNT_EXISTS(
                f"an ACME account for {account.email} at {account.directory_url} is already "
                f"registered ({clash.account_url})",
                directory=account.directory_url,
                email=account.email,
            )
        row = AcmeAccountRow(
            directory_url=account.directory_url,
            email=account.email,
            account_url=account.account_url,
            thumbprint=account.thumbprint,
            public_jwk=account.public_jwk,
            encrypted_pkcs8=self._vault.seal(key),
            eab_kid=account.eab_kid,
            ca_bundle=account.ca_bundle,
            created=account.created,
        )
        self._session.add(row)
        self._session.flush()
        return _account(row)

    def acme_account_key(self, account_id: int) -> types.PrivateKeyTypes:
        row = self._session.get(AcmeAccountRow, account_id)
        if row is None:
            raise ACME_ACCOUNT_NOT_FOUND(f"no ACME account has id {account_id}", account=account_id)
        return self._vault.open(row.encrypted_pkcs8)

    def acme_sealed_keys(self) -> list[bytes]:
        return list(self._session.scalars(select(AcmeAccountRow.encrypted_pkcs8)))

    def acme_reseal_keys(self, reseal: Callable[[bytes], bytes]) -> int:
        count = 0
        for row in self._session.scalars(select(AcmeAccountRow)):
            row.encrypted_pkcs8 = reseal(row.encrypted_pkcs8)
            count += 1
        return count

    # -- orders -----------------------------------------------------------------------------
    def acme_orders(self) -> list[AcmeOrder]:
        found = self._session.scalars(select(AcmeOrderRow).order_by(AcmeOrderRow.id))
        return [snapshot_rows.acme_order_of(row) for row in found]

    def has_acme_orders(self) -> bool:
        """Whether any certificate is kept by ACME (one indexed row read, not the orders)."""
        return self._session.scalars(select(AcmeOrderRow.id).limit(1)).first() is not None

    def acme_order(self, order_id: int) -> AcmeOrder | None:
        row = self._session.get(AcmeOrderRow, order_id)
        return None if row is None else snapshot_rows.acme_order_of(row)

    def save_acme_order(self, order: AcmeOrder) -> AcmeOrder:
        row = None if order.order_id is None else self._session.get(AcmeOrderRow, order.order_id)
        if row is None:
            row = AcmeOrderRow()
            self._session.add(row)
        row.account_id = order.account_id
        row.server = order.server
        row.names = "\n".join(order.names)
        row.challenge = order.challenge
        row.solver_options = json.dumps(dict(order.solver_options), sort_keys=True)
        row.thumbprint = order.thumbprint
        row.order_url = order.order_url
        row.key_size = order.key_size
        row.exportable = order.exportable
        row.attempts = order.attempts
        row.last_attempt = order.last_attempt
        row.next_attempt = order.next_attempt
        row.retry_after = order.retry_after
        row.error_code = order.error.code if order.error else None
        row.error_detail = order.error.detail if order.error else None
        row.error_problem = order.error.problem if order.error else None
        self._session.flush()
        return snapshot_rows.acme_order_of(row)

    def delete_acme_order(self, order_id: int) -> None:
        """Forget an order (``certward acme orders --prune``)."""
        self._session.execute(delete(AcmeOrderRow).where(AcmeOrderRow.id == order_id))

    # -- pending HTTP-01 challenges ---------------------------------------------------------
    def acme_challenges(self) -> dict[str, str]:
        """Token → key authorization, for the IIS endpoint's ``/.well-known/acme-challenge/``."""
        rows = self._session.execute(
            select(AcmeChallengeRow.token, AcmeChallengeRow.key_authorization)
        )
        return {token: key_authorization for token, key_authorization in rows}

    def publish_acme_challenge(
        self, token: str, key_authorization: str, domain: str, now: dt.datetime
    ) -> None:
        self._session.execute(delete(AcmeChallengeRow).where(AcmeChallengeRow.token == token))
        self._session.add(
            AcmeChallengeRow(
                token=token, key_authorization=key_authorization, domain=domain, created=now
            )
        )
        self._session.flush()

    def withdraw_acme_challenge(self, token: str) -> None:
        self._session.execute(delete(AcmeChallengeRow).where(AcmeChallengeRow.token == token))

"""ACME as certward operations: register an account, obtain a certificate for a server's
names as a completed request, and renew due certificates through the organisation-wide
renewal transaction (:mod:`certward.services.renewal`).

A certificate is obtained exactly as a CA's reply completes a request: the certificates
service makes the pending request (its key sealed in the store) and emits the CSR, the ACME
order is finalized with that CSR, and the issued chain is imported through the same path as
``certward cert import`` — the result cannot be told apart. A renewal starts the
organisation-wide renewal (a new request with a new key), obtains the certificate for it and
applies the plan in one transaction: every server holding the old certificate gets the new
one with the same services, every connector naming it follows.

Each certificate kept alive this way has an order (:class:`certward.model.acme.AcmeOrder`).
A failure is stored with it (its code and detail, the next attempt after a capped backoff and
never before the server's ``Retry-After``), is a health finding (CW-ACME-001) and a
notification; the pending request the attempt made is removed, so nothing is half-done.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric import types

from certward.clock import Clock
from certward.codes.acme import ACME_ACCOUNT_EXISTS, ACME_ACCOUNT_NOT_FOUND, ACME_NOT_ACME
from certward.errors import CertwardError
from certward.model import StoreName, Thumbprint
from certward.model.acme import (
    AcmeAccount,
    AcmeError,
    AcmeOrder,
    may_attempt,
    next_attempt,
)
from certward.model.watch import Notice
from certward.pki import certinfo

if TYPE_CHECKING:
    from acme import messages
    from certward.acme import ari
    from certward.acme.client import AcmeClient, Eab
    from certward.acme.solvers import ChallengeSolver, SolverSettings
    from certward.services.certificates import CertificateService
    from certward.services.renewal import RenewalService
    from certward.services.views import CertificateView


class AcmeRepo(Protocol):
    """What this service needs of the store, within one transaction."""

    def acme_accounts(self) -> list[AcmeAccount]: ...
    def acme_account(self, account_id: int) -> AcmeAccount: ...
    def add_acme_account(self, account: AcmeAccount, key: types.PrivateKeyTypes) -> AcmeAccount: ...
    def acme_account_key(self, account_id: int) -> types.PrivateKeyTypes: ...
    def acme_orders(self) -> list[AcmeOrder]: ...
    def has_acme_orders(self) -> bool: ...
    def acme_order(self, order_id: int) -> AcmeOrder | None: ...
    def save_acme_order(self, order: AcmeOrder) -> AcmeOrder: ...
    def delete_acme_order(self, order_id: int) -> None: ...
    def publish_acme_challenge(
        self, token: str, key_authorization: str, domain: str, now: dt.datetime
    ) -> None: ...
    def withdraw_acme_challenge(self, token: str) -> None: ...


class AcmeStore(Protocol):
    def transaction(self) -> AbstractContextManager[Any]: ...

    def reading(self) -> AbstractContextManager[Any]: ...


class StorePending:
    """HTTP-01 key authorizations published in the store for certward's IIS endpoint."""

    def __init__(self, store: AcmeStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def publish(self, token: str, key_authorization: str, domain: str) -> None:
        with self._store.transaction() as repo:
            _acme(repo).publish_acme_challenge(token, key_authorization, domain, self._clock.now())

    def withdraw(self, token: str) -> None:
        with self._store.transaction() as repo:
            _acme(repo).withdraw_acme_challenge(token)


def _acme(repo: Any) -> AcmeRepo:
    result: AcmeRepo = repo
    return result


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Obtained:
    """A certificate obtained through ACME and imported as a completed request."""

    server: str
    thumbprint: Thumbprint
    order: AcmeOrder
    chain_added: int

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "thumbprint": self.thumbprint,
            "order": self.order.to_json(),
            "chain_added": self.chain_added,
        }


@dataclass(frozen=True, slots=True)
class Follower:
    """Where a renewal goes: a server holding the certificate, or a connector naming it."""

    kind: str  # "server" | "connector"
    name: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RenewalOutcome:
    """What ``renew`` did (or, with ``dry_run``, would do) for one order."""

    order: AcmeOrder
    action: str  # "renewed", "failed", "due" (dry run), "not-due", "waiting", "missing"
    reason: str
    old: Thumbprint | None = None
    new: Thumbprint | None = None
    followers: tuple[Follower, ...] = ()
    steps: tuple[str, ...] = ()
    error: AcmeError | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "order": self.order.order_id,
            "server": self.order.server,
            "names": list(self.order.names),
            "action": self.action,
            "reason": self.reason,
            "old_thumbprint": self.old,
            "new_thumbprint": self.new,
            "followers": [
                {"kind": f.kind, "name": f.name, "detail": f.detail} for f in self.followers
            ],
            "steps": list(self.steps),
            "error": None
            if self.error is None
            else {"code": self.error.code, "detail": self.error.detail},
        }


@dataclass(frozen=True)
class RenewalReport:
    outcomes: list[RenewalOutcome] = field(default_factory=list)
    dry_run: bool = False

    @property
    def failed(self) -> list[RenewalOutcome]:
        return [o for o in self.outcomes if o.action == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "orders": [o.to_json() for o in self.outcomes]}


ClientFactory = Callable[
    [AcmeAccount | None, str, types.PrivateKeyTypes, str | None, "messages.Directory | None"],
    "AcmeClient",
]
"""Makes the client of an account (None: one being registered) at a directory URL, with the
directory itself when it was read already."""


def _default_client(
    account: AcmeAccount | None,
    directory_url: str,
    key: types.PrivateKeyTypes,
    ca_bundle: str | None,
    directory: messages.Directory | None,
) -> AcmeClient:
    from certward.acme.client import AcmeClient, account_jwk

    return AcmeClient(
        directory_url,
        account_jwk(key),
        account_url=account.account_url if account else None,
        ca_bundle=ca_bundle,
        directory=directory,
    )


class AcmeService:
    """ACME accounts, issuance as a completed request, and renewal of due certificates."""

    def __init__(
        self,
        store: AcmeStore,
        clock: Clock,
        *,
        certificates: Callable[[], CertificateService],
        renewal: Callable[[], RenewalService],
        client: ClientFactory = _default_client,
        timeout: float = 60.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._certificates = certificates
        self._renewal = renewal
        self._client = client
        self.timeout = timeout
        # The directories a renewal run has read, by (URL, CA bundle): each once per run
        # and thread (a run that renews many certificates of one CA asks for it once).
        self._run = threading.local()

    # -- accounts ---------------------------------------------------------------------------
    def accounts(self) -> list[AcmeAccount]:
        with self._store.transaction() as repo:
            return _acme(repo).acme_accounts()

    def add_account(
        self,
        directory_url: str,
        email: str,
        *,
        eab: Eab | None = None,
        ca_bundle: str | None = None,
    ) -> AcmeAccount:
        """Register a new account (terms of service agreed) and store it, its key sealed."""
        from certward.acme.client import jwk_thumbprint, new_account_key, public_jwk_json

        for known in self.accounts():  # refused before the CA is asked
            if known.directory_url == directory_url and known.email == email:
                raise ACME_ACCOUNT_EXISTS(
                    f"an ACME account for {email} at {directory_url} is already registered "
                    f"(account {known.account_id}, {known.account_url})",
                    directory=directory_url,
                    email=email,
                )
        key = new_account_key()
        client = self._client(None, directory_url, key, ca_bundle, None)
        registered = client.register(email, eab=eab)
        account = AcmeAccount(
            directory_url=directory_url,
            email=email,
            account_url=registered.account_url,
            thumbprint=jwk_thumbprint(client.key),
            public_jwk=public_jwk_json(client.key),
            created=self._clock.now(),
            eab_kid=eab.kid if eab else None,
            ca_bundle=ca_bundle,
        )
        with self._store.transaction() as repo:
            return _acme(repo).add_acme_account(account, key)

    def orders(self) -> list[AcmeOrder]:
        with self._store.reading() as repo:
            return _acme(repo).acme_orders()

    def has_orders(self) -> bool:
        """Whether any certificate is kept by ACME (the scheduler's acme job exists then)."""
        with self._store.reading() as repo:
            return _acme(repo).has_acme_orders()

    def prune(self) -> list[AcmeOrder]:
        """Forget the orders whose certificate is no longer on their server (removed by
        hand: there is nothing left to renew); those forgotten. An order whose first
        issuance failed has no certificate yet and stays (it is retried)."""
        gone: list[AcmeOrder] = []
        with self._store.transaction() as repo:
            acme = _acme(repo)
            for order in acme.acme_orders():
                if order.thumbprint is None or order.order_id is None:
                    continue
                thumbprint = Thumbprint(order.thumbprint)
                if repo.find_certificate(order.server, thumbprint, StoreName.MY) is None:
                    acme.delete_acme_order(order.order_id)
                    gone.append(order)
        return gone

    def _account(self, which: int | str | None) -> tuple[AcmeAccount, types.PrivateKeyTypes]:
        with self._store.transaction() as repo:
            accounts = _acme(repo).acme_accounts()
            if which is None:
                found = accounts[0] if len(accounts) == 1 else None
                if found is None:
                    raise ACME_ACCOUNT_NOT_FOUND(
                        "no ACME account is registered"
                        if not accounts
                        else f"{len(accounts)} ACME accounts are registered: name one",
                        accounts=len(accounts),
                    )
            else:
                found = next(
                    (a for a in accounts if str(a.account_id) == str(which)), None
                ) or next((a for a in accounts if a.directory_url == which), None)
                if found is None:
                    raise ACME_ACCOUNT_NOT_FOUND(
                        f"no ACME account has the id or directory {which}", account=str(which)
                    )
            assert found.account_id is not None
            return found, _acme(repo).acme_account_key(found.account_id)

    def _solver(self, settings: SolverSettings) -> ChallengeSolver:
        from certward.acme.solvers import SolverContext, make_solver

        context = SolverContext(pending=StorePending(self._store, self._clock), timeout=30.0)
        return make_solver(settings, context)

    def _order_solver(self, order: AcmeOrder) -> ChallengeSolver:
        from certward.acme.solvers import SolverSettings

        return self._solver(SolverSettings(order.challenge, dict(order.solver_options)))

    def _obtain(
        self,
        account: AcmeAccount,
        key: types.PrivateKeyTypes,
        csr_pem: bytes,
        solver: ChallengeSolver,
    ) -> tuple[bytes, str | None]:
        client = self._client(
            account,
            account.directory_url,
            key,
            account.ca_bundle,
            self._known_directory(account.directory_url, account.ca_bundle),
        )
        client.timeout = self.timeout
        try:
            issued = client.obtain(csr_pem, solver)
        finally:
            close = getattr(solver, "close", None)
            if callable(close):
                close()
        return issued.fullchain_pem, issued.order_url

    # -- issuance ---------------------------------------------------------------------------
    def request(
        self,
        server: str,
        *,
        subject: str,
        domains: Sequence[str] = (),
        challenge: str = "http-01",
        solver_options: Mapping[str, str] | None = None,
        account: int | str | None = None,
        exportable: bool = False,
        key_size: int = 2048,
        friendly_name: str | None = None,
        notify: bool = True,
    ) -> Obtained:
        """Obtain a certificate for an Exchange-style request's names on ``server`` and import
        it as the CA's reply: the request is completed, its chain added to the server's
        stores. On failure the pending request is removed and the failure stored."""
        from certward.acme.solvers import SolverSettings

        settings = SolverSettings(challenge, dict(solver_options or {}))  # unknown kind: refused
        solver = self._solver(settings)  # unusable options: refused before anything is stored
        acct, key = self._account(account)
        assert acct.account_id is not None
        certificates = self._certificates()
        csr: list[bytes] = []
        view = certificates.request_certificate(
            server,
            subject=subject,
            domains=domains,
            exportable=exportable,
            key_size=key_size,
            friendly_name=friendly_name,
            sink=csr.append,
        )
        names = tuple(view.certificate_domains)
        # A first issuance that failed before left an order without a certificate: this
        # request takes it over (its attempts and backoff kept), with this request's settings.
        order = replace(
            self._find_order(view.server, names, thumbprint=None)
            or AcmeOrder(acct.account_id, view.server, names, settings.kind),
            account_id=acct.account_id,
            challenge=settings.kind,
            solver_options=dict(settings.options),
            key_size=key_size,
            exportable=exportable,
        )
        now = self._clock.now()
        try:
            chain, order_url = self._obtain(acct, key, csr[0], solver)
            result = certificates.import_file(
                view.server, chain, source=f"ACME order {order_url or acct.directory_url}"
            )
        except CertwardError as exc:
            self._discard_request(view)
            self._failed(order, exc, now, notify=notify)
            raise
        saved = self._succeeded(order, result.thumbprint, order_url, now)
        return Obtained(view.server, result.thumbprint, saved, len(result.chain_added))

    def _find_order(
        self, server: str, names: Sequence[str], *, thumbprint: str | None
    ) -> AcmeOrder | None:
        wanted = sorted(n.lower() for n in names)
        for order in self.orders():
            if (
                order.server.lower() == server.lower()
                and sorted(n.lower() for n in order.names) == wanted
                and order.thumbprint == thumbprint
            ):
                return order
        return None

    def _save(self, order: AcmeOrder) -> AcmeOrder:
        with self._store.transaction() as repo:
            return _acme(repo).save_acme_order(order)

    def _discard_request(self, view: CertificateView) -> None:
        """Remove the pending request an attempt made (its key goes with it)."""
        with suppress(CertwardError):  # already gone
            self._certificates().remove(view.server, Thumbprint(view.thumbprint), force=True)

    def _succeeded(
        self, order: AcmeOrder, thumbprint: Thumbprint, order_url: str | None, now: dt.datetime
    ) -> AcmeOrder:
        """``order`` after a certificate was obtained: its new thumbprint, no error, no wait."""
        return self._save(
            replace(
                order,
                thumbprint=thumbprint,
                order_url=order_url,
                attempts=0,
                last_attempt=now,
                next_attempt=None,
                retry_after=None,
                error=None,
            )
        )

    def _failed(
        self, order: AcmeOrder, exc: CertwardError, now: dt.datetime, *, notify: bool
    ) -> AcmeOrder:
        wait = exc.facts.get("retry_after_seconds")
        retry_after = (
            now + dt.timedelta(seconds=float(wait)) if isinstance(wait, int | float) else None
        )
        attempts = order.attempts + 1
        problem = exc.facts.get("problem")
        failed = self._save(
            replace(
                order,
                attempts=attempts,
                last_attempt=now,
                next_attempt=next_attempt(now, attempts, retry_after),
                retry_after=retry_after,
                error=AcmeError(
                    exc.code.id, exc.message, str(problem) if problem is not None else None
                ),
            )
        )
        if notify:
            self._notify(failed, now)
        return failed

    def _notify(self, order: AcmeOrder, now: dt.datetime) -> None:
        from certward.services.notify import Notifier

        notice = failure_notice(order)
        if notice is not None:
            Notifier(self._store, self._clock).queue([notice], now)

    # -- renewal ----------------------------------------------------------------------------
    def renew(self, *, dry_run: bool = False, notify: bool = True) -> RenewalReport:
        """Renew every due certificate (renewal information when the directory offers it,
        else two thirds into its lifetime) and retry failed orders whose backoff has passed.
        ``dry_run``: say what is due and who would follow, change nothing."""
        now = self._clock.now()
        outcomes = []
        self._run.directories = {}
        try:
            for order in self.orders():
                outcomes.append(self._renew_one(order, now, dry_run=dry_run, notify=notify))
        finally:
            del self._run.directories
        return RenewalReport(outcomes, dry_run)

    def _known_directory(self, url: str, ca_bundle: str | None) -> messages.Directory | None:
        """The directory this run read already (None: not yet, or not in a run)."""
        known: dict[tuple[str, str | None], messages.Directory] = getattr(
            self._run, "directories", {}
        )
        return known.get((url, ca_bundle))

    def _directory(
        self, url: str, ca_bundle: str | None, now: dt.datetime
    ) -> messages.Directory | None:
        """The directory at ``url``, read once per renewal run (outside a run: not kept)."""
        from certward.acme import ari

        found = self._known_directory(url, ca_bundle)
        if found is None:
            found = ari.fetch_directory(url, ca_bundle, now=now)
            known = getattr(self._run, "directories", None)
            if known is not None:
                known[(url, ca_bundle)] = found
        return found

    def _renew_one(
        self, order: AcmeOrder, now: dt.datetime, *, dry_run: bool, notify: bool
    ) -> RenewalOutcome:
        if order.thumbprint is None:  # the first issuance failed: request again when due
            return self._retry_request(order, now, dry_run=dry_run, notify=notify)
        thumbprint = Thumbprint(order.thumbprint)
        with self._store.transaction() as repo:
            record = repo.find_certificate(order.server, thumbprint, StoreName.MY)
            der = record.der if record is not None else None
            exportable = record.exportable if record is not None else False
        if der is None:
            return RenewalOutcome(
                order,
                "missing",
                f"certificate {thumbprint} is no longer on {order.server}",
                old=thumbprint,
            )
        cert = certinfo.load_der(der)
        due, why = self._due(order, der, cert.not_valid_before_utc, cert.not_valid_after_utc, now)
        if not due:
            return RenewalOutcome(order, "not-due", why, old=thumbprint)
        if not may_attempt(order, now):
            when = order.retry_after if order.retry_after and now < order.retry_after else None
            when = when or order.next_attempt
            return RenewalOutcome(
                order,
                "waiting",
                f"{why}; the last attempt failed ({order.error.code if order.error else ''}), "
                f"next attempt at {_iso(when)}",
                old=thumbprint,
                error=order.error,
            )
        followers = self._followers(thumbprint, now)
        if dry_run:
            steps = self._planned_steps(order.server, thumbprint, now)
            return RenewalOutcome(
                order, "due", why, old=thumbprint, followers=followers, steps=steps
            )
        return self._renew_now(
            order, thumbprint, why, followers, now, notify=notify, exportable=exportable
        )

    def _due(
        self,
        order: AcmeOrder,
        der: bytes,
        not_before: dt.datetime,
        not_after: dt.datetime,
        now: dt.datetime,
    ) -> tuple[bool, str]:
        """Due inside the CA's suggested renewal window (ACME Renewal Information, at a point
        fixed per certificate) when its directory offers one, else at two thirds of the
        lifetime (:func:`certward.acme.ari.renew_at`)."""
        from certward.acme import ari

        window = self._renewal_window(order, der, now)
        point = ari.renew_at(window, not_before, not_after, jitter_seed=order.thumbprint or "")
        if window is not None:
            where = f"the CA's renewal window {_iso(window.start)} .. {_iso(window.end)}"
            if now >= point:
                return True, f"inside {where} (renewing from {_iso(point)})"
            return False, f"due at {_iso(point)}, inside {where}"
        if now >= point:
            return True, f"two thirds of its lifetime passed at {_iso(point)}"
        return False, f"due at two thirds of its lifetime, {_iso(point)}"

    def _renewal_window(self, order: AcmeOrder, der: bytes, now: dt.datetime) -> ari.Window | None:
        """The CA's suggested window when its directory offers renewalInfo; None otherwise,
        and when it cannot be fetched now (then the lifetime rule decides this run)."""
        from certward.acme import ari

        try:
            with self._store.transaction() as repo:  # the directory only: the key stays sealed
                acct = _acme(repo).acme_account(order.account_id)
            directory = self._directory(acct.directory_url, acct.ca_bundle, now)
            return ari.window_for(
                der, acct.directory_url, acct.ca_bundle, now=now, directory=directory
            )
        except CertwardError:
            return None

    def _followers(self, thumbprint: Thumbprint, now: dt.datetime) -> tuple[Follower, ...]:
        from certward.services.renewal import resolves_to

        found: list[Follower] = []
        with self._store.transaction() as repo:
            for server in repo.servers():
                record = repo.find_certificate(server.name, thumbprint)
                if record is not None and record.der is not None:
                    default = (
                        " (default SMTP)" if server.default_smtp_thumbprint == thumbprint else ""
                    )
                    found.append(Follower("server", server.name, f"{record.services}{default}"))
            for connector in repo.connectors():
                if resolves_to(repo, connector, thumbprint, now):
                    found.append(
                        Follower(
                            "connector",
                            connector.identity,
                            f"{connector.kind} TlsCertificateName {connector.tls_certificate_name}",
                        )
                    )
        return tuple(found)

    def _planned_steps(
        self, origin: str, thumbprint: Thumbprint, now: dt.datetime
    ) -> tuple[str, ...]:
        """The renewal plan's steps as they will run, before the CA is asked: the organisation-
        wide renewal's own steps (:mod:`certward.services.renewal`), for a reply that completes
        the request on ``origin``. A connector is shown as pointed at the new certificate (its
        name stays the same when the CA's issuer does)."""
        from certward.services.renewal import (
            CompleteRequest,
            CopyCertificate,
            Enable,
            KeepOld,
            PointConnector,
            Step,
            resolves_to,
        )

        with self._store.transaction() as repo:
            holders = [
                s.name
                for s in repo.servers()
                if (r := repo.find_certificate(s.name, thumbprint)) is not None and r.der
            ]
            origin = next((h for h in holders if h.lower() == origin.lower()), origin)
            copies = [h for h in holders if h != origin]
            steps: list[Step] = [CompleteRequest(origin)]
            steps += [CopyCertificate(h, origin) for h in copies]
            for name in [origin, *copies]:
                record = repo.find_certificate(name, thumbprint)
                default = repo.server(name).default_smtp_thumbprint == thumbprint
                if record is not None and (record.services or default):
                    steps.append(Enable(name, record.services, default))
            for connector in repo.connectors():
                if resolves_to(repo, connector, thumbprint, now):
                    steps.append(
                        PointConnector(
                            connector.identity,
                            connector.kind,
                            connector.tls_certificate_name or "",
                            unchanged=False,
                        )
                    )
            steps += [KeepOld(h) for h in holders]
        return tuple(step.describe() for step in steps)

    def _renew_now(
        self,
        order: AcmeOrder,
        thumbprint: Thumbprint,
        why: str,
        followers: tuple[Follower, ...],
        now: dt.datetime,
        *,
        notify: bool,
        exportable: bool,
    ) -> RenewalOutcome:
        from certward.codes.renewal import RENEWAL_KEY_NOT_EXPORTABLE
        from certward.services._records import RenewResult

        renewal = self._renewal()
        pending: Thumbprint | None = None
        try:
            others = [f.name for f in followers if f.kind == "server" and f.name != order.server]
            if others and not exportable:  # found out before the CA issues anything
                raise RENEWAL_KEY_NOT_EXPORTABLE(
                    f"the new key would not be exportable, so the renewed certificate could "
                    f"not be put on {', '.join(others)}; request it again with an exportable "
                    "key",
                    thumbprint=thumbprint,
                    servers=others,
                )
            acct, key = self._account(order.account_id)
            csr: list[bytes] = []
            started = renewal.start(thumbprint, server=order.server, sink=csr.append)
            if not isinstance(started, RenewResult) or not started.pending_request:
                raise ACME_NOT_ACME(
                    f"certificate {thumbprint} is self-signed: ACME does not renew it",
                    thumbprint=thumbprint,
                )
            pending = started.new
            chain, order_url = self._obtain(acct, key, csr[0], self._order_solver(order))
            plan = renewal.apply(
                thumbprint, reply=(chain, f"ACME order {order_url or acct.directory_url}")
            )
        except CertwardError as exc:
            if pending is not None:
                with suppress(CertwardError):
                    self._certificates().remove(order.server, pending, force=True)
            failed = self._failed(order, exc, now, notify=notify)
            return RenewalOutcome(
                failed, "failed", f"{why}; {exc.message}", old=thumbprint, error=failed.error
            )
        renewed = self._succeeded(order, plan.new, order_url, now)
        return RenewalOutcome(
            renewed,
            "renewed",
            why,
            old=thumbprint,
            new=plan.new,
            followers=followers,
            steps=tuple(step.describe() for step in plan.steps),
        )

    def _retry_request(
        self, order: AcmeOrder, now: dt.datetime, *, dry_run: bool, notify: bool
    ) -> RenewalOutcome:
        if not may_attempt(order, now):
            return RenewalOutcome(
                order,
                "waiting",
                f"the request failed ({order.error.code if order.error else ''}), next attempt "
                f"at {_iso(order.next_attempt)}",
                error=order.error,
            )
        if dry_run:
            return RenewalOutcome(order, "due", "the request failed before: it is tried again")
        first = order.names[0] if order.names else ""
        try:
            obtained = self.request(
                order.server,
                subject=f"CN={first}",
                domains=order.names,
                challenge=order.challenge,
                solver_options=order.solver_options,
                account=order.account_id,
                exportable=order.exportable,
                key_size=order.key_size,
                notify=notify,
            )
        except CertwardError as exc:
            failed = self._find_order(order.server, order.names, thumbprint=None) or order
            return RenewalOutcome(failed, "failed", exc.message, error=failed.error)
        return RenewalOutcome(
            obtained.order, "renewed", "the request is obtained", new=obtained.thumbprint
        )


def failure_notice(order: AcmeOrder) -> Notice | None:
    """Pure: the notice for a failed order, keyed by the order, its error and the attempt:
    each failed attempt is announced once (attempts are spaced by the backoff)."""
    if order.error is None:
        return None
    names = ", ".join(order.names)
    return Notice(
        key=f"acme:{order.order_id}:{order.error.code}:{order.attempts}",
        event="acme.failed",
        severity="error",
        subject=f"[certward] error: ACME could not obtain the certificate for {names}",
        text=(
            f"{order.error.detail} (server {order.server}, attempt {order.attempts}; next "
            f"attempt at {_iso(order.next_attempt)})"
        ),
        data=order.to_json(),
    )


def _iso(value: dt.datetime | None) -> str:
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def acme_service(store: Any, clock: Clock) -> AcmeService:
    """The service over a store (:class:`certward.storage.SqlStore`) and a clock, with the
    certificates and renewal services it completes requests and renewals through."""
    from certward.services.certificates import CertificateService
    from certward.services.renewal import RenewalService

    return AcmeService(
        store,
        clock,
        certificates=lambda: CertificateService(store, clock),
        renewal=lambda: RenewalService(store, clock),
    )

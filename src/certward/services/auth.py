"""The OAuth auth certificate: Get/Set-AuthConfig and MonitorExchangeAuthCertificate.ps1."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from certward.clock import Clock
from certward.codes.auth import AUTH_KEY_UNSUPPORTED, AUTH_NEXT_MISSING, AUTH_NEXT_NOT_EFFECTIVE
from certward.codes.general import INPUT_CONFLICT, ORGANISATION_MISSING
from certward.model import AuthConfig, CheckStatus, Organisation, Thumbprint
from certward.pki import certinfo
from certward.services._records import make_auth_certificate, publish_auth_certificate
from certward.services.ports import Repository, UnitOfWork

NEXT_DEFAULT_DELAY = dt.timedelta(hours=48)  # Set-AuthConfig: effective at least 48 h ahead
RENEW_WINDOW = dt.timedelta(days=60)  # the script acts when 60 days or fewer remain
NEXT_EFFECTIVE_IN = dt.timedelta(days=30)


class MonitorDecision(enum.StrEnum):
    """The words of MonitorExchangeAuthCertificate.ps1."""

    NO_ACTION = "NoActionRequired"
    CONFIGURE_NEXT = "ConfigureNextAuthRequired"
    REPLACE = "ReplaceRequired"
    IMPORT = "ImportRequired"


@dataclass(frozen=True, slots=True)
class AuthCertificateInfo:
    thumbprint: Thumbprint
    not_before: dt.datetime
    not_after: dt.datetime
    missing_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuthView:
    config: AuthConfig
    current: AuthCertificateInfo | None
    next: AuthCertificateInfo | None
    previous: AuthCertificateInfo | None

    def to_json(self) -> dict[str, Any]:
        def info(value: AuthCertificateInfo | None) -> dict[str, Any] | None:
            if value is None:
                return None
            return {
                "thumbprint": value.thumbprint,
                "not_before": _iso(value.not_before),
                "not_after": _iso(value.not_after),
                "missing_on": list(value.missing_on),
            }

        c = self.config
        return {
            "current_certificate_thumbprint": c.current_thumbprint,
            "next_certificate_thumbprint": c.next_thumbprint,
            "next_certificate_effective_date": _iso(c.next_effective),
            "previous_certificate_thumbprint": c.previous_thumbprint,
            "service_name": c.service_name,
            "realm": c.realm,
            "current": info(self.current),
            "next": info(self.next),
            "previous": info(self.previous),
        }


@dataclass(frozen=True, slots=True)
class MonitorReport:
    as_of: dt.datetime
    decision: MonitorDecision
    reasons: list[str]
    actions: list[str]
    applied: bool
    days_left: int | None
    import_to: tuple[str, ...] = field(default_factory=tuple)

    @property
    def action_due(self) -> bool:
        return self.decision is not MonitorDecision.NO_ACTION

    @property
    def status(self) -> CheckStatus:
        """The monitoring verdict: OK when nothing is due or it was done; CRITICAL when
        OAuth is broken now (the current certificate must be replaced, or has no days
        left); WARNING when a next certificate or an import is due."""
        if not self.action_due or self.applied:
            return CheckStatus.OK
        if self.decision is MonitorDecision.REPLACE or (
            self.days_left is not None and self.days_left <= 0
        ):
            return CheckStatus.CRITICAL
        return CheckStatus.WARNING

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": _iso(self.as_of),
            "decision": self.decision.value,
            "reasons": self.reasons,
            "actions": self.actions,
            "applied": self.applied,
            "current_days_left": self.days_left,
            "import_to": list(self.import_to),
            "status": self.status.name,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class _Plan:
    decision: MonitorDecision
    reasons: list[str]
    actions: list[str]
    days_left: int | None
    import_to: tuple[str, ...]
    next_effective: dt.datetime | None = None
    publish_next_now: bool = False


def plan_monitor(view: AuthView, now: dt.datetime) -> _Plan:
    """Pure: what MonitorExchangeAuthCertificate.ps1 would decide as of ``now``."""
    current, nxt = view.current, view.next
    usable_next = nxt is not None and nxt.not_after > now
    if current is None or current.not_after <= now:
        why = (
            "no current auth certificate"
            if current is None
            else (
                f"the current auth certificate {current.thumbprint} expired on "
                f"{current.not_after:%Y-%m-%d}"
            )
        )
        if usable_next and nxt is not None:
            return _Plan(
                MonitorDecision.REPLACE,
                [why],
                [f"publish the next auth certificate {nxt.thumbprint} now", "clear previous"],
                None if current is None else (current.not_after - now).days,
                (),
                publish_next_now=True,
            )
        return _Plan(
            MonitorDecision.REPLACE,
            [why],
            ["create a new auth certificate", "publish it now", "clear previous"],
            None if current is None else (current.not_after - now).days,
            (),
        )
    days_left = (current.not_after - now).days
    if current.not_after - now <= RENEW_WINDOW and not usable_next:
        remaining = current.not_after - now
        effective = now + min(NEXT_EFFECTIVE_IN, remaining / 2)
        return _Plan(
            MonitorDecision.CONFIGURE_NEXT,
            [f"the current auth certificate expires in {days_left} days and no next one is set"],
            [f"stage a new auth certificate effective {effective:%Y-%m-%d %H:%M} UTC"],
            days_left,
            (),
            next_effective=effective,
        )
    missing = sorted({*current.missing_on, *(nxt.missing_on if nxt and usable_next else ())})
    if missing:
        return _Plan(
            MonitorDecision.IMPORT,
            [f"the auth certificate is missing on {', '.join(missing)}"],
            [f"import it on {server}" for server in missing],
            days_left,
            tuple(missing),
        )
    return _Plan(MonitorDecision.NO_ACTION, [], [], days_left, ())


class AuthService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def show(self) -> AuthView:
        with self._uow.transaction() as repo:
            return _view(repo, _org(repo))

    def new_next(self, *, effective: dt.datetime | None = None) -> AuthView:
        now = self._clock.now()
        when = effective or now + NEXT_DEFAULT_DELAY
        if when.tzinfo is None:
            raise ValueError("effective must be timezone-aware")
        with self._uow.transaction() as repo:
            org = _org(repo)
            self._stage_next(repo, org, now, when)
            return _view(repo, _org(repo))

    def publish(self, *, force: bool = False) -> AuthView:
        now = self._clock.now()
        with self._uow.transaction() as repo:
            org = _org(repo)
            auth = org.auth
            if auth.next_thumbprint is None:
                raise AUTH_NEXT_MISSING("there is no next auth certificate to publish")
            if not force and auth.next_effective is not None and now < auth.next_effective:
                raise AUTH_NEXT_NOT_EFFECTIVE(
                    f"the next auth certificate {auth.next_thumbprint} becomes effective on "
                    f"{auth.next_effective:%Y-%m-%d %H:%M} UTC",
                    thumbprint=auth.next_thumbprint,
                    effective=auth.next_effective.isoformat(),
                )
            _publish(repo, org)
            return _view(repo, _org(repo))

    def clear_previous(self) -> AuthView:
        with self._uow.transaction() as repo:
            org = _org(repo)
            repo.save_organisation(replace(org, auth=replace(org.auth, previous_thumbprint=None)))
            return _view(repo, _org(repo))

    def monitor(self, *, renew: bool = False, as_of: dt.datetime | None = None) -> MonitorReport:
        if renew and as_of is not None:
            raise INPUT_CONFLICT(
                "a monitor run as of another time only reports; it cannot renew the auth "
                "certificate",
                as_of=as_of.isoformat(),
                renew=True,
            )
        now = as_of or self._clock.now()
        with self._uow.transaction() as repo:
            org = _org(repo)
            plan = plan_monitor(_view(repo, org), now)
            if renew and plan.decision is not MonitorDecision.NO_ACTION:
                self._apply(repo, org, plan, now)
            return MonitorReport(
                as_of=now,
                decision=plan.decision,
                reasons=plan.reasons,
                actions=plan.actions,
                applied=renew and plan.decision is not MonitorDecision.NO_ACTION,
                days_left=plan.days_left,
                import_to=plan.import_to,
            )

    # -- steps ------------------------------------------------------------------------------
    def _apply(self, repo: Repository, org: Organisation, plan: _Plan, now: dt.datetime) -> None:
        if plan.decision is MonitorDecision.REPLACE:
            if not plan.publish_next_now:
                self._stage_next(repo, org, now, now)
                org = _org(repo)
            _publish(repo, org)
            org = _org(repo)
            repo.save_organisation(replace(org, auth=replace(org.auth, previous_thumbprint=None)))
        elif plan.decision is MonitorDecision.CONFIGURE_NEXT:
            assert plan.next_effective is not None
            self._stage_next(repo, org, now, plan.next_effective)
        elif plan.decision is MonitorDecision.IMPORT:
            for thumb in (org.auth.current_thumbprint, org.auth.next_thumbprint):
                if thumb is not None:
                    _publish_everywhere(repo, thumb)

    def _stage_next(
        self, repo: Repository, org: Organisation, now: dt.datetime, effective: dt.datetime
    ) -> None:
        cert, key = make_auth_certificate(now, org.domain)
        repo.save_published_certificate(certinfo.to_der(cert), key)
        thumb = certinfo.thumbprint(certinfo.to_der(cert))
        for server in repo.servers():
            publish_auth_certificate(repo, server.name, cert, key, now)
        repo.save_organisation(
            replace(org, auth=replace(org.auth, next_thumbprint=thumb, next_effective=effective))
        )


def _org(repo: Repository) -> Organisation:
    org = repo.organisation()
    if org is None:
        raise ORGANISATION_MISSING("there is no organisation in this store")
    return org


def _publish(repo: Repository, org: Organisation) -> None:
    """Set-AuthConfig -PublishCertificate: next becomes current, current becomes previous."""
    auth = org.auth
    assert auth.next_thumbprint is not None
    _publish_everywhere(repo, auth.next_thumbprint)
    repo.save_organisation(
        replace(
            org,
            auth=replace(
                auth,
                current_thumbprint=auth.next_thumbprint,
                previous_thumbprint=auth.current_thumbprint,
                next_thumbprint=None,
                next_effective=None,
            ),
        )
    )


def _publish_everywhere(repo: Repository, thumbprint: Thumbprint) -> None:
    der, key = repo.published_certificate(thumbprint)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AUTH_KEY_UNSUPPORTED(
            f"the auth certificate {thumbprint} has no RSA key, which OAuth needs",
            thumbprint=thumbprint,
        )
    cert = certinfo.load_der(der)
    for server in repo.servers():
        publish_auth_certificate(repo, server.name, cert, key, None)


def _info(repo: Repository, thumbprint: Thumbprint | None) -> AuthCertificateInfo | None:
    if thumbprint is None:
        return None
    der = repo.published_der(thumbprint)
    if der is None:
        return None
    cert: x509.Certificate = certinfo.load_der(der)
    missing = tuple(
        s.name
        for s in repo.servers()
        if not (s.observed or s.is_edge) and repo.find_certificate(s.name, thumbprint) is None
    )
    return AuthCertificateInfo(
        thumbprint, cert.not_valid_before_utc, cert.not_valid_after_utc, missing
    )


def _view(repo: Repository, org: Organisation) -> AuthView:
    auth = org.auth
    return AuthView(
        auth,
        _info(repo, auth.current_thumbprint),
        _info(repo, auth.next_thumbprint),
        _info(repo, auth.previous_thumbprint),
    )

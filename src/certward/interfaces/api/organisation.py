"""The organisation-wide routes: connectors, the auth certificate, health, renewals,
probes, events and the audit log."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from certward.codes.general import INPUT_CONFLICT, INPUT_INVALID
from certward.compose import App
from certward.errors import one_line
from certward.interfaces.api import schemas
from certward.interfaces.api._common import moment, parse
from certward.interfaces.api._common import thumbprint as parse_thumb
from certward.interfaces.api.problems import problem_responses
from certward.interfaces.api.security import OPERATOR, READER, certward_app
from certward.model.access import Principal
from certward.model.audit import AuditEntry

router = APIRouter()
AppDep = Annotated[App, Depends(certward_app)]
READ = problem_responses(401, 404, 422, 503)
CHANGE = problem_responses(400, 401, 403, 404, 409, 422, 503)


@router.get("/organisation", tags=["servers"], responses=READ)
def show_organisation(app: AppDep, _: Principal = READER) -> schemas.OrganisationOut:
    """The organisation: name, domain and auth certificate."""
    org = app.organisation.organisation()
    return schemas.OrganisationOut(
        name=org.name, domain=org.domain, auth_thumbprint=org.auth_thumbprint
    )


# -- connectors --------------------------------------------------------------------------------
@router.get("/connectors", tags=["connectors"], responses=READ)
def list_connectors(app: AppDep, _: Principal = READER) -> list[schemas.ConnectorOut]:
    """Every Send and Receive connector with the status of its TlsCertificateName."""
    return [schemas.ConnectorOut.model_validate(v.to_json()) for v in app.connectors.list()]


@router.get("/connectors/{name}", tags=["connectors"], responses=READ)
def show_connector(name: str, app: AppDep, _: Principal = READER) -> schemas.ConnectorOut:
    """One connector (its name, or SERVER\\Name) and where its TlsCertificateName resolves."""
    return schemas.ConnectorOut.model_validate(app.connectors.show(name).to_json())


@router.put("/connectors/{name}/tls-certificate-name", tags=["connectors"], responses=CHANGE)
def set_tls_certificate_name(
    name: str, body: schemas.TlsNameIn, app: AppDep, _: Principal = OPERATOR
) -> schemas.ConnectorOut:
    """Set-SendConnector/Set-ReceiveConnector -TlsCertificateName: the name given, or the
    one built from a certificate's issuer and subject."""
    from certward.services.connectors import ConnectorSettings

    settings = ConnectorSettings(
        tls_certificate_name=body.tls_certificate_name,
        tls_certificate=parse_thumb(body.tls_certificate) if body.tls_certificate else None,
    )
    return schemas.ConnectorOut.model_validate(app.connectors.set(name, settings).to_json())


# -- the auth certificate ----------------------------------------------------------------------
@router.get("/auth-certificate", tags=["auth certificate"], responses=READ)
def show_auth(app: AppDep, _: Principal = READER) -> schemas.AuthOut:
    """Get-AuthConfig: the current, next and previous auth certificates."""
    return schemas.AuthOut.model_validate(app.auth.show().to_json())


@router.get("/auth-certificate/monitor", tags=["auth certificate"], responses=READ)
def monitor_auth(
    app: AppDep,
    as_of: Annotated[dt.datetime | None, Query(description="Evaluate as of this time.")] = None,
    _: Principal = READER,
) -> schemas.MonitorOut:
    """MonitorExchangeAuthCertificate.ps1's decision, reported (nothing is changed)."""
    report = app.auth.monitor(renew=False, as_of=moment(as_of, "as_of"))
    return schemas.MonitorOut.model_validate(report.to_json())


@router.post("/auth-certificate/monitor", tags=["auth certificate"], responses=CHANGE)
def renew_auth(app: AppDep, _: Principal = OPERATOR) -> schemas.MonitorOut:
    """MonitorExchangeAuthCertificate.ps1 with renewal: do what is due."""
    return schemas.MonitorOut.model_validate(app.auth.monitor(renew=True).to_json())


# -- health ------------------------------------------------------------------------------------
@router.get("/health", tags=["health"], responses=READ)
def health(
    app: AppDep,
    as_of: Annotated[
        dt.datetime | None, Query(description="What will be broken at this time.")
    ] = None,
    server: Annotated[str | None, Query(description="Only this server.")] = None,
    min_severity: Annotated[str, Query(description="info, warning, error or critical.")] = "info",
    _: Principal = READER,
) -> schemas.HealthOut:
    """Every health rule over the organisation: findings with their evidence and both fixes
    (certward's and the Exchange Management Shell's)."""
    from certward.health.findings import Severity

    report = app.health.check(
        server=server,
        as_of=moment(as_of, "as_of"),
        min_severity=parse(Severity.parse, min_severity),
    )
    return schemas.HealthOut.model_validate(report.to_json())


# -- renewals ----------------------------------------------------------------------------------
@router.post("/renewals/{thumbprint}/start", tags=["renewals"], responses=CHANGE)
def renewal_start(
    thumbprint: str, body: schemas.RenewStartIn, app: AppDep, _: Principal = OPERATOR
) -> schemas.RenewStartOut:
    """A CA-issued certificate: a new request (same subject and names, new key), its CSR
    returned. A self-signed one needs no CA: the plan is returned."""
    from certward.services.renewal import RenewalPlan

    old = parse_thumb(thumbprint)
    written: list[bytes] = []
    result = app.renewal.start(old, server=body.server, sink=written.append)
    if isinstance(result, RenewalPlan):
        return schemas.RenewStartOut(
            old_thumbprint=old, request=None, csr_pem=None, plan=_plan(result, applied=False)
        )
    return schemas.RenewStartOut(
        old_thumbprint=old, request=result.new, csr_pem=b"".join(written).decode(), plan=None
    )


@router.post("/renewals/{thumbprint}/plan", tags=["renewals"], responses=CHANGE)
def renewal_plan(
    thumbprint: str, body: schemas.RenewPlanIn, app: AppDep, _: Principal = OPERATOR
) -> schemas.PlanOut:
    """The plan that completes the renewal everywhere (servers, services, default SMTP,
    connectors), with the CA's reply for a CA-issued certificate. Nothing is changed."""
    plan = app.renewal.plan(parse_thumb(thumbprint), reply=_reply(body), remove_old=body.remove_old)
    return _plan(plan, applied=False)


@router.post("/renewals/{thumbprint}/apply", tags=["renewals"], responses=CHANGE)
def renewal_apply(
    thumbprint: str, body: schemas.RenewPlanIn, app: AppDep, _: Principal = OPERATOR
) -> schemas.PlanOut:
    """Run the plan as one transaction."""
    plan = app.renewal.apply(
        parse_thumb(thumbprint), reply=_reply(body), remove_old=body.remove_old
    )
    return _plan(plan, applied=True)


def _reply(body: schemas.RenewPlanIn) -> tuple[bytes, str] | None:
    """The CA's reply as the renewal service takes it: its bytes and a name for messages."""
    if body.reply_pem is not None and body.reply_base64 is not None:
        raise INPUT_CONFLICT("give the CA's reply once: as reply_pem or as reply_base64")
    if body.reply_pem is not None:
        return body.reply_pem.encode(), "reply.pem"
    if body.reply_base64 is not None:
        try:
            return base64.b64decode(body.reply_base64, validate=True), "reply"
        except binascii.Error:
            raise INPUT_INVALID("reply_base64 is not base64", parameter="reply_base64") from None
    return None


def _plan(plan: Any, *, applied: bool) -> schemas.PlanOut:
    return schemas.PlanOut.model_validate({**plan.to_json(), "applied": applied})


# -- probes ------------------------------------------------------------------------------------
@router.post("/probes", tags=["probes"], responses=CHANGE)
def run_probe(body: schemas.ProbeIn, _: Principal = OPERATOR) -> schemas.ProbeOut:
    """Probe URLs now, from this host: stages, TLS versions, chain, trust, names, client-CA
    list (the same report as the command line's probe, as JSON)."""
    from certward.interfaces.api.probing import probe_json

    return schemas.ProbeOut.model_validate(probe_json(body.targets, timeout=body.timeout))


# -- events and the audit log ------------------------------------------------------------------
@router.get("/servers/{server}/events", tags=["events"], responses=READ)
def events(server: str, app: AppDep, _: Principal = READER) -> list[schemas.EventOut]:
    """Exchange-style events of the server's endpoints (12014, 12016, 36885 …), oldest
    first."""
    return [schemas.EventOut.model_validate(event) for event in app.endpoints.events(server)]


@router.get("/audit", tags=["audit"], responses=READ)
def audit(
    app: AppDep,
    since: Annotated[dt.datetime | None, Query(description="Entries at or after this.")] = None,
    actor: Annotated[str | None, Query(description="Only this user or token.")] = None,
    action: Annotated[str | None, Query(description="Only this action.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    _: Principal = READER,
) -> list[schemas.AuditEntryOut]:
    """The audit log, newest first: who changed what, when, through what, before and after."""
    entries = app.audit.entries(
        since=moment(since, "since"), actor=actor, action=action, limit=limit
    )
    return [schemas.AuditEntryOut.model_validate(audit_json(entry)) for entry in entries]


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    from certward.errors import _plain

    return {
        "entry_id": entry.entry_id,
        "at": entry.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "actor": one_line(entry.actor),
        "via": entry.via.value,
        "action": entry.action,
        "changes": [
            {
                "kind": c.kind,
                "identity": c.identity,
                "before": _plain(c.before) if c.before is not None else None,
                "after": _plain(c.after) if c.after is not None else None,
            }
            for c in entry.changes
        ],
        "detail": _plain(entry.detail),
    }

"""Servers, their certificates (the Exchange certificate cmdlets) and trust stores."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile

from certward.compose import App
from certward.interfaces.api import schemas
from certward.interfaces.api._common import (
    answer_flag,
    enable_json,
    services,
    store_name,
)
from certward.interfaces.api._common import thumbprint as parse_thumb
from certward.interfaces.api.problems import problem_responses
from certward.interfaces.api.security import ADMIN, OPERATOR, READER, certward_app
from certward.interfaces.server.versioned import ByVersion, next_change
from certward.model import Password, StoreName
from certward.model.access import Principal
from certward.services.organisation import ServerSummary

router = APIRouter()
AppDep = Annotated[App, Depends(certward_app)]
READ = problem_responses(401, 404, 422, 503)
CHANGE = problem_responses(400, 401, 403, 404, 409, 422, 503)


# -- servers -----------------------------------------------------------------------------------
@router.get("/servers", tags=["servers"], responses=READ)
def list_servers(app: AppDep, _: Principal = READER) -> list[schemas.ServerOut]:
    """The organisation's servers."""
    return [schemas.ServerOut.model_validate(s.to_json()) for s in app.organisation.servers()]


@router.get("/servers/{server}", tags=["servers"], responses=READ)
def show_server(server: str, app: AppDep, _: Principal = READER) -> schemas.ServerOut:
    """One server."""
    found = app.organisation.server(server)
    count = len(app.certificates.list_certificates(found.name))
    return schemas.ServerOut.model_validate(ServerSummary(found, count).to_json())


# -- certificates ------------------------------------------------------------------------------
PAGES_KEPT = 64  # pages of /certificates kept per version of the organisation
Page = tuple[schemas.CertificatePage, dt.datetime | None]  # and until when it holds
_pages: ByVersion[dict[tuple[int, int], Page]] = ByVersion(lambda _app: {})
"""Pages of every server's certificates, kept until the organisation changes (scheduled runs
change no certificate) or one of its certificates' validity begins or ends (its status)."""


@router.get("/certificates", tags=["certificates"], responses=READ)
def list_all_certificates(
    app: AppDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Skip this many first.")] = 0,
    _: Principal = READER,
) -> schemas.CertificatePage:
    """Every server's certificates (My), server by server, a page at a time; ``total``
    counts them all. Only the servers the page reaches are read."""
    pages = _pages.get(app)
    now = app.clock.now()
    kept = pages.get((offset, limit))
    if kept is not None and (kept[1] is None or now < kept[1]):
        return kept[0]
    page = _certificate_page(app, offset, limit, now)
    if len(pages) >= PAGES_KEPT:
        pages.clear()
    pages[(offset, limit)] = page
    return page[0]


def _certificate_page(app: App, offset: int, limit: int, now: dt.datetime) -> Page:
    """The page, and the first moment after ``now`` one of its certificates' status may
    change (its NotBefore or NotAfter)."""
    until: dt.datetime | None = None
    summaries = app.organisation.servers()
    total = sum(s.certificate_count for s in summaries)
    items: list[schemas.CertificateOut] = []
    start = 0  # the index of the first certificate of the server at hand
    for summary in summaries:
        end = start + summary.certificate_count
        if end > offset and len(items) < limit:
            views = app.certificates.list_certificates(summary.server.name)
            skip = max(0, offset - start)
            for view in views[skip : skip + limit - len(items)]:
                items.append(schemas.CertificateOut.model_validate(view.to_json()))
            ahead = next_change(views[skip : skip + limit], now)
            if ahead is not None and (until is None or ahead < until):
                until = ahead
        start = end
        if len(items) >= limit:
            break
    return schemas.CertificatePage(total=total, offset=offset, limit=limit, items=items), until


@router.get("/servers/{server}/certificates", tags=["certificates"], responses=READ)
def list_certificates(
    server: str, app: AppDep, _: Principal = READER
) -> list[schemas.CertificateOut]:
    """Get-ExchangeCertificate: the server's personal (My) store."""
    return [
        schemas.CertificateOut.model_validate(v.to_json())
        for v in app.certificates.list_certificates(server)
    ]


@router.get("/servers/{server}/certificates/{thumbprint}", tags=["certificates"], responses=READ)
def show_certificate(
    server: str, thumbprint: str, app: AppDep, _: Principal = READER
) -> schemas.CertificateOut:
    """Get-ExchangeCertificate | Format-List for one certificate (My, else CA or Root)."""
    view = app.certificates.show_certificate(server, parse_thumb(thumbprint))
    return schemas.CertificateOut.model_validate(view.to_json())


@router.post(
    "/servers/{server}/certificates", tags=["certificates"], status_code=201, responses=CHANGE
)
def new_certificate(
    server: str, body: schemas.NewCertificateIn, app: AppDep, _: Principal = OPERATOR
) -> schemas.EnableOut:
    """New-ExchangeCertificate: a self-signed certificate, enabled for its services. When it
    would replace the default SMTP certificate the answer is a 409 problem with a question;
    repeat the call with ``answer``."""
    result = app.certificates.new_self_signed(
        server,
        subject=body.subject,
        domains=body.domains,
        exportable=body.exportable,
        services=services(body.services) if body.services else None,
        key_size=body.key_size,
        days=body.days,
        friendly_name=body.friendly_name,
        replace_default_smtp=answer_flag(body.answer),
    )
    return schemas.EnableOut.model_validate(enable_json(result))


@router.post(
    "/servers/{server}/certificate-requests",
    tags=["certificates"],
    status_code=201,
    responses=CHANGE,
)
def request_certificate(
    server: str, body: schemas.RequestIn, app: AppDep, _: Principal = OPERATOR
) -> schemas.RequestOut:
    """New-ExchangeCertificate -GenerateRequest: the pending request and its CSR (PEM)."""
    written: list[bytes] = []
    view = app.certificates.request_certificate(
        server,
        subject=body.subject,
        domains=body.domains,
        exportable=body.exportable,
        key_size=body.key_size,
        friendly_name=body.friendly_name,
        sink=written.append,
    )
    return schemas.RequestOut(
        certificate=schemas.CertificateOut.model_validate(view.to_json()),
        csr_pem=b"".join(written).decode(),
    )


@router.post(
    "/servers/{server}/certificate-imports",
    tags=["certificates"],
    status_code=201,
    responses=CHANGE,
)
def import_certificate(
    server: str,
    file: Annotated[UploadFile, File(description="PEM, DER, PKCS #7 (.p7b) or PFX.")],
    app: AppDep,
    password: Annotated[str | None, Form(description="The PFX password.")] = None,
    exportable: Annotated[bool, Form(description="Make the private key exportable.")] = False,
    _: Principal = OPERATOR,
) -> schemas.ImportOut:
    """Import-ExchangeCertificate: a CA's reply completes its pending request; a PFX (or
    PEM with its key) brings the key; CA certificates go to the CA and Root stores."""
    data = file.file.read()
    result = app.certificates.import_file(
        server,
        data,
        source=file.filename or "upload",
        password=Password(password.encode()) if password is not None else None,
        exportable=exportable,
    )
    return schemas.ImportOut(
        thumbprint=result.thumbprint,
        completed_request=result.completed_request,
        chain_added=[
            schemas.ChainAdded(store=store.value, thumbprint=thumb, subject=subject)
            for store, thumb, subject in result.chain_added
        ],
        warnings=list(result.warnings),
    )


@router.post(
    "/servers/{server}/certificates/{thumbprint}/enable", tags=["certificates"], responses=CHANGE
)
def enable_certificate(
    server: str, thumbprint: str, body: schemas.EnableIn, app: AppDep, _: Principal = OPERATOR
) -> schemas.EnableOut:
    """Enable-ExchangeCertificate: add services (IIS moves from another certificate). SMTP
    asks whether to replace the default SMTP certificate: a 409 problem whose ``answers``
    name what to send as ``answer`` in the repeated call."""
    result = app.certificates.enable(
        server,
        parse_thumb(thumbprint),
        services(body.services),
        replace_default_smtp=answer_flag(body.answer),
    )
    return schemas.EnableOut.model_validate(enable_json(result))


PFX = "application/x-pkcs12"


@router.post(
    "/servers/{server}/certificates/{thumbprint}/export",
    tags=["certificates"],
    response_class=Response,
    responses={
        200: {
            "description": "The PFX: certificate, chain and private key.",
            "content": {PFX: {"schema": {"type": "string", "format": "binary"}}},
        },
        **CHANGE,
    },
)
def export_certificate(
    server: str, thumbprint: str, body: schemas.ExportIn, app: AppDep, _: Principal = ADMIN
) -> Response:
    """Export-ExchangeCertificate: a password-protected PFX with the chain (admin only,
    always written to the audit log by the service). The password travels in the body,
    never in the URL."""
    thumb = parse_thumb(thumbprint)
    data = app.certificates.export_pfx(
        server,
        thumb,
        password=Password(body.password.encode()),
        legacy=body.legacy_encryption,
        destination="the API's response",
    )
    return Response(
        data,
        media_type=PFX,
        headers={"Content-Disposition": f'attachment; filename="{thumb}.pfx"'},
    )


@router.delete(
    "/servers/{server}/certificates/{thumbprint}", tags=["certificates"], responses=CHANGE
)
def remove_certificate(
    server: str,
    thumbprint: str,
    app: AppDep,
    force: Annotated[bool, Query(description="Remove even while enabled or the auth one.")] = False,
    _: Principal = ADMIN,
) -> schemas.Removed:
    """Remove-ExchangeCertificate, with Exchange's refusals."""
    thumb = parse_thumb(thumbprint)
    app.certificates.remove(server, thumb, force=force)
    return schemas.Removed(removed=[thumb])


# -- trust stores ------------------------------------------------------------------------------
@router.get("/servers/{server}/stores/{store}", tags=["stores"], responses=READ)
def list_store(
    server: str, store: str, app: AppDep, _: Principal = READER
) -> list[schemas.CertificateOut]:
    """The certificates of the server's Root or CA store."""
    views = app.stores.store_list(server, store_name(store))
    return [schemas.CertificateOut.model_validate(v.to_json()) for v in views]


@router.post("/servers/{server}/stores/{store}", tags=["stores"], status_code=201, responses=CHANGE)
def add_to_store(
    server: str,
    store: str,
    file: Annotated[UploadFile, File(description="PEM bundle, DER or PKCS #7.")],
    app: AppDep,
    _: Principal = OPERATOR,
) -> schemas.StoreAddOut:
    """Add one or many certificates to the Root or CA store."""
    name: StoreName = store_name(store)
    result = app.stores.store_add(server, name, file.file.read(), source=file.filename or "upload")
    return schemas.StoreAddOut(
        added=[
            schemas.ChainAdded(store=name.value, thumbprint=thumb, subject=subject)
            for thumb, subject in result.added
        ],
        already_present=list(result.already_present),
    )


@router.delete("/servers/{server}/stores/{store}/{thumbprint}", tags=["stores"], responses=CHANGE)
def remove_from_store(
    server: str, store: str, thumbprint: str, app: AppDep, _: Principal = ADMIN
) -> schemas.Removed:
    """Remove a certificate from the Root or CA store."""
    thumb = parse_thumb(thumbprint)
    app.stores.store_remove(server, store_name(store), thumb)
    return schemas.Removed(removed=[thumb])

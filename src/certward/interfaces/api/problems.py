"""RFC 9457 problem documents from certward's coded errors.

Every refusal the API sends is ``application/problem+json``: ``type`` is a URI made from the
error code (stable: clients test it, or the ``code`` member), ``title`` the code's summary,
``status``, ``detail`` the message, ``code``, the error's facts as further members, and for a
confirmation the ``question`` with its ``answers`` (the client repeats the call with
``answer`` set to one of their names).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from certward.codes.api import (
    API_INTERNAL,
    API_METHOD_NOT_ALLOWED,
    API_REQUEST_INVALID,
    API_REQUEST_MALFORMED,
    API_ROUTE_NOT_FOUND,
)
from certward.errors import (
    AuthenticationError,
    CertwardError,
    ConfirmationRequired,
    ErrorCode,
    NotFoundError,
    PermissionDenied,
    StoreError,
)

API_PREFIX = "/api/"
PROBLEM_BASE = "tag:certward.invalid,2026:problems/"
"""A problem's ``type`` is this followed by the code (a tag URI: no real host is named)."""
MEDIA_TYPE = "application/problem+json"
RESERVED = frozenset({"type", "title", "status", "detail", "instance", "code"})
_log = logging.getLogger("certward.api")

UNAVAILABLE = frozenset({"store.unavailable", "store.database_error"})


class ProblemAnswer(BaseModel):
    name: str = Field(description="What the client sends as `answer` to choose it.")
    meaning: str


class Problem(BaseModel):
    """An RFC 9457 problem document with certward's code and the error's facts."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI made from the code: " + PROBLEM_BASE + "<code>.")
    title: str = Field(description="The code's summary.")
    status: int
    detail: str = Field(description="What is at fault, for a person.")
    code: str = Field(description="The stable error code, e.g. certificate.not_found.")
    question: str | None = None
    answers: list[ProblemAnswer] | None = None


def problem_type(code: ErrorCode | str) -> str:
    return PROBLEM_BASE + str(code)


def status_of(error: CertwardError) -> int:
    """The HTTP status an error's kind (and, for access and the store, its code) maps to."""
    code_id = error.code.id
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, AuthenticationError) or code_id == "api.token_missing":
        return 401
    if code_id in UNAVAILABLE:
        return 503
    if code_id == "api.internal":
        return 500
    if code_id == "api.request_malformed":
        return 400
    if code_id == "api.method_not_allowed":
        return 405
    if isinstance(error, ConfirmationRequired):
        return 409
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, StoreError):
        return 409
    return 422  # InputError, PkiError, InteropError, ProbeError, EndpointError


def problem_body(error: CertwardError, status: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(error.code),
        "title": error.code.summary,
        "status": status,
        "detail": error.message,
        "code": error.code.id,
    }
    facts = error.as_dict()["facts"]
    assert isinstance(facts, Mapping)
    for key, value in facts.items():
        body[key if key not in RESERVED else f"fact_{key}"] = value
    if isinstance(error, ConfirmationRequired):
        body["question"] = error.question
        body["answers"] = [{"name": a.name, "meaning": a.meaning} for a in error.answers]
    return body


def _auth_headers(error: CertwardError, status: int | None = None) -> dict[str, str]:
    """RFC 6750: a 401 names the Bearer scheme; a 403 says the token's scope is too small."""
    status = status if status is not None else status_of(error)
    if status == 401:
        error_kind = "" if error.code.id == "api.token_missing" else ', error="invalid_token"'
        return {"WWW-Authenticate": f'Bearer realm="certward"{error_kind}'}
    if status == 403:
        return {"WWW-Authenticate": 'Bearer realm="certward", error="insufficient_scope"'}
    return {}


def problem_response(error: CertwardError, *, status: int | None = None) -> JSONResponse:
    status = status if status is not None else status_of(error)
    headers = _auth_headers(error, status)
    return JSONResponse(
        problem_body(error, status), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def _is_api(request: Request) -> bool:
    """The handlers answer with problem documents under the API's prefix only; the console's
    pages (mounted in the same application) keep their own forms."""
    return request.url.path.startswith(API_PREFIX)


async def _certward_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CertwardError)
    if not _is_api(request):
        return PlainTextResponse(
            f"error: {exc.message}", status_code=status_of(exc), headers=_auth_headers(exc)
        )
    return problem_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not _is_api(request):
        return await request_validation_exception_handler(request, exc)
    errors = [
        {
            "location": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        error = API_REQUEST_MALFORMED("the request body is not valid JSON", errors=errors)
        return problem_response(error, status=400)
    said = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
    return problem_response(API_REQUEST_INVALID(f"invalid request: {said}", errors=errors))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not _is_api(request):
        return await http_exception_handler(request, exc)
    if exc.status_code == 404:
        error = API_ROUTE_NOT_FOUND(f"no API route at {request.url.path}", path=request.url.path)
    elif exc.status_code == 405:
        error = API_METHOD_NOT_ALLOWED(
            f"{request.method} is not allowed on {request.url.path}",
            method=request.method,
            path=request.url.path,
        )
    elif exc.status_code == 400:
        error = API_REQUEST_MALFORMED(f"the request cannot be parsed: {exc.detail}")
    else:
        error = API_REQUEST_INVALID(str(exc.detail))
    response = problem_response(error, status=exc.status_code)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    if exc.status_code == 405:
        from certward.interfaces.api import allowed_methods

        response.headers["Allow"] = ", ".join(allowed_methods(request.url.path))
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    if not _is_api(request):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return problem_response(
        API_INTERNAL(f"certward failed on {request.method} {request.url.path}"), status=500
    )


def install(app: FastAPI) -> None:
    """Add the handlers that turn every error into a problem document."""
    app.add_exception_handler(CertwardError, _certward_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


# The problems each operation can answer, for the OpenAPI document.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "The body cannot be parsed.",
        401: "No valid bearer token.",
        403: "The token's role does not allow this.",
        404: "The object named does not exist.",
        409: "The store refuses, or a question needs an answer.",
        422: "A value cannot be used.",
        503: "The store cannot be opened.",
    }
    return {
        status: {
            "model": Problem,
            "description": descriptions[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }

"""The committed OpenAPI document is current, and every operation in it refuses a caller
without a token (401) and a reader on anything that changes or exports (403). (A wrong or
revoked token is refused the same way: test_flows; each costs a slow hash on purpose.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from certward.interfaces.api import openapi_document
from certward.interfaces.api.openapi import render
from certward.interfaces.api.problems import MEDIA_TYPE
from certward.model.access import AccessRole
from tests.api.conftest import ApiServer
from tests.conftest import Cli

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")
EXAMPLES = {"server": "EXCH01", "thumbprint": "0" * 40, "store": "Root", "name": "Nope"}
EXAMPLES["host"] = "mail1"  # an agents' host (issue 15)
DOCUMENT_NOW = openapi_document()
ADMIN_ONLY = {
    ("post", "/api/v1/servers/{server}/certificates/{thumbprint}/export"),
    ("delete", "/api/v1/servers/{server}/certificates/{thumbprint}"),
    ("delete", "/api/v1/servers/{server}/stores/{store}/{thumbprint}"),
}


def test_the_committed_openapi_document_is_current(cli: Cli) -> None:
    committed = DOCUMENT.read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/openapi.json is stale: regenerate it with certward web --openapi > docs/openapi.json"
    )
    assert cli("web", "--openapi").stdout == committed


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (method, path)
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    )


def test_the_service_serves_the_committed_operations(api: ApiServer) -> None:
    served = httpx.get(f"{api.base_url}/api/v1/openapi.json").json()
    api_paths = {p: item for p, item in served["paths"].items() if p.startswith("/api/")}
    assert operations({"paths": api_paths}) == operations(DOCUMENT_NOW)
    assert api_paths == DOCUMENT_NOW["paths"]
    schemas = served["components"]["schemas"]
    assert {k: schemas.get(k) for k in DOCUMENT_NOW["components"]["schemas"]} == (
        DOCUMENT_NOW["components"]["schemas"]
    )


def test_every_operation_declares_its_bearer_token_and_problems() -> None:
    for method, path in operations(DOCUMENT_NOW):
        operation = DOCUMENT_NOW["paths"][path][method]
        assert operation.get("security") == [{"HTTPBearer": []}], (method, path)
        assert "401" in operation["responses"] and "422" in operation["responses"]
        assert MEDIA_TYPE in operation["responses"]["401"]["content"]


def _url(path: str) -> str:
    for name, value in EXAMPLES.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no example value for a parameter of {path}"
    return path


def _refusal(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    assert response.json()["code"] == code
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), operations(DOCUMENT_NOW))
def test_route_walk(api: ApiServer, method: str, path: str) -> None:
    url = _url(path)
    _refusal(api.client(None).request(method, url), 401, "api.token_missing")
    reader = api.client(AccessRole.READER).request(method, url)
    if method != "get" or (method, path) in ADMIN_ONLY:
        _refusal(reader, 403, "access.denied")
    else:
        assert reader.status_code not in (401, 403), (method, path, reader.text)
    if (method, path) in ADMIN_ONLY:
        _refusal(api.client(AccessRole.OPERATOR).request(method, url), 403, "access.denied")

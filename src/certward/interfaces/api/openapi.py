"""Print the API's OpenAPI document (``docs/openapi.json``):
``certward web --openapi > docs/openapi.json``, or without the command line
``python -m certward.interfaces.api.openapi > docs/openapi.json`` (the same bytes)."""

from __future__ import annotations

import json
import sys

from certward.interfaces.api import openapi_document


def render() -> str:
    """The document as committed: indented, in FastAPI's order, one final newline."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())

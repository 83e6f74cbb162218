"""Print the API's OpenAPI document (``docs/openapi.json``):
``python -m certward.interfaces.api.openapi > docs/openapi.json``."""

from __future__ import annotations

import json
import sys

from certward.interfaces.api import openapi_document


def render() -> str:
    """The document as committed: indented, keys sorted, one final newline."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())

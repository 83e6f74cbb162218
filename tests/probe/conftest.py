"""The probe's JSON is checked against the committed schema in every live test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "docs" / "probe-schema.json").read_text(encoding="utf-8")
)


def valid(result: dict[str, Any]) -> dict[str, Any]:
    """The probe output, after checking it against docs/probe-schema.json."""
    jsonschema.validate(result, SCHEMA)
    return result

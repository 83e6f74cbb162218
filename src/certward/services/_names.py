"""Names checked where they enter, as the services' coded errors (rules in
:mod:`certward.model.names`), and paths built from names (:func:`certward.paths.safe_join`)."""

from __future__ import annotations

from pathlib import Path

from certward.codes.certificates import CERTIFICATE_FRIENDLY_NAME_INVALID
from certward.codes.connectors import CONNECTOR_NAME_SYNTAX
from certward.codes.edge import EDGE_SITE_NAME_INVALID
from certward.codes.endpoints import MAIL_ADDRESS_INVALID
from certward.codes.general import INPUT_INVALID, SERVER_NAME_INVALID
from certward.model import names
from certward.paths import safe_join


def server_name(name: str) -> str:
    try:
        return names.check_server_name(name)
    except ValueError as exc:
        raise SERVER_NAME_INVALID(str(exc), server=name) from None


def connector_name(name: str) -> str:
    try:
        return names.check_connector_name(name)
    except ValueError as exc:
        raise CONNECTOR_NAME_SYNTAX(str(exc), connector=name) from None


def mail_local_part(local: str, address: str) -> str:
    try:
        return names.check_local_part(local)
    except ValueError as exc:
        raise MAIL_ADDRESS_INVALID(str(exc), address=address) from None


def friendly_name(name: str) -> str:
    try:
        return names.check_label("friendly name", name, names.FRIENDLY_NAME_MAX)
    except ValueError as exc:
        raise CERTIFICATE_FRIENDLY_NAME_INVALID(str(exc), friendly_name=name) from None


def site_name(name: str) -> str:
    try:
        return names.check_label("site name", name, names.SITE_NAME_MAX)
    except ValueError as exc:
        raise EDGE_SITE_NAME_INVALID(str(exc), site=name) from None


def state_path(base: Path, *parts: str) -> Path:
    """A file or directory under the state directory, each part one plain component."""
    try:
        return safe_join(base, *parts)
    except ValueError as exc:
        raise INPUT_INVALID(str(exc), parts=list(parts)) from None

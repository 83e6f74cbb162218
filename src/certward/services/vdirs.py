"""Exchange's client virtual directories: internal and external URLs, SSL required."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from certward.codes.endpoints import VDIR_NOT_FOUND, VDIR_URL_INVALID
from certward.model import VirtualDirectory
from certward.model.names import has_control
from certward.services.ports import UnitOfWork


def _url(value: str) -> str | None:
    if value == "":
        return None  # clears it, as $null does
    parts = urlsplit(value)
    if has_control(value) or " " in value:  # a URL is printed in EMS fixes and reports
        raise VDIR_URL_INVALID(f"a URL holds no space or control character: {value!r}", url=value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VDIR_URL_INVALID(f"not an http(s) URL: {value!r}", url=value)
    return value


class VdirService:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def list(self, server: str) -> list[VirtualDirectory]:
        with self._uow.transaction() as repo:
            return repo.virtual_directories(server)

    def set(
        self,
        server: str,
        name: str,
        *,
        internal_url: str | None = None,
        external_url: str | None = None,
        require_ssl: bool | None = None,
    ) -> VirtualDirectory:
        with self._uow.transaction() as repo:
            found = next(
                (v for v in repo.virtual_directories(server) if v.name.lower() == name.lower()),
                None,
            )
            if found is None:
                names = [v.name for v in repo.virtual_directories(server)]
                raise VDIR_NOT_FOUND(
                    f"no virtual directory {name!r} on {server} "
                    f"(it has {', '.join(names) or 'none'})",
                    vdir=name,
                    server=server,
                    known=names,
                )
            updated = replace(
                found,
                internal_url=found.internal_url if internal_url is None else _url(internal_url),
                external_url=found.external_url if external_url is None else _url(external_url),
                require_ssl=found.require_ssl if require_ssl is None else require_ssl,
            )
            repo.save_virtual_directory(updated)
            return updated

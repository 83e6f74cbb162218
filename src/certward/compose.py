"""The composition root: settings -> store, key vault, clock -> services."""

from __future__ import annotations

from dataclasses import dataclass

from certward.clock import Clock, SystemClock
from certward.config import Settings, load_settings, master_key
from certward.services.lifecycle import Lifecycle
from certward.storage import KeyVault, SqlStore


@dataclass(frozen=True)
class App:
    settings: Settings
    store: SqlStore
    lifecycle: Lifecycle


def build_app(db: str | None = None, *, clock: Clock | None = None) -> App:
    settings = load_settings(db)
    if settings.is_sqlite:
        path = settings.database_url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
    store = SqlStore(settings.database_url, KeyVault(master_key(settings)))
    return App(settings, store, Lifecycle(store, clock or SystemClock()))

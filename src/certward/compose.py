"""The composition root: settings -> store, key vault, clock -> services.

Each service is made, and its module imported, the first time it is used: a command that
lists servers does not load the prober, the endpoints (Twisted) or the PFX writer.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from certward.clock import Clock, SystemClock
from certward.codes.general import STORE_UNAVAILABLE
from certward.config import Settings, load_settings, master_key

if TYPE_CHECKING:
    from certward.services.auth import AuthService
    from certward.services.certificates import CertificateService
    from certward.services.connectors import Connectors
    from certward.services.edge import EdgeService
    from certward.services.endpoints import EndpointService
    from certward.services.health import HealthService
    from certward.services.mail import MailService
    from certward.services.observe import ObserveService
    from certward.services.organisation import OrganisationService
    from certward.services.renewal import RenewalService
    from certward.services.stores import TrustStoreService
    from certward.services.transport import TransportService
    from certward.services.vdirs import VdirService
    from certward.storage import SqlStore


class App:
    """The services of one store, each made on first use."""

    def __init__(self, settings: Settings, store: SqlStore, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock

    @cached_property
    def organisation(self) -> OrganisationService:
        from certward.services.organisation import OrganisationService

        return OrganisationService(self.store, self.clock)

    @cached_property
    def certificates(self) -> CertificateService:
        from certward.services.certificates import CertificateService

        return CertificateService(self.store, self.clock)

    @cached_property
    def stores(self) -> TrustStoreService:
        from certward.services.stores import TrustStoreService

        return TrustStoreService(self.store, self.clock)

    @cached_property
    def connectors(self) -> Connectors:
        from certward.services.connectors import Connectors

        return Connectors(self.store, self.clock)

    @cached_property
    def auth(self) -> AuthService:
        from certward.services.auth import AuthService

        return AuthService(self.store, self.clock)

    @cached_property
    def renewal(self) -> RenewalService:
        from certward.services.renewal import RenewalService

        return RenewalService(self.store, self.clock)

    @cached_property
    def mail(self) -> MailService:
        from certward.services.mail import MailService

        return MailService(self.store)

    @cached_property
    def transport(self) -> TransportService:
        from certward.services.transport import TransportService

        return TransportService(self.store, self.clock, self.settings.state_dir)

    @cached_property
    def endpoints(self) -> EndpointService:
        from certward.services.endpoints import EndpointService

        return EndpointService(self.store, self.clock, self.settings.state_dir)

    @cached_property
    def vdirs(self) -> VdirService:
        from certward.services.vdirs import VdirService

        return VdirService(self.store)

    @cached_property
    def health(self) -> HealthService:
        from certward.services.health import HealthService

        return HealthService(self.store, self.clock)

    @cached_property
    def edge(self) -> EdgeService:
        from certward.services.edge import EdgeService

        return EdgeService(self.store, self.clock, self.settings.state_dir)

    @cached_property
    def observe(self) -> ObserveService:
        from certward.services.observe import ObserveService

        return ObserveService(self.store)


def build_app(db: str | None = None, *, clock: Clock | None = None) -> App:
    from certward.storage import KeyVault, SqlStore

    settings = load_settings(db)
    path = settings.sqlite_path
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        key = master_key(settings)
    except OSError as exc:
        where = exc.filename or (path.parent if path else settings.key_file)
        raise STORE_UNAVAILABLE(f"{where}: cannot create the store ({exc.strerror})") from None
    store = SqlStore(settings.database_url, KeyVault(key))
    return App(settings, store, clock or SystemClock())

"""The composition root: settings -> store, key vault, clock -> services."""

from __future__ import annotations

from dataclasses import dataclass

from certward.clock import Clock, SystemClock
from certward.codes.general import STORE_UNAVAILABLE
from certward.config import Settings, load_settings, master_key
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
from certward.storage import KeyVault, SqlStore


@dataclass(frozen=True)
class App:
    settings: Settings
    store: SqlStore
    organisation: OrganisationService
    certificates: CertificateService
    stores: TrustStoreService
    connectors: Connectors
    auth: AuthService
    renewal: RenewalService
    mail: MailService
    transport: TransportService
    endpoints: EndpointService
    vdirs: VdirService
    health: HealthService
    edge: EdgeService
    observe: ObserveService


def build_app(db: str | None = None, *, clock: Clock | None = None) -> App:
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
    clock = clock or SystemClock()
    return App(
        settings,
        store,
        OrganisationService(store, clock),
        CertificateService(store, clock),
        TrustStoreService(store, clock),
        Connectors(store, clock),
        AuthService(store, clock),
        RenewalService(store, clock),
        MailService(store),
        TransportService(store, clock, settings.state_dir),
        EndpointService(store, clock, settings.state_dir),
        VdirService(store),
        HealthService(store, clock),
        EdgeService(store, clock, settings.state_dir),
        ObserveService(store),
    )

"""The composition root: settings -> store, key vault, clock -> services.

Each service is made, and its module imported, the first time it is used: a command that
lists servers does not load the prober, the endpoints (Twisted) or the PFX writer.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, cast

from certward.clock import Clock, SystemClock
from certward.codes.general import STORE_UNAVAILABLE
from certward.config import Settings, load_settings, note_opened, prepare_database_file

if TYPE_CHECKING:
    from certward.services.access import AccessService
    from certward.services.acme import AcmeService
    from certward.services.agents import AgentsService
    from certward.services.audit import AuditService
    from certward.services.auth import AuthService
    from certward.services.certificates import CertificateService
    from certward.services.connectors import Connectors
    from certward.services.deploy import DeployService
    from certward.services.edge import EdgeService
    from certward.services.endpoints import EndpointService
    from certward.services.health import HealthService
    from certward.services.keys import ScryptCost
    from certward.services.mail import MailService
    from certward.services.observe import ObserveService
    from certward.services.organisation import OrganisationService
    from certward.services.renewal import RenewalService
    from certward.services.stores import TrustStoreService
    from certward.services.transport import TransportService
    from certward.services.vdirs import VdirService
    from certward.services.watch import WatchService
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

    @cached_property
    def watch(self) -> WatchService:
        """The scheduler, probe targets, run history and notifications (issue 14)."""
        from certward.services.watch import WatchService

        return WatchService(
            self.store, self.clock, health=lambda: self.health, auth=lambda: self.auth
        )

    @cached_property
    def access(self) -> AccessService:
        from certward.services.access import AccessService

        return AccessService(self.store, self.clock)

    @cached_property
    def acme(self) -> AcmeService:
        """Certificates kept alive through ACME: accounts, orders, renewal (issue 15)."""
        from certward.services.acme import acme_service

        return acme_service(self.store, self.clock)

    @cached_property
    def deploy(self) -> DeployService:
        """Deployments to Linux daemons: the key's audited release, runs, outcomes."""
        from certward.services.deploy import DeployService

        return DeployService(self.store, self.clock)

    @cached_property
    def agents(self) -> AgentsService:
        """Host agents: their deployments with keys (their own host's only), their reports."""
        from certward.services.agents import AgentsService

        return AgentsService(self.store, self.clock, deploy=self.deploy, access=self.access)

    @cached_property
    def audit(self) -> AuditService:
        from certward.services.audit import AuditService

        return AuditService(self.store, self.clock)


def build_app(
    db: str | None = None,
    *,
    clock: Clock | None = None,
    _test_scrypt_cost: ScryptCost | None = None,
) -> App:
    """The services over the store ``db`` names, its master key checked before anything
    is written (:mod:`certward.services.keys`). ``_test_scrypt_cost`` is for tests only:
    the scrypt cost of a passphrase's record made by this opening."""
    from certward.services.keys import RECOMMENDED_COST, MasterKeys
    from certward.storage import KeyVault, SqlStore

    settings = load_settings(db)
    path = settings.sqlite_path
    try:
        prepare_database_file(settings)
    except OSError as exc:
        where = exc.filename or (path.parent if path else settings.key_file)
        raise STORE_UNAVAILABLE(f"{where}: cannot create the store ({exc.strerror})") from None
    vault = KeyVault()  # locked until the master key is checked
    store = SqlStore(settings.database_url, vault)
    try:
        keys = MasterKeys(store, settings, new_record_cost=_test_scrypt_cost or RECOMMENDED_COST)
        vault.unlock(keys.unlock().secret)
    except OSError as exc:
        store.close()
        where = exc.filename or settings.key_file
        raise STORE_UNAVAILABLE(f"{where}: cannot create the store ({exc.strerror})") from None
    except BaseException:
        store.close()
        raise
    return App(settings, store, clock or SystemClock())


def build_read_app(db: str | None = None, *, clock: Clock | None = None) -> App:
    """The services over the store ``db`` names, for commands that only read it: an
    existing, current SQLite store is read through :mod:`certward.storage.sqlite_reads`
    (no SQLAlchemy: issue 16), its master key checked as :func:`build_app` checks it;
    anything else is :func:`build_app`'s. A service call the reader cannot answer raises
    :class:`~certward.storage.sqlite_reads.NotReadHere`: run it again over
    :func:`build_app` (the read commands do, in ``interfaces/cli/common.py``)."""
    from certward.services.keys import MasterKeys
    from certward.storage.sqlite_reads import NotReadHere, SqliteReadStore

    settings = load_settings(db)
    path = settings.sqlite_path
    if path is None or settings.database_url != f"sqlite:///{path}":
        return build_app(db, clock=clock)
    try:
        reader = SqliteReadStore(path)
    except NotReadHere:
        return build_app(db, clock=clock)
    # The reader stands in for the full store in the services: only their reads run on it.
    store = cast("SqlStore", reader)
    try:
        MasterKeys(store, settings).unlock()  # the key is checked; nothing here unseals
    except NotReadHere:  # no master-key record yet: the full store makes it
        reader.close()
        return build_app(db, clock=clock)
    except BaseException:
        reader.close()
        raise
    note_opened(settings)
    return App(settings, store, clock or SystemClock())

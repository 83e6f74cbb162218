"""The store on both backends: whole operations commit, failed ones leave nothing behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certward.clock import SystemClock
from certward.compose import App, build_app
from certward.errors import StoreError
from certward.model import Password, ServiceSet, StoreName
from certward.services.demo import build_demo


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "a-test-master-key")
    application = build_app(database_url)
    yield application
    application.store.close()


def _inventory(app: App) -> dict[str, list[tuple[str, str, str]]]:
    result = {}
    for summary in app.organisation.servers():
        name = summary.server.name
        views = [*app.certificates.list_certificates(name)]
        for store in (StoreName.ROOT, StoreName.CA):
            views += app.stores.store_list(name, store)
        result[name] = sorted((v.thumbprint, v.services.flags, v.status.value) for v in views)
    return result


def test_the_seed_002_scenario_persists(app: App, database_url: str) -> None:
    demo = build_demo(app.organisation, app.certificates, app.connectors, app.vdirs, SystemClock())
    assert demo.created and demo.webmail_thumbprint
    before = _inventory(app)
    again = build_app(database_url)  # a new process would see the same
    assert _inventory(again) == before
    webmail = again.certificates.show_certificate("EXCH02", demo.webmail_thumbprint)
    assert webmail.services.flags == "...WS.."
    assert webmail.status.value == "Valid"
    again.store.close()


def test_a_failed_output_write_rolls_the_request_back(app: App) -> None:
    app.organisation.init_organisation("Contoso")
    app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    before = _inventory(app)

    def broken_disk(_: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        app.certificates.request_certificate(
            "EXCH01", subject="CN=mail.contoso.com", sink=broken_disk
        )
    assert _inventory(app) == before


def test_a_refused_enable_changes_nothing(app: App) -> None:
    app.organisation.init_organisation("Contoso")
    app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    result = app.certificates.new_self_signed(
        "EXCH01", subject="CN=mail.contoso.com", services=ServiceSet.parse("IIS")
    )
    before = _inventory(app)
    with pytest.raises(StoreError, match="would replace the default SMTP") as refused:
        app.certificates.enable("EXCH01", result.view.thumbprint, ServiceSet.parse("POP,SMTP"))
    assert refused.value.code.id == "smtp.default_overwrite"
    assert _inventory(app) == before


def test_keys_need_the_master_key(
    app: App, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.organisation.init_organisation("Contoso")
    app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    created = app.certificates.new_self_signed(
        "EXCH01", subject="CN=mail.contoso.com", exportable=True, services=ServiceSet()
    )
    thumb = created.view.thumbprint
    assert app.certificates.export_pfx("EXCH01", thumb, password=Password(b"pw"))
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "another-key")
    with pytest.raises(StoreError, match="does not match the database's check value") as wrong:
        build_app(database_url)  # refused on opening, before anything is read or written
    assert wrong.value.code.id == "master_key.mismatch"


def test_meta_values_and_the_generation_counter(app: App) -> None:
    store = app.store
    start = store.generation()
    with store.transaction() as repo:
        assert repo.meta("test-value") is None
        repo.set_meta("test-value", "abc")
    assert store.generation() == start + 1
    with store.transaction() as repo:  # a read changes nothing
        assert repo.meta("test-value") == "abc"
    assert store.generation() == start + 1
    with store.transaction() as repo:  # the same value again is no change
        repo.set_meta("test-value", "abc")
    assert store.generation() == start + 1
    app.organisation.init_organisation("Contoso")
    assert store.generation() == start + 2
    with pytest.raises(StoreError), store.transaction() as repo:  # rolled back: no change
        repo.set_meta("test-value", "def")
        repo.server("NOPE")
    assert store.generation() == start + 2


def test_a_statement_that_writes_counts_as_a_change(app: App) -> None:
    from sqlalchemy import update

    from certward.storage.schema import MetaRow

    store = app.store
    with store.transaction() as repo:
        repo.set_meta("test-value", "a")
    start = store.generation()
    with store.transaction() as repo:
        repo._session.execute(update(MetaRow).where(MetaRow.name == "test-value").values(value="b"))
    assert store.generation() == start + 1


def test_a_transaction_inside_another_is_refused_at_once(app: App) -> None:
    """The inner one would wait for the outer one's write lock for ever on PostgreSQL
    (the web service's scheduler hung so); the outer one still commits."""
    app.organisation.init_organisation("Contoso")
    with app.store.transaction() as repo:
        repo.set_meta("test.outer", "kept")
        with pytest.raises(RuntimeError, match="inside another"), app.store.transaction():
            pass
    with app.store.reading() as repo:
        assert repo.meta("test.outer") == "kept"
    with app.store.transaction() as repo:  # the guard let go with the block
        assert repo.meta("test.outer") == "kept"


def test_the_schedulers_reads_open_no_transaction_inside_another(app: App) -> None:
    app.organisation.init_organisation("Contoso")
    app.watch.add_target("smtp://mail.contoso.com:25", "1h")
    jobs = {job.name for job in app.watch.jobs()}
    assert set(app.watch.last_successes()) == jobs
    assert app.watch.seconds_to_next() == 0.0  # nothing has run: every job is due
    assert [job.name for job in app.watch.due()] == [job.name for job in app.watch.jobs()]


def test_a_read_sees_one_state_of_the_store_throughout(app: App) -> None:
    """A change committed while a read is under way is not seen by the read's later
    queries (health's snapshot is many queries), and is seen by the next read."""
    app.organisation.init_organisation("Contoso")
    with app.store.reading() as repo:
        assert repo.meta("test.during") is None
        with app.store.transaction() as writer:  # another connection commits meanwhile
            writer.set_meta("test.during", "written")
        assert repo.meta("test.during") is None
    with app.store.reading() as repo:
        assert repo.meta("test.during") == "written"

"""The OAuth auth certificate (Get/Set-AuthConfig) and MonitorExchangeAuthCertificate.ps1.

Each monitor decision is evaluated with an injected clock (``FixedClock``), never by waiting.
The organisation (Contoso; EXCH01 and EXCH02) is built once per module at ``T0`` and copied
into each test's store.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from certward.clock import FixedClock
from certward.compose import App, build_app
from certward.errors import InputError, StoreError
from certward.services.auth import MonitorDecision
from certward.services.views import CertificateView
from tests.conftest import Cli, database_bytes, thumbprints

T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)  # when the organisation was made
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
SERVICE_NAME = "00000002-0000-0ff1-ce00-000000000000"  # Exchange's OAuth service principal
SERVERS = ("EXCH01", "EXCH02")

At = Callable[[dt.datetime], App]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("contoso-auth")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CERTWARD_MASTER_KEY", raising=False)
        app = build_app(str(directory / "certward.db"), clock=FixedClock(T0))
        app.organisation.init_organisation("Contoso", domain="contoso.com")
        for server in SERVERS:
            app.organisation.add_server(server, fqdn=f"{server.lower()}.contoso.com")
        app.store.close()
    yield directory


@pytest.fixture
def contoso(template: Path, isolated_store: Path, cli: Cli) -> Cli:
    shutil.copytree(template, isolated_store.parent, dirs_exist_ok=True)
    return cli


@pytest.fixture
def at(contoso: Cli) -> Iterator[At]:
    """``at(when)``: the application on the test's store with the clock stopped at ``when``."""
    opened: list[App] = []

    def make(when: dt.datetime) -> App:
        app = build_app(None, clock=FixedClock(when))
        opened.append(app)
        return app

    yield make
    for app in opened:
        app.store.close()


# -- helpers -----------------------------------------------------------------------------------
def expiry(app: App) -> dt.datetime:
    """When the current auth certificate expires."""
    current = app.auth.show().current
    assert current is not None
    return current.not_after


def holders(app: App, thumbprint: str) -> list[str]:
    return [
        summary.server.name
        for summary in app.organisation.servers()
        if any(
            v.thumbprint == thumbprint
            for v in app.certificates.list_certificates(summary.server.name)
        )
    ]


def certificate(app: App, server: str, thumbprint: str) -> CertificateView:
    return next(v for v in app.certificates.list_certificates(server) if v.thumbprint == thumbprint)


def monitor_json(cli: Cli, *args: str, due: bool) -> dict:
    """``auth monitor --json``; ``due`` is whether the exit status must say action is due
    (WARNING or CRITICAL; tests/cli/test_exit_status.py pins which)."""
    result = cli("auth", "monitor", *args, "--json", ok=not due)
    assert result.exit_code in ((1, 2) if due else (0,)), result.stderr
    return json.loads(result.stdout)


# -- auth show, new-next, publish, clear-previous -------------------------------------------------
def test_show_reports_current_next_previous_service_and_realm(contoso: Cli) -> None:
    shown = contoso.json("auth", "show")
    current = contoso.json("org", "show")["auth_thumbprint"]
    assert shown["current_certificate_thumbprint"] == current
    assert shown["next_certificate_thumbprint"] is None
    assert shown["next_certificate_effective_date"] is None
    assert shown["previous_certificate_thumbprint"] is None
    assert shown["service_name"] == SERVICE_NAME
    assert shown["realm"] == ""
    assert shown["current"]["missing_on"] == []
    assert shown["current"]["not_before"] == T0.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert shown["current"]["not_after"] == T0.replace(year=T0.year + 5).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    text = contoso("auth", "show").stdout
    fields = dict(line.split(" : ", 1) for line in text.splitlines())
    fields = {label.strip(): value for label, value in fields.items()}
    assert fields["CurrentCertificateThumbprint"] == current
    assert fields["ServiceName"] == SERVICE_NAME


def test_new_next_is_effective_48_hours_ahead_and_on_every_server(contoso: Cli, at: At) -> None:
    t1 = T0 + 10 * DAY
    app = at(t1)
    current = app.auth.show().config.current_thumbprint
    view = app.auth.new_next()
    nxt = view.config.next_thumbprint
    assert nxt is not None and nxt != current
    assert view.config.current_thumbprint == current
    assert view.config.next_effective == t1 + 48 * HOUR
    assert view.next is not None and view.next.missing_on == ()
    assert (view.next.not_before, view.next.not_after) == (t1, t1.replace(year=t1.year + 5))
    assert holders(app, nxt) == list(SERVERS)
    for server in SERVERS:
        staged = certificate(app, server, nxt)
        assert staged.services.names == ["SMTP"]
        assert staged.has_private_key and staged.private_key_exportable
        assert staged.subject == "CN=Microsoft Exchange Server Auth Certificate"

    # a server added later gets both the current and the next auth certificate
    app.organisation.add_server("EXCH03", fqdn="exch03.contoso.com")
    on_exch03 = thumbprints(contoso, "EXCH03")
    assert current in on_exch03 and nxt in on_exch03
    assert app.auth.show().next.missing_on == ()  # type: ignore[union-attr]


def test_new_next_takes_an_effective_date(contoso: Cli) -> None:
    shown = contoso.json("auth", "new-next", "--effective", "2031-03-01")
    assert shown["next_certificate_effective_date"] == "2031-03-01T00:00:00Z"
    assert shown["next_certificate_thumbprint"] in thumbprints(contoso, "EXCH02")
    bad = contoso("auth", "new-next", "--effective", "next spring", ok=False)
    assert bad.stderr.strip().startswith("error: not an ISO 8601 date")


def test_publish_waits_for_the_effective_date_unless_forced(contoso: Cli, at: At) -> None:
    t1 = T0 + 10 * DAY
    old = at(t1).auth.show().config.current_thumbprint
    nxt = at(t1).auth.new_next().config.next_thumbprint

    with pytest.raises(StoreError, match="becomes effective on") as refused:
        at(t1 + 47 * HOUR).auth.publish()
    assert refused.value.code.id == "auth.next_not_effective"
    assert refused.value.facts["thumbprint"] == nxt
    assert refused.value.facts["effective"] == (t1 + 48 * HOUR).isoformat()
    unchanged = at(t1 + 47 * HOUR).auth.show().config
    assert (unchanged.current_thumbprint, unchanged.next_thumbprint) == (old, nxt)

    published = at(t1 + 48 * HOUR).auth.publish().config  # effective now: no --force needed
    assert published.current_thumbprint == nxt
    assert published.previous_thumbprint == old
    assert published.next_thumbprint is None and published.next_effective is None

    with pytest.raises(StoreError, match="no next auth certificate") as missing:
        at(t1 + 49 * HOUR).auth.publish(force=True)
    assert missing.value.code.id == "auth.next_missing"


def test_publish_and_clear_previous_from_the_cli(contoso: Cli, isolated_store: Path) -> None:
    old = contoso.json("auth", "show")["current_certificate_thumbprint"]
    nxt = contoso.json("auth", "new-next")["next_certificate_thumbprint"]

    stored = database_bytes(isolated_store)
    early = contoso("auth", "publish", ok=False)
    lines = early.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--force" in lines[0]
    assert database_bytes(isolated_store) == stored

    published = contoso.json("auth", "publish", "--force")
    assert published["current_certificate_thumbprint"] == nxt
    assert published["previous_certificate_thumbprint"] == old
    assert published["next_certificate_thumbprint"] is None

    cleared = contoso.json("auth", "clear-previous")
    assert cleared["previous_certificate_thumbprint"] is None
    assert cleared["current_certificate_thumbprint"] == nxt
    assert contoso.json("org", "show")["auth_thumbprint"] == nxt


# -- the monitor's decisions ----------------------------------------------------------------------
def test_a_fresh_organisation_needs_no_action(at: At) -> None:
    report = at(T0 + DAY).auth.monitor()
    assert report.decision is MonitorDecision.NO_ACTION
    assert (report.actions, report.applied, report.action_due) == ([], False, False)
    assert report.days_left == (expiry(at(T0)) - (T0 + DAY)).days

    just_outside = at(expiry(at(T0)) - 61 * DAY).auth.monitor(renew=True)
    assert just_outside.decision is MonitorDecision.NO_ACTION
    assert not just_outside.applied
    assert at(T0).auth.show().config.next_thumbprint is None


def test_sixty_days_left_and_no_next_configures_a_next_one(at: At) -> None:
    end = expiry(at(T0))
    now = end - 60 * DAY
    current = at(now).auth.show().config.current_thumbprint

    report = at(now).auth.monitor()
    assert report.decision is MonitorDecision.CONFIGURE_NEXT
    assert report.days_left == 60 and report.action_due and not report.applied
    assert at(now).auth.show().config.next_thumbprint is None  # reported, not done

    renewed = at(now).auth.monitor(renew=True)
    assert renewed.decision is MonitorDecision.CONFIGURE_NEXT and renewed.applied
    config = at(now).auth.show().config
    assert config.current_thumbprint == current
    assert config.next_thumbprint is not None
    assert config.next_effective == now + 30 * DAY
    assert holders(at(now), config.next_thumbprint) == list(SERVERS)

    again = at(now + HOUR).auth.monitor()
    assert again.decision is MonitorDecision.NO_ACTION  # a usable next one is staged


def test_with_little_time_left_the_next_one_takes_effect_sooner(at: At) -> None:
    end = expiry(at(T0))
    now = end - 20 * DAY
    report = at(now).auth.monitor(renew=True)
    assert report.decision is MonitorDecision.CONFIGURE_NEXT and report.applied
    effective = at(now).auth.show().config.next_effective
    assert effective is not None
    assert now < effective < now + 30 * DAY
    assert effective < end  # it takes over before the current one expires


def test_an_expired_certificate_is_replaced(at: At) -> None:
    end = expiry(at(T0))
    now = end + DAY
    old = at(now).auth.show().config.current_thumbprint

    report = at(now).auth.monitor()
    assert report.decision is MonitorDecision.REPLACE and not report.applied
    assert at(now).auth.show().config.current_thumbprint == old

    replaced = at(now).auth.monitor(renew=True)
    assert replaced.decision is MonitorDecision.REPLACE and replaced.applied
    view = at(now).auth.show()
    assert view.config.current_thumbprint not in (None, old)
    assert view.config.previous_thumbprint is None  # cleared
    assert view.config.next_thumbprint is None
    assert view.current is not None
    assert view.current.not_before == now and view.current.not_after > now + 4 * 365 * DAY
    assert view.current.missing_on == ()
    assert at(now + HOUR).auth.monitor().decision is MonitorDecision.NO_ACTION


def test_an_expired_certificate_with_a_usable_next_one_publishes_it(at: At) -> None:
    end = expiry(at(T0))
    staged_at = end - 90 * DAY
    nxt = at(staged_at).auth.new_next(effective=end + 10 * DAY).config.next_thumbprint

    inside_window = at(end - 30 * DAY).auth.monitor()
    assert inside_window.decision is MonitorDecision.NO_ACTION  # a usable next one exists

    now = end + DAY
    report = at(now).auth.monitor(renew=True)
    assert report.decision is MonitorDecision.REPLACE and report.applied
    config = at(now).auth.show().config
    assert config.current_thumbprint == nxt
    assert config.previous_thumbprint is None
    assert config.next_thumbprint is None


def test_a_server_missing_the_certificate_gets_it_imported(contoso: Cli, at: At) -> None:
    current = contoso.json("auth", "show")["current_certificate_thumbprint"]
    contoso("cert", "remove", current, "--server", "EXCH02", "--force")
    assert current not in thumbprints(contoso, "EXCH02")
    assert contoso.json("auth", "show")["current"]["missing_on"] == ["EXCH02"]

    now = T0 + 30 * DAY
    report = at(now).auth.monitor()
    assert report.decision is MonitorDecision.IMPORT and not report.applied
    assert report.import_to == ("EXCH02",)
    assert current not in thumbprints(contoso, "EXCH02")

    imported = at(now).auth.monitor(renew=True)
    assert imported.decision is MonitorDecision.IMPORT and imported.applied
    restored = thumbprints(contoso, "EXCH02")[current]
    assert restored["services_flags"] == "....S.."
    assert restored["has_private_key"] is True
    assert at(now).auth.monitor().decision is MonitorDecision.NO_ACTION


def test_a_server_missing_the_next_certificate_gets_it_imported(contoso: Cli, at: At) -> None:
    now = T0 + 30 * DAY
    nxt = at(now).auth.new_next().config.next_thumbprint
    assert nxt is not None
    contoso("cert", "remove", nxt, "--server", "EXCH01", "--force")
    report = at(now + HOUR).auth.monitor(renew=True)
    assert report.decision is MonitorDecision.IMPORT and report.applied
    assert report.import_to == ("EXCH01",)
    assert nxt in thumbprints(contoso, "EXCH01")
    assert at(now + HOUR).auth.show().config.next_thumbprint == nxt  # still staged, not current


def test_as_of_with_renew_is_refused(at: At) -> None:
    with pytest.raises(InputError, match="only reports") as refused:
        at(T0).auth.monitor(renew=True, as_of=T0 + 5 * 365 * DAY)
    assert refused.value.code.id == "input.conflict"


# -- the CLI: exit status and the script's words ---------------------------------------------------
def test_cli_exit_status_and_as_of_decisions(contoso: Cli, isolated_store: Path) -> None:
    end = dt.datetime.fromisoformat(
        contoso.json("auth", "show")["current"]["not_after"].replace("Z", "+00:00")
    )
    assert monitor_json(contoso, due=False)["decision"] == "NoActionRequired"
    assert "Decision: NoActionRequired" in contoso("auth", "monitor").stdout

    stored = database_bytes(isolated_store)
    spring = monitor_json(contoso, "--as-of", (end - 30 * DAY).isoformat(), due=True)
    assert spring["decision"] == "ConfigureNextAuthRequired"
    assert spring["applied"] is False
    assert spring["current_days_left"] == 30
    assert spring["as_of"] == (end - 30 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    expired = monitor_json(contoso, "--as-of", (end + 10 * DAY).date().isoformat(), due=True)
    assert expired["decision"] == "ReplaceRequired"
    later = monitor_json(contoso, "--as-of", (end - 200 * DAY).isoformat(), due=False)
    assert later["decision"] == "NoActionRequired"
    text = contoso("auth", "monitor", "--as-of", (end + DAY).isoformat(), ok=False)
    assert "Decision: ReplaceRequired" in text.stdout and "would:" in text.stdout

    refused = contoso("auth", "monitor", "--renew", "--as-of", end.isoformat(), ok=False)
    assert refused.exit_code != 0
    bad_date = contoso("auth", "monitor", "--as-of", "next spring", ok=False)
    assert bad_date.stderr.strip().startswith("error: not an ISO 8601 date")
    assert database_bytes(isolated_store) == stored  # --as-of only reports

    current = contoso.json("auth", "show")["current_certificate_thumbprint"]
    contoso("cert", "remove", current, "--server", "EXCH01", "--force")
    missing = monitor_json(contoso, due=True)
    assert missing["decision"] == "ImportRequired"
    assert missing["import_to"] == ["EXCH01"]
    done = monitor_json(contoso, "--renew", due=False)  # action was due and was done: exit 0
    assert done["decision"] == "ImportRequired" and done["applied"] is True
    assert monitor_json(contoso, due=False)["decision"] == "NoActionRequired"
    assert current in thumbprints(contoso, "EXCH01")

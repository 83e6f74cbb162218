"""The certificate, store and organisation services refuse with codes and facts; the message
speaks Exchange's words, the command line adds the flag (``interfaces/cli/hints.py``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from certward.compose import App, build_app
from certward.errors import CertwardError, InputError, NotFoundError, StoreError
from certward.interfaces.cli.hints import error_line
from certward.model import ServiceSet, StoreName, Thumbprint

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
MISSING = Thumbprint("AB" * 20)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.delenv("CERTWARD_MASTER_KEY", raising=False)
    application = build_app(str(tmp_path / "certward.db"))
    application.organisation.init_organisation("Contoso", domain="contoso.com")
    application.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    yield application
    application.store.close()


def refused(error: pytest.ExceptionInfo[CertwardError], code: str) -> CertwardError:
    assert error.value.code.id == code
    assert not FLAG.search(error.value.message), error.value.message
    return error.value


def test_unknown_server_and_certificate(app: App) -> None:
    with pytest.raises(NotFoundError) as server:
        app.certificates.list_certificates("EXCH09")
    assert refused(server, "server.not_found").facts["server"] == "EXCH09"
    assert error_line(server.value).endswith("; see 'certward server list'")

    with pytest.raises(NotFoundError) as cert:
        app.certificates.enable("EXCH01", MISSING, ServiceSet.parse("IIS"))
    facts = refused(cert, "certificate.not_found").facts
    assert (facts["thumbprint"], facts["server"], facts["store"]) == (MISSING, "EXCH01", "My")


def test_days_and_removal_refusals_name_no_flag_but_the_cli_does(app: App) -> None:
    with pytest.raises(InputError) as days:
        app.certificates.new_self_signed("EXCH01", subject="CN=mail.contoso.com", days=0)
    refused(days, "certificate.days_invalid")
    assert "--days" in error_line(days.value)

    made = app.certificates.new_self_signed(
        "EXCH01", subject="CN=mail.contoso.com", services=ServiceSet.parse("IIS")
    )
    with pytest.raises(StoreError) as in_use:
        app.certificates.remove("EXCH01", Thumbprint(made.view.thumbprint))
    error = refused(in_use, "certificate.in_use")
    assert error.facts["reasons"] == ["it is enabled for IIS"]
    assert error_line(error).endswith("; pass --force to remove it anyway")

    default = app.organisation.server("EXCH01").default_smtp_thumbprint
    assert default is not None
    with pytest.raises(StoreError) as transport:
        app.certificates.remove("EXCH01", default, force=True)
    refused(transport, "certificate.is_default_smtp")
    assert "--force" in error_line(transport.value)


def test_the_my_store_is_not_a_trust_store(app: App) -> None:
    with pytest.raises(StoreError) as mine:
        app.stores.store_list("EXCH01", StoreName.MY)
    refused(mine, "trust_store.is_my")
    assert "certward cert import" in error_line(mine.value)


def test_organisation_and_server_refusals(app: App) -> None:
    with pytest.raises(StoreError) as again:
        app.organisation.init_organisation("Fabrikam")
    assert refused(again, "organisation.exists").facts["organisation"] == "Contoso"
    with pytest.raises(StoreError) as twice:
        app.organisation.add_server("exch01", fqdn="exch01.contoso.com")
    assert refused(twice, "server.exists").facts["server"] == "EXCH01"
    with pytest.raises(InputError) as name:
        app.organisation.add_server("EXCH_01!", fqdn="x.contoso.com")
    refused(name, "server.name_invalid")
    with pytest.raises(InputError) as tls:
        app.organisation.set_server("EXCH01", tls_min_version="1.3", tls_max_version="1.2")
    refused(tls, "server.tls_range_invalid")


def test_renewal_refusals_carry_codes(app: App) -> None:
    with pytest.raises(NotFoundError) as unknown:
        app.renewal.plan(MISSING, reply=None)
    refused(unknown, "renewal.certificate_unknown")
    own = app.organisation.server("EXCH01").default_smtp_thumbprint
    assert own is not None
    with pytest.raises(StoreError) as reply:
        app.renewal.plan(own, reply=(b"", "reply.p7b"))
    refused(reply, "renewal.reply_unexpected")

"""HTTP-01 answered by certward's own IIS endpoint (``certward serve``) from the store."""

from __future__ import annotations

from pathlib import Path

from tests.acme.helpers import register, services
from tests.acme.pebble import Pebble
from tests.conftest import Cli
from tests.endpoints.conftest import serving


def test_the_running_iis_endpoint_answers_the_challenge(
    org: Cli, pebble: Pebble, isolated_store: Path
) -> None:
    app, acme = services()
    try:
        register(acme, pebble)
        with serving("EXCH01", isolated_store, "--http-port", str(pebble.http_port)):
            obtained = acme.request(
                "EXCH01",
                subject="CN=owa.contoso.test",
                domains=["owa.contoso.test"],
                solver_options={"port": str(pebble.http_port)},  # mode auto: serve listens
            )
        view = app.certificates.show_certificate("EXCH01", obtained.thumbprint)
        assert view.has_private_key and view.certificate_domains == ("owa.contoso.test",)
        with app.store.transaction() as repo:
            assert repo.acme_challenges() == {}  # withdrawn after validation
        assert obtained.order.error is None
    finally:
        app.store.close()

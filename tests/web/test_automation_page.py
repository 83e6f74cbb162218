"""The console's ACME and deploys page, in Debian's Chromium: what keeps certificates alive
without a person, each with how its last attempt went (a console of this module's own: the
page's objects would be findings on the other modules' pages)."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import expect

from certward.model import ServiceSet
from certward.model.acme import AcmeError
from certward.model.deploy import DeployKind, Deployment, DeployOutcome, DeployPaths
from tests.acme_records import add_failing_order
from tests.web.conftest import Console
from tests.web.test_console import UNNAMED, SignedIn

NOW = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)


def test_acme_orders_and_deployments_with_their_last_outcome(
    signed_in: SignedIn, console: Console
) -> None:
    page = signed_in("reader", viewport={"width": 375, "height": 800})
    page.goto(console.url + "/automation")
    expect(page.get_by_text("No certificate is kept by ACME.")).to_be_visible()
    expect(page.get_by_text("No deployments.")).to_be_visible()

    with console.app.store.transaction() as repo:
        add_failing_order(
            repo, NOW, challenge="dns-01", attempts=3,
            error=AcmeError("acme.rate_limited", "too many orders", "urn:x"),
        )  # fmt: skip
    console.app.deploy.add(
        Deployment("mx", DeployKind.POSTFIX, "EXCH01", ServiceSet.parse("SMTP"),
                   DeployPaths.in_directory(DeployKind.POSTFIX, "/etc/postfix/tls"),
                   "smtp://127.0.0.1:25", host="mail1")
    )  # fmt: skip
    console.app.deploy.record_result(
        "mx",
        DeployOutcome(False, NOW, code="deploy.reload_failed", detail="postfix reload: exit 1",
                      rolled_back=True),
        source="agent:mail1",
    )  # fmt: skip

    page.reload()
    orders = page.get_by_role("region", name="ACME orders")
    row = orders.get_by_role("row").nth(1)
    expect(row.get_by_role("rowheader")).to_have_text("EXCH01")
    expect(row).to_contain_text("mail.contoso.com")
    expect(row).to_contain_text("not obtained yet")
    expect(row).to_contain_text("failed 3 time(s) too many orders (acme.rate_limited)")
    expect(row).to_contain_text("next attempt 2026-12-01 10:30")
    deployments = page.get_by_role("region", name="Deployments")
    row = deployments.get_by_role("row").nth(1)
    expect(row.get_by_role("rowheader")).to_have_text("mx (postfix)")
    expect(row).to_contain_text("host mail1")
    expect(row).to_contain_text("failed 2026-12-01 09:30: postfix reload: exit 1")
    expect(row).to_contain_text("(deploy.reload_failed), rolled back")
    expect(page.get_by_role("link", name="ACME and deploys")).to_have_attribute(
        "aria-current", "page"
    )
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"the page is {scroll} px wide at {inner} px"
    assert not UNNAMED.findall(page.locator("body").aria_snapshot())

"""The console end to end in Debian's Chromium: sign in, the organisation at a glance, a
server's certificates and their details, a finding's fixes, forged and refused posts, the
keyboard, phone width, the timeline's text, and (last: it changes the store) the renewal
wizard and its audit entry."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from playwright.sync_api import Browser, Page, expect

from certward.health.engine import TimelineEntry
from certward.interfaces.web.timeline import timeline_svg
from certward.model import ServiceSet, Thumbprint
from certward.model.watch import Job, JobKind
from certward.pki import ca
from tests.web.conftest import Console, new_context

SignedIn = Callable[..., Page]
UNNAMED = re.compile(
    r"^\s*- (?:link|button|textbox|combobox|checkbox|region|table|img|navigation)(?::|\s*\[|$)",
    re.MULTILINE,
)


@pytest.fixture(scope="module", autouse=True)
def expiring(console: Console) -> str:
    """A certificate in use that expires in 20 days: a finding with evidence and fixes."""
    result = console.app.certificates.new_self_signed(
        "EXCH01",
        subject="CN=imap.contoso.com",
        domains=["imap.contoso.com"],
        services=ServiceSet.parse("IMAP"),
        days=20,
    )
    console.app.watch.run_job(Job(JobKind.HEALTH, dt.timedelta(hours=1)))  # its first sighting
    return result.view.thumbprint


def _details_url(console: Console, server: str, thumbprint: str) -> str:
    return f"{console.url}/servers/{server}/certificates/{thumbprint}"


def _boxes(page: Page, selector: str) -> list[tuple[float, float, float, float, str]]:
    return [
        tuple(box)
        for box in page.eval_on_selector_all(
            selector,
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " return [r.left, r.top, r.right, r.bottom, e.textContent]; })",
        )
    ]


def _overlaps(boxes: list[tuple[float, float, float, float, str]]) -> list[tuple[str, str]]:
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                found.append((a[4], b[4]))
    return found


def test_sign_in_shows_the_organisation_at_a_glance(browser: Browser, console: Console) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(console.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("access.login_failed")
    page.get_by_label("Password").fill("admin-console-pass-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Contoso at a glance")
    counts = page.get_by_role("table", name="Number of health findings of each severity")
    expect(counts.get_by_role("row", name=re.compile("^error"))).to_contain_text("1")
    soon = page.get_by_role("region", name="Expiring within 60 days")
    expect(soon.get_by_role("link", name="CN=imap.contoso.com")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Expiry timeline of"))).to_be_visible()
    again = page.request.get(console.url + "/")
    assert again.status == 200 and again.headers["cache-control"] == "no-store"
    cookie = next(c for c in context.cookies() if c["name"] == "certward_session")
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    # Signing out ends the session: the console asks for a login again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile("/login$"))
    page.goto(console.url + "/audit")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faudit$"))
    context.close()


def test_one_time_login_works_once(browser: Browser, console: Console) -> None:
    code = console.app.access.one_time_login("admin")
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{console.url}/login/one-time?code={code}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Contoso at a glance")
    other = new_context(browser).new_page()
    other.goto(f"{console.url}/login/one-time?code={code}")
    expect(other.get_by_role("alert")).to_contain_text("access.")
    other.context.close()
    context.close()


def test_timeline_text_never_overlaps(signed_in: SignedIn, console: Console) -> None:
    page = signed_in("reader")
    page.goto(console.url + "/")
    boxes = _boxes(page, "svg.timeline text")
    assert len(boxes) >= 8  # the certificates' labels and the three dates
    assert not _overlaps(boxes)
    # Hard cases drawn by the same code: wide long labels, today at either edge, many rows.
    now = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    cases = []
    for offset in (dt.timedelta(0), dt.timedelta(days=-800), dt.timedelta(days=3000)):
        entries = [
            TimelineEntry(
                server=f"WWW-MAILBOX-SERVER-{i:02}",
                thumbprint=f"{i:040X}",
                subject="CN=" + "W" * (10 + 7 * i) + ".contoso.com",
                not_before=now - dt.timedelta(days=30 * i + 1),
                not_after=now + dt.timedelta(days=5 * i - 10),
                in_use=i % 3 != 0,
            )
            for i in range(12)
        ]
        cases.append(timeline_svg(entries, now + offset))
    page.set_content("<!doctype html><body>" + "".join(cases) + "</body>")
    for i in range(len(cases)):
        boxes = _boxes(page, f"svg.timeline:nth-of-type({i + 1}) text")
        assert len(boxes) == 15
        assert not _overlaps(boxes), i
        widths = [b[2] for b in boxes]
        svg_right = page.eval_on_selector(
            f"svg.timeline:nth-of-type({i + 1})", "s => s.getBoundingClientRect().right"
        )
        assert max(widths) <= svg_right + 0.5  # no text runs out of the drawing


def test_a_certificate_and_its_details(signed_in: SignedIn, console: Console) -> None:
    page = signed_in("reader")
    page.goto(console.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Certificates").click()
    page.get_by_role("link", name="EXCH02").click()
    table = page.get_by_role("table", name="Certificates in the personal store of EXCH02")
    headers = table.get_by_role("columnheader")
    expect(headers).to_have_text(["Name", "Status", "Expires on", "Assigned services"])
    row = table.get_by_role("row").filter(has_text="webmail.p365labs.com")
    expect(row).to_contain_text("Valid")
    expect(row).to_contain_text("IIS, SMTP")
    row.get_by_role("link").click()
    details = page.get_by_role("region", name=re.compile("webmail.p365labs.com"))
    expect(details).to_contain_text("CN=webmail.p365labs.com")
    expect(details.get_by_role("list").first).to_contain_text("Autodiscover.p365labs.com")
    chain = details.locator("ol.chain li")
    expect(chain).to_have_count(3)
    expect(chain.nth(1)).to_contain_text("Contoso Demo Issuing CA")
    expect(chain.nth(2)).to_contain_text("Contoso Demo Root CA")
    expect(details).to_contain_text("Outbound to Office 365")
    expect(details).to_contain_text("EXCH02\\Default Frontend EXCH02")
    expect(details).to_contain_text("not the auth certificate")


def test_a_finding_with_its_evidence_and_both_fixes(signed_in: SignedIn, console: Console) -> None:
    page = signed_in("reader")
    page.goto(console.url + "/")
    page.get_by_role("link", name=re.compile("^1 error findings")).click()
    row = page.get_by_role("row").filter(has_text="CN=imap.contoso.com")
    expect(row).to_contain_text("EXCH01")
    today = console.app.clock.now().strftime("%Y-%m-%d")
    expect(row.get_by_role("cell").nth(3)).to_contain_text(today)  # first seen
    summary = row.get_by_text("Evidence and fixes")
    summary.focus()
    page.keyboard.press("Enter")
    expect(row.get_by_text("days_left")).to_be_visible()
    certward_fix = row.get_by_label("Fix with certward")
    shell_fix = row.get_by_label("Fix with Exchange Management Shell")
    expect(certward_fix).to_contain_text("certward")
    expect(shell_fix).to_contain_text("ExchangeCertificate")
    expect(row.get_by_role("heading", name="Fix with certward")).to_be_visible()
    expect(row.get_by_role("heading", name="Fix with Exchange Management Shell")).to_be_visible()


def test_a_probe_target_with_its_stage_matrix_and_history(
    signed_in: SignedIn, console: Console
) -> None:
    target = console.url  # the console itself: a real HTTPS endpoint
    console.app.watch.add_target(target, "1h", timeout=5)
    console.app.watch.run_job(Job(JobKind.PROBE, dt.timedelta(hours=1), target))
    page = signed_in("reader")
    page.goto(console.url + "/targets")
    expect(page.get_by_role("heading", name=target, exact=True)).to_be_visible()
    matrix = page.get_by_role("region", name=f"Stages of the latest run of {target}")
    expect(matrix.get_by_role("columnheader").first).to_have_text("Endpoint")
    expect(matrix.get_by_role("columnheader", name="connect")).to_be_visible()
    expect(matrix.get_by_role("row").nth(1)).to_contain_text("ok")
    history = page.get_by_role("region", name=f"Run history of {target}")
    expect(history.get_by_role("row")).to_have_count(2)


def test_a_forged_post_is_refused(signed_in: SignedIn, console: Console) -> None:
    page = signed_in("admin")
    url = _details_url(console, "EXCH01", console.webmail) + "/enable"
    before = console.app.certificates.show_certificate("EXCH01", Thumbprint(console.webmail))
    for form in ({"services": "POP", "csrf": "forged"}, {"services": "POP"}):
        answer = page.request.post(url, form=form)
        assert answer.status == 403
        assert "console.csrf_invalid" in answer.text()
    # Without the session cookie the post goes nowhere but the login page.
    stranger = new_context(page.context.browser)  # type: ignore[arg-type]
    answer = stranger.request.post(url, form={"services": "POP"}, max_redirects=0)
    assert answer.status == 303
    assert answer.headers["location"].startswith("/login")
    # Nor is a login form accepted without the token its page set.
    login = {"name": "admin", "password": "admin-console-pass-1", "csrf": "forged"}
    answer = stranger.request.post(console.url + "/login", form=login, max_redirects=0)
    assert answer.status == 403
    assert "console.csrf_invalid" in answer.text()
    assert not [c for c in stranger.cookies() if c["name"] == "certward_session"]
    stranger.close()
    after = console.app.certificates.show_certificate("EXCH01", Thumbprint(console.webmail))
    assert after.services == before.services


def test_a_reader_is_refused_an_operator_action(signed_in: SignedIn, console: Console) -> None:
    page = signed_in("reader")
    page.goto(_details_url(console, "EXCH01", console.webmail))
    expect(page.get_by_text("Assigning services needs the operator role")).to_be_visible()
    page.get_by_role("checkbox", name="POP").check()
    page.get_by_role("button", name="Enable").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("access.denied")
    after = console.app.certificates.show_certificate("EXCH01", Thumbprint(console.webmail))
    assert "POP" not in after.services.names
    # A coded error is a message on the page: what is wrong and its code.
    answer = page.goto(console.url + "/servers/EXCH09")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("alert")).to_contain_text("EXCH09")
    expect(page.get_by_role("alert")).to_contain_text("server.not_found")


def test_an_operator_answers_the_default_smtp_question(
    signed_in: SignedIn, console: Console, expiring: str
) -> None:
    page = signed_in("operator")
    page.goto(_details_url(console, "EXCH01", expiring))
    page.get_by_role("checkbox", name="SMTP").check()
    page.get_by_role("button", name="Enable").click()
    question = page.get_by_role("alert")
    expect(question).to_contain_text("default SMTP")
    question.get_by_role("button", name="Keep it").click()
    expect(page.get_by_role("status")).to_contain_text("Enabled IMAP, SMTP on EXCH01")
    view = console.app.certificates.show_certificate("EXCH01", Thumbprint(expiring))
    assert view.services.names == ["IMAP", "SMTP"] and not view.is_default_smtp


def test_the_keyboard_reaches_every_control_by_its_name(
    signed_in: SignedIn, console: Console
) -> None:
    page = signed_in("operator", viewport={"width": 1280, "height": 800})
    page.goto(_details_url(console, "EXCH01", console.webmail))
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    reached = []
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        first = focused.aria_snapshot().splitlines()[0]
        match = re.match(r'- (\w+) "([^"]+)"', first)
        assert match, f"no accessible name: {first}"
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
        reached.append((match[1], match[2]))
        if match[1] == "link" and match[2] == "Renew this certificate":
            break
    roles = {role for role, _ in reached}
    assert {"region", "link", "checkbox", "button"} <= roles
    assert ("button", "Enable") in reached and ("checkbox", "SMTP") in reached
    # Skipping the navigation: the first stop after the skip link is inside the content.
    assert reached[0][0] != "link" or reached[0][1] not in ("certward", "At a glance")


@pytest.mark.parametrize("width", [375, 1280])
def test_no_page_scrolls_sideways(
    signed_in: SignedIn, console: Console, expiring: str, width: int
) -> None:
    page = signed_in("admin", viewport={"width": width, "height": 800})
    paths = ["/", f"/servers/EXCH01/certificates/{console.webmail}", "/findings", "/audit"]
    if width < 400:
        paths += ["/servers", "/renewal", "/targets"]
    for path in paths:
        page.goto(console.url + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{path} is {scroll} px wide at {inner} px"
        if width < 400:  # every control on the page has an accessible name
            tree = page.locator("body").aria_snapshot()
            unnamed = UNNAMED.findall(tree)
            assert not unnamed, (path, unnamed)


def test_the_renewal_wizard_goes_straight_to_the_plan_for_a_self_signed_certificate(
    signed_in: SignedIn, console: Console
) -> None:
    edge = next(
        v for v in console.app.certificates.list_certificates("EDGE01") if v.subject == "CN=EDGE01"
    )
    page = signed_in("operator")
    page.goto(f"{console.url}/renewal?thumbprint={edge.thumbprint}")
    page.get_by_role("button", name="Start the renewal").click()
    expect(page.get_by_role("listitem").filter(has_text="Review the plan")).to_have_attribute(
        "aria-current", "step"
    )
    page.get_by_role("button", name="Apply the plan").click()
    expect(page.get_by_role("status")).to_contain_text("Renewed")
    after = console.app.certificates.list_certificates("EDGE01")
    renewed = [v for v in after if v.subject == "CN=EDGE01" and v.thumbprint != edge.thumbprint]
    assert renewed and "SMTP" in renewed[0].services.names


def _ca_reply(csr_pem: str, directory: Path) -> Path:
    now = dt.datetime.now(dt.UTC)
    root = ca.make_root("Contoso Renewal Root CA", now=now)
    issuing = ca.make_intermediate(root, "Contoso Renewal Issuing CA", now=now)
    leaf = ca.issue(issuing, x509.load_pem_x509_csr(csr_pem.encode()), now=now)
    reply = directory / "webmail_renewed.p7b"
    reply.write_bytes(
        pkcs7.serialize_certificates(
            [leaf, issuing.certificate, root.certificate], serialization.Encoding.DER
        )
    )
    return reply


def test_the_renewal_wizard_end_to_end_and_its_audit_entry(
    signed_in: SignedIn, console: Console, tmp_path: Path
) -> None:
    page = signed_in("operator")
    page.goto(_details_url(console, "EXCH01", console.webmail))
    page.get_by_role("link", name="Renew this certificate").click()
    expect(page.get_by_label("Certificate to renew")).to_have_value(console.webmail)
    page.get_by_role("button", name="Start the renewal").click()
    csr = page.get_by_label("Certificate request (PEM)").input_value()
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    page.get_by_label("The CA's reply").set_input_files(_ca_reply(csr, tmp_path))
    page.get_by_role("button", name="Show the plan").click()
    plan = page.get_by_role("table").filter(has_text="Where")
    expect(plan).to_contain_text("EXCH02")
    expect(plan).to_contain_text("Outbound to Office 365")
    page.get_by_role("button", name="Apply the plan").click()
    done = page.get_by_role("status")
    expect(done).to_contain_text("Renewed")
    new = console.app.certificates.list_certificates("EXCH02")
    renewed = [v for v in new if "webmail" in v.subject and v.thumbprint != console.webmail]
    assert renewed and renewed[0].services.names == ["IIS", "SMTP"]
    page.get_by_role("link", name="See it in the audit log").click()
    page.get_by_label("Who").fill("operator")
    page.get_by_label("Action").fill("POST /renewal/apply")
    page.get_by_role("button", name="Filter").click()
    entry = page.get_by_role("row").filter(has_text="POST /renewal/apply")
    expect(entry.first).to_contain_text("web")
    expect(entry.first).to_contain_text(renewed[0].thumbprint)

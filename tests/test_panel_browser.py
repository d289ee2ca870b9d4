"""The moderation panel in a real browser: Debian's Chromium driven by Playwright.

A moderator logs in with password and code, opens a testimony, takes the suggested
campaign text and approves it; an administrator, in a browser of her own, finds each
of those steps in the audit list.

No browser is ever downloaded: the test uses /usr/bin/chromium (`apt-get install
chromium`) and is skipped, with that reason, where it is missing. Every request
outside the live server is refused, so nothing reaches the network.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from submissions.choices import Status
from submissions.staff import StaffGroup
from tests.browser import needs_chromium
from tests.conftest import new_testimony
from tests.panel import PANEL, PASSWORD, current_code, ensure_groups, staff

pytestmark = needs_chromium
sync_api = pytest.importorskip("playwright.sync_api")

PHONE = "+7 701 234 56 78"
STORY = f"Он сказал, что найдёт меня. Мой номер тогда был {PHONE}, это было в 2019 году."
SUGGESTED = "Он сказал, что найдёт меня. Мой номер тогда был [phone], это было в 2019 году."


@pytest.fixture(autouse=True)
def site(settings, transactional_db, live_server):
    settings.UNTOLD_RATE_LOGIN_PER_USERNAME = "1000/h"
    settings.UNTOLD_RATE_LOGIN_SITE = "1000/h"
    # An earlier transactional test's flush took the role groups with it.
    ensure_groups()


@pytest.fixture
def context(browser, live_server):
    """Make a browser context of its own (its own cookies); all are closed afterwards."""
    made = []

    def refuse_other_origins(route):
        if route.request.url.startswith(live_server.url + "/"):
            route.continue_()
        else:
            route.abort()

    def make():
        ctx = browser.new_context(base_url=live_server.url)
        ctx.set_default_timeout(10_000)
        ctx.route("**/*", refuse_other_origins)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def log_in(page, username: str, device) -> None:
    page.goto(PANEL)
    page.wait_for_url(f"**{PANEL}login/**")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", current_code(device))
    with page.expect_navigation():
        page.click("#login-form input[type=submit]:not([name])")
    assert urlsplit(page.url).path == PANEL, page.content()


def test_a_moderator_redacts_and_approves_and_the_audit_list_shows_each_step(context):
    _, moderator_device = staff("mod", "moderator")
    _, admin_device = staff("root", StaffGroup.ADMINISTRATOR)
    testimony = new_testimony(STORY)

    # The moderator: password and code, then the testimony from the list.
    page = context().new_page()
    log_in(page, "mod", moderator_device)
    page.goto(f"{PANEL}submissions/testimony/")
    page.get_by_role("link", name=testimony.short_id).click()
    assert page.locator("mark[title=phone]").inner_text() == PHONE
    assert page.input_value("#id_campaign_text") == ""

    page.get_by_role("link", name="Suggest campaign text").click()
    assert page.input_value("#id_campaign_text") == SUGGESTED
    with page.expect_navigation():
        page.click("input[name=_approve]")
    assert "Approved." in page.locator(".messagelist").inner_text()

    testimony.refresh_from_db()
    assert testimony.status == Status.APPROVED
    assert testimony.open_campaign_text() == SUGGESTED

    # The administrator, in a browser of her own.
    audit = context().new_page()
    log_in(audit, "root", admin_device)
    audit.goto(f"{PANEL}submissions/auditevent/")
    rows = [row.split("\t") for row in audit.locator("#result_list tbody tr").all_inner_texts()]
    steps = {(cells[1], cells[2], cells[4]) for cells in rows}

    assert ("mod", "logged in", "—") in steps
    for step in ("viewed original", "edited campaign text", "approved"):
        assert ("mod", step, testimony.short_id) in steps, (step, rows)
    assert STORY not in audit.content()

"""The moderation panel in a real browser: Debian's Chromium driven by Playwright.

A moderator signs in with password and code, lands on the queue and works through the
new stories by keyboard alone, one keystroke and one page load per decision; the
reading view sets the original for reading beside the campaign text (above it on a
phone); an administrator, in a browser of her own, reads each step as a sentence in
the audit list. axe-core finds no WCAG 2.2 AA violation on the queue, the reading
view, statistics and export.

No browser is ever downloaded: the test uses /usr/bin/chromium (`apt-get install
chromium`) and is skipped, with that reason, where it is missing. Every request
outside the live server is refused, so nothing reaches the network.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from submissions.choices import Status
from submissions.models import AuditEvent, Testimony
from submissions.staff import StaffGroup
from tests.browser import axe_violations, needs_chromium
from tests.conftest import new_testimony
from tests.custody import give_keys
from tests.panel import PANEL, PASSWORD, current_code, ensure_groups, staff

pytestmark = needs_chromium
sync_api = pytest.importorskip("playwright.sync_api")

PHONE = "+7 701 234 56 78"
STORY = f"Он сказал, что найдёт меня. Мой номер тогда был {PHONE}, это было в 2019 году."
SUGGESTED = "Он сказал, что найдёт меня. Мой номер тогда был [phone], это было в 2019 году."
QUEUE = f"{PANEL}submissions/testimony/queue/"
Action = AuditEvent.Action


@pytest.fixture(autouse=True)
def site(settings, transactional_db, live_server):
    settings.UNTOLD_RATE_LOGIN_PER_USERNAME = "1000/h"
    settings.UNTOLD_RATE_LOGIN_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_LOGIN_SITE = "1000/h"
    settings.UNTOLD_BREAK_EVERY = 0
    # An earlier transactional test's flush took the groups with it.
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

    def make(**options):
        ctx = browser.new_context(base_url=live_server.url, **options)
        ctx.set_default_timeout(10_000)
        ctx.route("**/*", refuse_other_origins)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def log_in(page, username: str, device) -> None:
    """Sign in through the page, with the account's keys granted beforehand (from the
    suite's key file), as a moderator colleague would have granted them."""
    give_keys(device.user, PASSWORD)
    page.goto(PANEL)
    page.wait_for_url(f"**{PANEL}login/**")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", current_code(device))
    with page.expect_navigation():
        page.click("#login-form input[type=submit]")


def test_a_moderator_works_through_20_stories_by_keyboard_alone(context):
    # Given 20 new stories, half of them quotable (with a phone number to redact),
    stories = [new_testimony(STORY, consent="quote" if n % 2 else "statistics") for n in range(20)]
    _, device = staff("mod", "moderator")
    page = context().new_page()
    loads = []
    page.on("load", lambda _: loads.append(page.url))

    # she signs in and lands on the first story,
    log_in(page, "mod", device)
    assert "/change/" in page.url
    assert urlsplit(page.url).path.startswith(f"{PANEL}submissions/testimony/")

    # then approves each with one keystroke and one page load,
    for n in range(20):
        before = len(loads)
        with page.expect_navigation():
            page.keyboard.press("a")
        page.wait_for_load_state("load")
        assert len(loads) == before + 1, (n, loads[before:])

    # until the queue says nothing is left.
    assert "No new story is left" in page.content()
    assert set(Testimony.objects.values_list("status", flat=True)) == {Status.APPROVED}
    for testimony in stories:
        events = list(
            AuditEvent.objects.filter(testimony_id=testimony.pk).values_list("action", flat=True)
        )
        assert events.count(Action.VIEWED) == 1, events
        assert events.count(Action.APPROVED) == 1, events
    for testimony in stories[1::2]:
        testimony.refresh_from_db()
        assert testimony.open_campaign_text() == SUGGESTED


def test_the_original_is_set_for_reading_beside_the_campaign_text(context):
    new_testimony(STORY)
    _, device = staff("mod", "moderator")
    page = context(viewport={"width": 1400, "height": 900}).new_page()
    log_in(page, "mod", device)

    original = page.locator("#original")
    size = float(original.evaluate("e => getComputedStyle(e).fontSize")[:-2])
    characters_per_line = original.evaluate(
        """e => {
            const style = getComputedStyle(e);
            const canvas = document.createElement("canvas").getContext("2d");
            canvas.font = `${style.fontSize} ${style.fontFamily}`;
            return e.clientWidth / canvas.measureText("абвгд ежзик").width * 11;
        }"""
    )
    assert 16 <= size <= 18
    assert characters_per_line <= 80
    assert page.locator("mark.found").inner_text() == f"{PHONE} [phone]"
    assert page.input_value("#id_campaign_text") == SUGGESTED
    text_box = page.locator("#id_campaign_text").bounding_box()
    story_box = original.bounding_box()
    assert text_box["x"] > story_box["x"] + story_box["width"] - 1  # beside it

    page.set_viewport_size({"width": 400, "height": 800})
    text_box = page.locator("#id_campaign_text").bounding_box()
    story_box = original.bounding_box()
    assert text_box["y"] > story_box["y"] + story_box["height"] - 1  # below it

    # The story can be hidden, or blurred, before it is read.
    page.keyboard.press("b")
    assert "blurred" in page.locator("#story").get_attribute("class")
    page.keyboard.press("h")
    assert not page.locator("#story").evaluate("e => e.open")


def test_the_administrator_reads_each_step_as_a_sentence(context):
    testimony = new_testimony(STORY)
    _, moderator_device = staff("mod", "moderator")
    _, admin_device = staff("root", StaffGroup.ADMINISTRATOR)
    page = context().new_page()
    log_in(page, "mod", moderator_device)
    with page.expect_navigation():
        page.keyboard.press("a")

    audit = context().new_page()
    log_in(audit, "root", admin_device)
    audit.goto(f"{PANEL}submissions/auditevent/")
    rows = audit.locator("#result_list tbody tr").all_inner_texts()

    record = testimony.short_id
    for sentence in (
        "mod signed in",
        f"mod read the original of story {record}",
        f"mod edited the campaign text of story {record}",
        f"mod approved story {record}",
    ):
        assert any(sentence in row for row in rows), (sentence, rows)
    assert STORY not in audit.content()


def test_the_panels_pages_have_no_wcag_violations(context):
    for n in range(6):
        new_testimony(STORY, f"Campaign text {n}", status="approved" if n else "new")
    _, moderator_device = staff("mod", "moderator")
    _, campaign_device = staff("campaigner", "campaign")
    reports = {}

    moderator = context().new_page()
    log_in(moderator, "mod", moderator_device)  # lands on the reading view
    if report := axe_violations(moderator):
        reports["reading view"] = report
    with moderator.expect_navigation():
        moderator.keyboard.press("s")  # the only new story: skipped, it comes round again
    with moderator.expect_navigation():
        moderator.keyboard.press("r")
    if report := axe_violations(moderator):  # nothing left in the queue
        reports["queue, empty"] = report
    moderator.goto(f"{PANEL}statistics/")
    if report := axe_violations(moderator):
        reports["statistics, live"] = report

    campaign = context().new_page()
    log_in(campaign, "campaigner", campaign_device)  # lands on statistics
    if report := axe_violations(campaign):
        reports["statistics"] = report
    campaign.goto(f"{PANEL}export/")
    if report := axe_violations(campaign):
        reports["export"] = report
    for page, name in ((moderator, "keys, moderator"), (campaign, "keys, campaign staff")):
        page.goto(f"{PANEL}keys/")
        if report := axe_violations(page):
            reports[name] = report

    assert not reports, json.dumps(reports, ensure_ascii=False, indent=1)


def test_chart_labels_keep_their_size_on_a_phone(context):
    new_testimony(STORY)
    _, device = staff("mod", "moderator")
    page = context(viewport={"width": 360, "height": 740}).new_page()
    log_in(page, "mod", device)
    page.goto(f"{PANEL}statistics/")

    sizes = page.locator(".bars .label").evaluate_all(
        "labels => labels.map(e => parseFloat(getComputedStyle(e).fontSize))"
    )
    assert sizes and min(sizes) >= 12
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

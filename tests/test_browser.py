"""The public pages in a real browser: Debian's Chromium driven by Playwright.

What only a browser shows: the form submits with and without JavaScript in every
language and the text arrives intact; the quick exit leaves (by button and by three
Shift presses) and, with JavaScript, takes the form out of the history; booth mode
empties an idle form; the character counter; focus on the error summary; every public
page, in each of its states (errors, limits, booth, error pages), passes axe-core's
WCAG 2.2 AA rules and keeps the quick exit and the safety page; the form reflows on a
narrow screen.

No browser is ever downloaded: the tests use /usr/bin/chromium (`apt-get install
chromium`) and are skipped, saying so, where it is missing. axe-core comes inside the
axe-playwright-python wheel. Requests to any other origin than the live server are
answered or refused by the tests, so nothing reaches the network.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from submissions.models import Testimony
from tests.browser import axe_violations, needs_chromium

pytestmark = needs_chromium
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("axe_playwright_python.sync_playwright")

LANGUAGES = ["en", "ru", "kk"]
# Kazakh letters, an emoji (outside the BMP) and a newline.
STORY = "Біз әңгімелейміз: әғқңөұүһі ӘҒҚҢӨҰҮҺІ.\nЕкінші жол 🙂 — second line."
# Another site the person was on before the form, answered by the tests themselves.
BEFORE_URL = "https://before.example/"
# Where the quick exit goes. It is on the live server because Playwright does not route
# a request that follows a server redirect: a stand-in site would be looked up for real.
# It answers 404; the address is what matters.
EXIT_PATH = "/neutral-site-stand-in/"


@pytest.fixture(autouse=True)
def site(settings, transactional_db, live_server):
    settings.UNTOLD_EXIT_URL = live_server.url + EXIT_PATH
    settings.UNTOLD_KIOSK = False
    settings.UNTOLD_RATE_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_SITE = "1000/h"


def other_origins(route) -> None:
    """The site the person came from gets a small page; anything else is refused, so a
    page that loads from another origin fails loudly instead of reaching the network."""
    if route.request.url == BEFORE_URL:
        route.fulfill(
            content_type="text/html; charset=utf-8",
            body="<!doctype html><html lang=en><title>Before</title><p>Another site",
        )
    else:
        route.abort()


@pytest.fixture
def context(browser, live_server):
    """Make a browser context (JavaScript on unless told); all are closed afterwards."""
    made = []

    def make(*, javascript: bool = True, **options):
        ctx = browser.new_context(
            java_script_enabled=javascript, base_url=live_server.url, **options
        )
        ctx.set_default_timeout(5_000)
        # A regular expression is matched inside Playwright: the live server's own
        # requests do not wait for Python.
        ctx.route(re.compile(rf"^(?!{re.escape(live_server.url)}/)"), other_origins)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def send(page) -> None:
    """Press the form's send button and wait until the page it leads to has loaded, its
    stylesheet included: the new page's elements can be in place before its styles are."""
    with page.expect_navigation():
        page.click("form button[type=submit]")


def fill_and_send(page, language: str, text: str = STORY) -> None:
    """Send a story from the form and check that the thanks page follows."""
    page.goto(f"/{language}/")
    page.fill("#id_text", text)
    page.check("#id_consent_0")
    send(page)
    # Fail at once, with what the page says, rather than wait for a page that never comes
    # (a refused CSRF check, for one, shows the form again as "expired").
    assert page.url.endswith(f"/{language}/thanks/"), page.locator("main").inner_text()[:400]


# --- Submitting ----------------------------------------------------------------------------


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_story_arrives_intact(context, language, javascript):
    page = context(javascript=javascript).new_page()
    fill_and_send(page, language)

    code = page.locator(".code").inner_text()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code), code
    testimony = Testimony.objects.get()
    assert testimony.open_text() == STORY
    assert testimony.language == language


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_error_summary_takes_focus_after_a_failed_submit(context, javascript):
    page = context(javascript=javascript).new_page()
    page.goto("/en/")
    page.fill("#id_text", "a story without a choice of use")
    send(page)

    notices = page.locator(".notice")
    assert notices.count() == 0, notices.all_inner_texts()
    summary = page.locator(".error-summary")
    sync_api.expect(summary).to_be_focused()
    assert page.input_value("#id_text") == "a story without a choice of use"
    # Each error links to its field.
    assert summary.locator("a").evaluate_all("links => links.map(a => a.hash)") == ["#id_consent_0"]
    assert not Testimony.objects.exists()


# --- Quick exit ----------------------------------------------------------------------------


def form_after_another_site(ctx):
    page = ctx.new_page()
    page.goto(BEFORE_URL)
    page.goto("/en/")
    return page


def test_quick_exit_button_leaves_and_drops_the_form_from_history(context):
    page = form_after_another_site(context())
    page.click("#quick-exit")
    page.wait_for_url(f"**{EXIT_PATH}")

    page.go_back()
    assert page.url == BEFORE_URL


def test_shift_three_times_leaves_and_drops_the_form_from_history(context):
    page = form_after_another_site(context())
    page.fill("#id_text", "half a story")
    for _ in range(3):
        page.keyboard.press("Shift")
    page.wait_for_url(f"**{EXIT_PATH}")

    page.go_back()
    assert page.url == BEFORE_URL


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_the_exit_site_learns_nothing_of_where_she_was(context, settings, javascript):
    # Given an exit site on another origin, as in production,
    settings.UNTOLD_EXIT_URL = "https://exit.example/"
    ctx = context(javascript=javascript)
    arrived = []

    def exit_site(route) -> None:
        arrived.append(route.request.all_headers())
        route.fulfill(content_type="text/html; charset=utf-8", body="<title>Exit</title>")

    ctx.route("https://exit.example/**", exit_site)
    page = ctx.new_page()
    page.goto("/en/withdraw/")

    # when she leaves,
    page.click("#quick-exit")
    page.wait_for_url("https://exit.example/")

    # the exit site is not told which page, nor which site, she came from.
    assert len(arrived) == 1
    assert "referer" not in arrived[0]


def has_left(page) -> bool:
    """Whether the quick exit has begun: it hides the page and blanks the title in the
    same key handler that starts the navigation, so nothing needs waiting for."""
    return page.evaluate("document.body.hidden || document.title === ''")


def test_shift_twice_stays(context):
    page = context().new_page()
    page.goto("/en/")
    page.keyboard.press("Shift")
    page.keyboard.press("Shift")
    assert not has_left(page)
    assert page.url.endswith("/en/")
    page.keyboard.press("Shift")
    page.wait_for_url(f"**{EXIT_PATH}")


def test_typing_capital_letters_stays(context):
    page = context().new_page()
    page.goto("/en/")
    page.click("#id_text")
    for key in ("Shift+U", "Shift+N", "Space", "Shift+O", "Shift+K"):
        page.keyboard.press(key)
    assert not has_left(page)
    assert page.url.endswith("/en/")
    assert page.input_value("#id_text") == "UN OK"


def test_quick_exit_stays_on_screen_at_the_bottom_of_the_form(context):
    page = context(viewport={"width": 360, "height": 640}).new_page()
    page.goto("/ru/")

    page.locator("button[type=submit]").scroll_into_view_if_needed()

    box = page.locator("#quick-exit").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 640


def test_quick_exit_is_a_plain_link_without_javascript(context):
    page = form_after_another_site(context(javascript=False))
    page.click("#quick-exit")
    page.wait_for_url(f"**{EXIT_PATH}")

    # Without JavaScript nothing can take the form out of the history.
    page.go_back()
    assert page.url.endswith("/en/")


# --- Booth (kiosk) mode ----------------------------------------------------------------------


def test_kiosk_form_left_idle_starts_again_empty(context, settings):
    settings.UNTOLD_KIOSK = True
    page = context().new_page()
    page.clock.install()
    page.goto("/en/")
    page.fill("#id_text", "something she did not finish")

    # run_for fires each timer at its own time: the warning at 5:00, the clearing at 6:00.
    page.clock.run_for("05:50")
    assert page.input_value("#id_text") == "something she did not finish"
    with page.expect_navigation(url="**/en/"):
        page.clock.run_for("00:15")
    assert page.input_value("#id_text") == ""


def test_kiosk_thanks_page_returns_to_the_form(context, settings):
    # With JavaScript the return follows the page clock; without it a meta refresh in
    # <noscript> (which Chromium runs on the real clock) does the same.
    settings.UNTOLD_KIOSK = True
    page = context(locale="kk").new_page()
    page.clock.install()
    fill_and_send(page, "kk")

    assert page.locator("noscript").inner_html().strip() == (
        '<meta http-equiv="refresh" content="360;url=/exit/">'
    )
    page.clock.run_for("05:50")
    assert page.url.endswith("/kk/thanks/")
    assert page.locator(".code").is_visible()
    with page.expect_navigation(url="**/kk/"):
        page.clock.run_for("00:15")
    assert page.input_value("#id_text") == ""


def test_kiosk_idle_form_warns_before_it_clears_and_a_touch_keeps_it(context, settings):
    settings.UNTOLD_KIOSK = True
    page = context().new_page()
    page.clock.install()
    page.goto("/en/")
    page.fill("#id_text", "still writing")

    page.clock.run_for("05:05")
    assert page.locator("#idle-warning").is_visible()
    page.keyboard.press("a")
    assert page.locator("#idle-warning").is_hidden()
    page.clock.run_for("02:00")
    assert page.input_value("#id_text") == "still writinga"


# --- Counter -------------------------------------------------------------------------------


def test_counter_counts_and_warns_when_over(context):
    page = context().new_page()
    page.goto("/en/")
    counter = page.locator("#counter")
    sync_api.expect(counter).to_have_text("0 of 10,000 characters")

    page.fill("#id_text", "Сәлем\nәлем")
    sync_api.expect(counter).to_have_text("10 of 10,000 characters")
    # Read with the field, not announced at every key.
    assert counter.get_attribute("role") is None

    page.fill("#id_text", "a" * 10_001)
    sync_api.expect(counter).to_have_text("Characters over the limit: 1")
    assert counter.get_attribute("role") == "alert"
    assert counter.get_attribute("class") == "over"


def test_counter_counts_an_emoji_as_one_character_like_the_server(context):
    page = context().new_page()
    page.goto("/en/")
    page.fill("#id_text", "🙂")
    sync_api.expect(page.locator("#counter")).to_have_text("1 of 10,000 characters", timeout=500)


# --- Accessibility (WCAG 2.2 AA) -------------------------------------------------------------


def open_form_with_errors(page, language, settings=None):
    page.goto(f"/{language}/")
    send(page)
    page.locator(".error-summary").wait_for()


def open_thanks(page, language, settings=None):
    fill_and_send(page, language)
    page.locator(".code").wait_for()


def confirm_withdrawal(page, language, code="0000 0000 0000 0000"):
    page.goto(f"/{language}/withdraw/")
    page.fill("#id_code", code)
    send(page)


def send_twice(page, language, settings, setting):
    """Her second story in an hour, over ``setting``'s limit of one."""
    setattr(settings, setting, "1/h")
    fill_and_send(page, language)
    page.goto(f"/{language}/")
    page.fill("#id_text", STORY)
    page.check("#id_consent_0")
    send(page)


def withdraw_twice(page, language, settings):
    settings.UNTOLD_RATE_WITHDRAW_PER_CLIENT = "1/h"
    confirm_withdrawal(page, language)
    send(page)


def closed_meanwhile(page, language, settings):
    page.goto(f"/{language}/")
    page.fill("#id_text", STORY)
    settings.UNTOLD_GRACE_MINUTES = 0
    settings.UNTOLD_CLOSES_AT = timezone.now() - timedelta(minutes=1)
    send(page)


def not_yet_open(page, language, settings):
    settings.UNTOLD_OPENS_AT = timezone.now() + timedelta(days=1)
    page.goto(f"/{language}/")


def bad_request(page, language, settings):
    page.goto(f"/{language}/withdraw/")
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 1  # the token and the code are two
    page.fill("#id_code", "1")
    send(page)


def forbidden(page, language, settings):
    page.goto(f"/{language}/withdraw/")
    page.context.clear_cookies()  # the CSRF cookie is gone
    page.fill("#id_code", "1")
    send(page)


def server_error(page, language, settings):
    page.goto(f"/{language}/")
    page.fill("#id_text", STORY)
    page.check("#id_consent_0")
    settings.UNTOLD_PUBLIC_KEYS, settings.UNTOLD_PRIVATE_KEY_FILES = [], []
    send(page)


def booth(open_page):
    def on_a_booth(page, language, settings):
        settings.UNTOLD_KIOSK = True
        open_page(page, language, settings)

    return on_a_booth


def booth_asking_if_she_is_there(page, language, settings):
    settings.UNTOLD_KIOSK = True
    page.clock.install()
    page.goto(f"/{language}/")
    page.clock.run_for("05:01")
    page.locator("#idle-warning").wait_for()


def goto(path):
    return lambda page, language, settings: page.goto(f"/{language}/{path}")


# Every public page in each of its states, as she reaches it: (page, language, settings).
PAGES = {
    "form": goto(""),
    "form with errors": open_form_with_errors,
    "form, her limit": lambda p, lang, s: send_twice(p, lang, s, "UNTOLD_RATE_PER_CLIENT"),
    "form, everyone's limit": lambda p, lang, s: send_twice(p, lang, s, "UNTOLD_RATE_SITE"),
    "thanks": open_thanks,
    "thanks, code gone": goto("thanks/"),
    "privacy": goto("privacy/"),
    "safety": goto("safety/"),
    "withdraw": goto("withdraw/"),
    "withdraw, typo": lambda p, lang, s: confirm_withdrawal(p, lang, "0000000000000001"),
    "withdraw, her limit": lambda p, lang, s: (
        setattr(s, "UNTOLD_RATE_WITHDRAW_PER_CLIENT", "1/h"),
        confirm_withdrawal(p, lang, "12"),
        send(p),
    ),
    "withdraw confirm": lambda p, lang, s: confirm_withdrawal(p, lang),
    "withdraw confirm, unchecked code": lambda p, lang, s: (
        setattr(s, "UNTOLD_CODES_WITHOUT_CHECK_DIGIT", True),
        confirm_withdrawal(p, lang, "0000000000000001"),
    ),
    "withdraw confirm, her limit": withdraw_twice,
    "withdraw done": lambda p, lang, s: (confirm_withdrawal(p, lang), send(p)),
    "closed, her story not sent": closed_meanwhile,
    "closed": lambda p, lang, s: (
        setattr(s, "UNTOLD_CLOSES_AT", timezone.now() - timedelta(days=1)),
        p.goto(f"/{lang}/"),
    ),
    "not yet open": not_yet_open,
    "400": bad_request,
    "403": forbidden,
    "404": goto("no-such-page/"),
    "500": server_error,
    "booth form": booth(goto("")),
    "booth thanks": booth(open_thanks),
    "booth privacy": booth(goto("privacy/")),
    "booth asking if she is there": booth_asking_if_she_is_there,
}
# What shows that each page is in its state: the status it came with, and an element.
SHOWN = {
    "form": (200, "#id_text"),
    "form with errors": (400, ".error-summary"),
    "form, her limit": (429, ".notice"),
    "form, everyone's limit": (429, ".notice"),
    "thanks": (200, ".code"),
    "thanks, code gone": (200, "main:not(:has(.code))"),
    "privacy": (200, "main h2"),
    "safety": (200, ".support"),
    "withdraw": (200, "#id_code"),
    "withdraw, typo": (400, "#id_code_error"),
    "withdraw, her limit": (429, ".notice"),
    "withdraw confirm": (200, "button.danger"),
    "withdraw confirm, unchecked code": (200, ".notice ~ form button.danger"),
    "withdraw confirm, her limit": (429, ".notice ~ form button.danger"),
    "withdraw done": (200, "main:not(:has(form))"),
    "closed, her story not sent": (403, "#unsent"),
    "closed": (200, "main:not(:has(textarea))"),
    "not yet open": (200, "main:not(:has(textarea))"),
    "400": (400, "main h1"),
    "403": (403, "main h1"),
    "404": (404, "main h1"),
    "500": (500, "main h1"),
    "booth form": (200, "body[data-kiosk] #id_text"),
    "booth thanks": (200, "body[data-kiosk] .code"),
    "booth privacy": (200, "body[data-kiosk] main h2"),
    "booth asking if she is there": (200, "#idle-warning:not([hidden])"),
}
# Pages that exist only with JavaScript.
NEEDS_JAVASCRIPT = {"booth asking if she is there"}


def open_public_page(page, name: str, language: str, settings) -> None:
    """Bring ``page`` to the named public page in its state, and check that it is there."""
    statuses = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if r.request.is_navigation_request() else None,
    )
    PAGES[name](page, language, settings)
    status, element = SHOWN[name]
    assert statuses[-1] == status, f"{name}: {statuses}"
    assert page.locator(element).count() > 0, f"{name}: no {element}"
    assert page.locator("html").get_attribute("lang") == language


def assert_the_way_out_is_there(page, language: str) -> None:
    """ "Leave this site" at the top of the screen, and the safety page one tap away."""
    leave = page.locator("#quick-exit")
    assert leave.get_attribute("href") == "/exit/" and leave.is_visible()
    assert leave.bounding_box()["y"] < 100
    safety = page.locator(f'footer a[href="/{language}/safety/"]')
    assert safety.count() == 1 and safety.is_visible() and safety.inner_text().strip()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", PAGES)
def test_pages_have_no_wcag_violations_and_keep_the_way_out(context, settings, name, language):
    page = context().new_page()
    open_public_page(page, name, language, settings)
    if name != "booth asking if she is there":  # the overlay covers them, as it should
        assert_the_way_out_is_there(page, language)

    report = axe_violations(page)

    assert not report, json.dumps({name: report}, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("language", LANGUAGES)
def test_form_reflows_without_horizontal_scrolling(context, settings, language):
    # 320 px is WCAG 1.4.10's reflow width, 360 px a small phone, 640 px a 1280 px
    # window at 200 % zoom.
    page = context(viewport={"width": 1280, "height": 800}).new_page()
    too_wide = []
    for open_page in (PAGES["form"], open_form_with_errors):
        open_page(page, language, settings)
        for width in (320, 360, 640):
            page.set_viewport_size({"width": width, "height": 800})
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            if scroll_width > width:
                too_wide.append(f"{page.url} is {scroll_width} px wide in {width} px")
    assert not too_wide


def test_static_files_are_served(context):
    page = context().new_page()
    response = page.goto("/static/untold/untold.css")
    assert response.ok
    assert response.headers["content-type"].startswith("text/css")


def test_nothing_is_loaded_from_another_origin(context, live_server):
    page = context().new_page()
    hosts = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    open_thanks(page, "kk")
    page.goto("/kk/privacy/")
    assert hosts == {live_server.url.split("/")[2]}

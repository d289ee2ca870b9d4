"""The survivor's side in a real browser (Debian's Chromium), each point of issue 12 in
Kazakh, Russian and English, with JavaScript on and off wherever it changes anything:
help on screen before she writes and the way out on every page, consent asked first,
errors read with their fields from the accessibility tree, a receipt code that survives
a reload or a change of language for ten minutes and no longer, copies with one tap,
is checked for typos and asks before deleting, the limit said once, her limit told
from everyone's, 'Online' and the hints, a slim exit bar with the phone keyboard open,
the Shift hint only where it works, and a booth that counts down over whatever she
scrolled to, keeps the code until she is done and starts again empty."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlencode

import pytest
from django.core.cache import caches

from submissions import receipts
from submissions.models import Testimony
from tests.browser import needs_chromium
from tests.test_browser import (
    EXIT_PATH,
    LANGUAGES,
    NEEDS_JAVASCRIPT,
    PAGES,
    STORY,
    assert_the_way_out_is_there,
    fill_and_send,
    open_public_page,
    send,
)

pytestmark = needs_chromium
sync_api = pytest.importorskip("playwright.sync_api")

JS = pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
PHONE = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True}


@pytest.fixture(autouse=True)
def site(settings, transactional_db, live_server):
    settings.UNTOLD_EXIT_URL = live_server.url + EXIT_PATH
    settings.UNTOLD_KIOSK = False
    settings.UNTOLD_RATE_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_SITE = "1000/h"
    settings.UNTOLD_RATE_WITHDRAW_PER_CLIENT = "1000/h"


@pytest.fixture
def context(browser, live_server):
    made = []

    def make(*, javascript: bool = True, **options):
        ctx = browser.new_context(
            java_script_enabled=javascript, base_url=live_server.url, **options
        )
        ctx.set_default_timeout(5_000)
        ctx.route(re.compile(rf"^(?!{re.escape(live_server.url)}/)"), lambda route: route.abort())
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def top(page, selector: str) -> float:
    return page.locator(selector).first.bounding_box()["y"]


# --- 1. Help before she writes ---------------------------------------------------------------


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_numbers_to_call_and_the_safety_page_come_before_the_text_box(
    context, language, javascript
):
    page = context(javascript=javascript, **PHONE).new_page()
    page.goto(f"/{language}/")

    for number in ("112", "102", "111", "150"):
        link = page.locator(f'a[href="tel:{number}"]')
        assert link.is_visible() and link.inner_text() == number
        assert top(page, f'a[href="tel:{number}"]') < top(page, "#id_text")
    page.locator(f'footer a[href="/{language}/safety/"]').click()
    page.wait_for_url(f"**/{language}/safety/")
    assert page.locator('a[href="tel:111"]').is_visible()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", [name for name in PAGES if name not in NEEDS_JAVASCRIPT])
def test_without_javascript_every_page_keeps_the_quick_exit_and_the_safety_page(
    context, settings, name, language
):
    # With JavaScript, tests/test_browser.py checks the same on every page beside axe.
    page = context(javascript=False, **PHONE).new_page()
    open_public_page(page, name, language, settings)

    assert_the_way_out_is_there(page, language)


# --- 2. Consent before she writes ------------------------------------------------------------


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_how_her_story_may_be_used_is_asked_above_the_text_box(context, language, javascript):
    page = context(javascript=javascript, **PHONE).new_page()
    page.goto(f"/{language}/")

    assert top(page, "#id_consent_1") < top(page, "#id_text")
    for index in (0, 1):
        description = page.locator(f"#id_consent_{index}-description")
        assert description.is_visible() and len(description.inner_text()) > 80
        box, label = (
            page.locator(s).bounding_box()
            for s in (f"#id_consent_{index}", f"label[for=id_consent_{index}]")
        )
        # The box and its label sit on one line.
        assert abs(box["y"] - label["y"]) < label["height"]


# --- 3. A receipt code that cannot fail her --------------------------------------------------


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_code_survives_a_reload_and_a_language_switch_for_ten_minutes(
    context, language, javascript
):
    ctx = context(javascript=javascript)
    page = ctx.new_page()
    fill_and_send(page, language)
    code = page.locator(".code").inner_text()

    page.reload()
    assert page.locator(".code").inner_text() == code
    for other in [other for other in LANGUAGES if other != language]:
        page.locator(f'nav a[lang="{other}"]').click()
        page.wait_for_url(f"**/{other}/thanks/")
        assert page.locator(".code").inner_text() == code
    # Each cookie expires ten minutes after sending.
    expiries = [
        c["expires"] - time.time() for c in ctx.cookies() if c["name"].startswith("receipt_")
    ]
    assert len(expiries) == 3 and all(590 < left <= 600 for left in expiries)


@JS
def test_once_its_time_is_over_the_code_is_gone_in_every_language(context, monkeypatch, javascript):
    # The browser forgets the cookies on its own clock, which no test can move: the code
    # waits two seconds here instead of ten minutes.
    monkeypatch.setattr(receipts, "COOKIE_MAX_AGE", 2)
    page = context(javascript=javascript).new_page()
    fill_and_send(page, "ru")
    assert page.locator(".code").is_visible()

    time.sleep(2.5)

    for language in LANGUAGES:
        page.goto(f"/{language}/thanks/")
        assert page.locator(".code").count() == 0


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_copy_button_puts_the_code_on_the_clipboard(context, live_server, language):
    ctx = context()
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = ctx.new_page()
    fill_and_send(page, language)

    page.locator("#copy-code").click()

    sync_api.expect(page.locator("#copy-status")).not_to_be_empty()
    assert page.evaluate("navigator.clipboard.readText()") == page.locator(".code").inner_text()


# The advice on keeping the code, as each language says it.
KEEP_IT = {
    "en": "Keep it where only you can see it",
    "ru": "Храните его там, где его видите только вы",
    "kk": "Оны тек өзіңіз көретін жерде сақтаңыз",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_javascript_there_is_no_copy_button_but_the_advice_is_there(context, language):
    page = context(javascript=False).new_page()
    fill_and_send(page, language)

    assert page.locator("#copy-code").is_hidden()
    assert KEEP_IT[language] in page.locator(".receipt").inner_text()


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_typo_is_told_and_a_good_code_asks_before_a_red_delete(context, language, javascript):
    page = context(javascript=javascript).new_page()
    fill_and_send(page, language)
    code = page.locator(".code").inner_text().replace(" ", "")
    typo = (
        code[:3] + code[4] + code[3] + code[5:]
        if code[3] != code[4]
        else code[:-1] + str((int(code[-1]) + 1) % 10)
    )
    send_button = page.goto(f"/{language}/") and page.locator("form button[type=submit]")
    send_colour = send_button.evaluate("b => getComputedStyle(b).backgroundColor")

    page.goto(f"/{language}/withdraw/")
    page.fill("#id_code", typo)
    send(page)
    assert page.locator("#id_code_error").is_visible()
    assert Testimony.objects.count() == 1

    page.fill("#id_code", code)
    send(page)
    delete = page.locator("button.danger")
    assert delete.evaluate("b => getComputedStyle(b).backgroundColor") not in (
        send_colour,
        "rgb(255, 255, 255)",
    )
    assert Testimony.objects.count() == 1
    send(page)
    assert Testimony.objects.count() == 0


# --- 4. Errors keep the reassurance ----------------------------------------------------------


def accessible(page, selector: str) -> dict:
    """Chromium's accessibility tree node for one element."""
    session = page.context.new_cdp_session(page)
    root = session.send("DOM.getDocument")["root"]["nodeId"]
    node = session.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    (found, *_) = session.send("Accessibility.getPartialAXTree", {"nodeId": node})["nodes"]
    session.detach()
    return found


def accessible_description(page, selector: str) -> str:
    return accessible(page, selector).get("description", {}).get("value", "")


def accessible_name(page, selector: str) -> str:
    return accessible(page, selector).get("name", {}).get("value", "")


def forge(page, path: str, **fields: str) -> None:
    """The form's next post to ``path`` sends these values instead, as a page served
    before a choice was withdrawn (or a forged one) would."""

    def change(route) -> None:
        if route.request.method != "POST":
            return route.continue_()
        data = parse_qs(route.request.post_data, keep_blank_values=True)
        data.update({name: [value] for name, value in fields.items()})
        return route.continue_(post_data=urlencode(data, doseq=True))

    page.route(f"**{path}", change)


def each_control_reads_its_error(page, name: str) -> list[str]:
    """What is wrong with the controls of field ``name``: an ``aria-describedby`` id
    that is not on the page, or a description in the accessibility tree without the
    field's visible inline error."""
    error = page.locator(f"#id_{name}_error")
    assert error.is_visible(), name
    wrong = []
    for control in page.locator(f"[name={name}]:not([type=hidden])").all():
        described = control.get_attribute("aria-describedby").split()
        wrong += [f"{name}: no #{i}" for i in described if page.locator(f"[id='{i}']").count() != 1]
        description = accessible_description(page, f"#{control.get_attribute('id')}")
        if error.inner_text() not in description:
            wrong.append(f"{name}: {description!r} lacks {error.inner_text()!r}")
    return wrong


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_after_a_failed_submit_every_field_reads_its_error(context, language, javascript):
    page = context(javascript=javascript).new_page()
    page.goto(f"/{language}/")
    # Two errors any browser can make, four that only a page served with other choices can.
    gone = "no-longer-offered"
    forge(page, f"/{language}/", forms_of_violence=gone, age_group=gone, region=gone, teller=gone)
    send(page)

    assert re.match(r"(Error|Ошибка|Қате):", page.title())
    assert page.locator("ul.facts").is_visible()
    fields = ("consent", "text", "forms_of_violence", "age_group", "region", "teller")
    assert [wrong for name in fields for wrong in each_control_reads_its_error(page, name)] == []
    # and the hints stay: the limit for the text, what each use means for the choices.
    assert page.locator("#counter").inner_text() in accessible_description(page, "#id_text")
    for index in (0, 1):
        hint = page.locator(f"#id_consent_{index}-description").inner_text()
        assert hint in accessible_description(page, f"#id_consent_{index}")


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_wrong_withdrawal_code_reads_its_hint_and_its_error(context, language, javascript):
    page = context(javascript=javascript).new_page()
    page.goto(f"/{language}/withdraw/")
    page.fill("#id_code", "12")
    send(page)

    assert re.match(r"(Error|Ошибка|Қате):", page.title())
    assert each_control_reads_its_error(page, "code") == []
    assert page.locator("#code-help").inner_text() in accessible_description(page, "#id_code")


# --- 5. Small things -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("javascript", "options", "shown"),
    [(False, {}, False), (True, {}, True), (True, PHONE, False)],
    ids=["nojs", "js-keyboard", "js-touch"],
)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_shift_hint_shows_only_with_javascript_and_a_keyboard(
    context, language, javascript, options, shown
):
    page = context(javascript=javascript, **options).new_page()
    page.goto(f"/{language}/")

    assert page.locator("#shift-hint").is_visible() is shown


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_limit_is_said_once_with_the_text_box(context, language, javascript):
    page = context(javascript=javascript).new_page()
    page.goto(f"/{language}/")

    description = accessible_description(page, "#id_text")
    limit = re.compile(r"10[ ,\xa0]000")
    assert len(limit.findall(description)) == 1, description
    assert len(limit.findall(page.locator("main").inner_text())) == 1
    if javascript:
        page.fill("#id_text", "Сәлем")
        sync_api.expect(page.locator("#counter")).to_contain_text("5")
        assert len(limit.findall(accessible_description(page, "#id_text"))) == 1


# The headings of the two 429 pages in each language: hers, then everyone's.
TOO_MANY = {
    "en": ("You sent several stories just now", "Many people are sending stories right now"),
    "ru": ("Вы только что отправили несколько историй", "Сейчас истории отправляют очень многие"),
    "kk": ("Сіз жаңа ғана бірнеше оқиға жібердіңіз", "Қазір оқиғаларды өте көп адам жіберіп жатыр"),
}


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_her_limit_and_everyones_limit_are_told_apart(context, settings, language, javascript):
    said = []
    for whose in ("her", "everyone's"):
        page = context(javascript=javascript).new_page()
        open_public_page(page, f"form, {whose} limit", language, settings)
        said.append(page.locator(".notice h2").inner_text())
        assert page.input_value("#id_text") == STORY  # her text is still there
        settings.UNTOLD_RATE_PER_CLIENT = settings.UNTOLD_RATE_SITE = "1000/h"
        caches["default"].clear()

    assert tuple(said) == TOO_MANY[language]


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_where_it_happened_offers_online(context, language, javascript):
    page = context(javascript=javascript).new_page()
    page.goto(f"/{language}/")
    page.fill("#id_text", STORY)
    page.check("#id_consent_1")

    page.select_option("#id_region", "online")
    shown = page.locator("#id_region option[value=online]").inner_text()
    send(page)

    assert shown == {"en": "Online", "ru": "В интернете", "kk": "Интернетте"}[language]
    assert Testimony.objects.get().region == "online"


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_form_of_violence_is_read_with_its_hint(context, language):
    page = context().new_page()
    page.goto(f"/{language}/")

    boxes = page.locator("[name=forms_of_violence]")
    assert boxes.count() == 9
    for box in boxes.all():
        label = box.locator("xpath=..")
        hint = label.locator(".hint").inner_text()
        assert hint and label.locator(".hint").is_visible()
        assert hint in accessible_name(page, f"#{box.get_attribute('id')}")


# Phones with the keyboard open (about 330 px of it): what is left of the screen for the
# page, once the viewport resizes with the keyboard (interactive-widget=resizes-content).
KEYBOARD_OPEN = {
    "small phone": (360, 640 - 340),
    "iPhone 12-14": (390, 844 - 330),
    "Pixel 7": (412, 915 - 330),
}
BAR_CASES = [
    *(pytest.param(name, True, False, id=f"{name}-js") for name in KEYBOARD_OPEN),
    pytest.param("iPhone 12-14", False, False, id="iPhone 12-14-nojs"),
    pytest.param("iPhone 12-14", True, True, id="iPhone 12-14-booth"),
]


@pytest.mark.parametrize(("phone", "javascript", "kiosk"), BAR_CASES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_with_the_phone_keyboard_open_the_exit_bar_takes_at_most_15_percent(
    context, settings, language, phone, javascript, kiosk
):
    settings.UNTOLD_KIOSK = kiosk
    width, height = KEYBOARD_OPEN[phone]
    page = context(
        javascript=javascript, **{**PHONE, "viewport": {"width": width, "height": height}}
    ).new_page()
    page.goto(f"/{language}/")
    page.focus("#id_text")

    viewport = page.locator("meta[name=viewport]").get_attribute("content")
    assert "interactive-widget=resizes-content" in viewport
    bar = page.locator("header.bar").bounding_box()
    exit_link = page.locator("#quick-exit").bounding_box()
    assert bar["height"] <= 0.15 * height, f"{bar['height'] / height:.0%} of {width}x{height}"
    assert exit_link["y"] >= 0 and exit_link["y"] + exit_link["height"] <= bar["height"]


# --- 6. A booth ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_booth_counts_down_over_wherever_she_scrolled(context, settings, language):
    settings.UNTOLD_KIOSK = True
    page = context(**PHONE, locale=language).new_page()
    page.clock.install()
    page.goto(f"/{language}/")
    page.fill("#id_text", "half a story")
    # She scrolls down; the page has seen the scroll (which restarts the idle time)
    # before the clock moves on.
    page.evaluate(
        """() => new Promise(seen => {
            addEventListener("scroll", () => seen(), {once: true});
            document.querySelector("footer").scrollIntoView();
        })"""
    )

    page.clock.run_for("05:01")
    overlay = page.locator("#idle-warning")
    box = overlay.bounding_box()
    assert overlay.is_visible() and box["y"] == 0 and box["height"] == 640
    assert page.locator("#idle-countdown").inner_text() in ("60", "59")
    page.clock.run_for("00:20")
    assert 38 <= int(page.locator("#idle-countdown").inner_text()) <= 40
    with page.expect_navigation(url=f"**/{language}/"):
        page.clock.run_for("00:45")
    assert page.input_value("#id_text") == ""


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_booth_keeps_the_code_until_she_taps_done(context, settings, language, javascript):
    settings.UNTOLD_KIOSK = True
    # A booth starts again in its browser's language: here, the one she used.
    page = context(javascript=javascript, locale=language).new_page()
    if javascript:
        page.clock.install()
    fill_and_send(page, language)
    code = page.locator(".code").inner_text()

    if javascript:
        page.clock.run_for("04:00")
        page.mouse.click(5, 5)  # she is still reading
        page.clock.run_for("04:00")
        assert page.locator(".code").inner_text() == code
    with page.expect_navigation(url=f"**/{language}/"):
        page.locator("a.button[href='/exit/']").click()
    assert page.input_value("#id_text") == ""
    page.goto(f"/{language}/thanks/")
    assert page.locator(".code").count() == 0


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_booth_left_alone_clears_the_code_at_its_timeout(context, settings, language, javascript):
    settings.UNTOLD_KIOSK = True
    if not javascript:
        # Without JavaScript a refresh on the browser's own clock does it: a short timeout.
        settings.UNTOLD_KIOSK_IDLE_SECONDS, settings.UNTOLD_KIOSK_WARNING_SECONDS = 1, 1
    page = context(javascript=javascript, locale=language).new_page()
    if javascript:
        page.clock.install()
    fill_and_send(page, language)
    assert page.locator(".code").is_visible()

    with page.expect_navigation(url=f"**/{language}/", timeout=10_000):
        if javascript:
            page.clock.run_for("05:50")
            assert page.locator(".code").is_visible()
            page.clock.run_for("00:15")
    assert page.input_value("#id_text") == ""
    page.goto(f"/{language}/thanks/")
    assert page.locator(".code").count() == 0


@JS
@pytest.mark.parametrize("language", LANGUAGES)
def test_leaving_a_booth_returns_to_an_empty_form(context, settings, language, javascript):
    settings.UNTOLD_KIOSK = True
    page = context(javascript=javascript, locale=language).new_page()
    page.goto(f"/{language}/")
    page.fill("#id_text", "something to hide")

    with page.expect_navigation(url=f"**/{language}/"):
        page.click("#quick-exit")

    assert page.input_value("#id_text") == ""
    assert page.locator("#quick-exit").is_visible()

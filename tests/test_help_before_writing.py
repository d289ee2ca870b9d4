"""What she sees before she writes, and what stays when something goes wrong: help and
the safety page on screen first, how her story may be used asked before the text box,
who runs the campaign, errors that keep the reassurance, and a booth that behaves like
one. Each in the three languages where the words differ."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.http import QueryDict
from django.test import Client
from django.utils import timezone, translation

from submissions.forms import TestimonyForm, WithdrawForm
from submissions.models import Testimony
from tests.servers import hidden

pytestmark = pytest.mark.django_db

LANGUAGES = ("en", "ru", "kk")
NUMBERS = ("112", "102", "111", "150")


@pytest.fixture(autouse=True)
def open_campaign(settings):
    settings.UNTOLD_OPENS_AT = None
    settings.UNTOLD_CLOSES_AT = datetime(2099, 12, 10, 23, 59, tzinfo=ZoneInfo("Asia/Almaty"))
    settings.UNTOLD_RATE_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_SITE = "1000/h"
    settings.UNTOLD_KIOSK = False
    settings.UNTOLD_ORGANISATION = "Campaign Org"
    settings.UNTOLD_CONTACT = "hello@campaign.example"


def page(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.content.decode()


def story(client: Client, language: str = "en", **fields: object) -> dict[str, object]:
    served = hidden(page(client, f"/{language}/"), "served")
    return {"text": "A story.", "consent": "statistics", "served": served, **fields}


# --- Help before she writes ----------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_form_shows_the_numbers_to_call_before_the_text_box(client, language):
    form = page(client, f"/{language}/")

    help_at = form.index('class="support"')
    assert help_at < form.index('name="text"')
    for number in NUMBERS:
        assert f'<a href="tel:{number}">{number}</a>' in form[help_at:]


def test_the_help_says_where_to_go_in_danger_and_to_talk_and_for_under_18s(client):
    form = page(client, "/en/")
    support = form[form.index('class="support"') : form.index("</section>")]

    danger, talk = support.index("If you are in danger now"), support.index("If you want to talk")
    assert danger < support.index("tel:112") < support.index("tel:102") < talk
    assert talk < support.index("tel:111") < support.index("tel:150")
    assert "If you are under 18, call 150" in support


def test_the_form_says_it_is_not_a_report_nor_a_way_to_get_help(client):
    form = page(client, "/en/")

    assert "This form is not a report to the police, and nobody will contact you." in form
    assert "To report a crime, call the police." in form


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", ["", "thanks/", "privacy/", "withdraw/", "safety/", "nowhere/"])
def test_every_page_links_to_staying_safe_online(client, language, path):
    response = client.get(f"/{language}/{path}")

    assert f'<a href="/{language}/safety/">' in response.content.decode()


def test_the_safety_page_covers_history_shared_devices_and_what_leaving_does(client):
    safety = page(client, "/en/safety/")

    for words in (
        "Browser history",
        "private window",
        "Shared phones and computers",
        "the Back button brings this page back",
        "It cannot erase your browser’s history",
    ):
        assert words in safety
    assert 'class="support"' in safety


# --- Consent before she writes ---------------------------------------------------------------


def test_how_her_story_may_be_used_is_asked_before_the_text_box(client):
    form = page(client, "/en/")

    assert form.index('name="consent"') < form.index('name="text"')


# What each choice of use must say, concretely, in each language: who reads the story,
# whether it is shortened or edited, where it may appear, and that a use already made
# cannot be taken back.
CONSENT_POINTS = {
    "en": {
        "who reads it": r"moderators read it",
        "shortened or edited": r"shorten it|not shortened or edited",
        "where it may appear": r"posters.*reports|reports.*posters",
        "cannot be taken back": r"cannot be taken back",
    },
    "ru": {
        "who reads it": r"читают модераторы",
        "shortened or edited": r"сократить|не сокращают и не редактируют",
        "where it may appear": r"плакат.*отчёт|отчёт.*плакат",
        "cannot be taken back": r"отозвать .*нельзя|нельзя .*отозвать",
    },
    "kk": {
        "who reads it": r"модераторлары .*оқиды",
        "shortened or edited": r"қысқарт",
        "where it may appear": r"плакат.*есеп|есеп.*плакат",
        "cannot be taken back": r"қайтарып алу мүмкін емес",
    },
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("option", [0, 1], ids=["quoted", "counted"])
def test_each_use_says_who_reads_what_changes_where_it_appears_and_what_cannot_be_undone(
    client, language, option
):
    form = page(client, f"/{language}/")
    found = re.search(rf'<p class="hint" id="id_consent_{option}-description">(.*?)</p>', form)

    said = found.group(1)
    missing = [
        point for point, words in CONSENT_POINTS[language].items() if not re.search(words, said)
    ]
    assert not missing, f"{said!r} does not say: {', '.join(missing)}"
    assert re.search(
        rf'id="id_consent_{option}"[^>]*aria-describedby="id_consent_{option}-description"', form
    )


def test_there_is_no_legal_checkbox_and_a_story_needs_none(client):
    form = page(client, "/en/")

    assert 'name="understood"' not in form
    assert 'type="checkbox" name="understood"' not in form
    assert client.post("/en/", story(client)).status_code == 302


@pytest.mark.parametrize("path", ["/en/", "/en/privacy/"])
def test_the_form_and_the_privacy_page_name_the_organisation_and_a_contact(client, path):
    shown = page(client, path)

    assert "The campaign is run by Campaign Org. To reach them: hello@campaign.example." in shown


# --- Errors keep the reassurance -------------------------------------------------------------


def test_a_failed_submit_keeps_the_privacy_points_and_titles_the_page_error(client):
    response = client.post("/en/", story(client, consent="", text=""))

    form = response.content.decode()
    assert response.status_code == 400
    assert re.search(r"<title>Error: Tell your story", form)
    assert form.index('class="error-summary"') < form.index('class="facts"')
    assert "Your story is locked as soon as it arrives" in form
    assert 'class="support"' in form


class Described(HTMLParser):
    """A page's form controls, each with the ids its ``aria-describedby`` names, and the
    text of every element that has an id."""

    VOID = {"input", "meta", "link", "br", "hr", "img"}

    def __init__(self, html: str) -> None:
        super().__init__()
        self.controls: list[tuple[str, list[str]]] = []
        self.texts: dict[str, str] = {}
        self.open: list[tuple[str, str | None]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            described = (found.get("aria-describedby") or "").split()
            self.controls.append((found["name"], described))
        if found.get("id"):
            self.texts.setdefault(found["id"], "")
        if tag not in self.VOID:
            self.open.append((tag, found.get("id")))

    def handle_endtag(self, tag):
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for _tag, element in self.open:
            if element:
                self.texts[element] += data

    def descriptions(self, name: str) -> list[list[str]]:
        """For each control of this name, the texts of what describes it (None: no such
        element)."""
        return [
            [self.texts.get(element) for element in described]
            for control, described in self.controls
            if control == name
        ]


# Every field wrong at once: two a browser can send, four only an old page or a forged
# post can (a choice that is no longer offered).
EVERY_FIELD_WRONG = {
    "consent": "",
    "text": "",
    "forms_of_violence": "gone",
    "age_group": "gone",
    "region": "gone",
    "teller": "gone",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_field_is_described_by_its_own_inline_error_and_its_hint(client, language):
    data = QueryDict(mutable=True)
    data.update(story(client, language, **EVERY_FIELD_WRONG))
    with translation.override(language):
        expected = TestimonyForm(data).errors

    page = Described(client.post(f"/{language}/", data).content.decode())

    assert set(expected) == set(EVERY_FIELD_WRONG)
    for name, errors in expected.items():
        controls = page.descriptions(name)
        assert controls, name
        for described in controls:
            assert None not in described, f"{name} names an id that is not on the page"
            assert any(all(e in text for e in errors) for text in described), (name, described)
    (text,) = page.descriptions("text")
    assert "10" in text[0]  # the limit, in the help text the counter fills
    for described in page.descriptions("consent"):
        assert len(described) == 2 and len(described[0]) > 80


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_withdrawal_code_is_described_by_its_hint_and_its_error(client, language):
    page = Described(client.post(f"/{language}/withdraw/", {"code": "12"}).content.decode())

    ((hint, error),) = page.descriptions("code")
    with translation.override(language):
        assert hint == str(WithdrawForm.base_fields["code"].help_text)
        assert error == translation.gettext("A receipt code has 16 digits.")


ERROR = {"en": "Error:", "ru": "Ошибка:", "kk": "Қате:"}


def twice(client: Client, path: str, data: dict[str, object]):
    client.post(path, data)
    return client.post(path, data)


def posted_from_this_site(client: Client, language: str):
    """Her form, posted from this site's own page with a stale CSRF token."""
    data = story(Client(), language, csrfmiddlewaretoken="stale")
    checked = Client(enforce_csrf_checks=True, HTTP_ORIGIN="http://testserver")
    return checked.post(f"/{language}/", data)


# Every answer that shows her an error on a form page: what went wrong, and the request.
FAILED = {
    "form, fields wrong": lambda c, lang: c.post(f"/{lang}/", story(c, lang, consent="")),
    "form, expired": lambda c, lang: c.post(f"/{lang}/", story(c, lang, served="old")),
    "form, refused token": posted_from_this_site,
    "form, her limit": lambda c, lang: twice(c, f"/{lang}/", story(c, lang)),
    "form, closed meanwhile": lambda c, lang: c.post(f"/{lang}/", story(c, lang)),
    "withdraw, too short": lambda c, lang: c.post(f"/{lang}/withdraw/", {"code": "12"}),
    "withdraw, typo": lambda c, lang: c.post(f"/{lang}/withdraw/", {"code": "0" * 15 + "1"}),
    "withdraw, her limit": lambda c, lang: twice(c, f"/{lang}/withdraw/", {"code": "12"}),
    "confirmation, her limit": lambda c, lang: twice(
        c, f"/{lang}/withdraw/", {"code": "0" * 16, "confirmed": "1"}
    ),
    "confirmation, changed code": lambda c, lang: c.post(
        f"/{lang}/withdraw/", {"code": "1" * 16, "confirmed": "1"}
    ),
}
SUCCEEDED = {
    "form": lambda c, lang: c.get(f"/{lang}/"),
    "thanks": lambda c, lang: c.get(f"/{lang}/thanks/"),
    "withdraw": lambda c, lang: c.get(f"/{lang}/withdraw/"),
    "confirmation": lambda c, lang: c.post(f"/{lang}/withdraw/", {"code": "0" * 16}),
    "withdrawn": lambda c, lang: c.post(f"/{lang}/withdraw/", {"code": "0" * 16, "confirmed": "1"}),
    "privacy": lambda c, lang: c.get(f"/{lang}/privacy/"),
    "safety": lambda c, lang: c.get(f"/{lang}/safety/"),
}


def title(response) -> str:
    return re.search(r"<title>(.*?)</title>", response.content.decode(), re.S).group(1)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("failure", FAILED)
def test_a_page_that_shows_an_error_says_so_first_in_its_title(client, settings, language, failure):
    settings.UNTOLD_RATE_PER_CLIENT = settings.UNTOLD_RATE_WITHDRAW_PER_CLIENT = "1/h"
    if failure == "form, closed meanwhile":
        settings.UNTOLD_GRACE_MINUTES = 0
        data = story(client, language)
        settings.UNTOLD_CLOSES_AT = timezone.now() - timedelta(minutes=1)
        response = client.post(f"/{language}/", data)
    else:
        response = FAILED[failure](client, language)

    assert response.status_code >= 400
    assert title(response).startswith(ERROR[language] + " "), title(response)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("success", SUCCEEDED)
def test_a_page_without_an_error_does_not_say_error(client, language, success):
    response = SUCCEEDED[success](client, language)

    assert response.status_code == 200
    assert ERROR[language] not in title(response)


# --- Small things that matter ----------------------------------------------------------------


def test_too_many_from_her_and_too_many_from_everyone_are_told_apart(client, settings):
    settings.UNTOLD_RATE_PER_CLIENT = "1/h"
    client.post("/en/", story(client))
    own = client.post("/en/", story(client)).content.decode()

    settings.UNTOLD_RATE_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_SITE = "1/h"
    other = Client(REMOTE_ADDR="192.0.2.44")
    other.post("/en/", story(other))
    everyone = other.post("/en/", story(other)).content.decode()

    assert "You sent several stories just now" in own
    assert "Many people are sending stories right now" in everyone
    assert "Many people" not in own and "You sent several" not in everyone


def test_where_it_happened_offers_online(client):
    form = page(client, "/en/")

    assert '<option value="online">Online</option>' in form
    assert client.post("/en/", story(client, region="online")).status_code == 302
    assert Testimony.objects.get().region == "online"


def test_each_form_of_violence_has_a_plain_hint_read_with_its_label(client):
    form = page(client, "/en/")

    hints = re.findall(
        r'<label class="option"><input type="checkbox" name="forms_of_violence"[^>]*> '
        r'[^<]+ <span class="hint">([^<]+)</span></label>',
        form,
    )
    assert len(hints) == 9 and all(hints)


def test_the_counter_is_said_once_in_the_language_of_the_page(client):
    en, ru = page(client, "/en/"), page(client, "/ru/")

    assert en.count("10,000") == 1 and 'data-separator=","' in en
    assert 'data-separator="\xa0"' in ru


def test_the_shift_hint_waits_for_the_script_to_find_a_keyboard(client):
    form = page(client, "/en/")

    assert re.search(r'<p class="exit-hint" id="shift-hint" hidden>', form)


# --- A booth ---------------------------------------------------------------------------------


# The booth's "Done" button as the thanks page names it, and its timeout in minutes.
BOOTH_DONE = {
    "en": ("“I am done”", "6 minutes"),
    "ru": ("«Завершить»", "6 минут"),
    "kk": ("«Аяқтау»", "6 минут"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_booth_says_the_code_stays_until_done_or_the_timeout(client, settings, language):
    settings.UNTOLD_KIOSK = True
    client.post(f"/{language}/", story(client, language))

    thanks = page(client, f"/{language}/thanks/")

    receipt = thanks[thanks.index('class="receipt"') : thanks.index("</section>")]
    done, minutes = BOOTH_DONE[language]
    assert done in receipt and f"{minutes} " in receipt
    assert f'<a class="button" href="/exit/">{done[1:-1]}</a>' in thanks


def test_the_booth_timeout_said_follows_its_settings(client, settings):
    settings.UNTOLD_KIOSK = True
    settings.UNTOLD_KIOSK_IDLE_SECONDS, settings.UNTOLD_KIOSK_WARNING_SECONDS = 50, 10
    client.post("/en/", story(client))

    assert "no longer than 1 minute without a touch" in page(client, "/en/thanks/")


def test_leaving_a_booth_returns_to_an_empty_form_and_clears_the_site_data(client, settings):
    settings.UNTOLD_KIOSK = True

    response = client.get("/exit/", HTTP_ACCEPT_LANGUAGE="ru")

    assert response.status_code == 302
    assert response["Location"] == "/ru/"
    assert response["Clear-Site-Data"] == '"cache", "cookies", "storage"'


def test_a_booth_waits_as_long_as_its_settings_say(client, settings):
    settings.UNTOLD_KIOSK = True
    settings.UNTOLD_KIOSK_IDLE_SECONDS = 240
    settings.UNTOLD_KIOSK_WARNING_SECONDS = 45

    form, privacy = page(client, "/en/"), page(client, "/en/privacy/")

    for shown in (form, privacy):
        assert 'data-idle="240" data-warning="45"' in shown
        assert 'id="idle-warning"' in shown
    # Without JavaScript a page other than the form returns to the start on its own.
    assert '<meta http-equiv="refresh" content="285;url=/exit/">' in privacy
    assert 'http-equiv="refresh"' not in form


def test_the_booth_timeouts_default_to_five_minutes_and_a_minute(settings):
    from django.conf import settings as live

    assert (live.UNTOLD_KIOSK_IDLE_SECONDS, live.UNTOLD_KIOSK_WARNING_SECONDS) == (300, 60)


# --- The words -------------------------------------------------------------------------------


def test_kazakh_dates_read_year_zhylgy_day_and_a_lower_case_month(client, settings):
    settings.UNTOLD_CLOSES_AT = datetime(2026, 12, 21, 18, 0, tzinfo=ZoneInfo("Asia/Almaty"))
    with time_machine.travel(datetime(2026, 12, 1, tzinfo=ZoneInfo("Asia/Almaty")), tick=False):
        privacy = page(client, "/kk/privacy/")

    assert "2026 жылғы 21 желтоқсан, 18:00" in privacy
    assert "Желтоқсан" not in privacy


def test_closed_dates_read_the_same_way(client, settings):
    settings.UNTOLD_CLOSES_AT = timezone.now() - timedelta(days=1)
    closes = timezone.localtime(settings.UNTOLD_CLOSES_AT)

    closed = page(client, "/kk/")

    assert f"{closes.year} жылғы {closes.day} " in closed


def test_the_language_switcher_names_kazakh_as_kazakh(client):
    form = page(client, "/en/")

    assert '<a href="/kk/" lang="kk">Қазақша</a>' in form


# --- The README ------------------------------------------------------------------------------


def test_what_the_readme_quotes_for_her_is_on_the_pages(client, settings):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## If you are telling your story") : readme.index("## If you m")]
    quoted = set(re.findall(r'"([^"]+)"', section))
    client.post("/en/", story(client))
    pages = [page(client, f"/en/{path}") for path in ("", "thanks/", "withdraw/", "privacy/")]
    settings.UNTOLD_KIOSK = True
    pages.append(page(client, "/en/"))
    client.post("/en/", story(client))
    pages.append(page(client, "/en/thanks/"))
    pages.append(client.post("/en/", story(client, consent="")).content.decode())
    shown = " ".join(re.sub(r"<[^>]+>", " ", html) for html in pages)

    assert len(quoted) > 8
    assert [phrase for phrase in quoted if phrase not in shown] == []

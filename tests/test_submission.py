"""Sending a story: stored whole and sealed, answered with a one-time receipt code;
bad input gets a clear page with her text kept, never a 500. Also the other public
pages: withdraw, privacy, quick exit and the language choice."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import signing
from django.db import connection
from django.test import Client

from submissions import receipts
from submissions.models import Testimony
from tests.conftest import new_testimony
from tests.servers import hidden, server_env, shell

ALMATY = ZoneInfo("Asia/Almaty")
# Kazakh letters, an emoji sequence, right-to-left Arabic, zero-width joiner, non-joiner
# and a byte-order mark inside a word, and Windows line ends as browsers send them.
STORY = (
    "Әкем ұрды, ешкім көмектеспеді: ғ қ ң ө ұ ү һ і.\r\n"
    "👩‍👧 🙂 emoji\r\n"
    "مرحبا بالعالم\r\n"
    "zero\u200bwidth\u200cjoin\u200dand\ufeffmark\r\n"
    "last line"
)
STORED_STORY = STORY.replace("\r\n", "\n")
NOW = datetime(2026, 12, 9, 20, 30, tzinfo=UTC)  # already 10 December in Almaty

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def open_campaign(settings):
    settings.UNTOLD_TIME_ZONE = "Asia/Almaty"
    settings.UNTOLD_OPENS_AT = None
    settings.UNTOLD_CLOSES_AT = datetime(2026, 12, 10, 23, 59, tzinfo=ALMATY)
    settings.UNTOLD_RETAIN_DAYS = 30
    settings.UNTOLD_RATE_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_WITHDRAW_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_SITE = "1000/h"
    with time_machine.travel(NOW, tick=False):
        yield


def served(client, language: str = "en") -> str:
    return hidden(client.get(f"/{language}/").content.decode(), "served")


def story(client, language: str = "en", **fields: object) -> dict[str, object]:
    return {
        "text": STORY,
        "forms_of_violence": ["physical", "economic"],
        "age_group": "25_34",
        "region": "KZ-71",
        "teller": "witness",
        "consent": "quote",
        "served": served(client, language),
        "website": "",
        **fields,
    }


def shown_code(page: str) -> str | None:
    match = re.search(r'<p class="code"[^>]*>(\d{4} \d{4} \d{4} \d{4})</p>', page)
    return match and match.group(1).replace(" ", "")


def textarea(page: str) -> str:
    """The textarea's content as the browser would show it (Django adds a newline)."""
    match = re.search(r'<textarea name="text"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert match, "no story textarea in the page"
    return match.group(1)


def test_a_story_is_stored_once_sealed_with_its_answers(client):
    response = client.post("/kk/", story(client, "kk"))

    assert response.status_code == 302
    assert response["Location"] == "/kk/thanks/"
    testimony = Testimony.objects.get()
    assert testimony.open_text() == STORED_STORY
    assert testimony.language == "kk"
    assert testimony.received_on == date(2026, 12, 10)
    assert testimony.violence_forms == ["economic", "physical"]
    assert (testimony.age_group, testimony.region, testimony.teller) == (
        "25_34",
        "KZ-71",
        "witness",
    )
    assert testimony.consent == "quote"
    assert testimony.status == "new"
    assert STORED_STORY.encode() not in bytes(testimony.sealed_text)


def test_the_receipt_code_is_shown_and_stored_only_as_its_digest(client):
    client.post("/ru/", story(client, "ru"))

    code = shown_code(client.get("/ru/thanks/").content.decode())

    assert code is not None and len(code) == 16
    testimony = Testimony.objects.get()
    assert testimony.receipt_digest == receipts.digest(code)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM submissions_testimony")
        row = cursor.fetchone()
    for value in row:
        stored = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        assert code.encode() not in stored


def test_the_receipt_cookie_lasts_ten_minutes_and_carries_no_time(client):
    response = client.post("/en/", story(client))

    cookie = response.cookies["receipt_en"]
    assert cookie["path"] == "/en/thanks/"
    assert cookie["max-age"] == 600
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    # The code and its signature, and nothing else: no time it was sent.
    code, signature = cookie.value.split(":")
    assert re.fullmatch(r"\d{16}", code)
    assert signing.Signer(salt=receipts.COOKIE_SALT).unsign(cookie.value) == code


def test_a_filled_honeypot_stores_nothing_but_looks_like_success(client):
    response = client.post("/en/", story(client, website="http://cheap-pills.example"))

    assert response.status_code == 302
    assert response["Location"] == "/en/thanks/"
    assert Testimony.objects.count() == 0
    assert shown_code(client.get("/en/thanks/").content.decode()) is None


def test_a_story_over_10000_characters_is_refused_with_the_counts_and_kept(client):
    long_text = "ә" * 10_005

    response = client.post("/en/", story(client, text=long_text))

    page = response.content.decode()
    assert response.status_code == 400
    assert "Your story has 10005 characters; the limit is 10000." in page
    assert "shorten it by 5 characters" in page
    assert textarea(page) == long_text
    assert Testimony.objects.count() == 0


def test_a_story_of_exactly_10000_characters_is_accepted(client):
    response = client.post("/en/", story(client, text="ә" * 10_000))

    assert response.status_code == 302
    assert len(Testimony.objects.get().open_text()) == 10_000


def test_a_missing_consent_is_listed_with_a_link_to_its_first_choice(client):
    response = client.post("/en/", story(client, consent=""))

    page = response.content.decode()
    assert response.status_code == 400
    assert 'class="error-summary"' in page
    assert '<a href="#id_consent_0">Choose how your story may be used.</a>' in page
    assert 'id="id_consent_0"' in page
    assert textarea(page) == STORY
    assert Testimony.objects.count() == 0


def test_a_refused_story_leaves_nothing_in_the_next_form(client):
    # Every story form shares its fields and widgets (forms.fixed_fields): nothing one
    # person's refused form held (her answers, its errors) may reach the next form.
    def form_page() -> str:
        page = client.get("/en/").content.decode()
        return re.sub(r'(name="(?:csrfmiddlewaretoken|served)" value=)"[^"]+"', r"\1", page)

    before = form_page()
    refused = client.post(
        "/en/",
        story(
            client,
            text=" ",
            consent="statistics",
            forms_of_violence=["economic", "sexual"],
            age_group="18_24",
            region="KZ-75",
            teller="witness",
        ),
    )
    assert refused.status_code == 400
    assert 'aria-invalid="true"' in refused.content.decode()

    assert form_page() == before


def test_a_nul_byte_is_a_clear_error_not_a_500(client):
    response = client.post("/en/", story(client, text="before\x00after"))

    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_text_error"' in page
    assert "null character" in page
    assert textarea(page) == "before\x00after"  # kept; the browser shows U+FFFD there
    assert Testimony.objects.count() == 0


def test_an_empty_or_blank_story_is_refused(client):
    response = client.post("/en/", story(client, text=" \r\n\t "))

    assert response.status_code == 400
    assert "Please write your story before sending it." in response.content.decode()
    assert Testimony.objects.count() == 0


def test_an_expired_csrf_cookie_keeps_her_text_and_lets_her_send_again():
    client = Client(enforce_csrf_checks=True)
    fields = story(client)
    page = client.get("/en/").content.decode()
    fields["csrfmiddlewaretoken"] = hidden(page, "csrfmiddlewaretoken")
    client.cookies.clear()  # the browser was closed and reopened, say

    # The browser names the page's own origin, as it does for a form on this site.
    refused = client.post("/en/", fields, HTTP_ORIGIN="http://testserver")

    page = refused.content.decode()
    assert refused.status_code == 403
    assert "The page had expired" in page
    assert textarea(page) == STORY
    # She chooses how it may be used again: nothing is ticked for her.
    assert not re.search(r'<input[^>]*name="(?:consent|understood)"[^>]*checked', page)
    assert Testimony.objects.count() == 0
    fields["csrfmiddlewaretoken"] = hidden(page, "csrfmiddlewaretoken")
    assert client.post("/en/", fields).status_code == 302
    assert Testimony.objects.get().open_text() == STORED_STORY


def stored_with_code(code: str) -> Testimony:
    return new_testimony(
        "a story to withdraw",
        language="en",
        consent="statistics",
        receipt_digest=receipts.digest(code),
    )


def without_csrf_token(body: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", body)


def test_withdraw_with_the_right_code_deletes_the_story(client):
    stored_with_code("1234567812345672")
    kept = stored_with_code("8765432187654327")

    response = client.post("/en/withdraw/", {"code": "1234 5678 1234 5672", "confirmed": "1"})

    assert response.status_code == 200
    assert list(Testimony.objects.values_list("id", flat=True)) == [kept.id]


def test_withdraw_answers_a_wrong_code_exactly_as_a_right_one(client):
    stored_with_code("1234567812345672")

    right = client.post("/en/withdraw/", {"code": "1234567812345672", "confirmed": "1"})
    wrong = client.post("/en/withdraw/", {"code": "8765432187654327", "confirmed": "1"})

    assert right.status_code == wrong.status_code == 200
    assert without_csrf_token(right.content) == without_csrf_token(wrong.content)
    assert Testimony.objects.count() == 0


@pytest.mark.parametrize("code", ["12345", "1234-5678-1234-567x", "١٢٣٤٥٦٧٨١٢٣٤٥٦٧٨", ""])
def test_withdraw_with_a_malformed_code_is_a_clear_error(client, code):
    stored_with_code("1234567812345672")

    response = client.post("/en/withdraw/", {"code": code, "confirmed": "1"})

    assert response.status_code == 400
    assert 'class="error-summary"' in response.content.decode()
    assert Testimony.objects.count() == 1


def test_privacy_page_shows_the_closing_day_and_the_deletion_day(client):
    response = client.get("/en/privacy/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "10 December 2026, 23:59" in page
    assert "deleted 30 days after the close, on 9 January 2027" in page


def test_quick_exit_leaves_for_the_neutral_site_and_clears_site_data(client, settings):
    settings.UNTOLD_EXIT_URL = "https://weather.example/almaty"

    response = client.get("/exit/")

    assert response.status_code == 302
    assert response["Location"] == "https://weather.example/almaty"
    assert response["Clear-Site-Data"] == '"cache", "cookies", "storage"'


@pytest.mark.parametrize(
    ("accept", "target"),
    [("ru-RU,ru;q=0.9,en;q=0.5", "/ru/"), ("kk", "/kk/"), ("de-DE,de;q=0.9", "/en/"), ("", "/en/")],
)
def test_the_start_page_sends_the_browser_to_its_language(client, accept, target):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=accept)

    assert response.status_code == 302
    assert response["Location"] == target


def test_an_unknown_language_prefix_is_not_found(client):
    response = client.get("/de/", HTTP_ACCEPT_LANGUAGE="de")

    assert response.status_code == 404


# The URLconf is built at import from UNTOLD_ROLE, so the moderation role runs in a
# fresh process.
MODERATION_ROLE_PAGES = """
from django.conf import settings
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment(debug=False)
client = Client(raise_request_exception=False)
for path in ("/", "/en/", "/ru/thanks/", "/kk/withdraw/", "/en/privacy/", "/exit/"):
    print(path, client.get(path).status_code)
print("panel", client.get("/moderation/").status_code)
"""


def test_the_moderation_role_serves_no_public_pages(key_pair):
    env = server_env(
        key_pair.public_text,
        UNTOLD_ROLE="moderation",
        UNTOLD_PRIVATE_KEY_FILE=str(key_pair.private_file),
    )
    result = shell(MODERATION_ROLE_PAGES, env=env)

    lines = [line for line in result.stdout.splitlines() if line.startswith(("/", "panel"))]
    assert lines[:6] == [
        "/ 404",
        "/en/ 404",
        "/ru/thanks/ 404",
        "/kk/withdraw/ 404",
        "/en/privacy/ 404",
        "/exit/ 404",
    ], result.stdout + result.stderr
    assert lines[6] == "panel 302"  # the panel is there: it sends to its login

"""Bad input gets a 4xx page that says what is wrong, in her language where a page is
shown: never a 500, no error e-mail, no log line carrying what she wrote, and nothing
stored. Valid text in any script, right-to-left or invisible, is stored exactly as sent.

Requests come from a browser-like client that enforces CSRF with a real token, so the
body is parsed by the CSRF middleware before the view, as in production.

Covered elsewhere and not repeated here: a NUL byte typed in the story
(test_submission, ``test_a_nul_byte_is_a_clear_error_not_a_500``); a story over 10,000
characters and one of exactly 10,000 (test_submission); a missing or stale CSRF token,
which keeps her text (test_submission,
``test_an_expired_csrf_cookie_keeps_her_text_and_lets_her_send_again``); a served token
changed by one character or forged to an earlier time (test_deadline); an oversized
body and too many fields leaving no address or user agent behind (test_anonymity).
"""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.core import mail, signing
from django.db import transaction
from django.test import Client, RequestFactory
from django.test.client import MULTIPART_CONTENT
from django.utils import translation
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from submissions.choices import AgeGroup, Consent, Region, Teller, ViolenceForm
from submissions.forms import MAX_TEXT_LENGTH, SERVED_SALT, TestimonyForm, served_token
from submissions.models import Testimony
from tests.panel import PANEL, ensure_groups, staff, verified_client
from tests.servers import hidden

CLOSES = datetime.now(UTC) + timedelta(days=7)
FORM = "application/x-www-form-urlencoded"
BOUNDARY = "UntoldBoundary7e3f"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
# A marker in every story sent, looked for in every log record.
MARKER = "story-marker-5c1d"
STORY = f"Он кричал на меня каждый вечер ({MARKER})."
DAMAGED = (
    "Your text arrived damaged and could not be read in full. Nothing was stored. Please "
    "check your text, especially any strange signs in it, and send it again."
)
SENT_TWICE = "This answer was sent twice with different values. Please check it and send again."

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def open_campaign(settings):
    settings.UNTOLD_OPENS_AT = None
    settings.UNTOLD_CLOSES_AT = CLOSES
    settings.UNTOLD_RATE_PER_CLIENT = "100000/h"
    settings.UNTOLD_RATE_SITE = "100000/h"
    # With an administrator configured, Django would mail every error to her if the
    # error mail were still wired up; the outbox must stay empty.
    settings.ADMINS = [("Admin", "admin@example.org")]


def textarea(page: str) -> str:
    match = re.search(r'<textarea name="text"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert match, "no story textarea in the page"
    return html.unescape(match.group(1))


class Browser:
    """A browser that has loaded the form: CSRF is enforced and its token sent, so the
    CSRF middleware parses each body first, as it does in production."""

    def __init__(self, language: str = "en") -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.language = language
        page = self.client.get(f"/{language}/").content.decode()
        self.token = hidden(page, "csrfmiddlewaretoken")
        self.served = hidden(page, "served")

    def fields(self, **changes: object) -> dict[str, object]:
        return {
            "csrfmiddlewaretoken": self.token,
            "text": STORY,
            "consent": "statistics",
            "served": self.served,
            **changes,
        }

    def send(
        self, body: bytes | str, content_type: str = FORM, path: str | None = None, method="post"
    ):
        """POST (or another method) a body exactly as given, bytes and all."""
        send = getattr(self.client, method)
        path = path or f"/{self.language}/"
        return send(path, body, content_type=content_type, headers={"X-CSRFToken": self.token})

    def post(self, path: str | None = None, **changes: object):
        """POST the form urlencoded, as a browser does."""
        return self.send(urlencode(self.fields(**changes), doseq=True).encode(), path=path)


def with_raw(fields: dict[str, object], **raw: bytes) -> bytes:
    """A urlencoded body with some values given as bytes, exactly as they go on the wire."""
    without = {name: value for name, value in fields.items() if name not in raw}
    body = urlencode(without, doseq=True).encode()
    return body + b"".join(b"&" + name.encode() + b"=" + value for name, value in raw.items())


def multipart(fields: dict[str, object], **raw: bytes) -> bytes:
    """A multipart body with some values given as bytes."""
    parts = []
    for name, value in {**fields, **raw}.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            data = item if isinstance(item, bytes) else str(item).encode()
            parts.append(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                + data
                + b"\r\n"
            )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


ENCODINGS = ["urlencoded", "multipart"]


def encoded(encoding: str, fields: dict[str, object], **raw: bytes) -> tuple[bytes, str]:
    """The form as a body in ``encoding`` with its content type; ``raw`` values go on the
    wire exactly as given."""
    if encoding == "urlencoded":
        return with_raw(fields, **raw), FORM
    return multipart(fields, **raw), MULTIPART


def says(language: str, message: str) -> str:
    """``message`` as a page in ``language`` shows it. Kazakh and Russian must have it."""
    with translation.override(language):
        translated = translation.gettext(message)
    assert language == "en" or translated != message, f"{message!r} untranslated in {language}"
    return translated


def page(response) -> str:
    return html.unescape(response.content.decode())


def assert_nothing_kept(records: list[logging.LogRecord]) -> None:
    """Nothing stored, no mail, no server error, no log record carrying what she sent."""
    assert Testimony.objects.count() == 0
    assert mail.outbox == []
    for record in records:
        assert getattr(record, "status_code", 0) < 500, record.getMessage()
        assert MARKER not in logging.Formatter().format(record)
        assert MARKER not in repr({k: v for k, v in vars(record).items() if k != "exc_info"})


# --- Invalid UTF-8 and lone surrogates ---------------------------------------------------


DAMAGED_STORIES = {
    "lone high surrogate (WTF-8)": b"before%ED%A0%80after",
    "lone low surrogate (WTF-8)": b"before%ED%B0%80after",
    "surrogate pair as CESU-8": b"before%ED%A0%BD%ED%B8%80after",
    "bytes that are never UTF-8": b"before%FF%FEafter",
    "raw invalid bytes, not percent-encoded": b"before\xff\xfeafter",
    "overlong encoding of /": b"before%C0%AFafter",
    "truncated sequence": b"before%E2%82after",
    "beyond U+10FFFF": b"before%F4%90%80%80after",
    "Cyrillic in windows-1251": b"before" + "Привет".encode("cp1251") + b"after",
}


@pytest.mark.parametrize("raw", DAMAGED_STORIES.values(), ids=DAMAGED_STORIES.keys())
def test_a_story_that_is_not_utf8_is_refused_with_what_could_be_read_kept(raw, log_records):
    browser = Browser("kk")

    response = browser.send(with_raw(browser.fields(), text=raw))

    shown = page(response)
    assert response.status_code == 400
    assert says("kk", DAMAGED) in shown
    # What Django could read stays on screen: U+FFFD in place of bad escapes, or, for raw
    # bad bytes, the whole body read as Latin-1 (which was stored, before this check).
    kept = textarea(response.content.decode())
    assert kept.startswith("before") and kept.endswith("after")
    assert_nothing_kept(log_records)


@pytest.mark.parametrize(
    "raw", [b"before\xed\xa0\x80after", b"before\xffafter"], ids=["lone surrogate", "0xFF"]
)
def test_a_story_that_is_not_utf8_is_refused_in_multipart_too(raw, log_records):
    # Multipart values travel as raw bytes, not percent-encoded.
    browser = Browser("ru")

    response = browser.send(multipart(browser.fields(), text=raw), MULTIPART)

    assert response.status_code == 400
    assert says("ru", DAMAGED) in page(response)
    assert_nothing_kept(log_records)


@pytest.mark.parametrize(
    "damage",
    [b"&teller=%ED%A0%80", b"&website=%FF", b"&%FF%FE=1"],
    ids=["damaged answer", "damaged honeypot", "damaged field name"],
)
def test_damage_anywhere_in_the_form_is_refused(damage, log_records):
    browser = Browser()

    response = browser.send(urlencode(browser.fields()).encode() + damage)

    assert response.status_code == 400
    assert DAMAGED in page(response)
    assert_nothing_kept(log_records)


def test_a_replacement_character_she_typed_is_stored_as_sent():
    # U+FFFD sent as its valid UTF-8 bytes is text like any other, not damage.
    browser = Browser()

    response = browser.send(with_raw(browser.fields(), text=b"before%EF%BF%BDafter"))

    assert response.status_code == 302
    assert Testimony.objects.get().open_text() == "before\ufffdafter"


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/kk/", 400, "Something was wrong with the request"),
        ("/kk/withdraw/", 400, "Something was wrong with the request"),
        ("/kk/nowhere/", 404, "Page not found"),
    ],
)
def test_a_form_body_declared_in_another_charset_is_refused(path, status, title, log_records):
    # Django reads urlencoded bodies as UTF-8 only (RFC 1866) and refuses the rest. Its
    # own 400 and 404 pages read the body again, which turned this into a 500.
    browser = Browser("kk")
    body = urlencode(browser.fields(text="Привет"), encoding="cp1251")

    response = browser.send(body, f"{FORM}; charset=windows-1251", path=path)

    assert response.status_code == status
    assert says("kk", title) in page(response)
    assert_nothing_kept(log_records)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_nul_byte_is_refused_however_the_body_carries_it(encoding, log_records):
    browser = Browser("kk")
    raw = b"before\x00after"
    response = browser.send(*encoded(encoding, browser.fields(), text=raw))

    assert response.status_code == 400
    null = "Your text contains an invisible null character. Please remove it and send again."
    assert says("kk", null) in page(response)
    assert_nothing_kept(log_records)


# --- Size and number of fields -----------------------------------------------------------


TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_10_mb_body_is_refused_with_the_friendly_page_and_not_logged(encoding, log_records):
    browser = Browser("kk")
    story = (MARKER + " ") * (TEN_MB // (len(MARKER) + 1))
    body, content_type = encoded(encoding, browser.fields(text=story))
    assert len(body) > TEN_MB - 100

    response = browser.send(body, content_type)

    assert response.status_code == 400
    assert says("kk", "Something was wrong with the request") in page(response)
    assert any(r.name == "django.security.RequestDataTooBig" for r in log_records)
    assert_nothing_kept(log_records)


def test_a_file_sent_with_the_form_is_dropped_unread_and_never_written_to_disk(
    settings, tmp_path, log_records
):
    # The form takes no files. A story sent as a file part is not limited by
    # DATA_UPLOAD_MAX_MEMORY_SIZE; it must not land, in clear, in a temporary file.
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    browser = Browser()
    fields = browser.fields()
    del fields["text"]
    file_part = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="text"; filename="story.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + (MARKER.encode() + b" ") * (TEN_MB // (len(MARKER) + 1))
        + b"\r\n"
    )
    body = file_part + multipart(fields)

    request = RequestFactory().post("/en/", body, content_type=MULTIPART)
    assert len(request.FILES) == 0
    assert list(tmp_path.iterdir()) == []
    response = browser.send(body, MULTIPART)

    assert response.status_code == 400
    assert "Please write your story before sending it." in page(response)
    assert_nothing_kept(log_records)


@pytest.mark.parametrize(
    "extra",
    [{"forms_of_violence": ["physical"] * 5000}, {f"field{n}": "1" for n in range(5000)}],
    ids=["one answer 5,000 times", "5,000 different fields"],
)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_5000_fields_are_refused_with_the_friendly_page(extra, encoding, log_records):
    browser = Browser("ru")
    fields = {**browser.fields(), **extra}
    body, content_type = encoded(encoding, fields)

    response = browser.send(body, content_type)

    assert response.status_code == 400
    assert says("ru", "Something was wrong with the request") in page(response)
    assert any(r.name == "django.security.TooManyFieldsSent" for r in log_records)
    assert_nothing_kept(log_records)


# --- Repeated fields and unknown choices -------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"text": ["Первый текст.", "Второй текст."]},
        {"consent": ["quote", "statistics"]},
        {"age_group": ["18_24", "65_plus"]},
        {"region": ["KZ-71", "KG"]},
        {"teller": ["survivor", "witness"]},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_one_answer_sent_twice_with_different_values_is_refused(changes, log_records):
    # A browser sends each of these once. Two values come from a broken or forged client,
    # and taking the last silently could, say, turn "statistics only" into "may be quoted".
    browser = Browser("kk")

    response = browser.post(**changes)

    assert response.status_code == 400
    assert says("kk", SENT_TWICE) in page(response)
    assert_nothing_kept(log_records)


def test_the_same_answer_sent_twice_counts_once():
    browser = Browser()

    response = browser.post(
        consent=["quote", "quote"], forms_of_violence=["physical"] * 50 + ["economic"]
    )

    assert response.status_code == 302
    testimony = Testimony.objects.get()
    assert testimony.consent == "quote"
    assert testimony.violence_forms == ["economic", "physical"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("forms_of_violence", ["physical", "torture-by-ai"]),
        ("age_group", "7"),
        ("region", "US-CA"),
        ("teller", "boss"),
        ("consent", "everything"),
    ],
)
def test_an_unknown_choice_is_refused_with_the_field_error_and_her_text_kept(
    field, value, log_records
):
    browser = Browser("ru")

    response = browser.post(**{field: value})

    unknown = value[-1] if isinstance(value, list) else value
    invalid = "Select a valid choice. %(value)s is not one of the available choices."
    assert response.status_code == 400
    assert says("ru", invalid) % {"value": unknown} in page(response)
    assert textarea(response.content.decode()) == STORY
    assert_nothing_kept(log_records)


# --- Length --------------------------------------------------------------------------------


def test_an_over_long_story_is_counted_in_characters_and_told_in_her_language(log_records):
    # Emoji are two UTF-16 units and four bytes each; the limit counts characters.
    long_story = "😀" * (MAX_TEXT_LENGTH + 1)
    browser = Browser("ru")

    response = browser.post(text=long_story)

    with translation.override("ru"):
        expected = TestimonyForm({"text": long_story}).errors["text"][0]
    assert "10001" in expected and "10000" in expected
    assert response.status_code == 400
    assert expected in page(response)
    assert textarea(response.content.decode()) == long_story
    assert_nothing_kept(log_records)


def test_windows_line_ends_do_not_count_against_the_limit():
    # 5,000 lines of one letter: 10,000 characters with LF, 14,999 as the browser sends.
    story = "\r\n".join(["ә"] * 5000) + "ә" * 1
    assert len(story.replace("\r\n", "\n")) == MAX_TEXT_LENGTH

    response = Browser().post(text=story)

    assert response.status_code == 302
    assert Testimony.objects.get().open_text() == story.replace("\r\n", "\n")


# --- Addresses and methods ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("/de/", "ru"),
        ("/xx/withdraw/", "ru"),
        # A prefix naming a language the site has, spelled otherwise: the page speaks it.
        ("/EN/", "en"),
        ("/en-us/", "en"),
        ("/kk-kz/thanks/", "kk"),
    ],
)
def test_a_wrong_language_prefix_is_the_not_found_page_in_her_language(path, language, log_records):
    browser = Browser("ru")

    got = browser.client.get(path, headers={"Accept-Language": "ru"})
    posted = browser.send(urlencode(browser.fields()).encode(), path=path)

    assert got.status_code == posted.status_code == 404
    assert says(language, "Page not found") in page(got)
    assert_nothing_kept(log_records)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("language", ["en", "kk", "ru"])
@pytest.mark.parametrize("path", ["/{}/", "/{}/withdraw/"])
def test_other_methods_are_refused_with_a_page_in_her_language(method, language, path, log_records):
    browser = Browser(language)

    response = browser.send(
        urlencode(browser.fields()).encode(), path=path.format(language), method=method
    )

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert says(language, "Nothing was stored. Please go back and try again.") in page(response)
    assert 'href="/exit/"' in page(response)  # the quick exit, as on every page
    assert Testimony.objects.count() == 0
    assert_nothing_kept(log_records)


@pytest.mark.parametrize("path", ["/en/privacy/", "/en/thanks/"])
def test_a_page_that_takes_only_get_refuses_a_post_with_a_page(client, path):
    response = client.post(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert "Something was wrong with the request" in response.content.decode()


def test_the_panel_explains_a_refused_method_too():
    ensure_groups()
    moderator = verified_client(*staff("moderator-user", "moderator"))

    response = moderator.get(f"{PANEL}logout/")  # signing out takes a POST

    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert "Something was wrong with the request" in response.content.decode()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (json.dumps({"text": STORY, "consent": "quote"}), "application/json"),
        (f"text={STORY}&consent=quote", "text/plain"),
        (b"\x00\xff\xfe garbage", "application/octet-stream"),
    ],
    ids=["json", "plain text", "binary"],
)
def test_a_body_that_is_not_a_form_is_refused_with_the_form_errors(body, content_type, log_records):
    browser = Browser("kk")

    response = browser.send(body, content_type)

    assert response.status_code == 400
    assert says("kk", "Please write your story before sending it.") in page(response)
    assert_nothing_kept(log_records)


# --- The served token --------------------------------------------------------------------


def signed(payload: object) -> str:
    return signing.dumps(payload, salt=SERVED_SALT)


TAMPERED_TOKENS = {
    "empty": "",
    "not a token": "yesterday",
    "another salt": signing.dumps(1_800_000_000, salt="untold.receipt-cookie"),
    "signature cut": "MTgwMDAwMDAwMA:1v",
    "a null character": "abc\x00def",
    "very long": "A" * 20_000,
    "text in place of the time": signed("soon"),
    "a list in place of the time": signed([1]),
    "a time beyond the calendar": signed(10**20),
    "infinity": signed(float("inf")),
}


@pytest.mark.parametrize("token", TAMPERED_TOKENS.values(), ids=TAMPERED_TOKENS.keys())
def test_a_broken_served_token_is_refused_with_her_text_kept_and_a_fresh_token(token, log_records):
    browser = Browser("kk")

    response = browser.post(served=token)

    raw = response.content.decode()
    assert response.status_code == 400
    assert says("kk", "The page had expired") in page(response)
    assert textarea(raw) == STORY
    fresh = hidden(raw, "served")
    assert fresh != token and signing.loads(fresh, salt=SERVED_SALT)
    assert_nothing_kept(log_records)


# --- Right-to-left and invisible characters, stored as sent ------------------------------


FAITHFUL = {
    "right-to-left override": "file\u202egnp.exe\u202c is what he sent me",
    "isolates and marks": "\u2067שלום\u2069 and \u200fمرحبا\u200e; \u2066ltr\u2069",
    "Hebrew": "הוא היכה אותי ואף אחד לא עזר",
    "Arabic with tatweel": "ضربني ولم يساعدني أحـــد",
    "zero-width characters": "zero\u200bwidth\u200cnon\u200djoin\u2060word\u00adbreak",
    "byte-order mark first": "\ufeffstarts with a BOM",
    "emoji sequences": "👩‍👧 🏳️‍⚧️ 👍🏽 1️⃣",
    "astral planes": "𝕳𝖊𝖑𝖕 𓀀 𠀀 \U000e0001tag",
    "combining marks, not normalised": "e\u0301 vs \u00e9, Ә\u0306",
    "other line separators": "one\u2028two\u2029three\x85four\x0bfive\x0csix",
    "spaces kept at both ends": "\n\n  indented\t\n  ",
    "private use and noncharacters": "\ue000\uf8ff\ufdd0\uffff\U0010fffd",
    "Windows and old Mac line ends": "one\r\ntwo\rthree\n",
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("text", FAITHFUL.values(), ids=FAITHFUL.keys())
def test_valid_text_is_stored_exactly_as_sent(text, encoding):
    browser = Browser("kk")
    response = browser.send(*encoded(encoding, browser.fields(text=text)))

    assert response.status_code == 302
    assert Testimony.objects.get().open_text() == text.replace("\r\n", "\n").replace("\r", "\n")


# --- Any text, any answers ---------------------------------------------------------------


SPECIAL = [
    *["\r\n", "\r", "\n", "\x00", " ", "\t", "\x85", "\u2028", "&", "=", "+", "%"],
    *["\u202e", "\u2067", "\u200b", "\u200d", "\ufeff", "\ufffd", "\u0301"],
    *["😀", "👩\u200d👧", "שלום", "مرحبا", "Қазақ"],
]


def now_and_then(draw, one_in: int) -> bool:
    """True about once in ``one_in`` draws. Hypothesis favours the ends of a range, so the
    middle value is the rare one."""
    return draw(st.integers(0, one_in - 1)) == one_in // 2


@st.composite
def texts(draw) -> str:
    """Any text, often with the characters that matter here; one in ten near the limit."""
    if now_and_then(draw, 10):
        return "ж" * draw(st.integers(MAX_TEXT_LENGTH - 2, MAX_TEXT_LENGTH + 2))
    anything = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)
    parts = draw(st.lists(st.one_of(anything, st.sampled_from(SPECIAL)), min_size=1, max_size=12))
    return "".join(parts)


@st.composite
def answers(draw) -> dict[str, object]:
    """Structured answers, each valid 14 times in 15."""

    def pick(valid: list[str], invalid: list[str]) -> str:
        return draw(st.sampled_from(invalid if now_and_then(draw, 15) else valid))

    choices = [*ViolenceForm.values, *(["bogus"] if now_and_then(draw, 10) else [])]
    return {
        "forms_of_violence": draw(st.lists(st.sampled_from(choices), max_size=4)),
        "age_group": pick(["", *AgeGroup.values], ["7", "adult"]),
        "region": pick(["", *Region.values], ["US-CA", "kz-71"]),
        "teller": pick(["", *Teller.values], ["boss"]),
        "consent": pick(Consent.values, ["", "everything", "QUOTE"]),
    }


def valid_answers(sent: dict[str, object]) -> bool:
    return (
        set(sent["forms_of_violence"]) <= set(ViolenceForm.values)
        and sent["age_group"] in ["", *AgeGroup.values]
        and sent["region"] in ["", *Region.values]
        and sent["teller"] in ["", *Teller.values]
        and sent["consent"] in Consent.values
    )


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=texts(),
    sent=answers(),
    language=st.sampled_from(["kk", "ru", "en"]),
    encoding=st.sampled_from(ENCODINGS),
)
def test_any_text_and_answers_are_stored_exactly_or_refused_whole(text, sent, language, encoding):
    fields = {"text": text, **sent, "served": served_token(), "website": ""}
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    readable = "\x00" not in text and not (encoding == "multipart" and "\ufffd" in text)
    acceptable = readable and normalised.strip() and len(normalised) <= MAX_TEXT_LENGTH
    client = Client()

    with transaction.atomic():
        if encoding == "urlencoded":
            body = urlencode(fields, doseq=True).encode()
            response = client.post(f"/{language}/", body, content_type=FORM)
        else:
            response = client.post(f"/{language}/", fields, content_type=MULTIPART_CONTENT)

        if acceptable and valid_answers(sent):
            event("accepted")
            assert response.status_code == 302, page(response)
            testimony = Testimony.objects.get()
            assert testimony.open_text() == normalised
            assert testimony.language == language
            assert testimony.violence_forms == sorted(set(sent["forms_of_violence"]))
            stored = (testimony.age_group, testimony.region, testimony.teller, testimony.consent)
            assert stored == (sent["age_group"], sent["region"], sent["teller"], sent["consent"])
        else:
            event("refused")
            assert response.status_code == 400
            assert Testimony.objects.count() == 0
        assert mail.outbox == []
        transaction.set_rollback(True)

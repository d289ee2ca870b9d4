"""The receipt code cannot fail her: a check digit catches a typo before she believes her
story is gone, a confirmation stands between her and deleting, and the code survives a
reload or a change of language for ten minutes, and no longer."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import signing
from django.test import Client
from django.utils.crypto import salted_hmac

from submissions import receipts
from submissions.models import Testimony
from tests.conftest import new_testimony
from tests.servers import hidden

pytestmark = pytest.mark.django_db

LANGUAGES = ("en", "ru", "kk")


@pytest.fixture(autouse=True)
def open_campaign(settings):
    settings.UNTOLD_OPENS_AT = None
    settings.UNTOLD_CLOSES_AT = datetime(2099, 12, 10, 23, 59, tzinfo=ZoneInfo("Asia/Almaty"))
    settings.UNTOLD_RATE_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_WITHDRAW_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_SITE = "1000/h"
    settings.UNTOLD_KIOSK = False


def send_story(client: Client, language: str = "en"):
    page = client.get(f"/{language}/").content.decode()
    fields = {"text": "A story.", "consent": "statistics", "served": hidden(page, "served")}
    response = client.post(f"/{language}/", fields)
    assert response.status_code == 302
    return response


def shown_code(response) -> str | None:
    match = re.search(
        r'<p class="code"[^>]*>(\d{4} \d{4} \d{4} \d{4})</p>', response.content.decode()
    )
    return match and match.group(1).replace(" ", "")


def stored_with_code(code: str) -> Testimony:
    return new_testimony("a story to withdraw", receipt_digest=receipts.digest(code))


# --- The stored digest -------------------------------------------------------------------


def test_the_digest_is_the_same_salted_hmac_as_before_and_follows_the_secret(settings):
    # Stories stored by earlier releases are found by salted_hmac's digest of their code;
    # the key is worked out once per secret, so a new secret must give a new digest.
    code = receipts.new_code()
    for secret in ("first secret " * 4, "second secret " * 4):
        settings.SECRET_KEY = secret
        expected = salted_hmac("untold.receipt-digest", code, algorithm="sha256").hexdigest()

        assert receipts.digest(code) == expected
    assert receipts.digest(code) != receipts.digest(receipts.new_code())


# --- The check digit ---------------------------------------------------------------------


def test_a_new_code_is_16_digits_whose_last_checks_the_others():
    codes = {receipts.new_code() for _ in range(1000)}

    assert len(codes) == 1000
    for code in codes:
        assert re.fullmatch(r"\d{16}", code)
        assert not receipts.has_typo(code)


def test_the_check_digit_is_damms():
    # Damm's own example: 572 takes the check digit 4.
    assert receipts.with_check_digit("572") == "5724"
    assert receipts.has_typo("5727")


@pytest.mark.parametrize("code", ["1234567890123452", "0000000000000000", "9081726354453627"])
def test_every_wrong_digit_and_every_swap_of_neighbours_is_a_typo(code):
    code = receipts.with_check_digit(code[:15])
    typos = [
        code[:i] + digit + code[i + 1 :]
        for i in range(16)
        for digit in "0123456789"
        if digit != code[i]
    ] + [
        code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        for i in range(15)
        if code[i] != code[i + 1]
    ]

    assert not receipts.has_typo(code)
    assert [typo for typo in typos if not receipts.has_typo(typo)] == []


# --- Withdrawing ----------------------------------------------------------------------------


def test_a_code_with_a_typo_is_told_so_and_deletes_nothing(client):
    code = receipts.new_code()
    stored_with_code(code)
    typo = code[:5] + str((int(code[5]) + 1) % 10) + code[6:]

    response = client.post("/en/withdraw/", {"code": receipts.grouped(typo), "confirmed": "1"})

    page = response.content.decode()
    assert response.status_code == 400
    assert "This code has a typo" in page
    assert page.count('id="id_code_error"') == 1
    assert Testimony.objects.count() == 1


def test_the_typo_answer_is_the_same_whether_or_not_a_story_has_the_right_code(client):
    code = receipts.new_code()
    typo = code[:-1] + str((int(code[-1]) + 1) % 10)
    without_story = client.post("/en/withdraw/", {"code": typo})
    stored_with_code(code)

    with_story = client.post("/en/withdraw/", {"code": typo})

    assert without_story.status_code == with_story.status_code == 400
    assert without_csrf_token(without_story.content) == without_csrf_token(with_story.content)


def without_csrf_token(body: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", body)


def test_a_good_code_asks_for_confirmation_first_and_deletes_nothing_yet(client):
    code = receipts.new_code()
    stored_with_code(code)

    response = client.post("/en/withdraw/", {"code": receipts.grouped(code)})

    page = response.content.decode()
    assert response.status_code == 200
    assert "Delete this story?" in page
    assert re.search(r'<button type="submit" class="danger">Yes, delete my story</button>', page)
    assert f'name="code" value="{code}"' in page and 'name="confirmed" value="1"' in page
    assert Testimony.objects.count() == 1


def test_the_confirmation_is_the_same_whether_or_not_the_code_has_a_story(client):
    code, other = receipts.new_code(), receipts.new_code()
    stored_with_code(code)

    right = client.post("/en/withdraw/", {"code": code})
    wrong = client.post("/en/withdraw/", {"code": other})

    assert without_csrf_token(right.content).replace(
        receipts.grouped(code).encode(), b"CODE"
    ).replace(code.encode(), b"CODE") == without_csrf_token(wrong.content).replace(
        receipts.grouped(other).encode(), b"CODE"
    ).replace(other.encode(), b"CODE")


def test_confirming_deletes_the_story_with_that_code_only(client):
    code = receipts.new_code()
    stored_with_code(code)
    kept = stored_with_code(receipts.new_code())

    response = client.post("/en/withdraw/", {"code": code, "confirmed": "1"})

    assert response.status_code == 200
    assert "Done" in response.content.decode()
    assert list(Testimony.objects.values_list("id", flat=True)) == [kept.id]


def test_the_delete_button_looks_unlike_the_send_button(client):
    form = client.get("/en/").content.decode()
    confirm = client.post("/en/withdraw/", {"code": receipts.new_code()}).content.decode()

    assert '<button type="submit">Send my story</button>' in form
    assert 'class="danger"' in confirm and 'class="danger"' not in form


# --- Codes from the first release, which had no check digit -----------------------------

MAY_HAVE_A_TYPO = {"en": "may have a typo", "ru": "возможно, опечатка", "kk": "қате болуы мүмкін"}


def first_release_code() -> str:
    """16 random digits, as the first release gave out, that fail the check digit (as nine
    in ten of them do)."""
    while not receipts.has_typo(code := f"{secrets.randbelow(10**16):016d}"):
        pass
    return code


def test_by_default_a_code_that_fails_the_check_digit_is_a_typo(client, settings):
    settings.UNTOLD_CODES_WITHOUT_CHECK_DIGIT = False
    code = first_release_code()
    stored_with_code(code)

    response = client.post("/en/withdraw/", {"code": code, "confirmed": "1"})

    assert response.status_code == 400
    assert "This code has a typo" in response.content.decode()
    assert Testimony.objects.count() == 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_with_first_release_codes_a_failing_code_is_asked_to_be_checked(client, settings, language):
    settings.UNTOLD_CODES_WITHOUT_CHECK_DIGIT = True
    code = first_release_code()
    stored_with_code(code)

    response = client.post(f"/{language}/withdraw/", {"code": code})

    page = response.content.decode()
    assert response.status_code == 200
    assert 'class="danger"' in page and f'name="code" value="{code}"' in page
    notice = re.search(r'<div class="notice" role="alert"[^>]*>(.*?)</div>', page, re.S)
    assert notice and MAY_HAVE_A_TYPO[language] in notice.group(1)
    assert Testimony.objects.count() == 1


def test_with_first_release_codes_a_good_code_is_not_doubted(client, settings):
    settings.UNTOLD_CODES_WITHOUT_CHECK_DIGIT = True

    page = client.post("/en/withdraw/", {"code": receipts.new_code()}).content.decode()

    assert 'class="danger"' in page and "may have a typo" not in page


def test_with_first_release_codes_confirming_withdraws_a_first_release_story(client, settings):
    settings.UNTOLD_CODES_WITHOUT_CHECK_DIGIT = True
    code = first_release_code()
    stored_with_code(code)
    kept = stored_with_code(receipts.new_code())

    response = client.post("/en/withdraw/", {"code": receipts.grouped(code), "confirmed": "1"})

    assert response.status_code == 200
    assert list(Testimony.objects.values_list("id", flat=True)) == [kept.id]


def test_with_first_release_codes_the_answers_are_the_same_with_or_without_a_story(
    client, settings
):
    settings.UNTOLD_CODES_WITHOUT_CHECK_DIGIT = True
    code, other = first_release_code(), first_release_code()
    stored_with_code(code)

    def answers(to: str) -> list[bytes]:
        steps = [{"code": to}, {"code": to, "confirmed": "1"}]
        pages = [client.post("/en/withdraw/", step) for step in steps]
        assert [page.status_code for page in pages] == [200, 200]
        return [
            without_csrf_token(page.content)
            .replace(receipts.grouped(to).encode(), b"CODE")
            .replace(to.encode(), b"CODE")
            for page in pages
        ]

    assert answers(code) == answers(other)
    assert Testimony.objects.count() == 0


# --- The code on the thanks pages ------------------------------------------------------------


def test_the_code_waits_for_every_thanks_page_for_ten_minutes_with_no_time_in_it(client):
    response = send_story(client)

    for language in LANGUAGES:
        cookie = response.cookies[f"receipt_{language}"]
        assert cookie["path"] == f"/{language}/thanks/"
        assert cookie["max-age"] == 600
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        code, _ = cookie.value.split(":")
        assert re.fullmatch(r"\d{16}", code)
        assert signing.Signer(salt=receipts.COOKIE_SALT).unsign(cookie.value) == code


def test_the_code_is_shown_again_on_reload_and_in_every_language(client):
    send_story(client, "ru")

    shown = [
        shown_code(client.get(f"/{language}/thanks/")) for language in ("ru", "ru", "kk", "en")
    ]

    assert shown[0] is not None and len(set(shown)) == 1
    testimony = Testimony.objects.get()
    assert testimony.receipt_digest == receipts.digest(shown[0])


def test_a_booth_shows_the_code_once_and_forgets_it_in_every_language(client, settings):
    settings.UNTOLD_KIOSK = True
    send_story(client)

    first = client.get("/en/thanks/")

    assert shown_code(first) is not None
    # "I am done" ends the booth's visit through the quick exit, which clears the site's data.
    assert '<a class="button" href="/exit/">I am done</a>' in first.content.decode()
    for language in LANGUAGES:
        assert first.cookies[f"receipt_{language}"]["max-age"] == 0
        assert first.cookies[f"receipt_{language}"]["path"] == f"/{language}/thanks/"
    assert shown_code(client.get("/en/thanks/")) is None
    assert shown_code(client.get("/kk/thanks/")) is None

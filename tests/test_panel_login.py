"""Logging in to the moderation panel through its own login form: password and code.

Threat: a stolen or guessed password must open nothing; a guessing run is cut short
without recording who is guessing; a password typed into the wrong box must not end
up in the audit trail; a forgotten session must not stay open.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from submissions.models import AuditEvent
from submissions.ratelimit import cache_key, username_key
from tests.panel import LOGIN, PANEL, PASSWORD, current_code, log_in, signed_in, staff

START = datetime(2025, 11, 25, 9, 0, tzinfo=UTC)
Action = AuditEvent.Action


@pytest.fixture(autouse=True)
def fresh_limits(settings):
    """Generous limits unless a test sets its own (conftest empties the cache)."""
    settings.UNTOLD_RATE_LOGIN_PER_USERNAME = "100/h"
    settings.UNTOLD_RATE_LOGIN_PER_CLIENT = "100/h"
    settings.UNTOLD_RATE_LOGIN_SITE = "1000/h"


@pytest.fixture
def traveller():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def ann(db, traveller):
    return staff("ann", "moderator")


def browser() -> Client:
    return Client(HTTP_HOST="localhost")


def is_logged_in(client: Client) -> bool:
    return signed_in(client)


def wrong_code(device) -> str:
    """A six-digit code that the device does not accept now (nor one step either side)."""
    device.refresh_from_db()
    accepted = {
        f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift + d):06d}"
        for d in (-1, 0, 1)
    }
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in accepted)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


# --- Password and code ---------------------------------------------------------------------


def test_password_and_right_code_log_in_and_are_audited(ann):
    user, device = ann
    client = browser()

    response = log_in(client, "ann", code=current_code(device))

    assert response.status_code == 302
    assert response["Location"] == PANEL
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert is_logged_in(client)
    assert [event.actor for event in events(Action.LOGGED_IN)] == ["ann"]
    assert events(Action.LOGIN_FAILED) == []


def test_right_password_and_wrong_code_log_nobody_in(ann):
    user, device = ann
    client = browser()

    response = log_in(client, "ann", code=wrong_code(device))

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert not is_logged_in(client)
    failed = events(Action.LOGIN_FAILED)
    assert [(event.actor, event.detail) for event in failed] == [("ann", {"step": "code"})]
    assert events(Action.LOGGED_IN) == []


def test_after_a_wrong_code_the_right_one_works_once_the_throttle_has_passed(ann, traveller):
    user, device = ann
    client = browser()
    log_in(client, "ann", code=wrong_code(device))

    # django-otp refuses every code for a moment after a failure.
    assert log_in(client, "ann", code=current_code(device)).status_code == 200
    traveller.shift(timedelta(minutes=1))
    assert log_in(client, "ann", code=current_code(device)).status_code == 302

    assert is_logged_in(client)


def test_a_code_is_accepted_only_once(ann, traveller):
    user, device = ann
    code = current_code(device)
    assert log_in(browser(), "ann", code=code).status_code == 302

    traveller.shift(timedelta(seconds=5))
    second = browser()
    assert log_in(second, "ann", code=code).status_code == 200

    assert not is_logged_in(second)


def test_wrong_password_logs_nobody_in_and_names_the_account(ann):
    user, device = ann
    client = browser()

    response = log_in(client, "ann", password="not the password at all", code=current_code(device))

    assert response.status_code == 200
    assert not is_logged_in(client)
    assert [event.actor for event in events(Action.LOGIN_FAILED)] == ["ann"]
    assert events(Action.LOGGED_IN) == []
    assert "not the password" not in repr(list(AuditEvent.objects.values()))


def test_a_password_typed_into_the_username_box_is_not_recorded(ann):
    user, device = ann
    client = browser()

    log_in(client, PASSWORD, password="ann", code=current_code(device))

    assert not is_logged_in(client)
    assert [event.actor for event in events(Action.LOGIN_FAILED)] == ["(unknown username)"]
    stored = repr(list(AuditEvent.objects.values()))
    assert PASSWORD not in stored
    assert "unguessable" not in stored


def test_a_password_alone_opens_nothing(ann):
    client = browser()

    response = log_in(client, "ann")

    assert response.status_code == 200
    assert not is_logged_in(client)


# --- Backup codes ------------------------------------------------------------------------


def test_a_backup_code_works_once_and_not_twice(ann, traveller):
    user, _ = ann
    # As create_moderator makes them.
    backup = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
    token = StaticToken.random_token()
    backup.token_set.create(token=token)

    first = browser()
    assert log_in(first, "ann", code=token).status_code == 302
    assert is_logged_in(first)
    assert first.session[DEVICE_ID_SESSION_KEY] == backup.persistent_id
    assert not backup.token_set.exists()

    traveller.shift(timedelta(minutes=1))
    second = browser()
    assert log_in(second, "ann", code=token).status_code == 200
    assert not is_logged_in(second)
    assert [event.actor for event in events(Action.LOGIN_FAILED)] == ["ann"]


# --- Rate limits ---------------------------------------------------------------------------


def test_the_fourth_attempt_for_one_username_is_refused_but_others_get_through(settings, ann, db):
    settings.UNTOLD_RATE_LOGIN_PER_USERNAME = "3/h"
    user, device = ann
    _, bea_device = staff("bea", "moderator")

    for _ in range(3):
        assert log_in(browser(), "ann", password="wrong guess").status_code == 200
    client = browser()
    refused = log_in(client, "ann", code=current_code(device))
    refused_other_case = log_in(browser(), "ANN", password="wrong guess")
    other = browser()
    allowed = log_in(other, "bea", code=current_code(bea_device))

    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert "Too many login attempts" in refused.content.decode()
    assert not is_logged_in(client)
    assert refused_other_case.status_code == 429
    assert allowed.status_code == 302
    assert is_logged_in(other)
    # Refused attempts never reach the password check.
    assert len(events(Action.LOGIN_FAILED)) == 3


def test_attempts_overall_are_capped_whatever_the_username(settings, ann):
    settings.UNTOLD_RATE_LOGIN_SITE = "5/h"
    user, device = ann

    answers = [log_in(browser(), f"guess-{n}", password="x").status_code for n in range(5)]
    client = browser()
    refused = log_in(client, "ann", code=current_code(device))

    assert answers == [200] * 5
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert not is_logged_in(client)


def test_the_cache_keys_hold_neither_the_username_nor_the_client_address(settings, ann):
    settings.UNTOLD_RATE_LOGIN_PER_USERNAME = "3/h"

    log_in(browser(), "ann", password="wrong guess", REMOTE_ADDR="203.0.113.9")

    def counted(value: str) -> int | None:
        return cache.get(cache_key("panel-login", "3/h", value))

    keyed = username_key(RequestFactory().post("/", {"username": "ann"}))
    assert counted(keyed) == 1
    assert counted("ann") is None
    assert counted("203.0.113.9") is None
    assert counted("127.0.0.1") is None


def test_twins_of_a_username_share_its_count(settings, ann):
    # Given an account locked after three failures,
    settings.UNTOLD_RATE_LOGIN_PER_USERNAME = "3/h"
    user, device = ann
    bea, _ = staff("rt_mod2", "moderator")
    for _ in range(3):
        log_in(browser(), "rt_mod2", password="wrong guess")

    # its full-width, superscript and upper-case twins are refused as well: sign-in
    # reads them all as the same name (NFKC), so the limit counts them as one.
    for twin in ("ｒt_mod2", "rt_mod²", "ＲＴ_ＭＯＤ２", "RT_MOD2"):
        assert log_in(browser(), twin, password="wrong guess").status_code == 429, twin
    assert log_in(browser(), "ann", code=current_code(device)).status_code == 302


def test_only_failed_sign_ins_count(settings, ann, traveller):
    settings.UNTOLD_RATE_LOGIN_PER_USERNAME = "3/h"
    user, device = ann

    # Five sign-ins in a row, each with the code of its own 30-second step,
    for _ in range(5):
        assert log_in(browser(), "ann", code=current_code(device)).status_code == 302
        traveller.shift(timedelta(seconds=30))

    # leave the account open, and two failures still leave it open too.
    for _ in range(2):
        assert log_in(browser(), "ann", password="wrong guess").status_code == 200
    assert log_in(browser(), "ann", code=current_code(device)).status_code == 302


def test_one_client_flooding_the_sign_in_closes_it_to_nobody_else(settings, ann):
    # Given a site-wide cap of 10 attempts and 5 per client,
    settings.UNTOLD_RATE_LOGIN_SITE = "10/h"
    settings.UNTOLD_RATE_LOGIN_PER_CLIENT = "5/h"
    user, device = ann
    flood = "198.51.100.66"

    # when one client sends 70 posts, empty ones and guesses at many usernames,
    answers = [
        log_in(browser(), f"guess-{n}" if n % 2 else "", password="x", REMOTE_ADDR=flood)
        for n in range(70)
    ]

    # it is held back on its own after its five,
    assert {answer.status_code for answer in answers[5:]} == {429}
    # and a moderator elsewhere still signs in.
    client = browser()
    assert (
        log_in(client, "ann", code=current_code(device), REMOTE_ADDR="192.0.2.10").status_code
        == 302
    )
    assert is_logged_in(client)


def error_of(response) -> str:
    """The failure message the login page shows, and its status."""
    notes = re.findall(
        r'<p class="errornote"[^>]*>\s*(.*?)\s*</p>', response.content.decode(), re.S
    )
    return f"{response.status_code} {notes}"


def test_every_failed_sign_in_gets_the_same_answer(ann):
    # Given ann, and bea with a device of her own,
    user, device = ann
    bea, bea_device = staff("bea", "moderator")

    # every way of getting one factor wrong
    answers = {
        "wrong password": log_in(
            browser(), "ann", password="wrong guess", code=current_code(device)
        ),
        "no code": log_in(browser(), "ann"),
        "wrong code": log_in(browser(), "ann", code=wrong_code(device)),
        "another's device": browser().post(
            LOGIN,
            {
                "username": "ann",
                "password": PASSWORD,
                "otp_device": bea_device.persistent_id,
                "otp_token": current_code(bea_device),
                "next": PANEL,
            },
        ),
        "unknown user": log_in(browser(), "nobody-here", code="123456"),
    }

    # gets one and the same answer, which says nothing of which factor failed.
    shown = {case: error_of(response) for case, response in answers.items()}
    assert len(set(shown.values())) == 1, shown
    assert "The username, password or code is not right" in shown["no code"]
    for response in answers.values():
        assert "select a device" not in response.content.decode().lower()
    assert not AuditEvent.objects.filter(action=Action.LOGGED_IN).exists()


def test_the_login_page_offers_no_device_and_names_the_code_plainly():
    page = browser().get(LOGIN).content.decode()

    assert "otp_device" not in page
    assert "<select" not in page
    assert "The 6-digit code from your authenticator app, or a backup code." in page
    assert "OTP" not in page


# --- Sessions ------------------------------------------------------------------------------


def test_an_idle_session_ends_after_30_minutes(ann, traveller):
    user, device = ann
    client = browser()
    log_in(client, "ann", code=current_code(device))

    traveller.shift(timedelta(minutes=29))
    assert is_logged_in(client)
    # Each request renews the 30 minutes.
    traveller.shift(timedelta(minutes=29))
    assert is_logged_in(client)
    traveller.shift(timedelta(minutes=31))
    response = client.get(PANEL)

    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_a_click_in_the_panel_does_not_rewrite_the_session(ann, traveller):
    # A session saved on every request would stamp the database around new stories.
    user, device = ann
    client = browser()
    log_in(client, "ann", code=current_code(device))
    client.get(PANEL)  # the first request after login renews the idle limit

    traveller.shift(timedelta(minutes=1))
    with CaptureQueriesContext(connection) as queries:
        assert signed_in(client)

    writes = [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    assert not [sql for sql in writes if "django_session" in sql], writes


@pytest.mark.skipif(
    "cache" not in django_settings.SESSION_ENGINE,
    reason="sessions are in Redis only with REDIS_URL",
)
def test_with_redis_staff_sessions_never_reach_the_database(ann):
    user, device = ann
    client = browser()
    log_in(client, "ann", code=current_code(device))
    client.get(PANEL)

    assert is_logged_in(client)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_session")
        assert cursor.fetchone()[0] == 0


def test_an_active_session_ends_12_hours_after_login(ann, traveller):
    user, device = ann
    client = browser()
    log_in(client, "ann", code=current_code(device))

    answers = []
    for _ in range(12 * 3):  # every 20 minutes, up to 12 hours after login
        traveller.shift(timedelta(minutes=20))
        answers.append(signed_in(client))
    traveller.shift(timedelta(minutes=20))
    response = client.get(PANEL)

    assert answers == [True] * 36
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert not is_logged_in(client)


def test_the_session_cookie_ends_with_the_browser_and_stays_out_of_reach_of_scripts(ann, traveller):
    user, device = ann
    client = browser()

    login = log_in(client, "ann", code=current_code(device))
    traveller.shift(timedelta(minutes=6))
    later = client.get(PANEL)  # renews the idle limit, and so sets the cookie again

    for response in (login, later):
        cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
        assert cookie["expires"] == ""
        assert cookie["max-age"] == ""
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        header = cookie.output().lower()
        assert "expires" not in header
        assert "max-age" not in header


# --- Passwords -----------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2(ann):
    user, device = ann

    assert user.password.startswith("argon2")


def test_an_older_hash_is_replaced_by_argon2_at_login(ann):
    user, device = ann
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD, hasher="pbkdf2_sha256"))

    assert log_in(browser(), "ann", code=current_code(device)).status_code == 302

    user.refresh_from_db()
    assert user.password.startswith("argon2")

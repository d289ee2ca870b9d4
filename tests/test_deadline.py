"""Closed on time: submissions are taken only between the opening and closing instants,
plus a grace period for a form that was served before the close.

Times are shown in the campaign's zone (Asia/Almaty, UTC+5 since March 2024; the
dates below are in 2026 so that the offset is +05:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from submissions.forms import served_token
from submissions.models import Testimony
from tests.servers import hidden

ALMATY = ZoneInfo("Asia/Almaty")
OPENS = datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY)  # 04:00 UTC
CLOSES = datetime(2026, 12, 10, 23, 59, tzinfo=ALMATY)  # 18:59 UTC
STORY = "Мен бұл туралы бұрын ешкімге айтқан жоқпын."

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def campaign(settings):
    settings.UNTOLD_TIME_ZONE = "Asia/Almaty"
    settings.UNTOLD_OPENS_AT = OPENS
    settings.UNTOLD_CLOSES_AT = CLOSES
    settings.UNTOLD_GRACE_MINUTES = 30
    settings.UNTOLD_RATE_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_SITE = "1000/h"


def at(instant: datetime):
    return time_machine.travel(instant, tick=False)


def served_at(instant: datetime) -> str:
    """The token a form served at ``instant`` carries (signed at that time too)."""
    with at(instant):
        return served_token()


def story(served: str, **extra: str) -> dict[str, str]:
    return {
        "text": STORY,
        "consent": "statistics",
        "served": served,
        "website": "",
        **extra,
    }


def test_before_opening_the_page_says_not_open_yet_with_the_local_opening_time(client):
    with at(OPENS - timedelta(days=1)):
        response = client.get("/en/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "not open yet" in page
    assert "25 November 2026, 09:00" in page
    assert "04:00" not in page  # the UTC hour would be wrong for the reader
    assert 'name="text"' not in page


def test_after_closing_the_page_says_closed_with_the_local_closing_time(client):
    with at(CLOSES + timedelta(hours=2)):
        response = client.get("/en/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "has closed" in page
    assert "10 December 2026, 23:59" in page
    assert "18:59" not in page
    assert 'name="text"' not in page


def test_post_before_opening_stores_nothing_and_shows_the_closed_page(client):
    served = served_at(OPENS - timedelta(hours=2))

    with at(OPENS - timedelta(hours=1)):
        response = client.post("/en/", story(served))

    page = response.content.decode()
    assert response.status_code == 403
    assert "not open yet" in page
    assert "nothing was stored" in page
    assert STORY in page  # she can still copy what she wrote
    assert Testimony.objects.count() == 0


def test_post_after_close_and_grace_stores_nothing_and_shows_the_closed_page(client):
    served = served_at(CLOSES - timedelta(hours=1))

    with at(CLOSES + timedelta(hours=1)):
        response = client.post("/en/", story(served))

    page = response.content.decode()
    assert response.status_code == 403
    assert "has closed" in page
    assert STORY in page
    assert Testimony.objects.count() == 0


def test_a_form_served_before_close_is_accepted_within_the_grace_period():
    client = Client(enforce_csrf_checks=True)
    with at(CLOSES - timedelta(minutes=5)):
        page = client.get("/en/").content.decode()
    assert "csrftoken" in client.cookies

    with at(CLOSES + timedelta(minutes=20)):
        response = client.post(
            "/en/",
            story(
                hidden(page, "served"),
                csrfmiddlewaretoken=hidden(page, "csrfmiddlewaretoken"),
            ),
        )

    assert response.status_code == 302
    assert response["Location"] == "/en/thanks/"
    assert Testimony.objects.count() == 1
    assert Testimony.objects.get().open_text() == STORY


def test_a_form_served_before_close_is_refused_after_the_grace_period():
    client = Client(enforce_csrf_checks=True)
    with at(CLOSES - timedelta(minutes=5)):
        page = client.get("/en/").content.decode()

    with at(CLOSES + timedelta(minutes=31)):
        response = client.post(
            "/en/",
            story(
                hidden(page, "served"),
                csrfmiddlewaretoken=hidden(page, "csrfmiddlewaretoken"),
            ),
        )

    assert response.status_code == 403
    assert "has closed" in response.content.decode()
    assert Testimony.objects.count() == 0


def test_the_grace_period_follows_the_setting(client, settings):
    settings.UNTOLD_GRACE_MINUTES = 10
    served = served_at(CLOSES - timedelta(minutes=5))

    with at(CLOSES + timedelta(minutes=9)):
        in_time = client.post("/en/", story(served))
    with at(CLOSES + timedelta(minutes=11)):
        too_late = client.post("/en/", story(served))

    assert in_time.status_code == 302
    assert too_late.status_code == 403
    assert Testimony.objects.count() == 1


def test_a_form_served_after_close_is_refused_even_within_the_grace_period(client):
    # After the close the page shows no form, so only a forged or replayed token could
    # claim to be served then; it must not buy the grace period.
    served = served_at(CLOSES + timedelta(minutes=1))

    with at(CLOSES + timedelta(minutes=5)):
        response = client.post("/en/", story(served))

    assert response.status_code == 403
    assert "has closed" in response.content.decode()
    assert Testimony.objects.count() == 0


def test_a_tampered_served_token_is_refused_with_a_clear_message_and_her_text_kept(client):
    with at(CLOSES - timedelta(days=1)):
        served = hidden(client.get("/en/").content.decode(), "served")
        # Claim a later serving time with the old signature.
        payload, rest = served.split(":", 1)
        tampered = ("M" if payload[0] != "M" else "N") + payload[1:] + ":" + rest
        response = client.post("/en/", story(tampered))

    page = response.content.decode()
    assert response.status_code == 400
    assert "The page had expired" in page
    assert "Nothing was stored" in page
    assert STORY in page
    assert hidden(page, "served") != tampered  # a fresh token, so that she can resend
    assert Testimony.objects.count() == 0


def test_a_form_left_open_for_days_must_be_sent_again_with_her_text_kept(client):
    served = served_at(CLOSES - timedelta(days=4))

    with at(CLOSES - timedelta(days=1)):
        response = client.post("/en/", story(served))

    page = response.content.decode()
    assert response.status_code == 400
    assert "The page had expired" in page
    assert STORY in page
    assert Testimony.objects.count() == 0


def test_a_tampered_served_token_cannot_claim_an_earlier_serving_time(client):
    # A forged "served before the close" must not open the grace period either.
    forged = served_at(CLOSES - timedelta(minutes=5))
    payload, signature = forged.rsplit(":", 1)
    with at(CLOSES + timedelta(minutes=5)):
        response = client.post("/en/", story(f"{payload}:{signature[::-1]}"))

    assert response.status_code == 403
    assert Testimony.objects.count() == 0


def test_deadline_is_compared_as_an_instant_not_a_wall_clock(client, settings):
    # The same closing instant written with a UTC offset closes at the same moment.
    settings.UNTOLD_CLOSES_AT = CLOSES.astimezone(UTC)

    with at(CLOSES - timedelta(seconds=1)):
        before = client.get("/en/")
    with at(CLOSES):
        after = client.get("/en/")

    assert 'name="text"' in before.content.decode()
    assert "has closed" in after.content.decode()
    assert "10 December 2026, 23:59" in after.content.decode()

"""Rate limits in one process: how rates are read, and how requests are counted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client, RequestFactory

from submissions.models import Testimony
from submissions.ratelimit import Rate, client_key, parse_rate
from tests.servers import hidden


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/h", Rate(10, 3600)),
        ("5/15m", Rate(5, 900)),
        ("120/m", Rate(120, 60)),
        ("1/2d", Rate(1, 172800)),
    ],
)
def test_rates_are_read_as_django_ratelimit_writes_them(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["10/0m", "0/h", "ten/h", "10/", "10/w", "-1/h", ""])
def test_a_rate_without_a_count_or_a_period_is_refused(text):
    with pytest.raises(ValueError):
        parse_rate(text)


def test_windows_end_at_fixed_multiples_of_their_length():
    quarter = Rate(5, 900)

    assert quarter.window_end(0) == 900
    assert quarter.window_end(899.9) == 900
    assert quarter.window_end(900) == 1800


# --- one client cannot close the service for everyone ----------------------------------


def story(client: Client, text: str = "Он кричал на меня каждый вечер.") -> dict[str, str]:
    page = client.get("/en/").content.decode()
    return {
        "text": text,
        "consent": "statistics",
        "served": hidden(page, "served"),
    }


@pytest.fixture
def tight(settings):
    """A site-wide cap of 10 an hour, 5 per client."""
    settings.UNTOLD_RATE_SITE = "10/h"
    settings.UNTOLD_RATE_PER_CLIENT = "5/h"
    settings.UNTOLD_RATE_WITHDRAW_PER_CLIENT = "5/h"


@pytest.mark.django_db
def test_a_flood_of_empty_posts_from_one_client_closes_nothing_to_others(tight):
    # Given one address that sends 125 empty posts, as fast as it can,
    flood = Client(REMOTE_ADDR="198.51.100.66")
    answers = [flood.post("/en/", {}).status_code for _ in range(125)]

    # it is turned away on its own account,
    assert set(answers[5:]) == {429}
    # while another person's story is stored, and her withdrawal is answered.
    someone = Client(REMOTE_ADDR="192.0.2.10")
    assert someone.post("/en/", story(someone)).status_code == 302
    assert Testimony.objects.count() == 1
    withdrawal = someone.post("/en/withdraw/", {"code": "1234 5678 9012 3450"})
    assert withdrawal.status_code == 200


@pytest.mark.django_db
def test_a_client_over_its_own_limit_spends_nothing_of_the_sites(tight):
    # Given one address that sends 20 stories, 5 of which its own limit lets through,
    sender = Client(REMOTE_ADDR="198.51.100.66")
    answers = [sender.post("/en/", story(sender, f"story {n}")).status_code for n in range(20)]
    assert answers == [302] * 5 + [429] * 15

    # the site's 10 hold 5 more stories from everyone else, and no more.
    others = [Client(REMOTE_ADDR=f"192.0.2.{n}") for n in range(1, 7)]
    accepted = [client.post("/en/", story(client)).status_code for client in others]
    assert accepted == [302] * 5 + [429]
    assert Testimony.objects.count() == 10


def test_the_site_wide_refusal_says_many_people_are_sending(tight, settings, db):
    settings.UNTOLD_RATE_SITE = "1/h"
    first, second = Client(REMOTE_ADDR="192.0.2.1"), Client(REMOTE_ADDR="192.0.2.2")
    first.post("/en/", story(first))

    refused = second.post("/en/", story(second))

    assert refused.status_code == 429
    assert refused.context["limited"].site_wide


# --- counters carry no time finer than their window -----------------------------------


def test_the_daily_client_key_turns_at_midnight_in_the_campaign_zone(settings):
    settings.UNTOLD_TIME_ZONE = "Asia/Almaty"  # UTC+5
    request = RequestFactory().post("/en/", REMOTE_ADDR="198.51.100.7")

    def key_at(instant: datetime) -> str:
        with time_machine.travel(instant, tick=False):
            return client_key(request)

    before_midnight = key_at(datetime(2026, 12, 9, 18, 59, tzinfo=UTC))  # 23:59 in Almaty
    after_midnight = key_at(datetime(2026, 12, 9, 19, 1, tzinfo=UTC))  # 00:01 in Almaty
    next_morning = key_at(datetime(2026, 12, 10, 6, 0, tzinfo=UTC))  # 11:00 in Almaty

    assert before_midnight != after_midnight
    assert after_midnight == next_morning

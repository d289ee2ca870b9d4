"""The moderators' queue: they land on the new stories, oldest first; each decision is
one post that leads to the next story, keeping their filters; one reading is one
"viewed" event; statistics-only stories need no campaign text; a break is suggested
after a number of decisions; each group lands where it works.
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from submissions.choices import Status
from submissions.models import AuditEvent, Testimony
from submissions.staff import StaffGroup
from tests.conftest import new_testimony
from tests.panel import PANEL, staff, verified_client

pytestmark = pytest.mark.django_db

QUEUE = f"{PANEL}submissions/testimony/queue/"
Action = AuditEvent.Action
FIRST_DAY = date(2026, 11, 25)


def story(day_offset: int, **fields) -> Testimony:
    return new_testimony(
        f"Story of day {day_offset}.",
        received_on=FIRST_DAY + timedelta(days=day_offset),
        **fields,
    )


def reading(url: str) -> tuple[str, str]:
    """The story id and the carried filters of a reading view's URL."""
    parts = urlsplit(url)
    record = parts.path.rstrip("/").split("/")[-2]
    return record, parse_qs(parts.query).get("_changelist_filters", [""])[0]


@pytest.fixture
def moderator():
    return verified_client(*staff("mod", StaffGroup.MODERATOR))


def test_moderators_land_on_the_oldest_new_story(moderator):
    story(2)
    oldest = story(0)
    story(1, status=Status.APPROVED)

    landing = moderator.get(PANEL)
    first = moderator.get(landing["Location"])

    assert landing["Location"] == QUEUE
    assert first.status_code == 302
    assert reading(first["Location"])[0] == str(oldest.pk)


def test_each_decision_leads_to_the_next_story_keeping_the_filters(moderator):
    # Given Russian and Kazakh stories over three days, and the queue filtered to Russian,
    ru = [story(n, language="ru", consent="statistics") for n in range(3)]
    story(0, language="kk")
    url = moderator.get(QUEUE + "?language__exact=ru")["Location"]

    seen = []
    for decision in ("_approve_next", "_reject_next", "_skip"):
        record, filters = reading(url)
        seen.append(record)
        assert filters == "language__exact=ru"
        # one post per decision, answered with the next story's page
        response = moderator.post(url, {decision: "1", "reason": ""})
        assert response.status_code == 302
        url = response["Location"]

    assert seen == [str(t.pk) for t in ru]
    statuses = [Testimony.objects.get(pk=t.pk).status for t in ru]
    assert statuses == [Status.APPROVED, Status.REJECTED, Status.NEW]
    # The skipped story comes round again; nothing else with these filters is left.
    assert url.startswith(QUEUE)
    assert reading(moderator.get(url)["Location"])[0] == str(ru[2].pk)


def test_the_last_decision_leads_to_a_page_that_says_nothing_is_left(moderator):
    only = story(0, consent="statistics")
    url = moderator.get(QUEUE)["Location"]

    done = moderator.post(url, {"_approve_next": "1"})
    page = moderator.get(done["Location"])

    assert done["Location"].startswith(QUEUE)
    assert "No new story is left" in page.content.decode()
    assert Testimony.objects.get(pk=only.pk).status == Status.APPROVED


def test_a_reading_shows_how_many_are_left_and_the_keys(moderator):
    for n in range(3):
        story(n)
    page = moderator.get(moderator.get(QUEUE)["Location"]).content.decode()

    assert "3 new stories left to read" in page
    for key in ("approve and next", "reject and next", "skip", "hide or show the story"):
        assert key in page


def test_one_reading_and_one_decision_write_one_event_each(moderator):
    first, second = story(0), story(1)
    url = moderator.get(QUEUE)["Location"]

    page = moderator.get(url).content.decode()
    text = re.search(r'<textarea name="campaign_text"[^>]*>\n?(.*?)</textarea>', page, re.S)
    moderator.post(url, {"campaign_text": html.unescape(text.group(1)), "_approve_next": "1"})

    events = AuditEvent.objects.filter(testimony_id=first.pk)
    assert sorted(events.values_list("action", flat=True)) == sorted(
        [Action.VIEWED, Action.EDITED, Action.APPROVED]
    )
    assert not AuditEvent.objects.filter(testimony_id=second.pk).exists()


def test_a_rejection_keeps_its_reason_in_the_audit_trail(moderator):
    doomed = story(0)
    url = moderator.get(QUEUE)["Location"]

    moderator.post(url, {"_reject_next": "1", "reason": "  only a link to an advert  "})

    event = AuditEvent.objects.get(action=Action.REJECTED, testimony_id=doomed.pk)
    assert event.detail == {"reason": "only a link to an advert"}


def test_a_statistics_only_story_is_approved_without_a_campaign_text(moderator):
    counted = story(0, consent="statistics")
    url = moderator.get(QUEUE)["Location"]

    page = moderator.get(url).content.decode()
    moderator.post(url, {"_approve_next": "1"})

    assert "needs no campaign text" in page
    assert 'name="campaign_text"' not in page.split("campaign-pane")[1].split("</section>")[0]
    counted.refresh_from_db()
    assert counted.status == Status.APPROVED
    assert counted.sealed_campaign_text is None
    assert Testimony.objects.exportable().filter(pk=counted.pk).exists()


def test_a_quotable_story_still_needs_its_campaign_text(moderator):
    quotable = story(0, consent="quote")
    url = moderator.get(QUEUE)["Location"]

    response = moderator.post(url, {"campaign_text": " ", "_approve_next": "1"})

    assert response["Location"] == url
    assert Testimony.objects.get(pk=quotable.pk).status == Status.NEW


def test_a_break_is_suggested_after_the_set_number_of_decisions(moderator, settings):
    settings.UNTOLD_BREAK_EVERY = 3
    for n in range(4):
        story(n)
    url = moderator.get(QUEUE)["Location"]

    reminded = []
    for _ in range(3):
        url = moderator.post(url, {"_skip": "1"})["Location"]
        page = moderator.get(url).content.decode()
        reminded.append("A few minutes away from the screen help" in page)

    assert reminded == [False, False, True]


def test_the_queue_refuses_a_filter_the_list_does_not_offer(moderator):
    story(0)

    assert moderator.get(QUEUE + "?sealed_text__contains=a").status_code == 400


@pytest.mark.parametrize(
    ("group", "lands_on"),
    [
        (StaffGroup.MODERATOR, QUEUE),
        (StaffGroup.CAMPAIGN, f"{PANEL}statistics/"),
    ],
)
def test_each_group_lands_where_it_works(group, lands_on):
    client = verified_client(*staff("someone", group))

    response = client.get(PANEL)

    assert response.status_code == 302
    assert response["Location"] == lands_on


def test_administrators_land_on_accounts_and_the_audit_trail_without_otp_internals():
    client = verified_client(*staff("root", StaffGroup.ADMINISTRATOR))

    page = client.get(PANEL).content.decode()

    assert f'href="{PANEL}auth/user/"' in page
    assert f'href="{PANEL}submissions/auditevent/"' in page
    for internal in ("OTP_STATIC", "OTP_TOTP", "otp_static", "otp_totp", "Otp_"):
        assert internal not in page

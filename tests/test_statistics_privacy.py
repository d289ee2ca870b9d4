"""Statistics cannot isolate one story.

Campaign staff see the days that have ended, never today, so that polling the page
around one submission shows nothing of it. In each chart the counts below 5 are
hidden, and the next smallest too where needed: no hidden count can be worked out from
the shown ones and the total. Moderators keep live counts.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from submissions.panel.charts import SMALL, hidden_cells
from tests.conftest import new_testimony
from tests.panel import PANEL, staff, verified_client

STATISTICS = f"{PANEL}statistics/"


def tables(page: str) -> dict[str, dict[str, str]]:
    """Every chart's table: its key, then label to shown count."""
    found = {}
    for key, section in re.findall(r'aria-labelledby="chart-(\w+)">(.*?)</section>', page, re.S):
        rows = re.findall(r'<tr><th scope="row">(.*?)</th><td>(.*?)</td></tr>', section)
        found[key] = {html.unescape(label): html.unescape(count) for label, count in rows}
    return found


def crowd(n: int, **answers) -> None:
    for _ in range(n):
        new_testimony("A story.", language="ru", **answers)


@pytest.mark.django_db
def test_one_new_story_changes_nothing_campaign_staff_can_see():
    # Given yesterday's stories,
    with time_machine.travel(timezone.now() - timedelta(days=1)):
        crowd(12, region="KZ-71", age_group="25_34")
    campaign = verified_client(*staff("campaigner", "campaign"))
    before = campaign.get(STATISTICS).content.decode()

    # when one more story arrives today, with answers nobody else gave,
    new_testimony(
        "Today's story.",
        language="kk",
        region="KG",
        age_group="65_plus",
        forms_of_violence="trafficking",
        consent="statistics",
    )
    after = campaign.get(STATISTICS).content.decode()

    # campaign staff see exactly what they saw before;
    assert tables(after) == tables(before)
    # moderators see it at once.
    moderator = verified_client(*staff("mod", "moderator"))
    assert tables(moderator.get(STATISTICS).content.decode())["language"]["Қазақша"] == "1"


@pytest.mark.django_db
def test_once_the_day_has_ended_it_is_counted():
    crowd(12)

    user, device = staff("campaigner", "campaign")
    today = tables(verified_client(user, device).get(STATISTICS).content.decode())
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        tomorrow = tables(verified_client(user, device).get(STATISTICS).content.decode())

    assert today["language"]["Русский"] == "0"
    assert tomorrow["language"]["Русский"] == "12"


def recover(counts: list[int], hidden: set[int]) -> dict[int, int]:
    """What someone who sees every shown count and the total can work out of the hidden
    ones: a lone hidden count is the difference; several that add up to their number
    are all ones, unless the whole chart is hidden (zeros are shown otherwise, so a
    hidden count is at least one)."""
    left = sum(counts) - sum(c for i, c in enumerate(counts) if i not in hidden)
    zeros_shown = len(hidden) < len(counts)
    if len(hidden) == 1:
        return {next(iter(hidden)): left}
    if hidden and zeros_shown and left == len(hidden):
        return dict.fromkeys(hidden, 1)
    return {}


# Every chart has two categories or more (the statuses, the languages, ...).
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=2, max_size=25))
def test_no_hidden_count_can_be_worked_out_from_the_others_and_the_total(counts):
    hidden = hidden_cells(counts)

    assert {i for i, c in enumerate(counts) if 0 < c < SMALL} <= hidden
    assert recover(counts, hidden) == {}


def test_the_attack_works_on_plain_small_count_suppression():
    # The control: hiding only the counts below 5 gives them away.
    counts = [2, 6, 0]
    naive = {i for i, c in enumerate(counts) if 0 < c < SMALL}

    assert recover(counts, naive) == {0: 2}
    assert recover(counts, hidden_cells(counts)) == {}

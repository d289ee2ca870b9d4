"""Statistics and export read plainly.

Statistics: the totals come first; every day is shown, those without stories too; the
page says which statuses it counts; the tables are folded away. Export: plain words
instead of "k" and "byte-order mark", and before the download, how many stories the
file will hold, how many are left out and which answers are shown less precisely.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.conftest import new_testimony
from tests.panel import PANEL, staff, verified_client

pytestmark = pytest.mark.django_db
STATISTICS = f"{PANEL}statistics/"
EXPORT = f"{PANEL}export/"


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_statistics_start_with_the_totals_and_show_every_day(settings):
    today = timezone.localdate()
    for days_ago, count in ((4, 2), (1, 3)):
        with time_machine.travel(timezone.now() - timedelta(days=days_ago)):
            for _ in range(count):
                new_testimony("A story.", language="en")
    moderator = verified_client(*staff("mod", "moderator"))

    page = moderator.get(STATISTICS).content.decode()

    # The totals before any chart,
    assert page.index('class="totals"') < page.index('class="module chart"')
    assert "5 stories in all" in text_of(page)
    # the days without stories shown as such, from the first to today,
    section = re.search(r'aria-labelledby="chart-day">(.*?)</section>', page, re.S).group(1)
    days = re.findall(
        r'<span class="label">([\d-]+)</span>.*?<span class="count">(\d+)</span>', section
    )
    expected = [(today - timedelta(days=n)).isoformat() for n in range(4, -1, -1)]
    assert [day for day, _ in days] == expected
    assert [int(n) for _, n in days] == [2, 0, 0, 3, 0]
    # and the statuses counted said in words.
    assert "whatever its status: new (not yet read), approved or rejected" in text_of(page)


def test_the_export_page_speaks_plainly_and_says_what_the_file_holds():
    for n in range(6):
        new_testimony(f"Story {n}.", f"Campaign text {n}.", status="approved", teller="witness")
    new_testimony("Rare.", "Rare text.", status="approved", teller="relative", region="KG")
    campaigner = verified_client(*staff("campaigner", "campaign"))

    page = text_of(campaigner.get(EXPORT).content.decode())

    assert "byte-order mark" not in page and "k (" not in page
    assert "Smallest group" in page and "For Excel" in page
    assert "What the file holds with groups of at least 5" in page
    assert "6 stories in the file" in page
    assert "1 story left out" in page
    # Asked for another group size, it says again, before anything is downloaded.
    assert "What the file holds with groups of at least 7" in text_of(
        campaigner.get(EXPORT + "?k=7").content.decode()
    )

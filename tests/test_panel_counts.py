"""Panel lists stay fast at a million stories: they count only so far, and never count
each filter's choices.

Counting every row of a list, or every choice of every filter (Django's facets), reads
the whole table on each page (bench/scale.py). A list counts up to its cap and says
"N+" beyond it; ``?_facets`` adds no counts.
"""

from __future__ import annotations

import re

import pytest

from submissions.panel.admin import CappedPaginator
from tests.conftest import new_testimony
from tests.panel import PANEL, staff, verified_client

pytestmark = pytest.mark.django_db
LIST = f"{PANEL}submissions/testimony/"


@pytest.fixture
def moderator():
    for n in range(5):
        new_testimony(f"Story {n}.", language="kk")
    return verified_client(*staff("mod", "moderator"))


def paginator_line(page: str) -> str:
    return " ".join(re.search(r'<p class="paginator">(.*?)</p>', page, re.S).group(1).split())


def test_a_list_counts_up_to_its_cap_and_says_so(moderator, monkeypatch):
    assert "5 testimonies" in paginator_line(moderator.get(LIST).content.decode())

    monkeypatch.setattr(CappedPaginator, "cap", 3)
    page = moderator.get(LIST).content.decode()

    assert "3+ testimonies" in paginator_line(page)
    assert page.count('name="_selected_action"') == 5  # every row still listed


def test_a_list_never_counts_its_filters_choices(moderator):
    page = moderator.get(f"{LIST}?_facets=True").content.decode()

    # Django's facets would show "Қазақша (5)" and the like beside each choice.
    assert not re.search(r"\(\d+\)</a>", page)


def test_the_reading_view_counts_the_queue_up_to_the_cap_and_says_so(moderator, monkeypatch):
    """The stories left to read, above each story, are counted as a list counts its rows:
    at a million stories, counting every new one made the page 2.6 times slower."""
    reading = moderator.get(f"{LIST}queue/")["Location"]
    assert "5 new stories left to read" in moderator.get(reading).content.decode()

    monkeypatch.setattr(CappedPaginator, "cap", 3)
    english = moderator.get(reading).content.decode()
    russian = moderator.get(reading, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    kazakh = moderator.get(reading, HTTP_ACCEPT_LANGUAGE="kk").content.decode()

    assert "3+ new stories left to read" in english
    assert "Осталось прочитать 3+ новые истории" in russian
    assert "Оқуға 3+ жаңа әңгіме қалды" in kazakh

"""Statistics read daily counts, and the counts stay true.

Promise: statistics stay fast at a million stories because the days that have ended
are counted once (DailyCount); whatever happens afterwards (a decision, a deletion, a
withdrawal, the purge, a story stored for a past day, a shuffle of the table) the
statistics equal a count of the stories themselves. Runs on SQLite, and on PostgreSQL
when DATABASE_URL names one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from submissions.campaign import campaign_today
from submissions.choices import AgeGroup, Language, Region, Status, ViolenceForm
from submissions.maintenance import purge, shuffle_storage
from submissions.models import COUNTED_ANSWERS, CountedThrough, DailyCount, Testimony
from tests.conftest import new_testimony

pytestmark = pytest.mark.django_db(transaction=True)  # the shuffle's VACUUM, on SQLite


def arrive(days_ago: int, **answers: object) -> Testimony:
    with time_machine.travel(timezone.now() - timedelta(days=days_ago)):
        return new_testimony("A story.", **answers)


def recounted(before=None) -> dict[str, list[tuple[str, int]]]:
    """The statistics, counted from the stories themselves."""
    rows = Testimony.objects.all()
    if before is not None:
        rows = rows.filter(received_on__lt=before)
    totals = {answer: Counter(rows.values_list(answer, flat=True)) for answer in COUNTED_ANSWERS}
    forms = Counter()
    for joined, n in totals.pop("forms_of_violence").items():
        forms.update(dict.fromkeys(filter(None, joined.split(",")), n))
    days = Counter(rows.values_list("received_on", flat=True))
    return {
        "status": sorted(totals["status"].items()),
        "day": [(day.isoformat(), n) for day, n in sorted(days.items())],
        "language": sorted(totals["language"].items()),
        "form": sorted(forms.items()),
        "age_group": sorted(totals["age_group"].items()),
        "region": sorted(totals["region"].items()),
    }


def shown_counts(before=None) -> dict[str, object]:
    """The statistics as the panel shows them, keyed as ``recounted``, zeros left out."""
    shown = DailyCount.objects.statistics(before=before)
    values = {
        "status": Status.values,
        "language": Language.values,
        "form": ViolenceForm.values,
        "age_group": [*AgeGroup.values, ""],
        "region": [*Region.values, ""],
    }
    result: dict[str, object] = {"day": shown["day"]}

    for key, order in values.items():
        pairs = zip(order, (n for _, n in shown[key]), strict=True)
        result[key] = sorted((value, n) for value, n in pairs if n)
    return result


def mixed_stories() -> list[Testimony]:
    return [
        arrive(5, language="kk", region="KG", forms_of_violence="physical,sexual"),
        arrive(5, language="en", age_group="25_34", forms_of_violence="economic"),
        arrive(3, region="KZ-71", consent="statistics"),
        arrive(1, language="kk", age_group="under_18"),
        new_testimony("Today.", region="TJ", forms_of_violence="other"),
    ]


def test_days_that_have_ended_are_counted_once_and_today_is_read_live():
    mixed_stories()

    assert shown_counts() == recounted()
    # Every day before today is counted now, once, however often the page is read.
    assert CountedThrough.objects.get().day == campaign_today() - timedelta(days=1)
    stored = list(DailyCount.objects.values_list("day", "answer", "value", "count"))
    assert shown_counts() == recounted()
    assert list(DailyCount.objects.values_list("day", "answer", "value", "count")) == stored
    # Campaign staff's view stops before today.
    today = campaign_today()
    assert shown_counts(before=today) == recounted(before=today)


def test_decisions_deletions_and_withdrawals_keep_the_counts_true():
    stories = mixed_stories()
    recounted()  # counts the ended days

    Testimony.objects.filter(pk=stories[0].pk).approve(by="mod")
    Testimony.objects.filter(pk__in=[stories[1].pk, stories[3].pk]).reject(by="mod")
    Testimony.objects.filter(pk=stories[2].pk).delete_on_record(by="mod")
    Testimony.objects.filter(pk=stories[3].pk).delete()  # a withdrawal

    assert shown_counts() == recounted()


def test_a_story_stored_for_a_day_already_counted_is_counted():
    mixed_stories()
    recounted()

    # seed_demo, say, or a form saved a moment after midnight
    arrive(4, language="en", region="UZ")

    assert shown_counts() == recounted()


def test_the_purge_and_the_shuffle_keep_the_counts_true():
    mixed_stories()
    recounted()

    shuffle_storage()
    assert shown_counts() == recounted()
    # After a shuffle the counting goes on: the table kept its triggers.
    story = Testimony.objects.filter(received_on__lt=campaign_today()).first()
    Testimony.objects.filter(pk=story.pk).reject(by="mod")
    arrive(2, language="ru")
    assert shown_counts() == recounted()

    purge(actor="test")
    assert all(n == 0 for _, n in DailyCount.objects.statistics()["status"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's triggers")
def test_the_counts_are_kept_by_the_table_s_own_triggers_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'submissions_testimony'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        )
        before = [name for (name,) in cursor.fetchall()]
        shuffle_storage()
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'submissions_testimony'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        )
        assert [name for (name,) in cursor.fetchall()] == before
    assert before == [
        "submissions_count_delete",
        "submissions_count_insert",
        "submissions_count_update",
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's row locks")
def test_every_statement_locks_the_counts_in_one_order_so_two_cannot_deadlock():
    """A statement that changes many counts takes their row locks in (day, answer, value)
    order: held up at the first, it holds none of the others. Two statements taking
    them in different orders (a purge's batch, a story stored for a counted day) can
    each hold what the other waits for, which PostgreSQL ends as a deadlock."""
    for days_ago in (1, 2, 3):
        for language, region, age in (("kk", "KG", "25_34"), ("ru", "KZ-71", ""), ("en", "", "")):
            arrive(days_ago, language=language, region=region, age_group=age)
    shown_counts()  # counts every ended day
    settings = connection.settings_dict
    conninfo = {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "host": settings["HOST"],
        "port": settings["PORT"],
        "password": settings["PASSWORD"],
    }
    with (
        psycopg.connect(**conninfo) as holder,
        psycopg.connect(**conninfo, autocommit=True) as deleter,
        psycopg.connect(**conninfo) as prober,
    ):
        keys = holder.execute(
            "SELECT id FROM submissions_dailycount ORDER BY day, answer, value"
        ).fetchall()
        first, rest = keys[0][0], [key for (key,) in keys[1:]]
        holder.execute("SELECT 1 FROM submissions_dailycount WHERE id = %s FOR UPDATE", [first])
        # Deleting every story changes every count, the held one first if in order.
        deleting = threading.Thread(
            target=deleter.execute, args=("DELETE FROM submissions_testimony",)
        )
        deleting.start()
        for _ in range(100):
            waiting = prober.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'DELETE FROM submissions_testimony%%'"
            ).fetchone()[0]
            prober.rollback()
            if waiting:
                break
            time.sleep(0.05)
        locked_by_the_delete = []
        for key in rest:
            try:
                prober.execute(
                    "SELECT 1 FROM submissions_dailycount WHERE id = %s FOR UPDATE NOWAIT", [key]
                )
            except psycopg.errors.LockNotAvailable:
                locked_by_the_delete.append(key)
            prober.rollback()
        holder.rollback()
        deleting.join(timeout=30)

    assert waiting, "the delete waited for the held count"
    assert len(rest) > 10
    assert locked_by_the_delete == []
    assert not Testimony.objects.exists()

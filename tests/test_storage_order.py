"""The database files do not keep testimonies in arrival order once shuffled.

Promise: no ordering reveals arrival order. Each test first shows the order it looks
for is there (SQLite's rowid, PostgreSQL's physical place and transaction id), so that
it can be seen to go. Runs on SQLite, and on PostgreSQL when DATABASE_URL names one.
"""

from __future__ import annotations

import threading
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from submissions.maintenance import shuffle_storage
from submissions.models import Testimony
from tests.conftest import another_connection, wait_for_a_waiting_lock

pytestmark = pytest.mark.django_db(transaction=True)  # VACUUM runs outside transactions
ARRIVALS = 40
COLUMNS = [field.attname for field in Testimony._meta.concrete_fields]


def arrive(count: int) -> list[uuid.UUID]:
    """Testimonies stored one at a time, as submissions are; their ids in that order."""
    ids = []
    for number in range(count):
        testimony = Testimony(language="en", consent="quote", age_group="18_24")
        testimony.seal_text(f"story number {number}")
        testimony.set_receipt_code(f"{number:016d}")
        testimony.save(force_insert=True)
        ids.append(testimony.id)
    return ids


IN_STORED_ORDER = {
    "postgresql": "SELECT id FROM submissions_testimony ORDER BY ctid",
    "sqlite": "SELECT id FROM submissions_testimony ORDER BY rowid",
}


def stored_order() -> list[uuid.UUID]:
    with connection.cursor() as cursor:
        cursor.execute(IN_STORED_ORDER[connection.vendor])
        return [uuid.UUID(str(row[0])) for row in cursor.fetchall()]


def transaction_ids() -> list[int]:
    """PostgreSQL's xmin of each row, in arrival order of the rows' ids given."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text::bigint FROM submissions_testimony")
        return dict(cursor.fetchall())


def rank_correlation(order: list[uuid.UUID], arrivals: list[uuid.UUID]) -> float:
    """Spearman's rho between stored places and arrival places (no ties)."""
    arrived_at = {record_id: place for place, record_id in enumerate(arrivals)}
    n = len(order)
    squares = sum((place - arrived_at[record_id]) ** 2 for place, record_id in enumerate(order))
    return 1 - 6 * squares / (n * (n * n - 1))


def shuffle() -> str:
    out = StringIO()
    call_command("shuffle_testimonies", stdout=out)
    return out.getvalue()


def test_rows_lose_their_arrival_order():
    arrivals = arrive(ARRIVALS)
    assert stored_order() == arrivals  # what a copy of the files shows before

    assert shuffle() == f"Shuffled the storage order of {ARRIVALS} testimonies.\n"

    order = stored_order()
    assert sorted(order) == sorted(arrivals)
    # A random order of 40 correlates with the arrival order beyond 0.6 about once in
    # 25,000 runs; reversed or unchanged order correlates at -1 or 1.
    assert abs(rank_correlation(order, arrivals)) < 0.6


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's transaction ids")
def test_rows_lose_the_transaction_ids_that_ordered_them():
    arrivals = arrive(ARRIVALS)
    before = transaction_ids()
    assert [before[record_id] for record_id in arrivals] == sorted(before.values())
    assert len(set(before.values())) == ARRIVALS

    shuffle()

    assert len(set(transaction_ids().values())) == 1


def test_nothing_stored_changes():
    arrivals = arrive(5)
    Testimony.objects.filter(id=arrivals[0]).update(status="approved")
    before = set(Testimony.objects.values_list(*COLUMNS))

    shuffle()

    assert set(Testimony.objects.values_list(*COLUMNS)) == before
    for number, record_id in enumerate(arrivals):
        assert Testimony.objects.get(id=record_id).open_text() == f"story number {number}"


def test_an_empty_table_is_fine():
    assert shuffle() == "Shuffled the storage order of 0 testimonies.\n"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's locks")
def test_a_withdrawal_during_the_shuffle_is_not_undone():
    # Given a withdrawal that has deleted its row but not yet committed,
    arrivals = arrive(5)
    withdrawal = another_connection()
    withdrawal.execute("DELETE FROM submissions_testimony WHERE id = %s", [arrivals[0]])

    # when the shuffle starts meanwhile, it waits for the withdrawal,
    shuffling = threading.Thread(target=shuffle_in_thread)
    shuffling.start()
    try:
        wait_for_a_waiting_lock(withdrawal)
    finally:
        withdrawal.commit()
        withdrawal.close()
        shuffling.join(timeout=30)

    # and does not write the withdrawn testimony back.
    assert sorted(Testimony.objects.values_list("id", flat=True)) == sorted(arrivals[1:])


def shuffle_in_thread() -> None:
    try:
        shuffle_storage()
    finally:
        connection.close()  # this thread's own connection

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

from submissions.maintenance import (
    catch_up,
    prepare_shuffled_copy,
    shuffle_storage,
    swap_in_shuffled_copy,
)
from submissions.models import Testimony
from tests.conftest import another_connection, wait_for_a_waiting_lock

pytestmark = pytest.mark.django_db(transaction=True)  # VACUUM runs outside transactions
ARRIVALS = 40
COLUMNS = [field.attname for field in Testimony._meta.concrete_fields]


def arrive(count: int, first: int = 0) -> list[uuid.UUID]:
    """Testimonies stored one at a time, as submissions are, numbered from ``first``;
    their ids in that order."""
    ids = []
    for number in range(first, first + count):
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


# --- PostgreSQL: a shuffled copy built beside the table, then swapped in ---------------

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the shuffled copy is PostgreSQL's"
)
PROBE = "untold_grant_probe"


def table_shape() -> dict[str, object]:
    """The table's indexes and constraints (names and definitions), the privileges other
    roles hold on it, whole and per column, and its storage settings."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'submissions_testimony'"
        )
        indexes = sorted(cursor.fetchall())
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'submissions_testimony'::regclass"
        )
        constraints = sorted(cursor.fetchall())
        cursor.execute(
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'submissions_testimony' AND grantee = %s",
            [PROBE],
        )
        grants = sorted(cursor.fetchall())
        cursor.execute(
            "SELECT grantee, privilege_type, column_name FROM information_schema.column_privileges "
            "WHERE table_name = 'submissions_testimony' AND grantee = %s",
            [PROBE],
        )
        columns = sorted(cursor.fetchall())
        cursor.execute(
            "SELECT c.reloptions, array_agg((a.attname, a.attstorage)::text ORDER BY a.attname) "
            "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "WHERE c.oid = 'submissions_testimony'::regclass GROUP BY c.reloptions"
        )
        storage = cursor.fetchone()
    return {
        "indexes": indexes,
        "constraints": constraints,
        "grants": grants,
        "columns": columns,
        "storage": storage,
    }


@postgresql_only
def test_the_table_keeps_its_indexes_constraints_and_grants():
    arrive(5)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP ROLE IF EXISTS {PROBE}")
        cursor.execute(f"CREATE ROLE {PROBE}")
        cursor.execute(f"GRANT INSERT, DELETE ON submissions_testimony TO {PROBE}")
        cursor.execute(f"GRANT SELECT (id, receipt_digest) ON submissions_testimony TO {PROBE}")
        # As an administrator may tune the table: the shuffle's copy must keep it so.
        cursor.execute(
            "ALTER TABLE submissions_testimony SET (autovacuum_vacuum_scale_factor = 0.05)"
        )
    try:
        before = table_shape()
        assert before["grants"] and before["columns"] and before["indexes"]
        assert before["storage"][0] == ["autovacuum_vacuum_scale_factor=0.05"]

        shuffle()

        assert table_shape() == before
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"REVOKE ALL ON submissions_testimony FROM {PROBE}")
            cursor.execute(f"DROP ROLE {PROBE}")
            cursor.execute(
                "ALTER TABLE submissions_testimony RESET (autovacuum_vacuum_scale_factor)"
            )


@postgresql_only
def test_what_is_written_while_the_copy_is_built_is_kept():
    # Given the shuffled copy built from five testimonies,
    arrivals = arrive(5)
    prepare_shuffled_copy(connection)

    # when one arrives, one is withdrawn and one approved before the swap,
    late = arrive(1, first=5)[0]
    Testimony.objects.filter(id=arrivals[0]).delete()
    Testimony.objects.filter(id=arrivals[1]).update(status="approved")
    before = set(Testimony.objects.values_list(*COLUMNS))
    rows = swap_in_shuffled_copy(connection)

    # the swapped-in table holds exactly what the table held: nothing undone or lost.
    assert rows == 5
    assert set(Testimony.objects.values_list(*COLUMNS)) == before
    assert Testimony.objects.get(id=late).open_text() == "story number 5"
    assert not Testimony.objects.filter(id=arrivals[0]).exists()


@postgresql_only
def test_what_changes_again_after_the_catch_up_is_kept_too():
    # Given the copy built, and writes caught up with outside the swap's lock,
    arrivals = arrive(6)
    prepare_shuffled_copy(connection)
    late = arrive(2, first=6)
    Testimony.objects.filter(id=arrivals[0]).update(status="approved")
    catch_up(connection)

    # when the same rows change again, and others, before the swap,
    Testimony.objects.filter(id=arrivals[0]).update(status="rejected")
    Testimony.objects.filter(id=late[0]).delete()
    Testimony.objects.filter(id=arrivals[1]).delete()
    arrive(1, first=8)
    before = set(Testimony.objects.values_list(*COLUMNS))
    rows = swap_in_shuffled_copy(connection)

    # the swapped-in table holds exactly what the table held.
    assert rows == 7
    assert set(Testimony.objects.values_list(*COLUMNS)) == before


@postgresql_only
def test_a_shuffle_stopped_before_its_swap_changes_nothing_and_the_next_one_works():
    arrivals = arrive(5)
    prepare_shuffled_copy(connection)  # and then the process was killed, say

    arrive(1, first=5)
    assert shuffle() == "Shuffled the storage order of 6 testimonies.\n"

    assert set(arrivals) < set(Testimony.objects.values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'untold_shuffle%%'")
        assert cursor.fetchone()[0] == 0

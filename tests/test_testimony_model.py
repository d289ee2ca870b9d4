"""The stored record keeps only what the design allows: a day, never a finer time."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import connection, models, transaction
from django.db.utils import DatabaseError, IntegrityError
from django.test.utils import CaptureQueriesContext

from submissions import receipts
from submissions.models import AuditEvent, Testimony
from tests.conftest import another_connection, new_testimony


def stored(**fields) -> Testimony:
    text = "Текст, который никто не должен видеть в __str__"
    return new_testimony(text, **{"consent": "statistics", **fields})


@pytest.mark.django_db
def test_str_shows_no_text():
    testimony = stored()

    assert "Текст" not in str(testimony)
    assert str(testimony) == f"story {testimony.id.hex[:8]}"


@pytest.mark.django_db
def test_ids_are_random_uuid4():
    ids = [stored().id for _ in range(5)]

    assert all(isinstance(value, uuid.UUID) and value.version == 4 for value in ids)
    assert len(set(ids)) == 5


def test_a_testimony_has_no_field_finer_than_a_day():
    kinds = {type(field) for field in Testimony._meta.get_fields()}

    assert models.DateTimeField not in kinds
    assert models.TimeField not in kinds
    assert not any(
        getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        for f in Testimony._meta.get_fields()
    )


@pytest.mark.django_db
def test_received_on_is_the_day_in_the_campaign_time_zone(settings):
    settings.UNTOLD_TIME_ZONE = "Asia/Almaty"  # UTC+6 in 2023 (UTC+5 since March 2024)
    # 20:30 UTC on 9 December 2023 is already 10 December in Almaty.
    with time_machine.travel(datetime(2023, 12, 9, 20, 30, tzinfo=UTC), tick=False):
        testimony = stored()

    testimony.refresh_from_db()
    assert testimony.received_on == date(2023, 12, 10)


@pytest.mark.django_db
def test_forms_of_violence_are_kept_sorted_and_validated():
    testimony = Testimony(language="en", consent="quote")
    testimony.violence_forms = ["sexual", "economic", "sexual"]

    assert testimony.forms_of_violence == "economic,sexual"
    assert testimony.violence_forms == ["economic", "sexual"]
    with pytest.raises(ValueError):
        testimony.violence_forms = ["physical", "made-up"]


def test_the_receipt_digest_is_keyed_and_not_the_code(settings):
    code = "1234567890123456"
    digest = receipts.digest(code)

    assert code not in digest and len(digest) == 64
    settings.SECRET_KEY = "another secret key " * 4
    assert receipts.digest(code) != digest


@pytest.mark.django_db
def test_audit_events_cannot_be_changed_or_deleted_through_the_model():
    event = AuditEvent.record(AuditEvent.Action.VIEWED, actor="moderator", testimony=stored())

    event.actor = "someone else"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(actor="x")
    assert AuditEvent.objects.get().actor == "moderator"


@pytest.mark.django_db
def test_audit_events_cannot_be_rewritten_in_the_database_either():
    AuditEvent.record(AuditEvent.Action.EXPORTED, actor="campaign", rows=3)

    # Each attempt in its own savepoint, so that on PostgreSQL the second failure is its
    # own and not the aborted transaction left by the first.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE submissions_auditevent SET actor = 'x'")
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM submissions_auditevent")
    assert AuditEvent.objects.get().actor == "campaign"


@pytest.mark.django_db(transaction=True)
def test_a_receipt_digest_is_unique_and_has_one_index():
    """Every story inserts its digest, a random key, into each index on it: one unique
    index is all a withdrawal's exact lookup needs (on PostgreSQL, unique=True would add
    a second, for LIKE)."""
    digest = receipts.digest("1234567890123456")
    stored(receipt_digest=digest)
    with pytest.raises(IntegrityError), transaction.atomic():
        stored(receipt_digest=digest)
    stored(receipt_digest=None)
    stored(receipt_digest=None)  # stories from before receipts, or from the bench

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Testimony._meta.db_table)
    on_digest = [c for c in constraints.values() if c["columns"] == ["receipt_digest"]]
    assert [c["unique"] for c in on_digest if c["index"] or c["unique"]] == [True]


# --- Storing without a health check first (PostgreSQL's persistent connections) -----------


def as_a_new_request_finds_its_connection_killed() -> None:
    """The database ends this process's connection (a restart, an administrator) while
    it sits idle between requests; the next request is the first to use it again."""
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL connections persist between requests")
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with another_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    connection.close_if_unusable_or_obsolete()  # what ends every request


@pytest.mark.django_db(transaction=True)
def test_a_story_sent_on_a_connection_the_database_ended_is_stored_once():
    stored()
    as_a_new_request_finds_its_connection_killed()
    testimony = new_testimony("Sent after the database restarted.", save=False)

    testimony.store()

    assert Testimony.objects.get(pk=testimony.pk).open_text() == (
        "Sent after the database restarted."
    )
    assert Testimony.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_story_whose_first_insert_committed_before_the_connection_broke_is_kept_once():
    testimony = new_testimony("The first INSERT got through.", save=False)
    Testimony.objects.bulk_create([testimony])  # its first INSERT, committed
    testimony._state.adding = True  # but its answer never came back
    as_a_new_request_finds_its_connection_killed()

    testimony.store()

    assert list(Testimony.objects.values_list("pk", flat=True)) == [testimony.pk]


# --- The INSERT itself --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stored_story_is_the_row_save_would_have_stored():
    testimony = new_testimony(
        "Каждое поле сохраняется как есть.",
        save=False,
        age_group="25_34",
        region="KZ-75",
        teller="witness",
        consent="statistics",
    )
    testimony.violence_forms = ["economic", "psychological"]
    testimony.set_receipt_code(receipts.new_code())
    same = Testimony(
        **{f.attname: getattr(testimony, f.attname) for f in Testimony._meta.concrete_fields}
    )
    same.id, same.receipt_digest = uuid.uuid4(), None  # both unique

    testimony.store()
    same.save(force_insert=True)

    fields = [f.attname for f in Testimony._meta.concrete_fields if f.attname != "id"]
    rows = {
        row.pop("id"): {**row, "receipt_digest": None}
        for row in Testimony.objects.values("id", *fields)
    }
    assert rows[testimony.id] == rows[same.id]
    assert Testimony.objects.get(pk=testimony.pk).receipt_digest == testimony.receipt_digest
    assert Testimony.objects.get(pk=testimony.pk).open_text() == "Каждое поле сохраняется как есть."
    assert not testimony._state.adding


@pytest.mark.django_db
def test_the_sealed_text_travels_beside_the_statement_not_inside_it():
    """On PostgreSQL the INSERT's values are parameters: the statement PostgreSQL parses
    (and would write to its log with an error) holds neither the sealed text nor the
    receipt digest."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no statement log and no server to parse it")
    testimony = new_testimony("Not in any statement.", save=False)
    testimony.set_receipt_code(receipts.new_code())

    with CaptureQueriesContext(connection) as captured:
        testimony.store()

    inserts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert bytes(testimony.sealed_text).hex()[:64] not in inserts[0]
    assert testimony.receipt_digest not in inserts[0]
    assert str(testimony.id) not in inserts[0]


@pytest.mark.django_db(transaction=True)
def test_a_story_that_breaks_a_constraint_raises_djangos_integrity_error():
    digest = receipts.digest("1234567890123452")
    new_testimony("The first.", save=False, receipt_digest=digest).store()

    with pytest.raises(IntegrityError):
        new_testimony(
            "The second, with the same digest.", save=False, receipt_digest=digest
        ).store()

    assert Testimony.objects.count() == 1


@pytest.mark.django_db
def test_a_story_insert_is_never_left_prepared_on_the_connection():
    """A pooler in transaction mode hands each statement any server connection, where a
    statement prepared on another does not exist. Django turns psycopg's preparing off
    (``prepare_threshold``); the INSERT bound on the server must not turn it on."""
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL's statements are bound on the server")
    for number in range(8):  # psycopg prepares a statement on its sixth run by default
        new_testimony(f"Story {number}.", save=False).store()

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)

"""Work on the whole store that runs from the command line: key rotation, the storage
shuffle and the purge after the retention period.

Promise: rotation leaves no value naming an old key and can be stopped and run again;
the shuffle leaves no trace of arrival order in the database files; the purge deletes
every testimony on the day the privacy page states, and writes its audit event before
it deletes anything.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BinaryField, Q
from django.db.models.functions import Substr

from submissions import crypto
from submissions.models import (
    CAMPAIGN_TEXT_FIELD,
    TEXT_FIELD,
    AuditEvent,
    Testimony,
    TestimonyQuerySet,
)


@dataclass
class RotationReport:
    moved: int = 0
    failed: list[str] = field(default_factory=list)
    remaining: int = 0


# What forked rotation workers work with: set by ``rotate_keys`` before its pool is
# created, so each worker inherits the keyring by fork (keys are never pickled or sent
# through a pipe).
WORKER_JOB: tuple[crypto.Keyring, TestimonyQuerySet, int] | None = None


def rotate_keys(
    ring: crypto.Keyring,
    testimonies: TestimonyQuerySet | None = None,
    *,
    batch_size: int = 500,
    workers: int = 1,
) -> RotationReport:
    """Re-wrap every sealed value of ``testimonies`` (all, by default) to ``ring``'s
    active key, a slice of about ``batch_size`` rows per transaction, in ``workers``
    forked processes (1: in this one).

    Each slice is a range of the random ids, read, re-wrapped and written back by one
    worker on its own connection: at 1,000,000 rows two workers move about twice as
    many values a second as one (bench/scale.py). Resumable: values already on the
    active key are skipped, and every slice commits on its own, so a run killed at any
    point (kill -9 included) is finished by the next. Safe beside live submissions and
    moderators: each row is written with compare-and-swap on its old bytes, so a value
    changed meanwhile is left alone and picked up by the next run.
    """
    global WORKER_JOB
    testimonies = Testimony.objects.all() if testimonies is None else testimonies
    slices = max(1, testimonies.count() // batch_size)
    report = RotationReport()
    if workers > 1:
        WORKER_JOB = (ring, testimonies, slices)
        # Each worker opens its own connection; a forked copy of this one would be
        # shared by all of them.
        connections.close_all()
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for moved, failed in pool.imap_unordered(rotate_slice_in_worker, range(slices)):
                    report.moved += moved
                    report.failed += failed
        finally:
            WORKER_JOB = None
    else:
        for index in range(slices):
            moved, failed = rotate_slice(ring, testimonies, index, slices)
            report.moved += moved
            report.failed += failed
    report.remaining = naming_another_key(
        testimonies, ring.active_key_id, ring.active_campaign_id
    ).count()
    return report


def rotate_slice_in_worker(index: int) -> tuple[int, list[str]]:
    assert WORKER_JOB is not None, "set by rotate_keys before the pool is created"  # noqa: S101
    ring, testimonies, slices = WORKER_JOB
    return rotate_slice(ring, testimonies, index, slices)


def rotate_slice(
    ring: crypto.Keyring, testimonies: TestimonyQuerySet, index: int, slices: int
) -> tuple[int, list[str]]:
    """Move the values of slice ``index`` of ``slices`` (a range of ids) to the active
    key, written back in one statement; return how many moved and the rows that would
    not open."""
    within: dict[str, UUID] = {"id__gte": UUID(int=index * (1 << 128) // slices)}
    if index + 1 < slices:
        within["id__lt"] = UUID(int=(index + 1) * (1 << 128) // slices)
    rows = testimonies.filter(**within).values_list("id", "sealed_text", "sealed_campaign_text")
    rewrapped: dict[UUID, tuple[bytes, bytes | None, bytes, bytes | None, int]] = {}
    failed = []
    for record_id, sealed, campaign in rows.order_by():
        try:
            rewrapped[record_id] = rewrapped_row(ring, record_id, sealed, campaign)
        except crypto.SealError as error:
            failed.append(f"{str(record_id)[:8]}: {error}")
    changed = {record_id: row for record_id, row in rewrapped.items() if row[-1]}
    written = compare_and_swap(testimonies.db, changed) if changed else set()
    return sum(changed[record_id][-1] for record_id in written), failed


def rewrapped_row(
    ring: crypto.Keyring, record_id: UUID, sealed: bytes, campaign: bytes | None
) -> tuple[bytes, bytes | None, bytes, bytes | None, int]:
    """One row's values as they are and on the active key, and how many differ."""
    active = ring.active_key_id
    sealed, campaign = bytes(sealed), campaign and bytes(campaign)
    new_sealed, new_campaign = sealed, campaign
    if crypto.sealed_key_id(sealed) != active:
        new_sealed = ring.rewrap(sealed, record_id=record_id, field_name=TEXT_FIELD)
    if campaign and crypto.sealed_key_id(campaign) != ring.active_campaign_id:
        text = ring.open_campaign(campaign, record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD)
        new_campaign = ring.seal_campaign(text, record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD)
    moved = (new_sealed is not sealed) + (new_campaign is not campaign)
    return sealed, campaign, new_sealed, new_campaign, moved


# One UPDATE for a whole slice, each row compared and swapped on its old bytes; the
# rows it wrote come back. Row by row, the ORM's statement and the counts' trigger cost
# about 1 ms a row, more than the re-wrapping (bench/scale.py).
SWAP = {
    "postgresql": (
        "UPDATE {table} AS t SET sealed_text = v.new_text, sealed_campaign_text = v.new_campaign "
        "FROM (VALUES {rows}) AS v (id, old_text, old_campaign, new_text, new_campaign) "
        "WHERE t.id = v.id AND t.sealed_text = v.old_text "
        "AND t.sealed_campaign_text IS NOT DISTINCT FROM v.old_campaign RETURNING t.id",
        "(%s::uuid, %s::bytea, %s::bytea, %s::bytea, %s::bytea)",
    ),
    "sqlite": (
        "UPDATE {table} SET sealed_text = v.column4, sealed_campaign_text = v.column5 "
        "FROM (VALUES {rows}) AS v WHERE {table}.id = v.column1 "
        "AND {table}.sealed_text = v.column2 AND {table}.sealed_campaign_text IS v.column3 "
        "RETURNING {table}.id",
        "(%s, %s, %s, %s, %s)",
    ),
}


def compare_and_swap(
    using: str, changed: dict[UUID, tuple[bytes, bytes | None, bytes, bytes | None, int]]
) -> set[UUID]:
    """Write each row's new values where its stored values are still the old ones, in
    one statement; return the ids written."""
    connection = connections[using]
    statement, row = SWAP[connection.vendor]
    pk = Testimony._meta.pk
    assert pk is not None  # noqa: S101 (for the type checker: a model has a primary key)
    params: list[Any] = []
    for record_id, (sealed, campaign, new_sealed, new_campaign, _) in changed.items():
        params += [pk.get_db_prep_value(record_id, connection), sealed, campaign]
        params += [new_sealed, new_campaign]
    sql = statement.format(
        table=connection.ops.quote_name(Testimony._meta.db_table),
        rows=", ".join([row] * len(changed)),
    )
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {pk.to_python(written) for (written,) in cursor.fetchall()}


def naming_another_key(
    testimonies: TestimonyQuerySet, active: bytes, active_campaign: bytes
) -> TestimonyQuerySet:
    """The testimonies whose text does not name ``active`` or whose campaign text does
    not name ``active_campaign``, read in the database (the key id is bytes 4 to 11 of
    every sealed value)."""
    start, length = crypto.HEADER_LENGTH + 1, crypto.KEY_ID_LENGTH
    return testimonies.annotate(
        text_key=Substr("sealed_text", start, length, output_field=BinaryField()),
        campaign_key=Substr("sealed_campaign_text", start, length, output_field=BinaryField()),
    ).filter(
        ~Q(text_key=active)
        | (Q(sealed_campaign_text__isnull=False) & ~Q(campaign_key=active_campaign))
    )


def shuffle_storage(using: str = "default") -> int:
    """Give every testimony row a random place in the database files; return the number
    of rows. Nothing stored changes but where and when it was written.

    A database keeps rows in the order they arrive: SQLite numbers them (rowid) and
    PostgreSQL places them one after another, each stamped with the id of the
    transaction that wrote it (xmin). Whoever holds the database files could line the
    testimonies of a day up in arrival order.

    On PostgreSQL a shuffled copy is built beside the table while submissions go on,
    and swapped in by a short transaction (``swap_in_shuffled_copy``). On SQLite, the
    embedded default for small campaigns, the rows are written back in a random order
    in one transaction and the file is compacted; writers wait meanwhile.
    """
    connection = connections[using]
    if connection.vendor == "postgresql":
        return shuffle_postgresql(connection)
    return shuffle_in_place(connection)


def shuffle_in_place(connection: BaseDatabaseWrapper) -> int:
    """Copy every row out and back in a random order in one transaction, then VACUUM:
    the rows get new row numbers and the old pages are dropped (secure_delete zeroes
    them)."""
    quote = connection.ops.quote_name
    table = quote(Testimony._meta.db_table)
    columns = ", ".join(quote(field.column) for field in Testimony._meta.concrete_fields)
    # Only names, from the model's own options and quoted, go into these statements.
    copy_out = (
        f"CREATE TEMPORARY TABLE untold_shuffle AS "  # noqa: S608
        f"SELECT {columns}, random() AS place FROM {table}"
    )
    empty = f"DELETE FROM {table}"  # noqa: S608
    copy_back = (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM untold_shuffle ORDER BY place"
    )
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(copy_out)
        cursor.execute(empty)
        cursor.execute(copy_back)
        rows = cursor.rowcount
        cursor.execute("DROP TABLE untold_shuffle")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")
    return rows


# Names of the PostgreSQL objects a shuffle works with while it runs.
SHUFFLED = "untold_shuffled"
CHANGES = "untold_shuffle_changes"
PENDING = "untold_shuffle_pending"
NOTE_CHANGE = "untold_shuffle_note_change"
# The swap waits this long for the table at most, then lets writers through and tries
# again: a writer never waits behind it for more than this and the swap itself.
SWAP_LOCK_TIMEOUT = "400ms"
SWAP_ATTEMPTS = 50


def shuffle_postgresql(connection: BaseDatabaseWrapper) -> int:
    """Build a shuffled copy of the table beside it, then swap it in.

    1. A trigger notes the id of every row written or deleted from now on.
    2. The rows are copied to a new table in a random order, and given the same indexes
       and constraints under temporary names. Submissions and moderators go on: the
       copy only reads.
    3. ``catch_up`` brings the rows noted so far over to the copy, while writers go on.
    4. ``swap_in_shuffled_copy`` brings over the rows noted since and puts the copy in
       the table's place, in one short transaction.

    Afterwards the rows sit in a random order, nearly all stamped with one transaction
    id, and the old table's files are gone."""
    prepare_shuffled_copy(connection)
    catch_up(connection)
    return swap_in_shuffled_copy(connection)


def catch_up(connection: BaseDatabaseWrapper) -> None:
    """Bring the rows written or deleted since the copy began over to the copy, from one
    snapshot, outside the swap's lock. At 1,000,000 rows the copy takes over a minute,
    and bringing over everything a busy campaign wrote meanwhile under the swap's lock
    kept a writer waiting over a second (bench/scale.py)."""
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        bring_over_changes(cursor, connection)


def bring_over_changes(cursor, connection: BaseDatabaseWrapper) -> None:
    """Bring each noted row whose version (its transaction id) is not the one last
    brought over to the copy: delete it there, and insert it again as the table holds
    it now, unless it was deleted. Each note keeps the version brought over, so a row
    is brought again only if it changed since."""
    quote = connection.ops.quote_name
    table, columns, changes = names(connection)
    shuffled, pending = quote(SHUFFLED), quote(PENDING)
    cursor.execute(
        f"CREATE TEMPORARY TABLE {pending} ON COMMIT DROP AS "  # noqa: S608
        f"SELECT c.id, t.xmin::text AS version FROM {changes} c "
        f"LEFT JOIN {quote(table)} t ON t.id = c.id "
        "WHERE c.version IS DISTINCT FROM t.xmin::text"
    )
    cursor.execute(f"DELETE FROM {shuffled} WHERE id IN (SELECT id FROM {pending})")  # noqa: S608
    cursor.execute(
        f"INSERT INTO {shuffled} ({columns}) SELECT {columns} FROM {quote(table)} "  # noqa: S608
        f"WHERE id IN (SELECT id FROM {pending}) ORDER BY random()"
    )
    cursor.execute(
        f"UPDATE {changes} c SET version = p.version FROM {pending} p WHERE c.id = p.id"  # noqa: S608
    )


def names(connection: BaseDatabaseWrapper) -> tuple[str, str, str]:
    """The table, its columns (quoted, joined) and the notes table (schema-qualified:
    the trigger function runs with an empty search path)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in Testimony._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
    return Testimony._meta.db_table, columns, f"{schema}.{quote(CHANGES)}"


def prepare_shuffled_copy(connection: BaseDatabaseWrapper) -> None:
    """Steps 1 and 2 of ``shuffle_postgresql``: the notes, and the shuffled copy."""
    quote = connection.ops.quote_name
    table, columns, changes = names(connection)
    with connection.cursor() as cursor:
        drop_leftovers(cursor, connection, table)
        # 1. Every change from here on is noted; SECURITY DEFINER lets the intake role's
        #    writes note theirs without a grant on the notes.
        # A note's version is the row's transaction id last brought over ('' : none yet).
        cursor.execute(
            f"CREATE UNLOGGED TABLE {changes} (id uuid PRIMARY KEY, version text DEFAULT '')"
        )
        cursor.execute(
            f"CREATE FUNCTION {quote(NOTE_CHANGE)}() RETURNS trigger "  # noqa: S608
            "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$ BEGIN "
            f"INSERT INTO {changes} VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id "
            "ELSE NEW.id END) ON CONFLICT DO NOTHING; RETURN NULL; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER {quote(NOTE_CHANGE)} AFTER INSERT OR UPDATE OR DELETE ON "
            f"{quote(table)} FOR EACH ROW EXECUTE FUNCTION {quote(NOTE_CHANGE)}()"
        )
        # 2. The copy, in a random order; indexes after the rows, which is faster.
        cursor.execute(
            f"CREATE TABLE {quote(SHUFFLED)} "
            f"(LIKE {quote(table)} INCLUDING DEFAULTS INCLUDING STORAGE)"
        )
        # LIKE copies the columns' storage, not the table's own settings (a fillfactor or
        # autovacuum threshold an administrator set): the copy takes them before its
        # rows, which are written under them.
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [table])
        (options,) = cursor.fetchone()
        if options:
            cursor.execute(f"ALTER TABLE {quote(SHUFFLED)} SET ({', '.join(options)})")
        cursor.execute(
            f"INSERT INTO {quote(SHUFFLED)} ({columns}) "  # noqa: S608
            f"SELECT {columns} FROM {quote(table)} ORDER BY random()"
        )
        for statement in shuffled_indexes(cursor, connection, table):
            cursor.execute(statement)
        cursor.execute(f"ANALYZE {quote(SHUFFLED)}")


def drop_leftovers(cursor, connection: BaseDatabaseWrapper, table: str) -> None:
    """Remove what a shuffle that was stopped part-way left behind; the table itself is
    untouched until the swap, which is one transaction."""
    quote = connection.ops.quote_name
    cursor.execute(f"DROP TRIGGER IF EXISTS {quote(NOTE_CHANGE)} ON {quote(table)}")
    cursor.execute(f"DROP FUNCTION IF EXISTS {quote(NOTE_CHANGE)}()")
    cursor.execute(f"DROP TABLE IF EXISTS {quote(SHUFFLED)}, {quote(CHANGES)}")


def shuffled_indexes(cursor, connection: BaseDatabaseWrapper, table: str) -> list[str]:
    """Statements that give the copy each constraint and index of the table, under the
    table's names with a suffix (renamed at the swap)."""
    quote = connection.ops.quote_name
    statements = []
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid), conindid FROM pg_constraint "
        "WHERE conrelid = %s::regclass",
        [table],
    )
    constraints = cursor.fetchall()
    for name, definition, _ in constraints:
        statements.append(
            f"ALTER TABLE {quote(SHUFFLED)} ADD CONSTRAINT {quote(name + '_s')} {definition}"
        )
    backing = {index for _, _, index in constraints}
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid), i.oid FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass",
        [table],
    )
    for name, definition, oid in cursor.fetchall():
        if oid in backing:
            continue
        head, method = definition.split(" USING ", 1)
        unique = "UNIQUE " if head.startswith("CREATE UNIQUE") else ""
        statements.append(
            f"CREATE {unique}INDEX {quote(name + '_s')} ON {quote(SHUFFLED)} USING {method}"
        )
    return statements


def swap_in_shuffled_copy(connection: BaseDatabaseWrapper) -> int:
    """In one short transaction: bring the rows noted since the copy began over from the
    table, give the copy the table's grants, drop the table and give the copy its name
    and its indexes' names. Waits at most SWAP_LOCK_TIMEOUT for the table, then lets
    the writers queued behind it through and tries again."""
    quote = connection.ops.quote_name
    table, columns, changes = names(connection)
    shuffled = quote(SHUFFLED)
    for attempt in range(SWAP_ATTEMPTS):
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
                cursor.execute(f"LOCK TABLE {quote(table)} IN ACCESS EXCLUSIVE MODE")
                bring_over_changes(cursor, connection)
                for statement in copied_grants(cursor, connection, table):
                    cursor.execute(statement)
                renamed = index_names(cursor, table)
                kept = trigger_definitions(cursor, table)
                cursor.execute(f"DROP TABLE {quote(table)}")
                cursor.execute(f"ALTER TABLE {shuffled} RENAME TO {quote(table)}")
                for name, is_constraint in renamed:
                    if is_constraint:
                        cursor.execute(
                            f"ALTER TABLE {quote(table)} RENAME CONSTRAINT "
                            f"{quote(name + '_s')} TO {quote(name)}"
                        )
                    else:
                        cursor.execute(f"ALTER INDEX {quote(name + '_s')} RENAME TO {quote(name)}")
                # Only now: the rows brought over above were counted on the table already.
                for definition in kept:
                    cursor.execute(definition)
                cursor.execute(f"DROP TABLE {changes}")
                cursor.execute(f"DROP FUNCTION {quote(NOTE_CHANGE)}()")
        except OperationalError as error:
            if "lock timeout" not in str(error):
                raise
            time.sleep(min(2.0, 0.1 * (attempt + 1)))
            continue
        # Counted once the table is let go: at 1,000,000 rows, counting them under the
        # swap's lock kept a writer waiting 2 s (bench/scale.py).
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {quote(table)}")  # noqa: S608
            return cursor.fetchone()[0]
    raise OperationalError(
        f"the testimony table was busy for {SWAP_ATTEMPTS} attempts; the shuffled copy is "
        "left beside it and the next run starts again"
    )


def index_names(cursor, table: str) -> list[tuple[str, bool]]:
    """The table's constraint names (True) and its other index names (False)."""
    cursor.execute(
        "SELECT conname, conindid FROM pg_constraint WHERE conrelid = %s::regclass", [table]
    )
    constraints = cursor.fetchall()
    backing = {index for _, index in constraints}
    cursor.execute(
        "SELECT i.relname, i.oid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass",
        [table],
    )
    indexes = [(name, False) for name, oid in cursor.fetchall() if oid not in backing]
    return [(name, True) for name, _ in constraints] + indexes


def trigger_definitions(cursor, table: str) -> list[str]:
    """The statements that create the table's own triggers (the daily counts', migration
    0007), but not the shuffle's."""
    cursor.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass "
        "AND NOT tgisinternal AND tgname <> %s ORDER BY tgname",
        [table, NOTE_CHANGE],
    )
    return [definition for (definition,) in cursor.fetchall()]


def copied_grants(cursor, connection: BaseDatabaseWrapper, table: str) -> list[str]:
    """GRANT statements that give the copy the privileges other roles hold on the table,
    whole-table and per column (the intake role's, as docs/deploy.md sets them)."""
    quote = connection.ops.quote_name
    cursor.execute(
        "SELECT a.privilege_type, a.grantee FROM pg_class c, aclexplode(c.relacl) a "
        "WHERE c.oid = %s::regclass AND a.grantee <> c.relowner",
        [table],
    )
    whole = cursor.fetchall()
    cursor.execute(
        "SELECT a.privilege_type, a.grantee, t.attname FROM pg_attribute t, "
        "aclexplode(t.attacl) a WHERE t.attrelid = %s::regclass AND t.attacl IS NOT NULL",
        [table],
    )
    per_column = cursor.fetchall()
    statements = []
    for privilege, grantee in whole:
        statements.append(f"GRANT {privilege} ON {quote(SHUFFLED)} TO {role(cursor, grantee)}")
    for privilege, grantee, column in per_column:
        statements.append(
            f"GRANT {privilege} ({quote(column)}) ON {quote(SHUFFLED)} TO {role(cursor, grantee)}"
        )
    return statements


def role(cursor, oid: int) -> str:
    """A role as a GRANT names it: PUBLIC (oid 0), or its quoted name."""
    if oid == 0:
        return "PUBLIC"
    cursor.execute("SELECT quote_ident(rolname) FROM pg_roles WHERE oid = %s", [oid])
    return cursor.fetchone()[0]


# Rows deleted per transaction by the purge where rows are taken in id order (SQLite):
# each batch holds its row locks for tens of milliseconds.
PURGE_BATCH = 5000
# Table pages (8 KiB each) whose rows the purge deletes per transaction on PostgreSQL.
PURGE_PAGES = 128


def purge(*, actor: str, batch_size: int = PURGE_BATCH) -> int:
    """Delete every testimony, after recording the audit event that says how many there
    are; return how many were deleted. The caller decides whether the day has come.

    The event is committed first: if it cannot be written, nothing is deleted. Then the
    rows go a batch per short transaction until none is left, so that no transaction
    holds a million row locks. A purge stopped part-way is finished by the next run
    (daily), which records its own event.

    On PostgreSQL a batch is a range of the table's pages, not of ids: rows in id order
    lie on as many pages as there are rows, and each page a transaction changes first
    goes whole into the write-ahead log, which a writer's commit then waits to flush (at
    1,000,000 rows, after a rotation and a shuffle, batches of 5,000 ids made a writer
    wait up to a second, bench/scale.py)."""
    with transaction.atomic():
        AuditEvent.record(AuditEvent.Action.PURGED, actor=actor, count=Testimony.objects.count())
    connection = connections[DEFAULT_DB_ALIAS]
    deleted = 0
    while Testimony.objects.exists():
        if connection.vendor == "postgresql":
            deleted += purge_pages(connection)
        else:
            deleted += purge_ids(batch_size)
    return deleted


def purge_ids(batch_size: int) -> int:
    """Delete the testimonies there are now, ``batch_size`` per transaction in id order;
    rows written meanwhile below the last id passed are left for the caller's next
    round."""
    deleted, last = 0, None
    while True:
        batch = Testimony.objects.order_by("id")
        if last is not None:
            batch = batch.filter(id__gt=last)
        ids = list(batch.values_list("id", flat=True)[:batch_size])
        if not ids:
            return deleted
        last = ids[-1]
        deleted += Testimony.objects.filter(id__in=ids).delete()[0]


def purge_pages(connection: BaseDatabaseWrapper) -> int:
    """Delete the rows of every page the testimony table has now, ``PURGE_PAGES`` pages
    per transaction (a TID range scan reads just those pages); rows written meanwhile
    onto pages already passed are left for the caller's next round."""
    table = connection.ops.quote_name(Testimony._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int",
            [Testimony._meta.db_table],
        )
        pages = cursor.fetchone()[0]
    deleted = 0
    for first in range(0, pages, PURGE_PAGES):
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE ctid >= %s::tid AND ctid < %s::tid",  # noqa: S608
                [f"({first},0)", f"({first + PURGE_PAGES},0)"],
            )
            deleted += cursor.rowcount
    return deleted

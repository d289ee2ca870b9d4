"""Work on the whole store that runs from the command line: key rotation, the storage
shuffle and the purge after the retention period.

Promise: rotation leaves no value naming an old key and can be stopped and run again;
the shuffle leaves no trace of arrival order in the database files; the purge deletes
every testimony on the day the privacy page states, and writes its audit event in the
same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from django.db import connections, transaction

from submissions import crypto
from submissions.keys import keyring
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


def names_key(sealed: bytes, wanted: bytes) -> bool:
    try:
        return crypto.sealed_key_id(sealed) == wanted
    except crypto.SealError:
        return False


def rotate_keys(
    testimonies: TestimonyQuerySet | None = None, *, batch_size: int = 500
) -> RotationReport:
    """Re-wrap every sealed value of ``testimonies`` (all, by default) to the active key,
    reading a batch at a time and writing each row on its own.

    Resumable: values already on the active key are skipped, so a second run continues
    where an interrupted one stopped. Safe beside live submissions and moderators: each
    row is written with compare-and-swap on the old bytes, so a value changed meanwhile
    is left alone and picked up by the next run.
    """
    testimonies = Testimony.objects.all() if testimonies is None else testimonies
    ring = keyring()
    active = ring.active_key_id
    report = RotationReport()
    last_id = None
    columns = ("id", "sealed_text", "sealed_campaign_text")
    while True:
        batch = testimonies.order_by("id")
        if last_id is not None:
            batch = batch.filter(id__gt=last_id)
        rows = list(batch.values_list(*columns)[:batch_size])
        if not rows:
            break
        last_id = rows[-1][0]
        for record_id, sealed, campaign in rows:
            try:
                report.moved += rotate_row(testimonies, ring, record_id, sealed, campaign)
            except crypto.SealError as error:
                report.failed.append(f"{str(record_id)[:8]}: {error}")
    report.remaining = sum(
        1
        for sealed, campaign in testimonies.values_list(
            "sealed_text", "sealed_campaign_text"
        ).iterator(chunk_size=batch_size)
        if not names_key(sealed, active)
        or (campaign is not None and not names_key(campaign, active))
    )
    return report


def rotate_row(
    testimonies: TestimonyQuerySet,
    ring: crypto.Keyring,
    record_id: UUID,
    sealed: bytes,
    campaign: bytes | None,
) -> int:
    """Move one row's values to the active key; return how many moved."""
    active = ring.active_key_id
    sealed, campaign = bytes(sealed), campaign and bytes(campaign)
    changes = {}
    if crypto.sealed_key_id(sealed) != active:
        changes["sealed_text"] = ring.rewrap(sealed, record_id=record_id, field_name=TEXT_FIELD)
    if campaign and crypto.sealed_key_id(campaign) != active:
        text = ring.open_campaign(campaign, record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD)
        changes["sealed_campaign_text"] = ring.seal_campaign(
            text, record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD
        )
    if not changes:
        return 0
    unchanged = testimonies.filter(id=record_id, sealed_text=sealed, sealed_campaign_text=campaign)
    return len(changes) if unchanged.update(**changes) else 0


def shuffle_storage(using: str = "default") -> int:
    """Rewrite the whole testimony table in a random order, then compact the database;
    return the number of rows. Nothing stored changes but where and when it was written.

    A database keeps rows in the order they arrive: SQLite numbers them (rowid) and
    PostgreSQL places them one after another, each stamped with the id of the
    transaction that wrote it (xmin). Whoever holds the database files could line the
    testimonies of a day up in arrival order. Copied out and written back in a random
    order in one transaction, they get random places and one transaction id; compacting
    (VACUUM) drops the old copies. Writers wait while the rows are rewritten, readers
    too while the table is compacted: moments for thousands of rows.
    """
    connection = connections[using]
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
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if postgresql:
            # Writes wait; a withdrawal during the copy would otherwise be undone.
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(copy_out)
        cursor.execute(empty)
        cursor.execute(copy_back)
        rows = cursor.rowcount
        cursor.execute("DROP TABLE untold_shuffle")
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM FULL {table}" if postgresql else "VACUUM")
    return rows


def purge(*, actor: str) -> int:
    """Delete every testimony, with the audit event that says how many, in one
    transaction; return the count. The caller decides whether the day has come."""
    with transaction.atomic():
        deleted, _ = Testimony.objects.all().delete()
        AuditEvent.record(AuditEvent.Action.PURGED, actor=actor, count=deleted)
    return deleted

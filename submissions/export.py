"""The anonymized CSV that campaign staff take away.

Threat: the file leaves the moderation system and is shared, opened in spreadsheets
and perhaps leaked. So it holds only approved testimonies whose consent allows use;
only the moderator's campaign text, and only where she agreed to be quoted; a record
identifier made fresh for each export; and the ISO week, never the day. An abuser
knows exactly the facts the other columns hold (when, in which language, what he did,
her age, where, who told it), so every combination of all of them, consent included,
is made to be shared by at least k rows (k-anonymity): generalized step by step
(``LEVELS``), and left out where even the last step is not enough. Rows come in a random order that
differs between exports, so two files cannot be joined by position. Every cell that a
spreadsheet could run as a formula is defused with a leading apostrophe.

Memory stays flat: the first pass counts combinations in the database (one row per
combination), the second streams testimonies in random buckets of about a thousand.

This module knows nothing about HTTP.
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet

from submissions.choices import Consent
from submissions.crypto import Keyring, NoPrivateKeyError, SealError
from submissions.keys import keyring
from submissions.models import CAMPAIGN_TEXT_FIELD, EXPORTED_ANSWERS, AuditEvent, Testimony

HEADER = (
    "record",
    "received_week",
    "language",
    "forms_of_violence",
    "age_group",
    "region",
    "teller",
    "consent",
    "text",
)
WITHHELD = "withheld"
# A cell starting with one of these, after any spaces, could run as a formula (OWASP
# CSV injection); the apostrophe is included so that the defusing prefix can always be
# told apart and removed again.
DANGEROUS = frozenset("=+-@\t\r\n\0'")
BOM = "\ufeff"
CHUNK_BYTES = 64 * 1024
BUCKET_ROWS = 1000
# The database alias an export reads its snapshot through (untold/settings.py).
SNAPSHOT = "snapshot"

# Every exported column but the record id and the text, in the file's order: week,
# language, forms of violence (comma-joined), age group, region, teller, consent.
Key = tuple[str, str, str, str, str, str, str]
SEVERAL = "several"
# The stored fields a Key is made from, the day first (it becomes the week).
COLUMNS = EXPORTED_ANSWERS


def defuse(cell: str) -> str:
    """Prefix a cell with an apostrophe if a spreadsheet could read it as a formula."""
    if cell and cell.lstrip(" ")[:1] in DANGEROUS:
        return "'" + cell
    return cell


def quoted_cell(cell: str) -> str:
    """One RFC 4180 field, defused, quoted, quotes doubled."""
    return '"' + defuse(cell).replace('"', '""') + '"'


def quoted_row(cells: tuple[str, ...] | list[str]) -> str:
    """One RFC 4180 record: every field quoted, quotes doubled, CRLF at the end."""
    return ",".join(quoted_cell(cell) for cell in cells) + "\r\n"


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_month(week: str) -> str:
    """The month of an ISO week, by the ISO convention: the month of its Thursday."""
    year, number = week.split("-W")
    thursday = date.fromisocalendar(int(year), int(number), 4)
    return f"{thursday.year}-{thursday.month:02d}"


def country(region: str) -> str:
    return region.split("-")[0]


def several(forms: str) -> str:
    """One form of violence as it is; two or more as "several"."""
    return SEVERAL if "," in forms else forms


def same(value: str) -> str:
    return value


def withheld(value: str) -> str:
    return WITHHELD


# How each level shows each column (week, language, forms of violence, age group,
# region, teller, consent); each level generalizes more than the one before. A row
# takes the first level at which its combination is shared by at least k rows, or is
# left out. Consent is never generalized: the text column shows it anyway (only a
# quotable row carries text).
LEVELS: tuple[tuple[Callable[[str], str], ...], ...] = (
    (same, same, same, same, same, same, same),
    (same, same, same, same, country, same, same),
    (same, same, several, same, country, same, same),
    (week_month, same, several, same, country, same, same),
    (week_month, same, several, withheld, country, withheld, same),
    (week_month, same, withheld, withheld, country, withheld, same),
    (withheld, withheld, withheld, withheld, withheld, withheld, same),
)


def at_level(key: Key, level: tuple[Callable[[str], str], ...]) -> Key:
    return cast(Key, tuple(show(value) for show, value in zip(level, key, strict=True)))


def shown_at(level: tuple[Callable[[str], str], ...]) -> Callable[[Key], Key]:
    """``at_level`` for one level, as one function: the columns it shows as they are
    are copied, and each value of the others is generalized once. Combinations are
    nearly as many as rows, and this is most of the plan's work (at 1,000,000 rows it
    took the plan from 21 s to 5 s, bench/scale.py)."""
    changed: list[tuple[int, Callable[[str], str], dict[str, str]]] = [
        (index, show, {}) for index, show in enumerate(level) if show is not same
    ]
    if not changed:
        return lambda key: key

    def show_key(key: Key) -> Key:
        values = list(key)
        for index, show, memo in changed:
            value = values[index]
            shown = memo.get(value)
            if shown is None:
                shown = memo[value] = show(value)
            values[index] = shown
        return cast(Key, tuple(values))

    return show_key


def generalize(counts: Counter[Key], k: int) -> dict[Key, Key | None]:
    """Map each combination to what the export shows for it (None: suppressed) so that
    every shown combination is shared by at least k rows.

    Rows with the same combination are always treated alike, so whole combinations move
    up the levels together; a combination that reaches k at some level joins whatever
    already stands there, which only makes that group larger."""
    shown: dict[Key, Key | None] = {}
    # Plain dicts: a Counter's missing keys cost a Python call each, and nearly every
    # combination is looked up once per level.
    settled: dict[Key, int] = {}
    pending = dict(counts)
    for level in LEVELS:
        show_key = shown_at(level)
        targets = {key: show_key(key) for key in pending}
        candidates: dict[Key, int] = {}
        for key, target in targets.items():
            candidates[target] = candidates.get(target, 0) + pending[key]
        reached = {
            key: target
            for key, target in targets.items()
            if settled.get(target, 0) + candidates[target] >= k
        }
        for key, target in reached.items():
            shown[key] = target
            settled[target] = settled.get(target, 0) + pending.pop(key)
    shown.update(dict.fromkeys(pending))
    return shown


@dataclass
class ExportPlan:
    """What an export will contain, decided before the first byte is sent."""

    queryset: QuerySet
    shown: dict[Key, Key | None]
    rows: int
    suppressed: int
    buckets: list[int] = field(repr=False)
    # For each exported column (HEADER's names), how many exported rows show it less
    # precisely than it was given: what the export page tells before the download.
    generalized: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, queryset: QuerySet, *, k: int) -> ExportPlan:
        """First pass: count the combinations in the database, one row per (day, …)."""
        counts: Counter[Key] = Counter()
        grouped = queryset.values_list(*COLUMNS)
        # Read in chunks: only the weekly counts are kept, not the database's daily rows.
        for day, *rest, n in grouped.annotate(n=Count("id")).order_by().iterator(2000):
            counts[(iso_week(day), *rest)] += n
        shown = generalize(counts, k)
        suppressed = sum(n for key, n in counts.items() if shown[key] is None)
        generalized: Counter[str] = Counter()
        for key, n in counts.items():
            target = shown[key]
            if target is not None and target != key:
                for name, given, exported in zip(HEADER[1:8], key, target, strict=True):
                    generalized[name] += n if given != exported else 0
        total = sum(counts.values())
        buckets = list(range(max(1, total // BUCKET_ROWS)))
        secrets.SystemRandom().shuffle(buckets)
        return cls(
            queryset,
            shown,
            rows=total - suppressed,
            suppressed=suppressed,
            buckets=buckets,
            generalized=dict(generalized),
        )

    def unopened(self, ring: Keyring | None = None) -> int:
        """How many of the campaign texts this export would write fail to open. Each is
        opened and dropped at once: memory stays flat."""
        ring = ring or keyring()
        quoted = self.queryset.filter(consent=Consent.QUOTE).values_list(
            "id", "sealed_campaign_text"
        )
        failed = 0
        for record_id, sealed in quoted.order_by().iterator(2000):
            try:
                ring.open_campaign(sealed, record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD)
            except SealError:
                failed += 1
        return failed

    def stream(self, *, bom: bool = True, ring: Keyring | None = None) -> Iterator[bytes]:
        """Second pass: the CSV as UTF-8 chunks of about 64 KiB.

        Every cell is defused and quoted as ``quoted_row`` does; the cells that repeat
        (week, categories, consent) are quoted once per value, so that the work per row is
        opening the text and quoting it. ``ring`` is the keys of whoever started the
        export: a streamed response is read after the request that holds them ends."""
        ring = ring or keyring()
        weeks: dict[date, str] = {}
        # A shown combination as its quoted cells, joined: they repeat from row to row.
        shown_cells: dict[Key, str] = {}
        parts = [(BOM if bom else "") + quoted_row(HEADER)]
        size = 0
        for bucket in self.buckets:
            rows = shuffled(list(self.bucket(bucket)))
            records = secrets.token_hex(8 * len(rows))
            for n, (record_id, day, *answers, sealed) in enumerate(rows):
                week = weeks.get(day) or weeks.setdefault(day, iso_week(day))
                shown = self.shown.get((week, *answers))
                if shown is None:
                    continue
                cells = shown_cells.get(shown)
                if cells is None:
                    visible = list(shown)
                    visible[2] = visible[2].replace(",", "; ")  # forms of violence
                    cells = shown_cells[shown] = ",".join(quoted_cell(cell) for cell in visible)
                text = '""'
                if answers[-1] == Consent.QUOTE:
                    text = quoted_cell(
                        ring.open_campaign(
                            sealed, record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD
                        )
                    )
                # A record id is 16 hex digits, so it never needs defusing or escaping.
                line = f'"{records[16 * n : 16 * n + 16]}",{cells},{text}\r\n'
                parts.append(line)
                size += len(line)
                if size >= CHUNK_BYTES:
                    yield "".join(parts).encode("utf-8")
                    parts, size = [], 0
            # Let this bucket go before the next is fetched, or two are held at once.
            del rows
        if parts:
            yield "".join(parts).encode("utf-8")

    def bucket(self, index: int) -> QuerySet:
        """One slice of the random UUID space: about BUCKET_ROWS rows, read at once."""
        count = len(self.buckets)
        within = {"id__gte": uuid.UUID(int=index * (1 << 128) // count)}
        if index + 1 < count:
            within["id__lt"] = uuid.UUID(int=(index + 1) * (1 << 128) // count)
        rows = self.queryset.filter(**within)
        if connections[self.queryset.db].vendor == "sqlite":
            # Without statistics (only ANALYZE makes them) SQLite prefers the (status,
            # consent) index, so every bucket would walk all approved rows. With the slice
            # as the only outer condition and the plan's rows checked one by one on the
            # primary key, it reads just the slice. PostgreSQL, whose autovacuum keeps
            # statistics, reads the slice by primary key as it is, and would make this
            # form a costlier join.
            model = self.queryset.model
            exportable = self.queryset.filter(pk=OuterRef("pk"))
            rows = model._default_manager.using(self.queryset.db).filter(**within)
            rows = rows.filter(Exists(exportable))
        return rows.values_list("id", *COLUMNS, "sealed_campaign_text").order_by()


def shuffled(rows: list) -> list:
    """The rows in a uniformly random order, from one call to the system's random source
    (``SystemRandom.shuffle`` would make one call per row)."""
    keys = memoryview(secrets.token_bytes(8 * len(rows))).cast("Q")
    return [row for _, row in sorted(zip(keys, rows, strict=True), key=itemgetter(0))]


class CannotExport(Exception):
    """Some campaign texts the export would write cannot be opened: it is refused whole."""

    def __init__(self, unopened: int) -> None:
        self.unopened = unopened
        super().__init__(f"{unopened} campaign texts cannot be opened")


@contextmanager
def snapshot() -> Iterator[str]:
    """The database alias to read one export from, holding one unchanging view of the
    data for as long as the export takes, so that a withdrawal between the plan and the
    stream cannot leave a group smaller than k.

    On PostgreSQL the export reads through its own connection ("snapshot", the same
    database) in a REPEATABLE READ, READ ONLY transaction, while its audit event is
    committed at once through the usual one: a download cut off or a worker killed
    mid-way keeps its record. Where there is no such connection (SQLite), or the caller
    already holds a transaction (a test, a command's own), it reads where it is."""
    if SNAPSHOT not in settings.DATABASES or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        yield DEFAULT_DB_ALIAS
        return
    with transaction.atomic(using=SNAPSHOT), connections[SNAPSHOT].cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield SNAPSHOT


def start(*, k: int, bom: bool, actor: str) -> tuple[ExportPlan, Iterator[bytes]]:
    """Plan the export of everything exportable, check that every campaign text it will
    write opens, and put it on record (who, options, row count) before the first byte
    leaves; return the plan and the chunks of the file, read from the plan's snapshot.

    Refuses a server that cannot open campaign texts (NoPrivateKeyError), and an export
    in which any campaign text fails to open (CannotExport, on record as refused): a
    file that would break off part-way is never begun."""
    ring = keyring()
    if not ring.can_open_campaign:
        raise NoPrivateKeyError(
            "no campaign-text key is held here: campaign texts cannot be opened"
        )
    held = ExitStack()
    alias = held.enter_context(snapshot())
    try:
        plan = ExportPlan.build(Testimony.objects.using(alias).exportable(), k=k)
        unopened = plan.unopened(ring)
    except BaseException:
        held.close()
        raise
    if unopened:
        held.close()
        AuditEvent.record(
            AuditEvent.Action.EXPORT_FAILED, actor=actor, unopened=unopened, rows=plan.rows, k=k
        )
        raise CannotExport(unopened)
    AuditEvent.record(
        AuditEvent.Action.EXPORTED,
        actor=actor,
        rows=plan.rows,
        suppressed=plan.suppressed,
        k=k,
        bom=bom,
    )

    def chunks() -> Iterator[bytes]:
        with held:
            yield from plan.stream(bom=bom, ring=ring)

    return plan, chunks()

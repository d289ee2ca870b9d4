"""The anonymized CSV that campaign staff take away.

Threat: the file leaves the moderation system and is shared, opened in spreadsheets
and perhaps leaked. So it holds only approved testimonies whose consent allows use;
only the moderator's campaign text, and only where she agreed to be quoted; a record
identifier made fresh for each export; and the ISO week, never the day. An abuser
knows exactly the facts the other columns hold (when, in which language, what he did,
her age, where, who told it), so every combination of all of them, consent included,
is made to be shared by at least k rows (k-anonymity): generalized step by step
(``LEVELS``), and left out where even the last step is not enough. Rows come in a
random order that differs between exports, so two files cannot be joined by position.
Every cell that a spreadsheet could run as a formula is defused with a leading
apostrophe.

Two passes, both in one snapshot of the database: the first counts combinations there
(one row per day and combination, in time order) and decides, week by week, what each
is shown as (``Generalization``); the second reads the exported rows in the database's
own order, opens each campaign text once and writes its line into a spool
(``submissions/spool.py``): sealed on disk, given back in a random order. Only when
every text has opened is the export put on record and its first byte sent. Memory
stays flat: neither pass holds more than a week's combinations and a bucket of lines.

This module knows nothing about HTTP.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Count, QuerySet

from submissions.choices import Consent
from submissions.crypto import Keyring, NoPrivateKeyError, SealError
from submissions.keys import keyring
from submissions.models import CAMPAIGN_TEXT_FIELD, EXPORTED_ANSWERS, AuditEvent, Testimony
from submissions.spool import ShuffledSpool

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
# Rows with their campaign texts fetched at once in the export's second pass.
FETCH_ROWS = 500
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


def shown_at(level: tuple[Callable[[str], str], ...]) -> Callable[[Key], Key]:
    """What ``level`` shows for a combination, as one function: the columns it shows as
    they are are copied, and each value of the others is generalized once. Combinations are
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


# Each level as the step from the level before it: a column's function where the level
# changes it, ``same`` where it does not. Every column's functions form a chain (a region
# becomes its country and stays it, a week becomes its month and then withheld), so what
# a level shows is a function of what the level before showed. That is what lets
# ``Generalization`` carry groups, not single combinations, from one level to the next.
STEPS: tuple[tuple[Callable[[str], str], ...], ...] = tuple(
    tuple(
        show if show is not before else same for show, before in zip(level, previous, strict=True)
    )
    for previous, level in zip((LEVELS[0], *LEVELS[:-1]), LEVELS, strict=True)
)
# The levels that still show the week, and those that show its month: a week's (or a
# month's) groups never meet another's below the first level that hides it.
WEEKLY = range(sum(1 for level in LEVELS if level[0] is same))
MONTHLY = range(WEEKLY.stop, sum(1 for level in LEVELS if level[0] in (same, week_month)))


class Generalization:
    """Which level each combination is shown at (``shown``), so that every shown
    combination is shared by at least k rows; the rest are left out.

    A combination takes the first level at which what it shows is shared by at least k
    rows. Rows with the same combination are always treated alike, so whole
    combinations move up together. No level shows a combination as an earlier level
    showed another (each step shows a column in a form no earlier level shows), so a
    group never joins one shown before it; tests/test_k_anonymity.py checks the result
    against the rule that would count such a group.

    Combinations are given week by week (``add``, in time order). Each week is settled
    up to the levels that show the week as soon as the next begins, each month up to
    the levels that show the month; what is left meets at the last level. Memory holds
    one week's combinations, one month's groups, and what was shown at each level: at
    most one entry for every k rows, however many combinations there are."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.steps = [shown_at(step) for step in STEPS]
        # What each level shows for at least k rows.
        self.reached: list[set[Key]] = [set() for _ in LEVELS]
        self.values: dict[str, str] = {}
        self.rows = 0
        self.suppressed = 0
        # Per column (HEADER[1:8]), how many shown rows show it less precisely than given.
        self.generalized = [0] * len(LEVELS[0])
        self.week: str | None = None
        self.month: str | None = None
        self.done: set[str] = set()
        # A group: [rows, rows whose region is a part of a country, rows with several
        # forms of violence]; the latter two say how many rows a level changes.
        self.weekly: dict[Key, list[int]] = {}
        self.monthly: dict[Key, list[int]] = {}
        self.last: dict[Key, list[int]] = {}

    def add(self, key: Key, rows: int) -> None:
        """``rows`` rows of the combination ``key``; keys come week by week in time
        order (a week, once left, does not come back)."""
        if key[0] != self.week:
            self._begin_week(key[0])
        group = self.weekly.get(key)
        regional = rows if "-" in key[4] else 0
        several = rows if "," in key[2] else 0
        if group is None:
            self.weekly[key] = [rows, regional, several]
        else:
            group[0] += rows
            group[1] += regional
            group[2] += several
        self.rows += rows

    def _begin_week(self, week: str) -> None:
        self._end_week()
        if week in self.done:
            raise ValueError("combinations must come week by week, in time order")
        self.week = week
        month = week_month(week)
        if month != self.month:
            self._end_month()
            self.month = month

    def finish(self) -> Generalization:
        """Settle what is left: after the last ``add``."""
        self._end_week()
        self._end_month()
        for level in range(MONTHLY.stop, len(LEVELS)):
            self.last = self._settle(self.last, level)
        self.suppressed = sum(group[0] for group in self.last.values())
        self.last = {}
        return self

    def _end_week(self) -> None:
        if self.week is None:
            return
        groups = self.weekly
        for level in WEEKLY:
            groups = self._settle(groups, level)
        self.monthly.update(groups)
        self.weekly = {}
        self.done.add(self.week)
        self.week = None

    def _end_month(self) -> None:
        groups = self.monthly
        for level in MONTHLY:
            groups = self._settle(groups, level)
        self.last.update(groups)
        self.monthly = {}

    def _settle(self, groups: dict[Key, list[int]], level: int) -> dict[Key, list[int]]:
        """Show at ``level`` every group that reaches k there; the others, merged by what
        this level shows for them, wait for the next."""
        step = self.steps[level]
        merged: dict[Key, list[int]] = {}
        for key, group in groups.items():
            target = step(key)
            into = merged.get(target)
            if into is None:
                merged[target] = group
            else:
                into[0] += group[0]
                into[1] += group[1]
                into[2] += group[2]
        waiting: dict[Key, list[int]] = {}
        for target, group in merged.items():
            if group[0] >= self.k:
                # Kept until the export ends: its values are shared with every other
                # kept target, not the database's copies (which made up most of the
                # plan's memory at 1,000,000 rows).
                target = cast(Key, tuple(self.values.setdefault(value, value) for value in target))
                self.reached[level].add(target)
                self._count_generalized(level, group)
            else:
                waiting[target] = group
        return waiting

    def _count_generalized(self, level: int, group: list[int]) -> None:
        for column, show in enumerate(LEVELS[level]):
            if show is same:
                continue
            if show is country:
                self.generalized[column] += group[1]
            elif show is several:
                self.generalized[column] += group[2]
            else:  # a month for a week, or withheld: never what was given
                self.generalized[column] += group[0]

    def shown(self, key: Key) -> Key | None:
        """What the export shows for ``key`` (None: left out)."""
        if key in self.reached[0]:  # the first level shows every column as it is
            return key
        target = key
        for level in range(1, len(LEVELS)):
            target = self.steps[level](target)
            if target in self.reached[level]:
                return target
        return None


def fetched(queryset: QuerySet, chunk: int = 2000) -> Iterator[tuple]:
    """The rows of a ``values_list`` queryset as the database driver gives them, without
    Django's conversion of each value, ``chunk`` at a time through a server-side cursor
    where the database has them, so that memory stays flat.

    PostgreSQL sends them in its binary format: sealed texts come as bytes, not as hex
    to decode (reading the exportable rows at 1,000,000 testimonies took 4.3 s instead
    of 6.1 s, bench/scale.py). SQLite gives a day as text and an id as hex (``as_date``,
    ``as_uuid``)."""
    sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    database = connections[queryset.db]
    if database.vendor != "postgresql":
        with database.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(chunk):
                yield from rows
        return
    database.ensure_connection()
    connection = database.connection
    name = f"untold_export_{secrets.token_hex(4)}"
    # Outside a transaction a cursor must be held past the commit that ends its query.
    # Errors come as Django's, as through any of its cursors.
    with (
        database.wrap_database_errors,
        connection.cursor(name, binary=True, withhold=connection.autocommit) as cursor,
    ):
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk):
            yield from rows


class Memo(dict[Any, str]):
    """``function``'s result for each argument, worked out the first time it is asked
    for: the export's repeated values (days, shown answers) cost one dict lookup a row."""

    def __init__(self, function: Callable[[Any], str]) -> None:
        super().__init__()
        self.function = function

    def __missing__(self, argument: Any) -> str:
        result = self[argument] = self.function(argument)
        return result


def week_of(day: date | str) -> str:
    return iso_week(as_date(day))


def as_date(day: date | str) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


def as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


@dataclass
class ExportPlan:
    """What an export will contain, decided before the first byte is sent."""

    queryset: QuerySet
    generalization: Generalization = field(repr=False)
    rows: int
    suppressed: int
    # For each exported column (HEADER's names), how many exported rows show it less
    # precisely than it was given: what the export page tells before the download.
    generalized: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, queryset: QuerySet, *, k: int) -> ExportPlan:
        """First pass: count the combinations in the database, one row per (day, …), in
        time order."""
        generalization = Generalization(k)
        # Counting rows, not ids, lets PostgreSQL answer from the exportable index alone,
        # in its order (0.4 s instead of 1.9 s at 1,000,000 testimonies).
        grouped = queryset.values_list(*COLUMNS).annotate(n=Count("*")).order_by(COLUMNS[0])
        weeks = Memo(week_of)
        add = generalization.add
        for day, language, forms, age, region, teller, consent, n in fetched(grouped):
            add((weeks[day], language, forms, age, region, teller, consent), n)
        generalization.finish()
        return cls(
            queryset,
            generalization,
            rows=generalization.rows - generalization.suppressed,
            suppressed=generalization.suppressed,
            generalized={
                name: n
                for name, n in zip(HEADER[1:8], generalization.generalized, strict=True)
                if n
            },
        )

    def spool(self, ring: Keyring | None = None) -> tuple[ShuffledSpool, int]:
        """Second pass, in the database's own order: every exported row as its CSV line
        (without the record id, given when the file is written), into a spool that gives
        them back in a random order; and how many campaign texts failed to open. Each
        campaign text is opened once, here."""
        ring = ring or keyring()
        weeks = Memo(week_of)
        # Each shown value as its quoted cell: a few hundred values, repeated in every
        # row (forms of violence apart: they are shown joined with "; ").
        cell = Memo(quoted_cell)
        forms_cell = Memo(lambda forms: quoted_cell(forms.replace(",", "; ")))
        shown = self.generalization.shown
        spool = ShuffledSpool(max(1, self.rows // BUCKET_ROWS))
        add = spool.add
        unopened = 0
        rows = self.queryset.values_list("id", *COLUMNS, "sealed_campaign_text").order_by()
        try:
            # A few hundred rows at a time: each carries its campaign text.
            for row in fetched(rows, chunk=FETCH_ROWS):
                record_id, day, language, forms, age, region, teller, consent, sealed = row
                key = shown((weeks[day], language, forms, age, region, teller, consent))
                if key is None:
                    continue
                # Forms of violence are the third column.
                cells = ",".join(
                    [
                        cell[key[0]],
                        cell[key[1]],
                        forms_cell[key[2]],
                        *map(cell.__getitem__, key[3:]),
                    ]
                )
                if consent != Consent.QUOTE:
                    add(f'{cells},""\r\n'.encode())
                    continue
                try:
                    text = ring.open_campaign(
                        sealed, record_id=as_uuid(record_id), field_name=CAMPAIGN_TEXT_FIELD
                    )
                except SealError:
                    unopened += 1
                    continue
                add(f"{cells},{quoted_cell(text)}\r\n".encode())
        except BaseException:
            spool.close()
            raise
        return spool, unopened

    @staticmethod
    def written(spool: ShuffledSpool, *, bom: bool = True) -> Iterator[bytes]:
        """The CSV from a spool, as UTF-8 chunks of about 64 KiB: the header, then the
        rows in a random order, each with a record id made for this file. Every cell is
        defused and quoted as ``quoted_row`` does. Closes the spool."""
        with spool:
            parts = [((BOM if bom else "") + quoted_row(HEADER)).encode()]
            size = 0
            for lines in spool.buckets():
                # A record id is 16 hex digits: it never needs defusing or escaping.
                records = secrets.token_hex(8 * len(lines)).encode()
                for n, line in enumerate(lines):
                    parts.append(b'"' + records[16 * n : 16 * n + 16] + b'",' + line)
                    size += len(line) + 19
                    if size >= CHUNK_BYTES:
                        yield b"".join(parts)
                        parts, size = [], 0
            if parts:
                yield b"".join(parts)


class CannotExport(Exception):
    """Some campaign texts the export would write cannot be opened: it is refused whole."""

    def __init__(self, unopened: int) -> None:
        self.unopened = unopened
        super().__init__(f"{unopened} campaign texts cannot be opened")


@contextmanager
def snapshot() -> Iterator[str]:
    """The database alias to read one export from, holding one unchanging view of the
    data while the export reads (the plan, then the spool), so that a withdrawal
    between the two cannot leave a group smaller than k.

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
    leaves; return the plan and the chunks of the file, from a spool written in the
    plan's snapshot (which ends before the first chunk).

    Refuses a server that cannot open campaign texts (NoPrivateKeyError), and an export
    in which any campaign text fails to open (CannotExport, on record as refused): a
    file that would break off part-way is never begun."""
    ring = keyring()
    if not ring.can_open_campaign:
        raise NoPrivateKeyError(
            "no campaign-text key is held here: campaign texts cannot be opened"
        )
    with snapshot() as alias:
        plan = ExportPlan.build(Testimony.objects.using(alias).exportable(), k=k)
        spool, unopened = plan.spool(ring)
    if unopened:
        spool.close()
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
    return plan, plan.written(spool, bom=bom)

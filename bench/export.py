"""Export benchmark (issue 5): 100,000 approved testimonies of about 2 KB each, on SQLite
and on PostgreSQL, against each database's own CSV dump of the same rows in the same run.

Prints, per database: export seconds and rows per second, peak memory over an idle
process at 10,000 and at 100,000 rows, and the ratio to the database's own dump
(PostgreSQL ``COPY (SELECT ...) TO STDOUT WITH CSV``; SQLite the ``sqlite3`` shell's
``.mode csv``, or Python's sqlite3 and csv modules if the shell is not installed).
Targets: PostgreSQL export within 4x of COPY; peak memory at 100,000 rows within 32 MB
of an idle process. Exits non-zero if a target is missed.

Every testimony is sealed through the real Keyring (original and campaign text) and
stored with bulk_create in batches of 5,000; the PostgreSQL database gets the same
sealed rows, copied from the SQLite file. Each export runs in a fresh process
(``manage.py export_testimonies`` to /dev/null) whose RSS high-water mark is compared
with that of an idle process that loaded the same code and opened the same database.
Times are the best of three runs, for the export and the dump alike.

Databases: a SQLite file under /tmp and the PostgreSQL database ``untold_bench`` on
127.0.0.1:5432 (user postgres), both made afresh and removed at the end. Run it with
``make bench``, which provides the development keys.
"""

# Every subprocess here is this script, manage.py or the sqlite3 shell, with arguments
# built here: nothing comes from outside.
# ruff: noqa: S603

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = int(os.environ.get("UNTOLD_BENCH_ROWS", "100000"))
SMALL = ROWS // 10
BATCH = 5000
TEXT_BYTES = 2000
OPENED = date(2023, 11, 23)  # received over three weeks from here
RUNS = 3
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PG_DATABASE = "untold_bench"
COPY_TARGET = 4.0
MEMORY_TARGET_MB = 32
COLUMNS = (
    "id, received_on, language, forms_of_violence, age_group, region, teller, consent, "
    "sealed_campaign_text"
)
# The same rows as Testimony.objects.exportable(), the same columns as the export reads.
EXPORTABLE = (
    f"SELECT {COLUMNS} FROM submissions_testimony WHERE status = 'approved' "  # noqa: S608
    "AND consent IN ('quote', 'statistics') AND sealed_campaign_text IS NOT NULL"
)


# --- in a child process, with DATABASE_URL set ------------------------------------------


def django_child() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "untold.settings")
    import django

    django.setup()
    from django.conf import settings

    # Production runs without DEBUG; with it, Django would keep every query's SQL.
    settings.DEBUG = False


def seed(start: int, stop: int) -> None:
    """Seal and store testimonies number start..stop, all approved and quotable."""
    from django.db import transaction

    from submissions.choices import AgeGroup, Language, Region, Teller, ViolenceForm
    from submissions.management.commands.seed_demo import PHRASES
    from submissions.models import Testimony

    rng = random.Random(start)  # noqa: S311  (invented content, repeatable)
    began = time.monotonic()
    for low in range(start, stop, BATCH):
        batch = []
        for _ in range(low, min(low + BATCH, stop)):
            language = rng.choice(Language.values)
            record = Testimony(
                language=language,
                received_on=OPENED + timedelta(days=rng.randrange(21)),
                age_group=rng.choice([*AgeGroup.values, ""]),
                region=rng.choice([*Region.values, ""]),
                teller=rng.choice([*Teller.values, ""]),
                consent="quote",
                status="approved",
            )
            record.violence_forms = rng.sample(ViolenceForm.values, rng.randint(0, 3))
            text = ""
            while len(text.encode()) < TEXT_BYTES:
                text += rng.choice(PHRASES[language]) + " "
            record.seal_text(text)
            record.seal_campaign_text(text)
            batch.append(record)
        with transaction.atomic():
            Testimony.objects.bulk_create(batch)
        done = min(low + BATCH, stop)
        print(f"  sealed and stored {done:>7,} rows ({time.monotonic() - began:.0f} s)", flush=True)


def copy_from_sqlite(path: str, start: int, stop: int) -> None:
    """Store the SQLite file's rows start..stop (by rowid, 1 to N in a fresh table) here,
    as they are."""
    from django.db import transaction

    from submissions.models import Testimony

    fields = [field.column for field in Testimony._meta.concrete_fields]
    source = sqlite3.connect(path)
    began = time.monotonic()
    for low in range(start, stop, BATCH):
        rows = source.execute(
            f"SELECT {', '.join(fields)} FROM submissions_testimony "  # noqa: S608
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
            (low, min(low + BATCH, stop)),
        ).fetchall()
        batch = [Testimony(**dict(zip(fields, row, strict=True))) for row in rows]
        with transaction.atomic():
            Testimony.objects.bulk_create(batch)
        done = low + len(rows)
        print(f"  copied {done:>7,} rows ({time.monotonic() - began:.0f} s)", flush=True)


def idle() -> dict:
    """What a process holds before exporting: code loaded, keys loaded, database open."""
    from django.db import connection

    import submissions.export  # noqa: F401
    from submissions.keys import keyring
    from submissions.models import Testimony

    keyring()
    Testimony.objects.exportable().exists()
    connection.ensure_connection()
    return {"max_rss_kb": max_rss_kb()}


def export() -> dict:
    import io

    from django.core.management import call_command

    idle()
    began = time.perf_counter()
    call_command("export_testimonies", output=os.devnull, stderr=io.StringIO())
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "max_rss_kb": max_rss_kb()}


def max_rss_kb() -> int:
    from bench.memory import high_water_kib

    return high_water_kib()


# --- the orchestrating process ---------------------------------------------------------


@dataclass
class Measure:
    rows: int
    export_seconds: float
    dump_seconds: float
    peak_mb: float

    @property
    def ratio(self) -> float:
        return self.export_seconds / self.dump_seconds


def child(mode: str, url: str, *args: object, capture: bool = True) -> dict:
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, __file__, mode, *map(str, args)]
    if not capture:
        subprocess.run(command, env=env, check=True)
        return {}
    result = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def migrate(url: str) -> None:
    command = [sys.executable, str(ROOT / "manage.py"), "migrate", "--no-input", "-v0"]
    subprocess.run(command, env={**os.environ, "DATABASE_URL": url}, check=True)


def measure(url: str, rows: int, dump: Callable[[], float]) -> Measure:
    print(f"  measuring the export and the dump at {rows:,} rows", flush=True)
    idle_kb = min(child("idle", url)["max_rss_kb"] for _ in range(RUNS))
    runs = [child("export", url) for _ in range(RUNS)]
    dump_seconds = min(dump() for _ in range(RUNS))
    peak_kb = max(run["max_rss_kb"] for run in runs) - idle_kb
    return Measure(rows, min(run["seconds"] for run in runs), dump_seconds, peak_kb / 1024)


def sqlite_dump(path: Path) -> tuple[str, Callable[[], float]]:
    shell = shutil.which("sqlite3")
    if shell:

        def dump() -> float:
            began = time.perf_counter()
            with open(os.devnull, "wb") as sink:
                subprocess.run([shell, "-csv", str(path), EXPORTABLE], stdout=sink, check=True)
            return time.perf_counter() - began

        return "sqlite3 shell, .mode csv", dump

    def dump() -> float:
        began = time.perf_counter()
        with sqlite3.connect(path) as database, open(os.devnull, "w") as sink:
            csv.writer(sink).writerows(database.execute(EXPORTABLE))
        return time.perf_counter() - began

    return "Python sqlite3 + csv (the sqlite3 shell is not installed)", dump


def postgres_dump(url: str) -> tuple[str, Callable[[], float]]:
    import psycopg

    def dump() -> float:
        with psycopg.connect(url) as connection, connection.cursor() as cursor:
            began = time.perf_counter()
            size = 0
            with cursor.copy(f"COPY ({EXPORTABLE}) TO STDOUT WITH CSV") as copy:
                for data in copy:
                    size += len(data)
            return time.perf_counter() - began

    return "COPY (SELECT ...) TO STDOUT WITH CSV", dump


def postgres_admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql)


def bench_sqlite(folder: Path) -> tuple[str, list[Measure], Path]:
    path = folder / "bench.sqlite3"
    url = f"sqlite:///{path}"
    print(f"SQLite ({path}): migrating and seeding {ROWS:,} rows", flush=True)
    migrate(url)
    how, dump = sqlite_dump(path)
    child("seed", url, 0, SMALL, capture=False)
    measures = [measure(url, SMALL, dump)]
    child("seed", url, SMALL, ROWS, capture=False)
    measures.append(measure(url, ROWS, dump))
    return how, measures, path


def bench_postgres(sqlite_file: Path) -> tuple[str, list[Measure]]:
    url = f"{PG_SERVER}/{PG_DATABASE}"
    server = f"{PG_SERVER}/postgres"
    drop = f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"
    print(f"PostgreSQL ({PG_DATABASE}): migrating and copying the same {ROWS:,} rows", flush=True)
    postgres_admin(server, drop)
    postgres_admin(server, f"CREATE DATABASE {PG_DATABASE}")
    try:
        migrate(url)
        how, dump = postgres_dump(url)
        child("copy", url, sqlite_file, 0, SMALL, capture=False)
        # As autovacuum would soon after a bulk load; the planner needs the statistics.
        postgres_admin(url, "VACUUM ANALYZE")
        measures = [measure(url, SMALL, dump)]
        child("copy", url, sqlite_file, SMALL, ROWS, capture=False)
        postgres_admin(url, "VACUUM ANALYZE")
        measures.append(measure(url, ROWS, dump))
    finally:
        postgres_admin(server, drop)
    return how, measures


def report(results: dict[str, tuple[str, list[Measure]]]) -> bool:
    print()
    print(
        f"{'database':<12}{'rows':>9}{'export s':>10}{'rows/s':>9}"
        f"{'dump s':>9}{'ratio':>7}{'peak MB over idle':>19}"
    )
    for name, (_, measures) in results.items():
        for m in measures:
            print(
                f"{name:<12}{m.rows:>9,}{m.export_seconds:>10.2f}{m.rows / m.export_seconds:>9,.0f}"
                f"{m.dump_seconds:>9.2f}{m.ratio:>6.1f}x{m.peak_mb:>19.1f}"
            )
    for name, (how, _) in results.items():
        print(f"own dump on {name}: {how}")
    print("export: manage.py export_testimonies to /dev/null; times are the best of 3 runs")
    print()
    ok = True
    pg = results["PostgreSQL"][1][-1]
    verdict = pg.ratio <= COPY_TARGET
    ok &= verdict
    print(
        f"{'PASS' if verdict else 'MISS'}  PostgreSQL export within {COPY_TARGET:.0f}x of COPY "
        f"at {pg.rows:,} rows: {pg.ratio:.1f}x"
    )
    for name, (_, measures) in results.items():
        peak = measures[-1]
        verdict = peak.peak_mb <= MEMORY_TARGET_MB
        ok &= verdict
        print(
            f"{'PASS' if verdict else 'MISS'}  {name} peak memory at {peak.rows:,} rows within "
            f"{MEMORY_TARGET_MB} MB of an idle process: {peak.peak_mb:.1f} MB "
            f"(at {measures[0].rows:,} rows: {measures[0].peak_mb:.1f} MB)"
        )
    return ok


def main() -> int:
    import psycopg

    began = time.monotonic()
    try:
        postgres_admin(f"{PG_SERVER}/postgres", "SELECT 1")
    except psycopg.OperationalError as error:
        print(f"PostgreSQL is needed at {PG_SERVER} (user postgres): {error}", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="untold-bench-"))
    try:
        how, measures, sqlite_file = bench_sqlite(folder)
        results = {"SQLite": (how, measures), "PostgreSQL": bench_postgres(sqlite_file)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ok = report(results)
    print(f"(benchmark took {time.monotonic() - began:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 1:
        sys.exit(main())
    mode, args = sys.argv[1], sys.argv[2:]
    django_child()
    if mode == "seed":
        seed(int(args[0]), int(args[1]))
    elif mode == "copy":
        copy_from_sqlite(args[0], int(args[1]), int(args[2]))
    else:
        print(json.dumps({"idle": idle, "export": export}[mode]()))

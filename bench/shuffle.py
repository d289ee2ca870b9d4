"""Shuffle benchmark (issue 11): how long a writer waits while ``shuffle_testimonies``
runs on PostgreSQL, at 100,000 rows of a realistic size.

A writer inserts one testimony after another, each in its own transaction as the
public form does, for as long as the shuffle runs; every insert is timed. Prints the
shuffle's total time and the writer's worst and median wait. Target: worst wait at
most 1 s. Exits non-zero if it is missed.

The rows hold random bytes of the sealed values' sizes: the shuffle moves values and
never opens them. Database: ``untold_bench_shuffle`` on 127.0.0.1:5432 (user
postgres), made afresh and dropped at the end. Run it with ``make bench``.
"""

# Every subprocess here is manage.py, with arguments built here.
# ruff: noqa: S603

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ROWS = int(os.environ.get("UNTOLD_BENCH_SHUFFLE_ROWS", "100000"))
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE = "untold_bench_shuffle"
WAIT_TARGET = 1.0
# A sealed original of one bucket, and a campaign text on a fifth of the rows.
SEALED_TEXT_BYTES = 1024 + 135
SEALED_CAMPAIGN_BYTES = 1024 + 39
INSERT = (
    "INSERT INTO submissions_testimony (id, received_on, language, sealed_text, "
    "forms_of_violence, age_group, region, teller, consent, status, sealed_campaign_text, "
    "receipt_digest) VALUES (%s, current_date, 'ru', %s, 'physical', '25_34', 'KZ-71', "
    "'survivor', 'quote', 'new', NULL, %s)"
)


def manage(url: str, *args: str) -> float:
    """Run manage.py against ``url``; return how long it took."""
    env = {**os.environ, "DATABASE_URL": url}
    began = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, check=True)
    return time.perf_counter() - began


def seed(url: str, rows: int) -> None:
    """``rows`` testimonies through COPY, with varied answers and statuses."""
    statuses = ("new", "new", "approved", "rejected", "approved")
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        columns = (
            "id, received_on, language, sealed_text, forms_of_violence, age_group, region, "
            "teller, consent, status, sealed_campaign_text, receipt_digest"
        )
        with cursor.copy(f"COPY submissions_testimony ({columns}) FROM STDIN") as copy:
            for n in range(rows):
                status = statuses[n % len(statuses)]
                copy.write_row(
                    (
                        uuid.uuid4(),
                        f"2026-11-{1 + n % 28:02d}",
                        ("kk", "ru", "en")[n % 3],
                        os.urandom(SEALED_TEXT_BYTES),
                        ("physical", "sexual,psychological", "")[n % 3],
                        ("18_24", "25_34", "")[n % 3],
                        ("KZ-71", "KZ-75", "KG", "")[n % 4],
                        ("survivor", "witness", "")[n % 3],
                        ("quote", "statistics")[n % 2],
                        status,
                        os.urandom(SEALED_CAMPAIGN_BYTES) if status == "approved" else None,
                        os.urandom(32).hex(),
                    )
                )


class Writer(threading.Thread):
    """Inserts testimonies one by one until told to stop, timing each."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.waits: list[float] = []
        self.failures: list[str] = []
        self.done = threading.Event()

    def row(self) -> tuple[uuid.UUID, bytes, str]:
        """The next testimony's id, sealed text and receipt digest."""
        return uuid.uuid4(), os.urandom(SEALED_TEXT_BYTES), os.urandom(32).hex()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            while not self.done.is_set():
                row = self.row()
                began = time.perf_counter()
                try:
                    connection.execute(INSERT, row)
                except psycopg.Error as error:
                    self.failures.append(type(error).__name__)
                self.waits.append(time.perf_counter() - began)
                time.sleep(0.005)  # a busy campaign, not a flood


def measure(url: str) -> dict[str, float | int]:
    """The shuffle's total time and the worst and median insert beside it."""
    writer = Writer(url)
    writer.start()
    time.sleep(0.5)  # the writer's own pace, before the shuffle starts
    seconds = manage(url, "shuffle_testimonies")
    writer.done.set()
    writer.join(timeout=30)
    return {
        "seconds": seconds,
        "worst": max(writer.waits),
        "median": statistics.median(writer.waits),
        "inserts": len(writer.waits),
        "failures": len(writer.failures),
    }


def main() -> int:
    url = f"{PG_SERVER}/{DATABASE}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    try:
        manage(url, "migrate", "--no-input", "-v0")
        print(f"shuffle: seeding {ROWS:,} testimonies", flush=True)
        seed(url, ROWS)
        result = measure(url)
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    ok = result["worst"] <= WAIT_TARGET and not result["failures"]
    print(f"| shuffle at {ROWS:,} rows | figure | target |")
    print("| --- | --- | --- |")
    print(f"| total time | {result['seconds']:.1f} s | (printed) |")
    print(
        f"| a writer's worst wait | {result['worst'] * 1000:.0f} ms | "
        f"≤ {WAIT_TARGET * 1000:.0f} ms: {'PASS' if ok else 'MISS'} |"
    )
    print(f"| a writer's median wait | {result['median'] * 1000:.1f} ms | |")
    print(
        f"| inserts during the run, failed | {result['inserts']}, {result['failures']} | 0 failed |"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Scale benchmark (issue 14): every part of Untold at 100,000 and at 1,000,000
testimonies on PostgreSQL, each figure beside its target, in one table.

For each size a database is made, migrated and seeded: testimonies sealed through the
real Keyring (HPKE for the original, AES-GCM for a campaign text), each once, in two
processes, and stored with COPY (binary); answers weighted as a region-wide campaign
would get them (``LANGUAGES``, ``REGIONS``...), statuses (10 % new, from the last 30
days; 55 % approved; 35 % rejected), consent (70 % quotable), sizes (most stories
fit the first 1 KiB bucket, some take 2 to 8) and, for the approved quotable ones, a
campaign text as long as the original (moderators mostly take details out); received
over the past 365 days; with the audit trail such a campaign leaves (a reading and a
decision for every decided story). Then VACUUM ANALYZE, as autovacuum would soon after.

Measured, in this order:

- the panel's pages (server time in this process through Django's test client,
  median of 20 after 2 warm-ups; the queries of one request, each EXPLAINed: a Seq
  Scan on the testimonies or the audit trail is a miss), and both statistics pages;
  the first statistics page after the seed, which counts every past day once, is
  printed apart;
- the export (``export_testimonies`` in a fresh process; best of 3) against
  PostgreSQL's own ``COPY (SELECT the same columns of the same rows) TO STDOUT WITH
  CSV`` (best of 3), and its peak memory over an idle process;
- submissions: the real path's cost over the bare one (bench/submit.py, same rounds),
  on an empty table and on the seeded one;
- ``shuffle_testimonies`` and ``purge_testimonies`` while a writer inserts one
  testimony at a time on another connection (its worst wait);
- ``rotate_keys`` to a new key, killed with SIGKILL part-way and run again to the end:
  values moved a second over both runs, and nothing left on the old key;
- disk: the testimony table with its indexes (pg_total_relation_size) per testimony.

Exits non-zero if any target is missed. Sizes: ``UNTOLD_BENCH_SCALE_ROWS`` (default
``100000,1000000``). Databases are named from ``UNTOLD_BENCH_DATABASE`` (default
``untold_bench``) and dropped at the end; Redis is ``UNTOLD_BENCH_REDIS_URL`` (default
db 11), flushed. Run it with ``make bench-scale`` (7 to 40 minutes on 2 cores, by the machine).
"""

# Every subprocess here is manage.py or this script, with arguments built here.
# ruff: noqa: S603

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import submit  # noqa: E402
from bench.memory import high_water_kib  # noqa: E402
from bench.shuffle import Writer  # noqa: E402

SIZES = [int(n) for n in os.environ.get("UNTOLD_BENCH_SCALE_ROWS", "100000,1000000").split(",")]
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE = os.environ.get("UNTOLD_BENCH_DATABASE", "untold_bench") + "_scale"
DAYS = 365
CHUNK = 5000
RUNS = 3
PAGE_RUNS = 20
# Targets (issue 14).
PAGE_MS = 150
PAGE_GROWTH = 2.0
STATISTICS_MS = 300
COPY_TARGET = 4.0
MEMORY_MB = 32
WAIT_S = 1.0
ROTATION_RATE = 2000
TABLES = ("submissions_testimony", "submissions_auditevent")
EXPORT_COLUMNS = (
    "id, received_on, language, forms_of_violence, age_group, region, teller, consent, "
    "sealed_campaign_text"
)
EXPORTABLE = (
    f"SELECT {EXPORT_COLUMNS} FROM submissions_testimony WHERE status = 'approved' "  # noqa: S608
    "AND consent IN ('quote', 'statistics') "
    "AND (consent = 'statistics' OR sealed_campaign_text IS NOT NULL)"
)
WORDS = (
    "Ол менің жалақымды алып, тек нанға ақша беретін. Он запирал меня дома и забирал "
    "телефон. It started after the wedding, slowly, with rules about where I could go. "
)


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "untold.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # as in production; Django would keep every query otherwise


def keys_env() -> dict[str, str]:
    """The development keys (``make bench`` loads them): what the seed seals to."""
    return {name: os.environ[name] for name in os.environ if name.startswith("UNTOLD_P")}


def database_env(url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "REDIS_URL": submit.REDIS, **extra}


def manage(url: str, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """``manage.py args`` on ``url``; what it said on stderr is printed if it fails."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=database_env(url, **extra),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        print(done.stderr[-4000:], file=sys.stderr)
        done.check_returncode()
    return done


def admin(sql: str, url: str = f"{PG_SERVER}/postgres") -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(sql)
        return cursor.fetchall() if cursor.description else []


# --- seeding -----------------------------------------------------------------------------

STATUSES = ["new"] * 10 + ["approved"] * 55 + ["rejected"] * 35
BUCKETS = [1] * 55 + [2] * 30 + [3] * 10 + [4, 5, 6, 8, 8]
# Answers as a region-wide campaign would get them, not uniformly: Russian and Kazakh
# most, the big cities most, a quarter of optional answers left out, one or two forms
# of violence, the common ones most. (Uniform answers would make nearly every row a
# combination of its own, which no campaign sees.)
LANGUAGES = {"ru": 55, "kk": 35, "en": 10}
REGIONS = {
    "KZ-75": 16, "KZ-71": 12, "KZ-79": 8, "KZ-61": 6, "KZ-35": 4, "KZ-19": 4, "KZ-15": 3,
    "KZ-63": 3, "KZ-55": 3, "KZ-31": 3, "KZ-23": 2, "KZ-47": 2, "KZ-43": 2, "KZ-39": 2,
    "KZ-27": 2, "KZ-11": 2, "KZ-59": 1, "KZ-33": 1, "KZ-10": 1, "KZ-62": 1, "KG": 4,
    "UZ": 4, "TJ": 2, "TM": 1, "online": 5, "other": 1, "": 25,
}  # fmt: skip
AGES = {"under_18": 8, "18_24": 20, "25_34": 28, "35_44": 20, "45_54": 10, "55_64": 5,
        "65_plus": 2, "": 25}  # fmt: skip
TELLERS = {"survivor": 60, "witness": 10, "relative": 10, "": 20}
FORMS = {"psychological": 30, "physical": 25, "economic": 15, "sexual": 10,
         "harassment": 10, "other": 4, "child_marriage": 3, "trafficking": 2, "fgm": 1}  # fmt: skip
HOW_MANY_FORMS = {0: 15, 1: 45, 2: 30, 3: 10}


def pick(rng: random.Random, weights: dict) -> object:
    return rng.choices(list(weights), list(weights.values()))[0]


def sealed_rows(task: tuple[int, int]) -> list[tuple]:
    """Rows ``start`` to ``start + count``, sealed with the development keys (in a
    worker: the keyring is loaded once per process)."""
    start, count = task
    ring = worker_keyring()
    rng = random.Random(start)  # noqa: S311 (invented content, repeatable)
    yesterday = date.today() - timedelta(days=1)
    rows = []
    for _ in range(count):
        record_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        status = rng.choice(STATUSES)
        recent = status == "new"
        day = yesterday - timedelta(days=rng.randrange(30 if recent else DAYS))
        consent = "quote" if rng.random() < 0.7 else "statistics"
        size = rng.choice(BUCKETS) * 1024 - 200 - rng.randrange(600)
        text = (WORDS * (size // len(WORDS) + 1))[: size // 2]
        campaign = None
        if status == "approved" and consent == "quote":
            campaign = ring.seal_campaign(text, record_id=record_id, field_name="campaign_text")
        forms: set[str] = set()
        wanted = pick(rng, HOW_MANY_FORMS)
        while len(forms) < wanted:
            forms.add(str(pick(rng, FORMS)))
        rows.append(
            (
                record_id,
                day,
                pick(rng, LANGUAGES),
                ring.seal(text, record_id=record_id, field_name="text"),
                ",".join(sorted(forms)),
                pick(rng, AGES),
                pick(rng, REGIONS),
                pick(rng, TELLERS),
                consent,
                status,
                campaign,
                f"{rng.getrandbits(256):064x}",
            )
        )
    return rows


_RING = None


def worker_keyring():
    global _RING
    if _RING is None:
        from submissions.keys import keyring

        _RING = keyring()
    return _RING


TESTIMONY_COLUMNS = (
    "id, received_on, language, sealed_text, forms_of_violence, age_group, region, teller, "
    "consent, status, sealed_campaign_text, receipt_digest"
)
TESTIMONY_TYPES = [
    "uuid", "date", "varchar", "bytea", "varchar", "varchar", "varchar", "varchar",
    "varchar", "varchar", "bytea", "varchar",
]  # fmt: skip


def seed(url: str, rows: int) -> dict[str, float]:
    """Seal and COPY ``rows`` testimonies, then their audit trail; VACUUM ANALYZE."""
    began = time.monotonic()
    decided: list[tuple[uuid.UUID, date, str]] = []
    tasks = [(start, min(CHUNK, rows - start)) for start in range(0, rows, CHUNK)]
    with (
        multiprocessing.get_context("fork").Pool(2) as pool,
        psycopg.connect(url) as connection,
        connection.cursor() as cursor,
        cursor.copy(
            f"COPY submissions_testimony ({TESTIMONY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(TESTIMONY_TYPES)
        for done, chunk in enumerate(pool.imap(sealed_rows, tasks), 1):
            for row in chunk:
                copy.write_row(row)
                if row[9] != "new":
                    decided.append((row[0], row[1], row[9]))
            if done % 20 == 0:
                print(f"    sealed and copied {done * CHUNK:,} rows", flush=True)
    sealed = time.monotonic() - began
    seed_audit(url, decided)
    admin("VACUUM ANALYZE", url)
    return {"seconds": time.monotonic() - began, "sealing_seconds": sealed}


def seed_audit(url: str, decided: list[tuple[uuid.UUID, date, str]]) -> None:
    """A reading and a decision for every decided story, by one of 20 moderators, at
    some time of a day up to a week after it arrived."""
    rng = random.Random(0)  # noqa: S311
    actors = [f"moderator{n}" for n in range(20)]
    with (
        psycopg.connect(url) as connection,
        connection.cursor() as cursor,
        cursor.copy(
            "COPY submissions_auditevent (id, at, actor, action, testimony_id, subject, detail) "
            "FROM STDIN"
        ) as copy,
    ):
        for record_id, day, status in decided:
            at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                seconds=rng.randrange(7 * 86400)
            )
            actor = rng.choice(actors)
            action = "approved" if status == "approved" else "rejected"
            copy.write_row((uuid.uuid4(), at, actor, "viewed", record_id, "", "{}"))
            copy.write_row(
                (uuid.uuid4(), at + timedelta(seconds=40), actor, action, record_id, "", "{}")
            )


# --- the panel (in a child process, with Django) ------------------------------------------


def pages_child(result_path: str) -> None:
    """Time each panel page, count and EXPLAIN its queries; write the figures as JSON."""
    django_setup()
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.db.models.functions import Length
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from submissions.models import Testimony

    owners: dict[int, User] = {}

    def client(group: str) -> Client:
        user = User.objects.create_user(f"bench-{group}", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
        browser = signed_in(Client(HTTP_HOST="localhost"), user)
        owners[id(browser)] = user
        return browser

    def signed_in(browser: Client, user: User) -> Client:
        """``browser`` with a fresh session past password and code. Sessions live in
        Redis, which other work on this machine may flush: a page that sends the
        browser to the sign-in page is measured again after this."""
        browser.force_login(user)
        session = browser.session
        session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
        session.save()
        return browser

    moderator, campaigner, administrator = (
        client(group) for group in ("moderator", "campaign", "administrator")
    )
    panel = "/moderation/"
    testimonies = f"{panel}submissions/testimony/"
    filters = "language__exact=ru"
    # The oldest new story in Russian of the commonest size (the first 1 KiB bucket), so
    # that both sizes read a story of the same length: the page's work grows with it.
    first = (
        Testimony.objects.filter(status="new", language="ru")
        .annotate(size=Length("sealed_text"))
        .order_by("size", "received_on", "id")
        .first()
    )
    if first is None:
        raise SystemExit("the seed holds no new story in Russian")
    reading = f"{testimonies}{first.pk}/change/?_changelist_filters=language__exact%3Dru"
    pages = {
        "statistics, campaign staff": (campaigner, f"{panel}statistics/", 200),
        "statistics, moderators": (moderator, f"{panel}statistics/", 200),
        "list": (moderator, testimonies, 200),
        "filtered list": (
            moderator,
            f"{testimonies}?status__exact=new&{filters}&form=physical",
            200,
        ),
        "queue's next story": (moderator, f"{testimonies}queue/?{filters}", 302),
        "reading view": (moderator, reading, 200),
        "audit list": (administrator, f"{panel}submissions/auditevent/", 200),
    }
    results: dict[str, dict] = {}
    for _attempt in range(3):
        began = time.perf_counter()
        answer = campaigner.get(f"{panel}statistics/")
        results["first statistics"] = {"seconds": time.perf_counter() - began}
        if answer.status_code == 200:
            break
        signed_in(campaigner, owners[id(campaigner)])
    for name, (browser, url, status) in pages.items():
        for _attempt in range(3):
            for _ in range(2):
                browser.get(url)
            times, answers = [], set()
            for _ in range(PAGE_RUNS):
                began = time.perf_counter()
                answers.add(browser.get(url).status_code)
                times.append(time.perf_counter() - began)
            if answers == {status}:
                break
            print(f"    {name}: answered {sorted(answers)}, measured again", flush=True)
            signed_in(browser, owners[id(browser)])
        else:
            raise SystemExit(f"{name}: {sorted(answers)} instead of {status}")
        with CaptureQueriesContext(connection) as captured:
            browser.get(url)
        scans = []
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT")):
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
                plan = cursor.fetchone()[0]
            scans += [table for table in seq_scans(plan) if table in TABLES]
        results[name] = {
            "ms": statistics.median(times) * 1000,
            "queries": len(captured.captured_queries),
            "scans": scans,
        }
    Path(result_path).write_text(json.dumps(results))


def seq_scans(plan: object) -> Iterator[str]:
    """The tables an EXPLAIN (FORMAT JSON) plan reads whole."""
    if isinstance(plan, dict):
        if plan.get("Node Type") == "Seq Scan":
            yield plan.get("Relation Name", "?")
        for value in plan.values():
            yield from seq_scans(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from seq_scans(value)


# --- the export ---------------------------------------------------------------------------


def export_child(mode: str, result_path: str) -> None:
    """``idle``: load what an export loads and open the database; ``export``: then run
    ``export_testimonies`` to stdout (which the parent sends nowhere)."""
    django_setup()
    from django.db import connection

    import submissions.export  # noqa: F401
    from submissions.keys import keyring
    from submissions.models import Testimony

    keyring()
    Testimony.objects.exportable().exists()
    connection.ensure_connection()
    seconds = 0.0
    if mode == "export":
        from django.core.management import call_command

        began = time.perf_counter()
        call_command("export_testimonies", output="-")
        sys.stdout.flush()
        seconds = time.perf_counter() - began
    peak = high_water_kib()
    Path(result_path).write_text(json.dumps({"seconds": seconds, "max_rss_kb": peak}))


def child(mode: str, url: str, *args: str) -> dict:
    """This script in ``mode`` in a fresh process against ``url``; its JSON result."""
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        subprocess.run(
            [sys.executable, __file__, mode, *args, result.name],
            env=database_env(url),
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return json.loads(Path(result.name).read_text())


def copy_seconds(url: str) -> float:
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        began = time.perf_counter()
        with cursor.copy(f"COPY ({EXPORTABLE}) TO STDOUT WITH CSV") as copy:
            for _ in copy:
                pass
        return time.perf_counter() - began


def measure_export(url: str) -> dict[str, float]:
    idle_kb = min(child("export-idle", url)["max_rss_kb"] for _ in range(RUNS))
    runs = [child("export", url) for _ in range(RUNS)]
    copy = min(copy_seconds(url) for _ in range(RUNS))
    seconds = min(run["seconds"] for run in runs)
    peak_mb = (max(run["max_rss_kb"] for run in runs) - idle_kb) / 1024
    rows = admin(f"SELECT count(*) FROM ({EXPORTABLE}) exported", url)[0][0]  # noqa: S608
    return {
        "seconds": seconds,
        "copy": copy,
        "ratio": seconds / copy,
        "peak_mb": peak_mb,
        "rows": rows,
    }


# --- maintenance beside a writer ----------------------------------------------------------


class SealingWriter(Writer):
    """bench/shuffle.py's writer, with texts sealed as the form seals them (the rows it
    leaves behind are rotated later)."""

    def row(self) -> tuple[uuid.UUID, bytes, str]:
        record_id = uuid.uuid4()
        text = worker_keyring().seal(WORDS, record_id=record_id, field_name="text")
        return record_id, text, os.urandom(32).hex()


def beside_a_writer(url: str, *command: str, **extra: str) -> dict[str, float]:
    """Run ``manage.py command`` while a writer inserts testimonies one at a time."""
    writer = SealingWriter(url)
    writer.start()
    time.sleep(0.5)
    began = time.perf_counter()
    manage(url, *command, **extra)
    seconds = time.perf_counter() - began
    writer.done.set()
    writer.join(timeout=60)
    return {
        "seconds": seconds,
        "worst": max(writer.waits),
        "median": statistics.median(writer.waits),
        "failures": len(writer.failures),
    }


def purge_env() -> dict[str, str]:
    """A campaign that closed long enough ago for its purge date to have passed."""
    closed = datetime.now(UTC) - timedelta(days=120)
    return {
        "UNTOLD_OPENS_AT": (closed - timedelta(days=400)).isoformat(),
        "UNTOLD_CLOSES_AT": closed.isoformat(),
        "UNTOLD_RETAIN_DAYS": "90",
    }


def measure_rotation(url: str, rows: int, folder: Path) -> dict[str, float]:
    """Rotate to a new key: kill the first run part-way (SIGKILL to its process group),
    run again to the end; values moved a second over both runs."""
    from submissions import crypto

    new_key = crypto.generate_private_key()
    pem = folder / "private-new.pem"
    pem.write_bytes(crypto.private_key_to_pem(new_key))
    pem.chmod(0o600)
    old_files = os.environ.get("UNTOLD_PRIVATE_KEY_FILES") or os.environ["UNTOLD_PRIVATE_KEY_FILE"]
    env = database_env(
        url,
        UNTOLD_PUBLIC_KEYS=crypto.public_key_to_text(new_key.public_key()),
        UNTOLD_PRIVATE_KEY_FILES=f"{pem},{old_files}",
        UNTOLD_PRIVATE_KEY_FILE="",
    )
    values = admin("SELECT count(*) + count(sealed_campaign_text) FROM submissions_testimony", url)[
        0
    ][0]
    command = [sys.executable, str(ROOT / "manage.py"), "rotate_keys"]
    updated_before = updated(url)
    began = time.perf_counter()
    first = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True
    )
    # Killed once a quarter of the rows are written (PostgreSQL's own count of updated
    # rows), or after two minutes.
    for _ in range(1200):
        time.sleep(0.1)
        if updated(url) - updated_before >= rows // 4:
            break
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed_after = time.perf_counter() - began
    began = time.perf_counter()
    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    finished_in = time.perf_counter() - began
    said = second.stdout + second.stderr
    moved_by_second = int(said.split("Moved ")[1].split(" ")[0]) if "Moved " in said else 0
    return {
        "values": values,
        "killed_after": killed_after,
        "moved_before_kill": values - moved_by_second,
        "finished_in": finished_in,
        "rate": values / (killed_after + finished_in),
        "finished": second.returncode == 0 and " 0 records still name" in said,
        "said": said.strip()[-2000:],
    }


def updated(url: str) -> int:
    """How many testimony rows PostgreSQL has counted as updated (its statistics)."""
    return admin(
        "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'submissions_testimony'", url
    )[0][0]


# --- one size -----------------------------------------------------------------------------


@dataclass
class Size:
    rows: int
    figures: dict[str, dict] = field(default_factory=dict)


@contextmanager
def fresh_database(name: str) -> Iterator[str]:
    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(f"CREATE DATABASE {name}")
    url = f"{PG_SERVER}/{name}"
    try:
        manage(url, "migrate", "--no-input", "-v0")
        yield url
    finally:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def submission_cost(url: str) -> dict[str, object]:
    """The real path's cost over the bare one, one client, interleaved rounds."""
    with submit.serving(url) as port:
        figures = submit.measure(port, 1, paths=("bare", "real"), rounds=10)
    rounds = sorted(
        b / r
        for b, r in zip(figures["bare"]["round_rps"], figures["real"]["round_rps"], strict=True)
    )
    return {
        "cost": figures["bare"]["rps"] / figures["real"]["rps"],
        "low": rounds[len(rounds) // 4],
        "high": rounds[3 * len(rounds) // 4],
    }


def run_size(rows: int, folder: Path) -> Size:
    size = Size(rows)
    with fresh_database(f"{DATABASE}_{rows}") as url:
        print(f"{rows:,} testimonies: sealing and copying", flush=True)
        size.figures["seed"] = seed(url, rows)
        total, table, indexes, audit = admin(
            "SELECT pg_total_relation_size('submissions_testimony'), "
            "pg_table_size('submissions_testimony'), pg_indexes_size('submissions_testimony'), "
            "pg_total_relation_size('submissions_auditevent')",
            url,
        )[0]
        size.figures["disk"] = {
            "per_row": total / rows,
            "table": table,
            "indexes": indexes,
            "audit_per_row": audit / rows,
        }
        print("  the panel's pages", flush=True)
        size.figures["pages"] = child("pages", url)
        print("  the export", flush=True)
        size.figures["export"] = measure_export(url)
        print("  submissions", flush=True)
        size.figures["submission"] = submission_cost(url)
        # The bare path stored plaintext in place of sealed text: not testimonies the
        # later steps could rotate.
        admin(
            "DELETE FROM submissions_testimony WHERE substring(sealed_text FROM 1 FOR 2) <> 'UT'",
            url,
        )
        print("  shuffle_testimonies beside a writer", flush=True)
        size.figures["shuffle"] = beside_a_writer(url, "shuffle_testimonies")
        print("  rotate_keys, killed part-way, then again", flush=True)
        size.figures["rotation"] = measure_rotation(url, rows, folder)
        print("  purge_testimonies beside a writer", flush=True)
        size.figures["purge"] = beside_a_writer(url, "purge_testimonies", **purge_env())
    return size


# --- the table ----------------------------------------------------------------------------


class Table:
    def __init__(self, sizes: list[Size]) -> None:
        self.sizes = sizes
        self.missed: list[str] = []
        self.lines = [
            "| work | " + " | ".join(f"{s.rows:,} rows" for s in sizes) + " | target | |",
            "| --- | " + " | ".join("---" for _ in sizes) + " | --- | --- |",
        ]

    def row(self, work: str, cells: list[str], target: str, ok: bool | None) -> None:
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        if ok is False:
            self.missed.append(work)
        self.lines.append(f"| {work} | " + " | ".join(cells) + f" | {target} | {verdict} |")


def report(empty: dict[str, object], sizes: list[Size]) -> bool:
    table = Table(sizes)
    for name in sizes[0].figures["pages"]:
        if name == "first statistics":
            continue
        figures = [s.figures["pages"][name] for s in sizes]
        limit = STATISTICS_MS if name.startswith("statistics") else PAGE_MS
        cells = [
            f"{f['ms']:.1f} ms, {f['queries']} queries"
            + (f", Seq Scan on {', '.join(sorted(set(f['scans'])))}" if f["scans"] else "")
            for f in figures
        ]
        ok = all(f["ms"] <= limit and not f["scans"] for f in figures)
        target = f"≤ {limit} ms, no whole-table scan"
        if not name.startswith("statistics") and len(sizes) > 1:
            ok &= figures[-1]["ms"] <= PAGE_GROWTH * figures[0]["ms"]
            target += f", largest ≤ {PAGE_GROWTH:.0f}× smallest"
        table.row(f"panel: {name}", cells, target, ok)
    table.row(
        "statistics: first page after the seed (counts every past day once)",
        [f"{s.figures['pages']['first statistics']['seconds']:.1f} s" for s in sizes],
        "(once; printed)",
        None,
    )
    exports = [s.figures["export"] for s in sizes]
    table.row(
        "export, streamed (rows exported)",
        [f"{e['seconds']:.1f} s, {e['rows']:,} rows" for e in exports],
        "(printed)",
        None,
    )
    table.row(
        "export ÷ PostgreSQL COPY of the same columns",
        [f"{e['ratio']:.1f}× (COPY {e['copy']:.1f} s)" for e in exports],
        f"≤ {COPY_TARGET:.0f}×",
        all(e["ratio"] <= COPY_TARGET for e in exports),
    )
    table.row(
        "export peak memory over idle",
        [f"{e['peak_mb']:.1f} MB" for e in exports],
        f"≤ {MEMORY_MB} MB",
        all(e["peak_mb"] <= MEMORY_MB for e in exports),
    )
    for job in ("purge", "shuffle"):
        runs = [s.figures[job] for s in sizes]
        table.row(
            f"{job}_testimonies: a writer's worst wait (median)",
            [f"{r['worst'] * 1000:.0f} ms ({r['median'] * 1000:.1f} ms)" for r in runs],
            f"≤ {WAIT_S * 1000:.0f} ms, no failed insert",
            all(r["worst"] <= WAIT_S and not r["failures"] for r in runs),
        )
        table.row(
            f"{job}_testimonies: total time",
            [f"{r['seconds']:.1f} s" for r in runs],
            "(printed)",
            None,
        )
    rotations = [s.figures["rotation"] for s in sizes]
    table.row(
        "rotate_keys: values a second (killed part-way, then run again)",
        [
            f"{r['rate']:,.0f}/s ({r['values']:,} values; {r['moved_before_kill']:,} before "
            f"kill -9 at {r['killed_after']:.0f} s, rest in {r['finished_in']:.0f} s)"
            for r in rotations
        ],
        f"≥ {ROTATION_RATE:,}/s; resumed to 0 left",
        all(r["rate"] >= ROTATION_RATE and r["finished"] for r in rotations),
    )
    submissions = [s.figures["submission"] for s in sizes]
    noise = max(float(empty["high"]) - float(empty["low"]), 0.05)
    table.row(
        f"submission: real ÷ bare (empty table: {empty['cost']:.2f}×, "
        f"middle half of rounds {empty['low']:.2f}–{empty['high']:.2f}×)",
        [f"{s['cost']:.2f}× ({s['low']:.2f}–{s['high']:.2f}×)" for s in submissions],
        f"within noise of the empty table (±{noise:.2f}×)",
        all(abs(float(s["cost"]) - float(empty["cost"])) <= noise for s in submissions),
    )
    table.row(
        "disk: testimony table + indexes, per testimony",
        [
            f"{s.figures['disk']['per_row']:,.0f} B "
            f"(indexes {s.figures['disk']['indexes'] / s.rows:,.0f} B)"
            for s in sizes
        ],
        "(printed)",
        None,
    )
    table.row(
        "disk: audit trail per testimony (a reading and a decision for each decided one)",
        [f"{s.figures['disk']['audit_per_row']:,.0f} B" for s in sizes],
        "(printed)",
        None,
    )
    table.row(
        "seed: sealed and copied (of which sealing and COPY)",
        [
            f"{s.figures['seed']['seconds']:.0f} s ({s.figures['seed']['sealing_seconds']:.0f} s)"
            for s in sizes
        ],
        "(printed)",
        None,
    )
    for s in sizes:
        if not s.figures["rotation"]["finished"]:
            print(f"rotate_keys at {s.rows:,} rows said: {s.figures['rotation']['said']}")
    print()
    print("\n".join(table.lines))
    print()
    if table.missed:
        print("MISSED: " + "; ".join(table.missed))
    return not table.missed


def main() -> int:
    django_setup()
    began = time.monotonic()
    try:
        admin("SELECT 1")
    except psycopg.OperationalError as error:
        print(f"PostgreSQL is needed at {PG_SERVER} (user postgres): {error}", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="untold-bench-scale-"))
    try:
        print("submissions on an empty table", flush=True)
        with fresh_database(f"{DATABASE}_empty") as url:
            empty = submission_cost(url)
        sizes = [run_size(rows, folder) for rows in SIZES]
    finally:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()
    ok = report(empty, sizes)
    print(f"(benchmark took {(time.monotonic() - began) / 60:.0f} minutes)")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 1:
        sys.exit(main())
    mode, *arguments = sys.argv[1:]
    if mode == "pages":
        pages_child(*arguments)
    elif mode == "export":
        export_child("export", *arguments)
    elif mode == "export-idle":
        export_child("idle", *arguments)

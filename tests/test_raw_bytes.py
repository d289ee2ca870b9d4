"""Promise 2, sealed at rest: the database's own bytes never hold a testimony's text.

Each scenario runs the real app in a child process (``manage.py migrate`` and
``manage.py shell``) against a database of its own: a SQLite file, whose main file,
write-ahead log and shared-memory index are read as bytes, and a fresh PostgreSQL
database, read through ``pg_dump`` and through a plain SELECT of every column. A
marker that was sealed must be absent in every encoding searched; a marker written
unsealed into the same database must be found by the same search, so the search is
shown able to fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import dj_database_url
import psycopg
import pytest
from django.conf import settings
from psycopg import sql

TIMEOUT = 120
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"

# Runs inside ``manage.py shell -c``; SCENARIO is replaced by the markers as JSON.
SCENARIO = """
import json
import shutil
from pathlib import Path

from django.db import connection

from submissions.models import AuditEvent, Testimony

scenario = json.loads(SCENARIO)
for text in scenario["sealed"]:
    testimony = Testimony(language="kk", consent="quote", status="approved")
    testimony.seal_text(text)
    testimony.seal_campaign_text(text)
    testimony.save()
    stored = Testimony.objects.get(pk=testimony.pk)
    # The values stored are the marker, sealed: not empty, not something else.
    assert stored.open_text() == text
    assert stored.open_campaign_text() == text
for text in scenario["unsealed"]:
    AuditEvent.record("viewed", actor=text)
if scenario["snapshot"]:
    # What a copy taken from a live server holds: the connection is still open, so
    # the latest pages sit in the write-ahead log rather than in the main file.
    name = connection.settings_dict["NAME"]
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{name}{suffix}").exists():
            shutil.copyfile(f"{name}{suffix}", Path(scenario["snapshot"]) / f"db{suffix}")
connection.close()
"""


def markers(label: str) -> dict[str, str]:
    """Fresh markers, in Latin and in Kazakh Cyrillic, that cannot occur by chance."""
    return {
        f"{label} latin": f"MARKER-{label}-{uuid.uuid4().hex}",
        f"{label} kazakh": f"Қорқыныш-ұят-{label}-{uuid.uuid4().hex}-өмір",
    }


def encodings(marker: str) -> dict[str, bytes]:
    """Every form in which text could sit in a database file or dump."""
    forms = {
        "UTF-8": marker.encode("utf-8"),
        "UTF-16-LE": marker.encode("utf-16-le"),
        "UTF-16-BE": marker.encode("utf-16-be"),
        # JSON columns may keep non-ASCII text as \uXXXX escapes.
        "JSON-escaped": json.dumps(marker).strip('"').encode("ascii"),
    }
    # bytea as pg_dump and PostgreSQL's text output show it.
    hexes = {f"{name} as hex": data.hex().encode("ascii") for name, data in forms.items()}
    return forms | hexes


def found_in(data: bytes, marker: str) -> list[str]:
    return [name for name, needle in encodings(marker).items() if needle in data]


def run_scenario(database_url: str, key_pair, *, sealed, unsealed, snapshot: Path | None):
    """Migrate a fresh database and store the markers through the app, in child processes."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UNTOLD_") and name not in {"DATABASE_URL", "REDIS_URL"}
    }
    env |= {
        "DATABASE_URL": database_url,
        "UNTOLD_DEBUG": "1",
        "UNTOLD_PUBLIC_KEYS": key_pair.public_text,
        "UNTOLD_PRIVATE_KEY_FILE": str(key_pair.private_file),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    scenario = json.dumps({"sealed": sealed, "unsealed": unsealed, "snapshot": str(snapshot or "")})
    code = SCENARIO.replace("SCENARIO", repr(scenario), 1)
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    for arguments in (["migrate", "--no-input", "-v", "0"], ["shell", "-v", "0", "-c", code]):
        result = subprocess.run(
            manage + arguments,
            env=env,
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, f"manage.py {arguments[0]} failed:\n{result.stderr}"


def sqlite_files(folder: Path, stem: str) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for suffix in ("", "-wal", "-shm")
        if (path := folder / f"{stem}{suffix}").exists()
    }


def test_sqlite_files_hold_no_sealed_text_live_or_closed(tmp_path, key_pair):
    # Given testimonies and campaign texts sealed into a SQLite file, and control
    # markers written unsealed into the same file
    secret, control = markers("sealed"), markers("control")
    database = tmp_path / "untold.sqlite3"
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()

    # When the app stores them, copying the files while its connection is still open
    run_scenario(
        f"sqlite:///{database}",
        key_pair,
        sealed=list(secret.values()),
        unsealed=list(control.values()),
        snapshot=snapshot,
    )
    live = sqlite_files(snapshot, "db")
    closed = sqlite_files(tmp_path, database.name)

    # Then the live copy's write-ahead log holds the latest writes, which makes it
    # worth searching, and the control markers are found there and after closing
    assert live.get("db-wal"), "the live copy has no write-ahead log to search"
    for name, marker in control.items():
        assert found_in(live["db-wal"], marker), f"{name} control not found in the live WAL"
        assert found_in(b"".join(closed.values()), marker), f"{name} control not found"
    # And no file, live or closed, holds a sealed marker in any encoding
    for label, files in (("live", live), ("closed", closed)):
        for file_name, data in files.items():
            for name, marker in secret.items():
                hits = found_in(data, marker)
                assert not hits, f"{name} marker in {label} {file_name} as {hits}"


@pytest.fixture
def postgres_database():
    """A fresh PostgreSQL database on the server the suite uses (or the local one),
    dropped afterwards. Skips, saying why, only if no server can be reached."""
    configured = os.environ.get("DATABASE_URL", "")
    server = configured if configured.startswith(("postgres", "pgsql")) else POSTGRES_SERVER
    parts = dj_database_url.parse(server)
    connect = {
        "host": parts["HOST"] or "127.0.0.1",
        "port": parts["PORT"] or 5432,
        "user": parts["USER"] or "postgres",
        "password": parts["PASSWORD"] or None,
    }
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed (Debian package postgresql-client)")
    try:
        admin = psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **connect)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL at {connect['host']}:{connect['port']} is unreachable: {error}")
    name = f"untold_raw_bytes_{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name, connect
    finally:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def pg_dump(name: str, connect: dict) -> bytes:
    env = dict(os.environ, PGPASSWORD=connect["password"] or "")
    command = ["pg_dump", "--no-owner", "-h", connect["host"], "-p", str(connect["port"])]
    result = subprocess.run(
        [*command, "-U", connect["user"], name],
        env=env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def select_every_column(name: str, connect: dict) -> bytes:
    """Every value of every column of every table, as the database hands it out."""
    chunks = []
    with psycopg.connect(dbname=name, **connect) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        ).fetchall()
        assert ("submissions_testimony",) in tables
        for (table,) in tables:
            rows = connection.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
            for row in rows:
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value))
                    else:
                        chunks.append(str(value).encode("utf-8"))
    return b"\n".join(chunks)


def test_postgresql_dump_and_select_hold_no_sealed_text(postgres_database, key_pair):
    # Given testimonies and campaign texts sealed into a fresh PostgreSQL database,
    # and control markers written unsealed into the same database
    name, connect = postgres_database
    secret, control = markers("sealed"), markers("control")
    url = (
        f"postgres://{connect['user']}:{connect['password'] or ''}"
        f"@{connect['host']}:{connect['port']}/{name}"
    )
    run_scenario(
        url, key_pair, sealed=list(secret.values()), unsealed=list(control.values()), snapshot=None
    )

    # When the database is dumped and every column of every table is selected
    views = {"pg_dump": pg_dump(name, connect), "SELECT": select_every_column(name, connect)}

    # Then the same search finds the control markers and no sealed marker
    for view, data in views.items():
        for marker_name, marker in control.items():
            assert found_in(data, marker), f"{marker_name} control not found in {view}"
        for marker_name, marker in secret.items():
            hits = found_in(data, marker)
            assert not hits, f"{marker_name} marker in {view} as {hits}"

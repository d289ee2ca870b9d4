"""Database settings: SQLite writers queue instead of failing; PostgreSQL connections persist;
a PostgreSQL server that would keep arrival times is reported."""

from __future__ import annotations

import pytest
from django.core import checks
from django.db import connection

from tests.servers import manage, server_env, shell

# Eight threads write 25 sealed testimonies each, every save in its own transaction,
# against one SQLite file. Without WAL and IMMEDIATE transactions some of them fail with
# "database is locked"; with them every writer waits its turn.
CONCURRENT_WRITERS = """
import threading
from django.db import connection, transaction
from submissions.models import Testimony

assert connection.cursor().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
errors = []

def write():
    try:
        for _ in range(25):
            with transaction.atomic():
                testimony = Testimony(language="en", consent="quote")
                testimony.seal_text("x" * 500)
                testimony.save()
                Testimony.objects.filter(pk=testimony.pk).count()
    except Exception as error:
        errors.append(repr(error))
    finally:
        connection.close()

threads = [threading.Thread(target=write) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("errors", errors)
print("stored", Testimony.objects.count())
"""


def test_concurrent_sqlite_writers_wait_instead_of_failing(tmp_path, key_pair):
    env = server_env(
        key_pair.public_text,
        DATABASE_URL=f"sqlite:///{tmp_path / 'untold.sqlite3'}",
        UNTOLD_PRIVATE_KEY_FILE=str(key_pair.private_file),
    )
    manage("migrate", "-v0", env=env)

    result = shell(CONCURRENT_WRITERS, env=env)

    assert "errors []" in result.stdout, result.stdout + result.stderr
    assert "stored 200" in result.stdout


# Two "requests" in one process: the backend pid stays the same when connections persist,
# and changes when CONN_MAX_AGE is 0 (the control that shows the check can fail).
BACKEND_PIDS = """
from django.core.signals import request_finished, request_started
from django.db import connection

def pid_across_requests():
    pids = []
    for _ in range(2):
        request_started.send(sender=None)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.append(cursor.fetchone()[0])
        request_finished.send(sender=None)
    return pids

first, second = pid_across_requests()
print("persistent", first == second, connection.settings_dict["CONN_HEALTH_CHECKS"])
connection.close()
connection.settings_dict["CONN_MAX_AGE"] = 0
first, second = pid_across_requests()
print("control", first == second)
"""


def test_postgresql_connections_persist_across_requests(key_pair):
    env = server_env(
        key_pair.public_text, DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    )
    result = shell(BACKEND_PIDS, env=env)
    if "could not connect" in result.stderr or "Connection refused" in result.stderr:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")

    assert "persistent True True" in result.stdout, result.stdout + result.stderr
    assert "control False" in result.stdout


def database_warnings() -> list[str]:
    found = checks.run_checks(tags=[checks.Tags.database], databases=["default"])
    return [message.msg for message in found if message.id == "submissions.W002"]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL server setting")
def test_a_database_server_that_logs_statements_is_reported():
    # The setting is changed for this session only, and rolled back with the test.
    with connection.cursor() as cursor:
        cursor.execute("SET log_statement = 'none'")
        cursor.execute("SET log_min_duration_statement = -1")
        cursor.execute("SET log_min_error_statement = 'panic'")
        assert database_warnings() == []

        cursor.execute("SET log_statement = 'mod'")
        assert database_warnings() == [
            "PostgreSQL's log_statement is 'mod': the database server keeps the time each "
            "testimony arrived."
        ]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL server setting")
def test_a_database_server_that_logs_failed_statements_is_reported():
    # PostgreSQL's default writes a failed statement beside its error: a failed INSERT
    # of a testimony, its whole row.
    with connection.cursor() as cursor:
        cursor.execute("SET log_statement = 'none'")
        cursor.execute("SET log_min_duration_statement = -1")
        cursor.execute("SET log_min_error_statement = 'error'")
        assert database_warnings() == [
            "PostgreSQL's log_min_error_statement is 'error': the database server keeps "
            "the time each testimony arrived."
        ]

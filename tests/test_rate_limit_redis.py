"""The site-wide cap holds under a burst: 50 people press "send" at once against a cap
of 10, through a real server and the real Redis. Exactly 10 stories are stored; the
other 40 get a 429 page that says when to try again and keeps their text.

The server is gunicorn as in production, with several worker processes, so the count
is shared only through Redis: a per-process cache would let more through. (pytest-
django's live_server is not used: on SQLite its request threads share one in-memory
connection, and concurrent saves then fail with OperationalError; that is the test
server's limit, not the app's, whose file database queues writers.)
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import time_machine
from django.db import connection
from django.test import RequestFactory

from submissions import ratelimit
from submissions.models import Testimony
from submissions.ratelimit import client_key
from tests.servers import Answer, Browser, gunicorn, manage, server_env, story_fields

# With REDIS_URL set (CI: database 15, the suite's own) that database is used; without
# it, database 14 on the local Redis, so that this test always runs when Redis is up.
FALLBACK_REDIS_URL = "redis://127.0.0.1:6379/14"
BURST = 50
SITE_CAP = 10


@pytest.fixture
def redis_db() -> Iterator[tuple[str, redis.Redis]]:
    """A real Redis database, emptied before and after."""
    url = os.environ.get("REDIS_URL") or FALLBACK_REDIS_URL
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"Redis is not reachable at {url}")
    client.flushdb()
    yield url, client
    client.flushdb()
    client.close()


@dataclass
class Server:
    url: str
    database_file: Path | None

    def stored_texts(self) -> list[str]:
        """The stored stories, opened with the test's private key."""
        if self.database_file is None:  # the test database itself (PostgreSQL)
            return [testimony.open_text() for testimony in Testimony.objects.all()]
        with sqlite3.connect(self.database_file) as database:
            rows = database.execute("SELECT id, sealed_text FROM submissions_testimony")
            return [
                Testimony(id=uuid.UUID(row_id), sealed_text=sealed).open_text()
                for row_id, sealed in rows.fetchall()
            ]


def database_url(tmp_path: Path, env: dict[str, str]) -> tuple[str, Path | None]:
    """PostgreSQL: the test database, which another process can reach (the test commits
    with transactional_db). SQLite: the test database lives in this process's memory,
    so the server gets a migrated file of its own."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
        host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        return f"postgres://{quote(db['USER'])}{password}@{host}/{db['NAME']}", None
    path = tmp_path / "burst.sqlite3"
    url = f"sqlite:///{path}"
    manage("migrate", "-v0", env={**env, "DATABASE_URL": url})
    return url, path


@pytest.fixture
def server(tmp_path, key_pair, redis_db, transactional_db) -> Iterator[Server]:
    """gunicorn with four worker processes, the site cap at 10 an hour, per client
    generous (all requests come from 127.0.0.1)."""
    redis_url, _ = redis_db
    env = server_env(
        key_pair.public_text,
        UNTOLD_RATE_SITE=f"{SITE_CAP}/h",
        UNTOLD_RATE_PER_CLIENT="1000/h",
        REDIS_URL=redis_url,
    )
    env["DATABASE_URL"], database_file = database_url(tmp_path, env)
    with gunicorn(env, tmp_path, workers=4) as running:
        yield Server(running.url, database_file)


def story(number: int) -> str:
    return f"История номер {number}: он забрал мой паспорт."


def test_a_burst_of_50_stores_exactly_the_site_cap(server, redis_db):
    people = [Browser(server.url) for _ in range(BURST)]
    filled = [story_fields(person.get("/en/").body, story(n)) for n, person in enumerate(people)]
    start = threading.Barrier(BURST)
    answers: dict[int, Answer] = {}
    errors: list[BaseException] = []

    def press_send(number: int) -> None:
        try:
            start.wait(timeout=30)
            answers[number] = people[number].post("/en/", filled[number], timeout=60)
        except BaseException as error:
            errors.append(error)
            start.abort()

    threads = [threading.Thread(target=press_send, args=(n,)) for n in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    statuses = sorted(answer.status for answer in answers.values())
    assert statuses == [302] * SITE_CAP + [429] * (BURST - SITE_CAP)
    accepted = [n for n, answer in answers.items() if answer.status == 302]
    assert all(answers[n].headers["Location"] == "/en/thanks/" for n in accepted)
    assert sorted(server.stored_texts()) == sorted(story(n) for n in accepted)
    for n, answer in answers.items():
        if answer.status == 429:
            assert 0 < int(answer.headers["Retry-After"]) <= 3600
            assert "Try again in about" in answer.body
            assert "Nothing was stored" in answer.body
            assert f">\n{story(n)}</textarea>" in answer.body
    _, client = redis_db
    assert any(key.startswith(b"untold:") for key in client.scan_iter())


def test_a_counter_expires_at_its_windows_end_not_an_hour_after_its_first_request(
    redis_db, settings, client
):
    # Given the real Redis as the cache, and the clock 17 minutes into an hour's window,
    url, redis_client = redis_db
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "untold",
        }
    }
    settings.UNTOLD_RATE_PER_CLIENT = "10/h"
    window_start = datetime(2026, 12, 9, 8, 0, tzinfo=UTC)
    with time_machine.travel(window_start + timedelta(minutes=17), tick=False):
        # when a first request is counted,
        client.post("/en/", {})

    # its counter lives until the window's end (43 minutes), not for an hour from it:
    # its time to live dates nothing finer than the window.
    end = int((window_start + timedelta(hours=1)).timestamp())
    keys = [key for key in redis_client.scan_iter() if b":10/h:" in key]
    assert keys and all(f":{end}:".encode() in key for key in keys), keys
    assert all(43 * 60 - 5 <= redis_client.ttl(key) <= 43 * 60 for key in keys)


@pytest.fixture
def redis_cache(redis_db, settings) -> redis.Redis:
    """The real Redis as the default cache, as in production."""
    url, client = redis_db
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}}
    return client


def one_a_day(request) -> dict[str, object]:
    return {"own": [(client_key(request), "1/d")], "site": "100/d"}


def test_a_count_whose_answer_was_never_read_answers_no_later_command(redis_cache):
    # Given a count sent beside the request's other work, and that work failing,
    request = RequestFactory().post("/en/", REMOTE_ADDR="198.51.100.7")
    with pytest.raises(RuntimeError), ratelimit.counting(request, "submit", **one_a_day(request)):
        raise RuntimeError("the sealing failed")

    # the count was made (Redis ran it), and the next request over the same pool reads
    # its own answer, not the one left unread: it is the client's second, over its limit.
    assert ratelimit.check(request, "submit", **one_a_day(request)) is not None
    assert redis_cache.ping()


def test_the_count_works_after_redis_forgot_its_script(redis_cache):
    # A restarted Redis has no scripts: the count teaches it the script and is still one
    # round of counting, not skipped as if the cache were down.
    request = RequestFactory().post("/en/", REMOTE_ADDR="198.51.100.8")
    redis_cache.script_flush()
    assert ratelimit.check(request, "submit", **one_a_day(request)) is None
    redis_cache.script_flush()
    assert ratelimit.check(request, "submit", **one_a_day(request)) is not None

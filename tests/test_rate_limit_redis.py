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

import http.cookiejar
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import redis
from django.db import connection

from submissions.models import Testimony

ROOT = Path(__file__).resolve().parent.parent
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
    migrate = [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"]
    subprocess.run(migrate, env={**env, "DATABASE_URL": url}, cwd=ROOT, check=True)
    return url, path


@pytest.fixture
def server(tmp_path, key_pair, redis_db, transactional_db) -> Iterator[Server]:
    """gunicorn with four worker processes, the site cap at 10 an hour, per client
    generous (all requests come from 127.0.0.1)."""
    redis_url, _ = redis_db
    env = {
        "PATH": os.environ["PATH"],
        "UNTOLD_DEBUG": "1",
        "UNTOLD_SECRET_KEY": "burst-test-" + uuid.uuid4().hex * 2,
        "UNTOLD_PUBLIC_KEYS": key_pair.public_text,
        "UNTOLD_CLOSES_AT": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "UNTOLD_RATE_SITE": f"{SITE_CAP}/h",
        "UNTOLD_RATE_PER_CLIENT": "1000/h",
        "REDIS_URL": redis_url,
    }
    env["DATABASE_URL"], database_file = database_url(tmp_path, env)
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "untold.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "4", "--threads", "8"),
            *("--worker-class", "gthread", "--timeout", "60"),
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, tmp_path / "gunicorn.log")
        yield Server(url, database_file)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log.read_text()}")
        try:
            # The URL is the local server's, http only.
            with urllib.request.urlopen(f"{url}/en/", timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer within 60 s:\n{log.read_text()}")


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Person:
    opener: urllib.request.OpenerDirector
    request: urllib.request.Request


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


def ready_to_send(base_url: str, text: str) -> Person:
    """A browser that loaded the form (cookie, CSRF token, served token) and filled it."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirects()
    )
    page = opener.open(f"{base_url}/en/", timeout=30).read().decode()
    fields = {
        name: re.search(rf'name="{name}" value="([^"]*)"', page).group(1)
        for name in ("csrfmiddlewaretoken", "served")
    }
    fields |= {"text": text, "consent": "statistics", "understood": "on"}
    request = urllib.request.Request(  # noqa: S310  (the local server's http URL)
        f"{base_url}/en/", data=urlencode(fields).encode(), method="POST"
    )
    return Person(opener, request)


def send(person: Person) -> Answer:
    try:
        response = person.opener.open(person.request, timeout=60)
    except urllib.error.HTTPError as error:
        response = error
    return Answer(response.status, dict(response.headers), response.read().decode())


def story(number: int) -> str:
    return f"История номер {number}: он забрал мой паспорт."


def test_a_burst_of_50_stores_exactly_the_site_cap(server, redis_db):
    people = [ready_to_send(server.url, story(n)) for n in range(BURST)]
    start = threading.Barrier(BURST)
    answers: dict[int, Answer] = {}
    errors: list[BaseException] = []

    def press_send(number: int) -> None:
        try:
            start.wait(timeout=30)
            answers[number] = send(people[number])
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
            assert "try again" in answer.body
            assert "Nothing was stored" in answer.body
            assert f">\n{story(n)}</textarea>" in answer.body
    _, client = redis_db
    assert any(key.startswith(b"untold:") for key in client.scan_iter())

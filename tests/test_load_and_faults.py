"""Nothing lost, nothing half-written, under load and when parts of the service fail.

gunicorn with three worker processes serves the app as in production, on PostgreSQL and
Redis. 50 people sending stories at once get a "thank you" exactly for each story
stored. Killed with SIGKILL mid-load and restarted, the server leaves only whole
stories. With Redis gone, stories are still taken (the rate limit fails open and says
so in the log without any client detail) and moderators keep working. With PostgreSQL
gone, she gets a 503 page that keeps her text, and nothing is stored; once it restarts,
the next story is stored at once. A moderation server without the key a story was
sealed to names the key id and shows no text.

These tests stop servers, so each runs its own: a private PostgreSQL cluster (initdb
into a temporary folder, one database per test cloned from a migrated template) and a
private redis-server, both on free loopback ports. The machine's shared PostgreSQL and
Redis are never touched. Every loop is bounded in count and time.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from submissions.models import Testimony
from tests.conftest import new_testimony, use_keys
from tests.servers import (
    NETWORK_ERRORS,
    Browser,
    Gunicorn,
    PrivatePostgres,
    PrivateRedis,
    gunicorn,
    hidden_fields,
    manage,
    server_env,
    staff_session,
    story_fields,
    wait_for,
)

CLIENTS = 50
LOAD_SECONDS = 8
# Per person: at most this many rounds of "load the form, send it", and a pause after a
# failed round, so that a person facing a dead server does not spin.
ROUNDS = 1000
PAUSE_AFTER_FAILURE = 0.1
TEMPLATE = "untold_template"
# Far above what the load reaches: these tests are about storage, not the limits.
GENEROUS_LIMITS = {
    "UNTOLD_RATE_SITE": "1000000/m",
    "UNTOLD_RATE_PER_CLIENT": "1000000/h",
    "UNTOLD_RATE_LOGIN_PER_USERNAME": "1000/m",
    "UNTOLD_RATE_LOGIN_SITE": "1000/m",
}
THANKS = "/en/thanks/"
LIST = "/moderation/submissions/testimony/"
LOGIN_PAGE = "/moderation/login/"


# --- Servers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres(key_pair) -> Iterator[PrivatePostgres]:
    """A private cluster for this file, with a migrated template database."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        cluster.execute(f"CREATE DATABASE {TEMPLATE}")
        env = server_env(key_pair.public_text, DATABASE_URL=cluster.url(TEMPLATE))
        manage("migrate", "--no-input", "-v0", env=env)
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def database(postgres) -> Iterator[str]:
    """A fresh migrated database of this test's own, dropped afterwards."""
    if not postgres.is_running():
        postgres.start()
    name = f"untold_load_{uuid.uuid4().hex[:12]}"
    postgres.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield name
    if not postgres.is_running():  # a test that stopped it and then failed
        postgres.start()
    postgres.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def env(key_pair, postgres, database, private_redis) -> dict[str, str]:
    return server_env(
        key_pair.public_text,
        DATABASE_URL=postgres.url(database),
        REDIS_URL=private_redis.url,
        **GENEROUS_LIMITS,
    )


@dataclass
class Row:
    id: uuid.UUID
    text: str
    whole: bool


def stored(postgres: PrivatePostgres, database: str) -> list[Row]:
    """Every stored testimony, opened with the test's private key. Opening raises if a
    single byte of the sealed text is missing or wrong."""
    with postgres.connect(database) as connection:
        rows = connection.execute(
            "SELECT id, sealed_text, language, consent, status, receipt_digest, received_on"
            " FROM submissions_testimony"
        ).fetchall()
    return [
        Row(
            id=row_id,
            text=Testimony(id=row_id, sealed_text=bytes(sealed)).open_text(),
            whole=(language, consent, status) == ("en", "statistics", "new")
            and len(digest or "") == 64
            and received_on is not None,
        )
        for row_id, sealed, language, consent, status, digest, received_on in rows
    ]


# --- Load ----------------------------------------------------------------------------------


@dataclass
class Load:
    """``clients`` people, each in her own browser, loading the form and sending a story
    of her own (a UUID makes each one unique), round after round until the deadline."""

    url: str
    clients: int = CLIENTS
    seconds: float = LOAD_SECONDS
    attempts: list[str] = field(default_factory=list)  # stories whose POST was sent
    successes: list[str] = field(default_factory=list)  # answered 302 to the thanks page
    statuses: Counter = field(default_factory=Counter)
    post_failures: Counter = field(default_factory=Counter)  # network errors on the POST
    problems: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    deadline: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        self.deadline = time.monotonic() + self.seconds
        self.threads = [
            threading.Thread(target=self.person, args=(n,), daemon=True)
            for n in range(self.clients)
        ]
        for thread in self.threads:
            thread.start()
        return self

    def finish_in(self, seconds: float) -> None:
        """Bring the deadline forward: people stop after the round they are in."""
        self.deadline = min(self.deadline, time.monotonic() + seconds)

    def join(self) -> Load:
        # Each round ends within its two 30-second request timeouts after the deadline.
        give_up = self.deadline + 65
        for thread in self.threads:
            thread.join(timeout=max(0, give_up - time.monotonic()))
        assert not any(thread.is_alive() for thread in self.threads), "clients still running"
        return self

    def person(self, number: int) -> None:
        browser = Browser(self.url)
        for round_number in range(ROUNDS):
            if time.monotonic() >= self.deadline:
                return
            try:
                page = browser.get("/en/")
            except NETWORK_ERRORS:
                time.sleep(PAUSE_AFTER_FAILURE)
                continue
            if page.status != 200:
                self.note(f"GET /en/ answered {page.status}")
                time.sleep(PAUSE_AFTER_FAILURE)
                continue
            text = f"Person {number}, round {round_number}, {uuid.uuid4()}: он забрал паспорт."
            with self.lock:
                self.attempts.append(text)
            try:
                answer = browser.post("/en/", story_fields(page.body, text))
            except NETWORK_ERRORS as error:
                with self.lock:
                    self.post_failures[type(error).__name__] += 1
                time.sleep(PAUSE_AFTER_FAILURE)
                continue
            with self.lock:
                self.statuses[answer.status] += 1
                if answer.status == 302 and answer.headers.get("Location") == THANKS:
                    self.successes.append(text)
                elif len(self.problems) < 5:
                    self.problems.append(f"POST answered {answer.status}: {answer.body[:300]}")

    def note(self, problem: str) -> None:
        with self.lock:
            if len(self.problems) < 5:
                self.problems.append(problem)


def test_50_people_at_once_get_a_thank_you_for_exactly_the_stories_stored(
    env, tmp_path, postgres, database
):
    # Given gunicorn with three workers on PostgreSQL and Redis
    with gunicorn(env, tmp_path, workers=3) as server:
        # When 50 people send stories for 8 seconds
        load = Load(server.url).start().join()

    # Then each answer was a thank-you, and each thank-you is one stored story
    assert load.problems == []
    assert load.post_failures == Counter()
    assert set(load.statuses) == {302}
    assert len(load.successes) >= CLIENTS
    rows = stored(postgres, database)
    assert len(rows) == len(load.successes)
    texts = [row.text for row in rows]
    assert len(set(texts)) == len(texts), "a story was stored twice"
    assert sorted(texts) == sorted(load.successes)
    assert all(row.whole for row in rows)


def test_after_kill_9_mid_load_every_stored_story_is_whole(env, tmp_path, postgres, database):
    # Given 50 people sending stories to gunicorn (for at most a minute)
    server = Gunicorn(env, tmp_path, workers=3)
    load = Load(server.url, seconds=60)
    try:
        server.start()
        load.start()
        assert wait_for(lambda: len(load.successes) >= 2 * CLIENTS, seconds=20)

        # When master and workers are killed at once, mid-request, and started again
        server.kill()
        time.sleep(0.5)
        before_restart = len(load.successes)
        server.start()
        load.finish_in(3)
        load.join()
    finally:
        load.finish_in(0)
        server.stop()

    # Then requests were cut off, and people were thanked again after the restart
    assert sum(load.post_failures.values()) > 0, "the kill hit no request in flight"
    assert len(load.successes) > before_restart
    assert load.problems == []
    # And every stored story opens to one that was sent, whole, once; every thank-you
    # is among them; a request cut off may or may not have been stored
    rows = stored(postgres, database)
    texts = [row.text for row in rows]
    assert len(set(texts)) == len(texts), "a story was stored twice"
    assert set(texts) <= set(load.attempts)
    assert set(load.successes) <= set(texts)
    assert len(load.successes) <= len(rows) <= len(load.attempts)
    assert all(row.whole for row in rows)


# --- Redis stopped -------------------------------------------------------------------------

PROBE_ADDRESS = "198.51.100.23"  # TEST-NET-2: appears nowhere unless logged from a request


def test_with_redis_stopped_stories_are_taken_and_moderation_keeps_working(
    env, key_pair, tmp_path, postgres, database, private_redis
):
    # Given a server (with the private key, to moderate too) behind a proxy that names
    # the client in X-Real-IP, using Redis
    env["UNTOLD_PRIVATE_KEY_FILE"] = str(key_pair.private_file)
    env["UNTOLD_CLIENT_IP_HEADER"] = "X-Real-IP"
    user_agent = f"FaultProbe/{uuid.uuid4().hex}"
    headers = {"X-Real-IP": PROBE_ADDRESS, "User-Agent": user_agent}
    cookies = staff_session(env, "moderator-on-duty")
    with gunicorn(env, tmp_path, workers=2) as server:
        browser = Browser(server.url, headers)
        first = browser.post("/en/", story_fields(browser.get("/en/").body, "Before: Redis up."))
        assert first.status == 302
        assert any(key.startswith(b"untold:") for key in private_redis.stored_keys())

        # When Redis stops
        private_redis.stop()
        text = f"After: Redis down, {uuid.uuid4()}."
        page = browser.get("/en/")
        answer = browser.post("/en/", story_fields(page.body, text))

        # Then her story is still taken
        assert page.status == 200
        assert (answer.status, answer.headers.get("Location")) == (302, THANKS)
        assert browser.get(THANKS).status == 200
        assert sorted(row.text for row in stored(postgres, database)) == sorted(
            ["Before: Redis up.", text]
        )

        # And withdrawing, rate-limited through the cache too, still answers
        withdraw = browser.get("/en/withdraw/")
        done = browser.post(
            "/en/withdraw/",
            {
                **hidden_fields(withdraw.body, "csrfmiddlewaretoken"),
                "code": "1234 5678 9012 3450",
                "confirmed": "1",
            },
        )
        assert done.status == 200
        assert "If this code belonged to a story" in done.body

        # And the panel, whose sessions live in Redis alone (never in the database,
        # which they would stamp around new stories), says plainly that it must wait:
        # no 500, no traceback, and no session written anywhere else.
        moderator = Browser(server.url, headers={"Cookie": cookies})
        for answer in (moderator.get(LIST), Browser(server.url, headers).get(LOGIN_PAGE)):
            assert answer.status == 503
            assert "cannot reach the store that keeps staff sessions" in answer.body

        # And the log says the limit was skipped, with no client detail at all
        assert wait_for(lambda: "rate limit skipped" in server.log(), seconds=10)
        log = server.log()
    skipped = [line for line in log.splitlines() if "rate limit skipped" in line]
    assert len(skipped) == 2  # the story and the withdrawal
    assert "WARNING untold.sessions panel unavailable: session store unreachable" in log
    pattern = r"WARNING untold\.ratelimit rate limit skipped: cache unavailable \(\w+\)"
    assert all(re.fullmatch(pattern, line) for line in skipped), skipped
    assert PROBE_ADDRESS not in log
    assert user_agent not in log
    assert text not in log
    # gunicorn's own start-up line names the address it listens on; nothing else may.
    assert [
        line for line in log.splitlines() if "127.0.0.1" in line and "Listening" not in line
    ] == []
    assert "Traceback" not in log


# --- PostgreSQL stopped --------------------------------------------------------------------


def test_with_postgresql_stopped_she_gets_a_503_with_her_text_and_nothing_is_stored(
    env, tmp_path, postgres, database
):
    # Given a server that has stored one story, and a person with the form open
    with gunicorn(env, tmp_path, workers=2) as server:
        browser = Browser(server.url)
        first = browser.post("/en/", story_fields(browser.get("/en/").body, "Stored before."))
        assert first.status == 302
        text = f"Она пишет, пока база недоступна. {uuid.uuid4()}\nВторая строка."
        fields = story_fields(browser.get("/en/").body, text)

        # When PostgreSQL stops (a crash: no checkpoint, connections cut)
        postgres.stop("immediate")
        try:
            # Then the form page still loads: it needs no database
            assert Browser(server.url).get("/en/").status == 200
            assert browser.get("/en/").status == 200

            # And sending gets a 503 that says so and keeps her text in the form
            answer = browser.post("/en/", fields)
            assert answer.status == 503
            assert "Your story could not be saved" in answer.body
            assert "Nothing was stored. Your text is still here: please try again" in answer.body
            assert f">\n{text}</textarea>" in answer.body
            retry = story_fields(answer.body, text)
        finally:
            postgres.start()

        # And nothing of it was stored
        assert [row.text for row in stored(postgres, database)] == ["Stored before."]

        # And once the database is back, sending the same page again stores it
        again = browser.post("/en/", retry)
        assert (again.status, again.headers.get("Location")) == (302, THANKS)
        log = server.log()
    assert sorted(row.text for row in stored(postgres, database)) == sorted(
        ["Stored before.", text]
    )
    assert all(row.whole for row in stored(postgres, database))
    assert "a testimony could not be saved: OperationalError" in log
    assert text.splitlines()[0] not in log
    assert fields["csrfmiddlewaretoken"] not in log


def test_after_postgresql_restarts_the_next_story_is_stored_once(env, tmp_path, postgres, database):
    # Given one worker whose connection to PostgreSQL stays open between requests
    with gunicorn(env, tmp_path, workers=1) as server:
        browser = Browser(server.url)
        first = browser.post("/en/", story_fields(browser.get("/en/").body, "Before the restart."))
        assert first.status == 302
        fields = story_fields(browser.get("/en/").body, "After the restart.")

        # When PostgreSQL restarts, ending that connection without the worker knowing
        postgres.stop("fast")
        postgres.start()

        # Then her story is stored at the first try: the worker sends no health check
        # before it, and finds the connection gone only when it sends the story
        answer = browser.post("/en/", fields)
        assert (answer.status, answer.headers.get("Location")) == (302, THANKS)
    rows = stored(postgres, database)
    assert sorted(row.text for row in rows) == ["After the restart.", "Before the restart."]
    assert all(row.whole for row in rows)


# --- Keys the moderation side does not hold ------------------------------------------------


def insert(postgres: PrivatePostgres, database: str, testimony: Testimony) -> None:
    """Store a testimony sealed in this process, as the intake server would have."""
    with postgres.connect(database) as connection:
        connection.execute(
            "INSERT INTO submissions_testimony (id, received_on, language, sealed_text,"
            " forms_of_violence, age_group, region, teller, consent, status,"
            " sealed_campaign_text, receipt_digest)"
            " VALUES (%s, current_date, 'ru', %s, '', '', '', '', 'quote', 'new', %s, NULL)",
            (testimony.id, testimony.sealed_text, testimony.sealed_campaign_text),
        )


def sealed(text: str, campaign_text: str | None = None) -> Testimony:
    return new_testimony(text, campaign_text, save=False)


def fragments(value: bytes) -> list[str]:
    """How sealed bytes could leak into a page: hex, base64, or Python's bytes repr."""
    body = value[-48:]
    return [body.hex(), base64.b64encode(body).decode()[:32], repr(body)[2:34]]


def test_a_moderation_server_without_the_key_names_the_key_id_and_shows_no_text(
    settings, key_pair, second_key_pair, tmp_path, postgres, database
):
    # Given stories sealed to the old key, and one to the new key; and one whose sealed
    # text was moved from another row (context binding makes that fail)
    old = sealed("OLD-KEY-STORY Әйгерім", campaign_text="OLD-KEY-CAMPAIGN")
    use_keys(settings, second_key_pair, second_key_pair)
    new = sealed("NEW-KEY-STORY readable")
    moved = sealed("MOVED-STORY")
    moved.sealed_text = sealed("DONOR-STORY").sealed_text
    for testimony in (old, new, moved):
        insert(postgres, database, testimony)

    # And a moderation server that holds only the new private key
    env = server_env(
        second_key_pair.public_text,
        DATABASE_URL=postgres.url(database),
        UNTOLD_ROLE="moderation",
        UNTOLD_PRIVATE_KEY_FILE=str(second_key_pair.private_file),
    )
    moderator = Browser("", headers={"Cookie": staff_session(env, "mod")})
    with gunicorn(env, tmp_path, workers=1, ready_path="/moderation/login/") as server:
        moderator.base_url = server.url

        # When a moderator opens the list and each story
        listing = moderator.get(LIST)
        old_page = moderator.get(f"{LIST}{old.id}/change/")
        new_page = moderator.get(f"{LIST}{new.id}/change/")
        moved_page = moderator.get(f"{LIST}{moved.id}/change/")
        log = server.log()

    # Then every page answers
    assert [listing.status, old_page.status, new_page.status, moved_page.status] == [200] * 4
    assert all(t.id.hex[:8] in listing.body for t in (old, new, moved))
    # And the old story's page names the missing key, for the text and the campaign text
    missing = f"sealed to key id {key_pair.key_id.hex()}, whose private key is not loaded here"
    assert f"Cannot open this text: {missing}" in old_page.body
    assert f"The campaign text cannot be opened: {missing}" in old_page.body
    # And shows nothing as text that is not
    assert "OLD-KEY" not in old_page.body
    for value in (old.sealed_text, old.sealed_campaign_text):
        assert [leak for leak in fragments(value) if leak in old_page.body] == []
    # And the moved text is refused, never shown
    assert "Cannot open this text: the wrapped key was altered or belongs elsewhere" in (
        moved_page.body
    )
    assert "STORY" not in moved_page.body
    assert [leak for leak in fragments(moved.sealed_text) if leak in moved_page.body] == []
    # While the story sealed to the key it holds opens as usual
    assert "NEW-KEY-STORY readable" in new_page.body
    assert "Traceback" not in log
    # And only that reading is on record
    with postgres.connect(database) as connection:
        viewed = connection.execute(
            "SELECT testimony_id FROM submissions_auditevent WHERE action = 'viewed'"
        ).fetchall()
    assert viewed == [(new.id,)]

"""Anonymous: no IP address or user agent is stored or logged anywhere, whatever the
request does (succeeds, is too big, is forged, is rate limited, breaks the server).

Every scenario sends a distinctive address and user agent, then searches every column
of every table, every cache key and value, every log record (as the configured
formatter writes it) and the mail outbox for them, in clear and in the usual encodings.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis
import time_machine
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.mail import mail_admins
from django.db import connection
from django.test import Client, RequestFactory

from submissions.models import AuditEvent, Testimony
from submissions.ratelimit import cache_key, client_key
from tests.servers import hidden

ROOT = Path(__file__).resolve().parent.parent
IP = "203.0.113.77"
USER_AGENT = "UntoldProbe/9.9 marker-ua"
CLOSES = datetime.now(UTC) + timedelta(days=7)
FORM = "application/x-www-form-urlencoded"

# The address and the user agent as they might be written down: dotted, reversed (as
# in in-addr.arpa), as a number, packed, hashed; and the distinctive parts of the agent.
TEXT_MARKERS = [
    IP,
    ".".join(reversed(IP.split("."))),
    str(int(ipaddress.ip_address(IP))),
    ipaddress.ip_address(IP).packed.hex(),
    hashlib.sha256(IP.encode()).hexdigest(),
    hashlib.md5(IP.encode()).hexdigest(),  # noqa: S324  (a marker to look for, not a use)
    USER_AGENT,
    "UntoldProbe",
    "marker-ua",
    hashlib.sha256(USER_AGENT.encode()).hexdigest(),
]
BYTE_MARKERS = [marker.encode() for marker in TEXT_MARKERS] + [
    ipaddress.ip_address(IP).packed,
    IP.encode("utf-16-le"),
]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def open_campaign(settings):
    settings.UNTOLD_OPENS_AT = None
    settings.UNTOLD_CLOSES_AT = CLOSES
    settings.UNTOLD_RATE_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_SITE = "1000/h"
    settings.UNTOLD_CLIENT_IP_HEADER = ""
    # With an administrator configured, Django's mail_admins would send the request in
    # an error mail if it were still wired up.
    settings.ADMINS = [("Admin", "admin@example.org")]


def configured_formatter() -> logging.Formatter:
    """The formatter the console handler really uses, as built from settings.LOGGING."""
    handler = next(h for h in logging.getLogger("untold").handlers if h.formatter)
    assert handler.formatter._fmt == django_settings.LOGGING["formatters"]["plain"]["format"]
    return handler.formatter


def as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def database_dump() -> list[tuple[str, bytes]]:
    """Every value of every column of every table, as bytes."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            # Table names come from the database itself, quoted.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                values += [(table, as_bytes(value)) for value in row]
    return values


def cache_dump() -> list[bytes]:
    """Every key and value in the shared cache, as stored."""
    cache = caches["default"]
    if django_settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        return [as_bytes(key) for key in cache._cache] + [
            bytes(value) for value in cache._cache.values()
        ]
    client = redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"])
    dumped = []
    for key in client.scan_iter(count=1000):
        dumped += [key, client.dump(key) or b""]
    return dumped


def raw_address_rate_limit_keys() -> list[str]:
    """The cache keys a limit keyed on the raw address would use (django-ratelimit's own
    ``key="ip"`` hashes it unsalted, which is reversible by trying every IPv4 address)."""
    keys = []
    rates = {
        django_settings.UNTOLD_RATE_PER_CLIENT,
        django_settings.UNTOLD_RATE_WITHDRAW_PER_CLIENT,
        "1/h",
    }
    for group in ("submit", "withdraw"):
        for rate in rates:
            keys.append(cache_key(group, rate, IP))
    return keys


def assert_no_trace(records: list[logging.LogRecord], outbox: list) -> None:
    for table, value in database_dump():
        for marker in BYTE_MARKERS:
            assert marker not in value, f"{marker!r} stored in table {table}"

    stored = cache_dump()
    for value in stored:
        for marker in BYTE_MARKERS:
            assert marker not in value, f"{marker!r} in the cache"
        # A value pickled by the local-memory cache: look inside it as well.
        for marker in TEXT_MARKERS:
            assert marker not in repr(safe_unpickle(value))
    for key in raw_address_rate_limit_keys():
        assert not any(key.encode() in value for value in stored), "raw-address ratelimit key"

    formatter = configured_formatter()
    for record in records:
        written = formatter.format(record)
        for marker in TEXT_MARKERS:
            assert marker not in written, f"{marker!r} logged: {written}"
            assert marker not in record.getMessage()
            assert marker not in repr(record.args)
            # Django attaches the request to django.request and django.security records;
            # a handler that printed it would show its repr.
            assert marker not in repr(getattr(record, "request", ""))
            other = {k: v for k, v in vars(record).items() if k not in {"request", "exc_info"}}
            assert marker not in repr(other)

    assert outbox == [], "mail was sent"


def safe_unpickle(value: bytes) -> object:
    try:
        return pickle.loads(value)  # noqa: S301  (our own cache, in a test)
    except Exception:
        return value


def browser(**extra: object) -> Client:
    return Client(
        REMOTE_ADDR=IP, HTTP_USER_AGENT=USER_AGENT, raise_request_exception=False, **extra
    )


def story(client: Client, **fields: str) -> dict[str, str]:
    page = client.get("/en/").content.decode()
    served = hidden(page, "served")
    return {
        "text": "Он кричал на меня каждый вечер.",
        "consent": "statistics",
        "served": served,
        **fields,
    }


def successful_submission(settings) -> None:
    client = browser()
    response = client.post("/en/", story(client))
    assert response.status_code == 302
    assert client.get("/en/thanks/").status_code == 200
    assert Testimony.objects.count() == 1


def oversized_body(settings) -> None:
    client = browser()
    fields = story(client, text="x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))
    response = client.post("/en/", urlencode(fields), content_type=FORM)
    assert response.status_code == 400
    assert Testimony.objects.count() == 0


def too_many_fields(settings) -> None:
    client = browser()
    fields = [*story(client).items()]
    fields += [(f"extra{i}", "1") for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)]
    response = client.post("/en/", urlencode(fields), content_type=FORM)
    assert response.status_code == 400
    assert Testimony.objects.count() == 0


def bad_host_header(settings) -> None:
    client = browser(HTTP_HOST="evil.example")
    assert client.get("/en/").status_code == 400
    assert client.post("/en/", {"text": "x"}).status_code == 400


def missing_csrf_token(settings) -> None:
    client = browser(enforce_csrf_checks=True)
    fields = story(client)
    client.cookies.clear()
    response = client.post("/en/", fields)
    assert response.status_code == 403
    assert Testimony.objects.count() == 0


def rate_limited(settings) -> None:
    settings.UNTOLD_RATE_PER_CLIENT = "1/h"
    client = browser()
    assert client.post("/en/", story(client)).status_code == 302
    assert client.post("/en/", story(client)).status_code == 429
    assert Testimony.objects.count() == 1


def withdraw_attempts(settings) -> None:
    client = browser()
    assert client.post("/en/withdraw/", {"code": "1234 5678 1234 5672"}).status_code == 200
    assert client.post("/en/withdraw/", {"code": "nope"}).status_code == 400
    assert client.get("/en/no-such-page/").status_code == 404


def server_error(settings) -> None:
    # A misconfigured server (no public key to seal with) fails inside the view: Django's
    # own handler answers 500 and logs the error with its traceback.
    client = browser()
    fields = story(client)
    settings.UNTOLD_PUBLIC_KEYS = []
    settings.UNTOLD_PRIVATE_KEY_FILES = []
    response = client.post("/en/", fields)
    assert response.status_code == 500
    assert Testimony.objects.count() == 0


def database_error(settings) -> None:
    # The table disappears for one request (inside the test's transaction, so the
    # rename is undone whatever happens): the save fails and the view answers 503.
    client = browser()
    fields = story(client)
    table = connection.ops.quote_name(Testimony._meta.db_table)
    away = connection.ops.quote_name("testimony_away")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {away}")
    try:
        response = client.post("/en/", fields)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {away} RENAME TO {table}")
    assert response.status_code == 503
    assert "could not be saved" in response.content.decode()
    assert Testimony.objects.count() == 0


SCENARIOS: list[Callable] = [
    successful_submission,
    oversized_body,
    too_many_fields,
    bad_host_header,
    missing_csrf_token,
    rate_limited,
    withdraw_attempts,
    server_error,
    database_error,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_no_address_or_user_agent_is_stored_or_logged(scenario, settings, log_records, mailoutbox):
    scenario(settings)

    assert_no_trace(log_records, mailoutbox)


def leak_to_database() -> None:
    AuditEvent.record(AuditEvent.Action.VIEWED, actor=f"probe {IP}")


def leak_to_cache() -> None:
    caches["default"].set("leak", {"agent": USER_AGENT})


def leak_to_log() -> None:
    logging.getLogger("untold.probe").debug("client %s", IP)


def leak_to_mail() -> None:
    mail_admins("error", "nothing identifying")


@pytest.mark.parametrize(
    ("leak", "found"),
    [
        (leak_to_database, "stored in table"),
        (leak_to_cache, "in the cache"),
        (leak_to_log, "logged"),
        (leak_to_mail, "mail"),
    ],
    ids=["database", "cache", "log", "mail"],
)
def test_the_search_finds_what_was_kept(leak, found, log_records, mailoutbox):
    """The control: the same search fails when something does keep the address."""
    browser().get("/en/")
    leak()

    with pytest.raises(AssertionError, match=found):
        assert_no_trace(log_records, mailoutbox)


PUBLIC_PAGES = ["/", "/exit/", "/en/", "/kk/thanks/", "/ru/withdraw/", "/en/privacy/", "/en/x/"]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_send_privacy_headers(client, path):
    response = client.get(path)

    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    csp = [part.strip() for part in response["Content-Security-Policy"].split(";")]
    assert "default-src 'none'" in csp
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation"):
        assert f"{feature}=()" in permissions


def test_the_csrf_cookie_is_a_browser_session_cookie(client):
    response = client.get("/en/")

    cookie = response.cookies["csrftoken"]
    assert cookie["max-age"] == "" and cookie["expires"] == ""
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"


def test_public_pages_set_no_lasting_cookie_and_no_session(client):
    page = client.get("/en/").content.decode()
    served = hidden(page, "served")
    posted = client.post("/en/", {"text": "x", "consent": "quote", "served": served})
    thanks = client.get("/en/thanks/")

    for response in (posted, thanks):
        assert "sessionid" not in response.cookies
        for cookie in response.cookies.values():
            if cookie.key.startswith("receipt_"):  # the thanks pages', ten minutes at most
                assert cookie["path"].endswith("/thanks/") and cookie["max-age"] in ("", 0, 600)
            elif cookie.value:  # a deletion carries a date in the past, which is fine
                assert cookie["max-age"] == "" and cookie["expires"] == "", cookie.key
    assert posted.cookies["receipt_en"]["secure"] is True  # not DEBUG under test


PRODUCTION_COOKIE_SETTINGS = """
from django.conf import settings
print(settings.DEBUG, settings.CSRF_COOKIE_SECURE, settings.SESSION_COOKIE_SECURE,
      settings.CSRF_COOKIE_HTTPONLY, settings.CSRF_COOKIE_AGE, settings.CSRF_COOKIE_SAMESITE,
      settings.SESSION_EXPIRE_AT_BROWSER_CLOSE, settings.CSRF_COOKIE_NAME,
      settings.SESSION_COOKIE_NAME)
"""


@pytest.mark.parametrize(
    ("debug", "expected"),
    [
        # "__Host-": Secure, path /, no domain, so no sibling subdomain can plant them.
        ("", "False True True True None Strict True __Host-csrftoken __Host-sessionid"),
        ("1", "True False False True None Strict True csrftoken sessionid"),
    ],
)
def test_cookies_are_secure_outside_debug(debug, expected):
    # CSRF_COOKIE_SECURE is computed from DEBUG at import, so a fresh process reads it.
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "untold.settings",
        "UNTOLD_DEBUG": debug,
    }
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_COOKIE_SETTINGS],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.strip() == expected


def request_from(address: str, **meta: str):
    return RequestFactory().post("/en/", REMOTE_ADDR=address, **meta)


def test_the_client_rate_limit_key_does_not_reveal_the_address():
    key = client_key(request_from(IP))

    assert IP not in key
    assert key != hashlib.sha256(IP.encode()).hexdigest()
    assert key != hashlib.sha256(f"submit{IP}".encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", key)


def test_the_client_rate_limit_key_changes_with_the_day():
    # 06:00 and 18:00 UTC are the same day in UTC and in Almaty (11:00 and 23:00).
    with time_machine.travel(datetime(2026, 12, 9, 6, 0, tzinfo=UTC), tick=False):
        morning = client_key(request_from(IP))
    with time_machine.travel(datetime(2026, 12, 9, 18, 0, tzinfo=UTC), tick=False):
        evening = client_key(request_from(IP))
    with time_machine.travel(datetime(2026, 12, 10, 6, 0, tzinfo=UTC), tick=False):
        next_day = client_key(request_from(IP))

    assert morning == evening
    assert next_day != evening


def test_the_client_rate_limit_key_depends_on_the_server_secret(settings):
    before = client_key(request_from(IP))
    settings.SECRET_KEY = "another-" + settings.SECRET_KEY

    assert client_key(request_from(IP)) != before


def test_ipv6_clients_are_counted_by_their_64_bit_prefix():
    same = client_key(request_from("2001:db8:1234:5678::1"))
    neighbour = client_key(request_from("2001:db8:1234:5678:abcd:ef01:2345:6789"))
    other = client_key(request_from("2001:db8:1234:5679::1"))

    assert same == neighbour
    assert other != same


def test_ipv4_clients_are_counted_by_their_whole_address():
    assert client_key(request_from("198.51.100.7")) != client_key(request_from("198.51.100.8"))


def test_the_configured_proxy_header_is_used_and_remote_addr_ignored(settings):
    settings.UNTOLD_CLIENT_IP_HEADER = "X-Real-IP"

    via_one = client_key(request_from("10.0.0.1", HTTP_X_REAL_IP="198.51.100.7"))
    via_two = client_key(request_from("10.0.0.2", HTTP_X_REAL_IP="198.51.100.7"))
    other = client_key(request_from("10.0.0.1", HTTP_X_REAL_IP="198.51.100.8"))
    direct = client_key(request_from("198.51.100.7"))

    assert via_one == via_two == direct
    assert other != via_one


def test_without_a_configured_header_a_client_set_header_is_ignored(settings):
    settings.UNTOLD_CLIENT_IP_HEADER = ""

    forged = client_key(request_from(IP, HTTP_X_REAL_IP="198.51.100.7"))

    assert forged == client_key(request_from(IP))


def test_clients_behind_the_proxy_are_limited_by_the_header(settings):
    settings.UNTOLD_CLIENT_IP_HEADER = "X-Real-IP"
    settings.UNTOLD_RATE_PER_CLIENT = "1/h"
    first = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_REAL_IP=IP)
    second = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP=IP)
    someone_else = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_REAL_IP="198.51.100.9")

    assert first.post("/en/", story(first)).status_code == 302
    assert second.post("/en/", story(second)).status_code == 429
    assert someone_else.post("/en/", story(someone_else)).status_code == 302

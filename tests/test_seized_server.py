"""A seized or copied server opens no story while nobody's browser is at hand.

Given a finished migration (no key file on the server; the offline key file in a safe)
and two moderators, one of them signed in right now: take a copy of everything the
server holds (every database row, every cache entry and session, every file of the
project, every setting and environment variable) but no browser cookie, and try every
piece of key material in it, as every kind of key. No story and no campaign text
opens. The control: the same search, given the signed-in moderator's cookie too,
opens them, so the search is shown to work."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from importlib import import_module
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from submissions import crypto, custody
from submissions.keys import configured_keys, holding
from submissions.models import CAMPAIGN_TEXT_FIELD, TEXT_FIELD, StaffKey, Testimony
from submissions.staff import StaffGroup
from tests.conftest import new_testimony
from tests.custody import give_account_key
from tests.panel import PASSWORD, current_code, log_in, staff

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent
STORY = "SEIZED-STORY-5d1e"
CAMPAIGN = "SEIZED-CAMPAIGN-8b07"


@pytest.fixture
def server(settings, tmp_path) -> dict:
    """The server after the migration, with one moderator signed in; returns the
    signed-in browser's keys cookie (which the copy does not get)."""
    from tests.panel import ensure_groups

    ensure_groups()
    private_key, campaign_key = crypto.generate_private_key(), crypto.new_campaign_key()
    safe = tmp_path / "safe"
    safe.mkdir()
    key_file = safe / "untold-keys.pem"
    key_file.write_bytes(crypto.key_file_text(private_key, campaign_key))
    settings.UNTOLD_PUBLIC_KEYS = [crypto.public_key_to_text(private_key.public_key())]
    settings.UNTOLD_CAMPAIGN_KEY_ID = crypto.campaign_key_id(campaign_key).hex()
    settings.UNTOLD_PRIVATE_KEY_FILES = []
    configured_keys.cache_clear()
    opened = crypto.Keyring.load((), [key_file.read_bytes()])
    ring = configured_keys().holding(opened.private_keys, opened.campaign_keys)
    with holding(ring):
        for _ in range(3):
            new_testimony(STORY, CAMPAIGN, status="approved")
    cookie = None
    for name in ("mira", "nura"):
        user, device = staff(name, StaffGroup.MODERATOR)
        give_account_key(user, PASSWORD)
        custody.grant(user, custody.secrets_of(ring), by="test")
        client = Client(HTTP_HOST="localhost")
        assert log_in(client, name, code=current_code(device)).status_code == 302
        if name == "mira":  # stays signed in
            cookie = client.cookies[settings.UNTOLD_KEYS_COOKIE_NAME].value
        else:
            client.post("/moderation/logout/")
    return {"cookie": cookie}


def database_values() -> Iterator[object]:
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                yield from row


def session_values() -> Iterator[object]:
    """Every value in every session, wherever sessions are kept (database or cache)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(Session.objects.values_list("session_key", flat=True))
    if settings.SESSION_ENGINE.endswith(".cache"):
        from django_redis import get_redis_connection

        prefix = store.cache_key_prefix
        keys = [
            key.decode().split(prefix, 1)[1]
            for key in get_redis_connection("default").scan_iter(f"*{prefix}*")
        ]
    for key in keys:
        yield key
        yield from store(key).load().values()


def cache_values() -> Iterator[object]:
    """Every raw entry in Redis, if the cache is Redis. (The local-memory cache of the
    SQLite run holds rate-limit counts only; its sessions are in the database.)"""
    if not settings.CACHES["default"]["BACKEND"].startswith("django_redis"):
        return
    from django_redis import get_redis_connection

    redis = get_redis_connection("default")
    for key in redis.scan_iter("*"):
        yield key
        if redis.type(key) == b"string":
            yield redis.get(key)


def file_values() -> Iterator[bytes]:
    skip = {".venv", ".git", "node_modules", "__pycache__"}
    for folder, names, files in os.walk(ROOT):
        names[:] = [name for name in names if name not in skip]
        for name in files:
            path = Path(folder) / name
            if path.stat().st_size < 2_000_000:
                yield path.read_bytes()
    for path in Path(settings.BASE_DIR).glob("*.sqlite3*"):
        yield path.read_bytes()
    # Files the configuration names, wherever they are (key files, passphrase files).
    for value in setting_values():
        for piece in flatten(value):
            if piece.startswith(b"/") and b"\n" not in piece and Path(piece.decode()).is_file():
                yield Path(piece.decode()).read_bytes()


def setting_values() -> Iterator[object]:
    for name in dir(settings):
        if name.isupper():
            yield getattr(settings, name)
    yield from os.environ.values()


def flatten(value: object) -> Iterator[bytes]:
    if isinstance(value, dict):
        for item in value.items():
            yield from flatten(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from flatten(item)
    elif isinstance(value, memoryview | bytearray | bytes):
        yield bytes(value)
    elif isinstance(value, str):
        yield value.encode("utf-8", "surrogatepass")
    elif value is not None:
        yield str(value).encode()


TOKEN = re.compile(rb"[A-Za-z0-9+/=_\-]{16,}")


def materials(values: Iterable[object]) -> set[bytes]:
    """Every byte string, and every base64, URL-safe base64 or hex token in it, decoded."""
    found: set[bytes] = set()
    for raw in (piece for value in values for piece in flatten(value)):
        found.add(raw)
        for token in TOKEN.findall(raw)[:200]:
            found.add(token)
            padded = token + b"=" * (-len(token) % 4)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                with contextlib.suppress(binascii.Error, ValueError):
                    found.add(decode(padded))
            with contextlib.suppress(ValueError):
                found.add(bytes.fromhex(token.decode()))
    return found


def opens_anything(found: set[bytes], session_pieces: set[bytes]) -> list[str]:
    """Try every piece as every kind of key; return what opened."""
    public = configured_keys()
    keys32 = {piece for piece in found if len(piece) == 32}
    opened: list[str] = []
    secrets = set(keys32)
    # Account keys: any 32-byte piece as the key that wraps them.
    for stored in StaffKey.objects.exclude(public_key=b"").select_related("user"):
        for piece in keys32:
            try:
                private = crypto.unwrap_account_key(
                    bytes(stored.wrapped_private_key), piece, custody.owner(stored.user)
                )
            except (crypto.SealError, ValueError):
                continue
            opened.append(f"the account key of {stored.user}")
            secrets |= set(custody.open_grants(stored.user, private).values())
    # Session halves: any 32-byte piece as the cookie's key.
    bindings = [custody.session_binding(s.user) for s in StaffKey.objects.select_related("user")]
    for piece in (p for p in session_pieces if len(p) > 28):
        for key in keys32:
            for binding in bindings:
                try:
                    plain = AESGCM(key).decrypt(piece[:12], piece[12:], binding)
                except Exception:  # noqa: S112 - any failure: this pair does not open
                    continue
                opened.append("a session's half of the keys")
                secrets |= {base64.b64decode(value) for _, _, value in json.loads(plain)}
    record_id, text, campaign = Testimony.objects.values_list(
        "id", "sealed_text", "sealed_campaign_text"
    )[0]
    for piece in secrets:
        story_ring = public.holding({crypto.sealed_key_id(text): as_x25519(piece)}, {})
        campaign_ring = public.holding({}, {crypto.sealed_key_id(campaign): piece})
        if opens(story_ring.open, text, record_id, TEXT_FIELD):
            opened.append("a story, with a piece as the story key")
        if opens(campaign_ring.open_campaign, campaign, record_id, CAMPAIGN_TEXT_FIELD):
            opened.append("a campaign text, with a piece as its key")
    for piece in (p for p in found if b"-----BEGIN" in p):
        try:
            ring = crypto.Keyring.load((), [piece])
        except crypto.SealError:
            continue
        if opens(public.holding(ring.private_keys, {}).open, text, record_id, TEXT_FIELD):
            opened.append("a story, with a key file found on the server")
    return opened


def as_x25519(piece: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(piece)


def opens(opener, sealed: bytes, record_id, field_name: str) -> bool:
    try:
        opener(bytes(sealed), record_id=record_id, field_name=field_name)
    except crypto.SealError:
        return False
    return True


def a_copy_of_everything() -> tuple[set[bytes], set[bytes]]:
    """Every piece of the copy, and the pieces of its sessions."""
    sessions = materials(list(session_values()))
    values: list[object] = [*database_values(), *cache_values(), *setting_values()]
    return materials(values) | materials(file_values()) | sessions, sessions


def test_a_copy_of_everything_on_the_server_opens_no_story(server):
    found, sessions = a_copy_of_everything()

    assert len(found) > 1000  # the copy is not empty
    assert opens_anything(found, sessions) == []


def test_the_same_search_with_the_browsers_cookie_opens_the_stories(server):
    found, sessions = a_copy_of_everything()
    found |= materials([server["cookie"]])

    opened = opens_anything(found, sessions)

    assert "a session's half of the keys" in opened
    assert "a story, with a piece as the story key" in opened
    assert "a campaign text, with a piece as its key" in opened

"""Shared fixtures: every test runs with a real key pair written to disk, as in production.

The suite runs on SQLite by default and on PostgreSQL when DATABASE_URL points there
(`.ci/run` does both). Nothing is mocked: keys, database and cache are the real ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.utils import translation

from submissions import crypto
from submissions.keys import configured_keys
from submissions.models import Testimony
from tests.browser import chromium
from tests.logs import recorded


@dataclass
class KeyPair:
    public_text: str
    private_file: Path
    key_id: bytes


def write_key_pair(folder: Path, passphrase: bytes | None = None) -> KeyPair:
    private_key = crypto.generate_private_key()
    key_id = crypto.key_id(private_key.public_key())
    private_file = folder / f"private-{key_id.hex()}.pem"
    private_file.write_bytes(crypto.private_key_to_pem(private_key, passphrase))
    private_file.chmod(0o600)
    return KeyPair(crypto.public_key_to_text(private_key.public_key()), private_file, key_id)


def use_keys(settings, active: KeyPair, *private: KeyPair) -> None:
    """Seal to ``active``; open with the private keys of ``private`` (none: intake's view)."""
    settings.UNTOLD_PUBLIC_KEYS = [active.public_text]
    settings.UNTOLD_PRIVATE_KEY_FILES = [str(pair.private_file) for pair in private]


def new_testimony(
    text: str, campaign_text: str | None = None, *, save: bool = True, **fields: object
) -> Testimony:
    """A testimony as the form makes one: its text (and a campaign text, if given) sealed
    with the configured keys. ``fields`` replace the defaults, Russian and "quote"."""
    testimony = Testimony(**{"language": "ru", "consent": "quote", **fields})
    testimony.seal_text(text)
    if campaign_text is not None:
        testimony.seal_campaign_text(campaign_text)
    if save:
        testimony.save()
    return testimony


def another_connection():
    """A second PostgreSQL connection to the test database, outside Django: another
    moderator, or a withdrawal, working at the same moment."""
    import psycopg
    from django.db import connection

    config = connection.settings_dict
    return psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"],
        password=config["PASSWORD"] or None,
        dbname=config["NAME"],
    )


def wait_for_a_waiting_lock(observer) -> None:
    """Return once some PostgreSQL backend waits for a lock; fail after 3 seconds."""
    from tests.servers import wait_for

    def waiting() -> int:
        return observer.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]

    assert wait_for(waiting, seconds=3, step=0.01), "nobody waited for the lock"


@pytest.fixture(scope="session")
def key_pair(tmp_path_factory) -> KeyPair:
    return write_key_pair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def second_key_pair(tmp_path_factory) -> KeyPair:
    return write_key_pair(tmp_path_factory.mktemp("keys2"))


@pytest.fixture(autouse=True)
def sealing_keys(settings, key_pair) -> KeyPair:
    """The moderation side's view: the active public key and its private key."""
    use_keys(settings, key_pair, key_pair)
    settings.UNTOLD_PRIVATE_KEY_PASSPHRASE = ""
    configured_keys.cache_clear()
    yield key_pair
    configured_keys.cache_clear()


@pytest.fixture
def intake_only(settings, key_pair) -> None:
    """The intake role's view: the public key alone."""
    settings.UNTOLD_ROLE = "intake"
    settings.UNTOLD_PRIVATE_KEY_FILES = []


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, launched once per test module (tests/browser.py)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def log_records() -> Iterator[list[logging.LogRecord]]:
    """Every log record made during the test, from every logger (tests/logs.py)."""
    with recorded() as records:
        yield records


@pytest.fixture(autouse=True)
def no_language_left_over():
    """A request's language stays active in its thread after the test client's
    response: a test must start in the default language, whatever ran before it."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def empty_cache():
    """Rate-limit counts must not carry over from one test to the next (on Redis too)."""
    caches["default"].clear()
    yield
    caches["default"].clear()

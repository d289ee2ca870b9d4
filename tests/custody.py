"""Keys held by people, for panel tests: an account's own key, made without paying the
Argon2id derivation in every test, and the grants its group should hold."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from submissions import crypto, custody
from submissions.keys import configured_keys

SALT = bytes(16)


@cache
def wrapping_key(password: str) -> bytes:
    """Derived once per password for the whole run (the real derivation, fixed salt)."""
    return crypto.account_wrapping_key(password, SALT, crypto.ACCOUNT_KDF)


def give_account_key(user: User, password: str):
    return custody.make_account_key(
        user, password, reason="test", derived=(SALT, wrapping_key(password))
    )


def give_keys(user: User, password: str) -> custody.Held:
    """Make ``user``'s key and grant it what its group holds, from the configured key
    file; return what its session then holds."""
    private_key = give_account_key(user, password)
    if custody.holds(user):
        custody.grant(user, custody.secrets_of(configured_keys()), by="tests")
    return custody.open_grants(user, private_key)


def hold_in_session(client: Client, user: User, held: custody.Held) -> None:
    """Put ``held`` in the client's session and its half of the key in its cookie, as
    the login page leaves them."""
    stored, cookie = custody.sealed_for_session(held, user)
    session = client.session
    session[custody.SESSION_KEY] = stored
    session.save()
    client.cookies[settings.UNTOLD_KEYS_COOKIE_NAME] = cookie

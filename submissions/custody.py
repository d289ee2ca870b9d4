"""People hold the keys: a seized or copied server opens no story while nobody is
signed in.

Threat: someone copies the moderation host (its disk, database, cache, environment,
backups) or seizes it. Nothing there opens a story: each staff account's private key
is stored wrapped under its password (Argon2id), the campaign secrets are stored only
sealed to accounts' public keys (``KeyGrant``), and while someone is signed in the
secrets they opened sit in the session encrypted under a key that lives only in their
browser's cookie. The offline key file, kept off the server, is the recovery path.

Who holds what (``HOLDS``): moderators hold the story key and the campaign-text key;
campaign staff the campaign-text key; administrators, superusers and inactive
accounts nothing. An account opens nothing until someone holding the secrets grants
them: a signed-in moderator in the panel, or the command line with the key file.
Every grant, revocation, new key and re-sealed key is on the audit trail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from submissions import crypto, keys
from submissions.accounts import actor
from submissions.middleware import in_panel
from submissions.models import AuditEvent, KeyGrant, Secret, StaffKey
from submissions.staff import StaffGroup

Action = AuditEvent.Action
HOLDS: dict[str, frozenset[str]] = {
    StaffGroup.MODERATOR: frozenset({Secret.STORY, Secret.CAMPAIGN_TEXT}),
    StaffGroup.CAMPAIGN: frozenset({Secret.CAMPAIGN_TEXT}),
}
SERVER_KEY_FILE = "system (key file on this server)"
SESSION_KEY = "untold_held_keys"
# What a person holds: (secret, key id in hex) -> the secret's bytes.
Held = dict[tuple[str, str], bytes]


class CustodyError(Exception):
    """A grant that cannot be made; the message says why, in plain words."""


def holds(user: User) -> frozenset[str]:
    """The secrets this account's groups should hold."""
    if not user.is_active or user.is_superuser:
        return frozenset()
    # groups.all(), not a values query: a page listing many accounts prefetches them.
    groups = user.groups.all()
    return frozenset().union(*(HOLDS.get(group.name, frozenset()) for group in groups))


def fingerprint(public_key: bytes) -> str:
    """An account key's fingerprint, as the Keys page shows it, to compare by voice."""
    digest = hashlib.sha256(bytes(public_key)).hexdigest()[:20].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 20, 4))


def secrets_of(ring: crypto.Keyring) -> Held:
    """The campaign secrets a keyring holds, as they are granted."""
    held: Held = {
        (Secret.STORY, kid.hex()): crypto.raw_private(key) for kid, key in ring.private_keys.items()
    }
    held.update({(Secret.CAMPAIGN_TEXT, kid.hex()): key for kid, key in ring.campaign_keys.items()})
    return held


def ring_of(held: Mapping[tuple[str, str], bytes]) -> crypto.Keyring:
    """The configured public keys with these secrets: what a person can open."""
    private = {
        bytes.fromhex(kid): X25519PrivateKey.from_private_bytes(secret)
        for (kind, kid), secret in held.items()
        if kind == Secret.STORY
    }
    campaign = {
        bytes.fromhex(kid): secret
        for (kind, kid), secret in held.items()
        if kind == Secret.CAMPAIGN_TEXT
    }
    return keys.configured_keys().holding(private, campaign)


def grant_info(user: User, secret: str, key_id: str) -> bytes:
    return f"untold grant|{user.pk}|{secret}|{key_id}".encode()


# --- account keys --------------------------------------------------------------------


def make_account_key(
    user: User, password: str, *, reason: str, derived: tuple[bytes, bytes] | None = None
) -> X25519PrivateKey:
    """A new key pair for ``user``, wrapped under ``password``. Grants sealed to an
    earlier key can no longer be opened, so they go. ``derived`` is a (salt, wrapping
    key) pair already derived from the password."""
    private_key = crypto.generate_private_key()
    if derived is None:
        salt = os.urandom(crypto.SALT_LENGTH)
        derived = salt, crypto.account_wrapping_key(password, salt, crypto.ACCOUNT_KDF)
    salt, wrapping_key = derived
    with transaction.atomic():
        KeyGrant.objects.filter(user=user).delete()
        StaffKey.objects.update_or_create(
            user=user,
            defaults={
                "public_key": crypto.raw_public(private_key.public_key()),
                "wrapped_private_key": crypto.wrap_account_key(
                    private_key, wrapping_key, owner(user)
                ),
                "salt": salt,
                "kdf": crypto.ACCOUNT_KDF,
            },
        )
        record(Action.KEY_MADE, user, reason=reason)
    return private_key


def open_account_key(user: User, password: str) -> X25519PrivateKey:
    """The account's private key; raises SealError if there is none or the password
    does not open it."""
    key = StaffKey.objects.filter(user=user).exclude(public_key=b"").first()
    if key is None:
        raise crypto.SealError("this account has no key yet")
    wrapping_key = crypto.account_wrapping_key(password, bytes(key.salt), key.kdf)
    return crypto.unwrap_account_key(bytes(key.wrapped_private_key), wrapping_key, owner(user))


def reseal_account_key(user: User, old_password: str, new_password: str) -> None:
    """Wrap the account's key under its new password (a password change in the panel).
    If the old password does not open it, the account gets a new key and no grants."""
    try:
        private_key = open_account_key(user, old_password)
    except crypto.SealError:
        make_account_key(user, new_password, reason="password changed; the old key did not open")
        return
    salt = os.urandom(crypto.SALT_LENGTH)
    wrapping_key = crypto.account_wrapping_key(new_password, salt, crypto.ACCOUNT_KDF)
    StaffKey.objects.filter(user=user).update(
        wrapped_private_key=crypto.wrap_account_key(private_key, wrapping_key, owner(user)),
        salt=salt,
        kdf=crypto.ACCOUNT_KDF,
    )
    record(Action.KEY_RESEALED, user)


def owner(user: User) -> bytes:
    return f"untold account|{user.pk}".encode()


def unlock(user: User, password: str) -> Held:
    """At sign-in, with the password just verified: open the account's key (making it
    at the first sign-in, or anew if the password was set where the key could not
    follow), grant a carried-over account what it should hold if this server still
    has a key file, and open the account's grants."""
    stored = StaffKey.objects.filter(user=user).first()
    carried_over = stored is not None and stored.carried_over
    if stored is None or not stored.public_key:
        private_key = make_account_key(user, password, reason="first sign-in")
    else:
        try:
            private_key = open_account_key(user, password)
        except crypto.SealError:
            private_key = make_account_key(user, password, reason="password set elsewhere")
    if carried_over:
        server = keys.configured_keys()
        if server.can_open:
            grant(user, secrets_of(server), by=SERVER_KEY_FILE)
        StaffKey.objects.filter(user=user).update(carried_over=False)
    return open_grants(user, private_key)


def open_grants(user: User, private_key: X25519PrivateKey) -> Held:
    held: Held = {}
    for row in KeyGrant.objects.filter(user=user, secret__in=holds(user)):
        info = grant_info(user, row.secret, row.key_id)
        held[(row.secret, row.key_id)] = crypto.open_secret(bytes(row.sealed), private_key, info)
    return held


# --- grants --------------------------------------------------------------------------


def grant(user: User, held: Mapping[tuple[str, str], bytes], *, by: str) -> int:
    """Seal to ``user`` each secret in ``held`` that the account's groups should hold;
    returns how many grants are new. Raises CustodyError if the account holds nothing
    or has no key yet."""
    wanted = holds(user)
    if not wanted:
        raise CustodyError(f"{user.get_username()} is in no group that holds keys.")
    stored = StaffKey.objects.filter(user=user).exclude(public_key=b"").first()
    if stored is None:
        raise CustodyError(
            f"{user.get_username()} has not signed in yet, so there is no key to grant to."
        )
    public_key = X25519PublicKey.from_public_bytes(bytes(stored.public_key))
    made = []
    with transaction.atomic():
        for (secret, key_id), value in held.items():
            if secret not in wanted:
                continue
            if KeyGrant.objects.filter(user=user, secret=secret, key_id=key_id).exists():
                continue
            sealed = crypto.seal_secret(value, public_key, grant_info(user, secret, key_id))
            KeyGrant.objects.create(
                user=user, secret=secret, key_id=key_id, sealed=sealed, granted_by=by
            )
            made.append(f"{secret} {key_id}")
        if made:
            record(Action.KEY_GRANTED, user, by=by, keys=", ".join(made))
    return len(made)


def revoke(user: User, *, by: str, reason: str = "revoked") -> int:
    """Take every grant from ``user``; returns how many went. Effective at the
    account's next request: the session's copy is dropped as soon as it is read."""
    with transaction.atomic():
        gone, _ = KeyGrant.objects.filter(user=user).delete()
        if gone:
            record(Action.KEY_REVOKED, user, by=by, reason=reason)
    return gone


def record(action: str, user: User, **detail: object) -> None:
    AuditEvent.objects.create(
        action=action, actor=actor.get(), subject=user.get_username(), detail=detail
    )


@receiver(post_save, sender=User)
def drop_grants_of_the_inactive(sender: type[User], instance: User, **kwargs: Any) -> None:
    """A deactivated account (someone who left) keeps no grant."""
    if not instance.is_active:
        revoke(instance, by=actor.get(), reason="account deactivated")


@receiver(m2m_changed, sender=User.groups.through)
def drop_grants_beyond_the_groups(
    sender: type, instance: Any, action: str, reverse: bool, pk_set: set | None, **kwargs: Any
) -> None:
    """An account that leaves a group keeps no grant: whoever holds the keys grants
    again what its remaining groups hold."""
    if action == "post_remove":
        users = User.objects.filter(pk__in=pk_set or ()) if reverse else [instance]
    elif action == "pre_clear" and reverse:
        users = User.objects.filter(groups=instance)
    elif action == "post_clear" and not reverse:
        users = [instance]
    else:
        return
    for user in list(users):
        revoke(user, by=actor.get(), reason="left a group")


# --- the session ---------------------------------------------------------------------


def keep_in_session(request: HttpRequest, response: HttpResponse, held: Held) -> None:
    """Keep the opened secrets in the server-side session, encrypted under a fresh key
    that only the browser's cookie holds: any worker can open stories for this session,
    and a copy of the session store alone opens nothing."""
    stored, cookie = sealed_for_session(held, request.user)
    request.session[SESSION_KEY] = stored
    response.set_cookie(
        settings.UNTOLD_KEYS_COOKIE_NAME,
        cookie,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Strict",
        path="/",
    )


def sealed_for_session(held: Held, user: Any) -> tuple[str, str]:
    """The session's half (the secrets, encrypted) and the cookie's (the key)."""
    cookie_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    plain = json.dumps(
        [[kind, kid, base64.b64encode(v).decode()] for (kind, kid), v in held.items()]
    )
    blob = nonce + AESGCM(cookie_key).encrypt(nonce, plain.encode(), session_binding(user))
    stored = base64.b64encode(blob).decode("ascii")
    return stored, base64.urlsafe_b64encode(cookie_key).decode("ascii")


def session_binding(user: Any) -> bytes:
    return f"untold session keys|{user.pk}".encode()


def held_in_session(request: HttpRequest) -> Held:
    """The secrets this session holds (none if the cookie or the session half is
    missing or does not match)."""
    stored = request.session.get(SESSION_KEY)
    cookie = request.COOKIES.get(settings.UNTOLD_KEYS_COOKIE_NAME)
    if not stored or not cookie:
        return {}
    try:
        cookie_key = base64.urlsafe_b64decode(cookie.encode("ascii"))
        blob = base64.b64decode(stored)
        plain = AESGCM(cookie_key).decrypt(blob[:12], blob[12:], session_binding(request.user))
    except (ValueError, InvalidTag, UnicodeEncodeError):
        return {}
    return {(kind, kid): base64.b64decode(value) for kind, kid, value in json.loads(plain)}


def still_granted(user: User, held: Held) -> Held:
    """Only what the account still holds: a revocation takes effect on the next request."""
    if not held:
        return {}
    wanted = holds(user)
    rows = KeyGrant.objects.filter(user=user, secret__in=wanted).values_list("secret", "key_id")
    granted = set(rows)
    return {pair: value for pair, value in held.items() if pair in granted}


def session_keys(get_response: Callable[[HttpRequest], HttpResponse]):
    """On panel pages, open with what the signed-in person holds and nothing else: not
    the server's key file, if one is still configured. Once the session has ended, the
    browser's half goes too."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if not in_panel(request):
            return get_response(request)
        held: Held = {}
        if request.user.is_authenticated:
            held = still_granted(request.user, held_in_session(request))
        with keys.holding(ring_of(held)):
            response = get_response(request)
        cookie = settings.UNTOLD_KEYS_COOKIE_NAME
        ended = not request.user.is_authenticated or SESSION_KEY not in request.session
        if ended and cookie in request.COOKIES and cookie not in response.cookies:
            response.delete_cookie(cookie, path="/", samesite="Strict")
        return response

    return middleware

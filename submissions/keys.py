"""The sealing keys in use here: the server's configuration, or what a person holds.

Promise: the intake role holds public keys only, so it can seal and never open. On
the moderation side, panel pages open only with the secrets the signed-in person
holds (``holding``, set by ``custody.session_keys``), and commands with the key file
or the staff member named on their command line; the server's own configuration
holds a private key only while a deployment from the first release still keeps its
key file there (``check --deploy`` warns, submissions.W004). A changed setting in
tests is seen at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from submissions import crypto

held: ContextVar[crypto.Keyring | None] = ContextVar("untold_held_keys", default=None)


@cache
def configured_keys() -> crypto.Keyring:
    """The keys the server's configuration holds, loaded once. Raises SealError."""
    pems = [read_key_file(Path(name)) for name in settings.UNTOLD_PRIVATE_KEY_FILES]
    passphrase = settings.UNTOLD_PRIVATE_KEY_PASSPHRASE.encode() or None
    return crypto.Keyring.load(settings.UNTOLD_PUBLIC_KEYS, pems, passphrase, campaign_key_id())


def campaign_key_id() -> bytes | None:
    """The id of the campaign-text key new campaign texts are sealed under; None for a
    deployment from the first release (the active story key's derived key)."""
    text = settings.UNTOLD_CAMPAIGN_KEY_ID.strip()
    try:
        return bytes.fromhex(text) if text else None
    except ValueError:
        raise crypto.SealError("UNTOLD_CAMPAIGN_KEY_ID is not a hex key id") from None


def read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise crypto.SealError(f"cannot read key file {path}: {error.strerror}") from None


def keyring() -> crypto.Keyring:
    """The keys in use here: what the current person or command holds (``holding``),
    else the server's configuration. Raises SealError."""
    return held.get() or configured_keys()


@contextmanager
def holding(ring: crypto.Keyring) -> Iterator[crypto.Keyring]:
    """Open with ``ring`` inside this block, and with nothing else."""
    token = held.set(ring)
    try:
        yield ring
    finally:
        held.reset(token)


@receiver(setting_changed)
def forget_keys(*, setting: str, **kwargs: object) -> None:
    """Load the keys again after a test changes a key setting."""
    if setting.startswith(("UNTOLD_P", "UNTOLD_CAMPAIGN_KEY")):
        configured_keys.cache_clear()

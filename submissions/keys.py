"""The sealing keys this process holds, loaded from settings.

Promise: the intake role holds public keys only, so it can seal and never open; the
moderation side loads its private keys from files named in settings (never from the
database), and a changed setting in tests is seen at once.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from submissions import crypto


@cache
def keyring() -> crypto.Keyring:
    """The keys this process holds, loaded once from settings. Raises SealError."""
    pems = []
    for name in settings.UNTOLD_PRIVATE_KEY_FILES:
        try:
            pems.append(Path(name).read_bytes())
        except OSError as error:
            raise crypto.SealError(
                f"cannot read private key file {name}: {error.strerror}"
            ) from None
    passphrase = settings.UNTOLD_PRIVATE_KEY_PASSPHRASE.encode() or None
    return crypto.Keyring.load(settings.UNTOLD_PUBLIC_KEYS, pems, passphrase)


@receiver(setting_changed)
def forget_keys(*, setting: str, **kwargs: object) -> None:
    """Load the keys again after a test changes a key setting."""
    if setting.startswith("UNTOLD_P"):
        keyring.cache_clear()

"""Keyed digests under keys derived from SECRET_KEY, exactly as Django's ``salted_hmac``
makes them, but with each key derived once per salt and secret instead of at every call:
two of them are on the path of every submission (the rate-limit key and the receipt
digest)."""

from __future__ import annotations

import functools
import hmac

from django.conf import settings
from django.utils.crypto import salted_hmac


def salted_hex(salt: str, value: str) -> str:
    """``salted_hmac(salt, value, algorithm="sha256").hexdigest()``."""
    mac = keyed(salt, settings.SECRET_KEY).copy()
    mac.update(value.encode())
    return mac.hexdigest()


@functools.lru_cache(maxsize=16)  # a few purposes, today's and yesterday's
def keyed(salt: str, secret: str) -> hmac.HMAC:
    """The HMAC for ``salt`` under ``secret``, keyed and fed nothing yet."""
    return salted_hmac(salt, b"", secret=secret, algorithm="sha256")

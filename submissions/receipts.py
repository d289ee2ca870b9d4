"""The receipt code: the one thing that lets her withdraw her story.

Threat: the code is the only link between a person and her story. So it is made from
the system's random source, shown once, never stored (the database keeps an HMAC of it
under a key derived from SECRET_KEY, which can find a story by its code but cannot be
turned back into the code), and carried from the form to the thanks page in a signed,
HttpOnly cookie scoped to that page and deleted when the page shows it.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac

DIGITS = 16
COOKIE = "receipt"
COOKIE_SALT = "untold.receipt-cookie"
# The thanks page must be reached within this many seconds of sending.
COOKIE_MAX_AGE = 600


def new_code() -> str:
    return f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


def grouped(code: str) -> str:
    """The code in groups of four digits, as it is shown."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def digest(code: str) -> str:
    """HMAC-SHA256 of a receipt code under a key derived from SECRET_KEY: a code can be
    looked up, but the stored digest cannot be turned back into the code."""
    return salted_hmac("untold.receipt-digest", code, algorithm="sha256").hexdigest()


def hand_over(response: HttpResponse, code: str, *, path: str) -> None:
    """Give the code to the page at ``path`` (the thanks page), and to no other."""
    response.set_signed_cookie(
        COOKIE,
        code,
        salt=COOKIE_SALT,
        path=path,
        secure=not settings.DEBUG,
        httponly=True,
        samesite="Strict",
    )


def received(request: HttpRequest) -> str | None:
    """The code handed over to this page, if it came within ``COOKIE_MAX_AGE``."""
    return request.get_signed_cookie(COOKIE, default=None, salt=COOKIE_SALT, max_age=COOKIE_MAX_AGE)


def forget(response: HttpResponse, *, path: str) -> None:
    """Delete the handed-over code with ``response``, so that it is shown once."""
    response.delete_cookie(COOKIE, path=path, samesite="Strict")

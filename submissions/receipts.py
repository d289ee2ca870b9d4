"""The receipt code: the one thing that lets her withdraw her story.

Threat: the code is the only link between a person and her story. So it is made from
the system's random source, shown once, never stored (the database keeps an HMAC of it
under a key derived from SECRET_KEY, which can find a story by its code but cannot be
turned back into the code), and carried from the form to the thanks page in a signed,
HttpOnly cookie scoped to that page. The cookie holds the code and its signature, and
no time: it expires with its own lifetime (``COOKIE_MAX_AGE``), so that nothing in it
says when the story was sent.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing
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
    """Give the code to the page at ``path`` (the thanks page), and to no other, for
    ``COOKIE_MAX_AGE`` seconds."""
    response.set_cookie(
        COOKIE,
        signing.Signer(salt=COOKIE_SALT).sign(code),
        max_age=COOKIE_MAX_AGE,
        path=path,
        secure=not settings.DEBUG,
        httponly=True,
        samesite="Strict",
    )


def received(request: HttpRequest) -> str | None:
    """The code handed over to this page, if its cookie is still there and genuine."""
    try:
        return signing.Signer(salt=COOKIE_SALT).unsign(request.COOKIES[COOKIE])
    except (KeyError, signing.BadSignature):
        return None


def forget(response: HttpResponse, *, path: str) -> None:
    """Delete the handed-over code with ``response``, so that it is shown once."""
    response.delete_cookie(COOKIE, path=path, samesite="Strict")

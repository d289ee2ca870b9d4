"""The receipt code: the one thing that lets her withdraw her story.

Threat: the code is the only link between a person and her story. So it is made from
the system's random source, never stored (the database keeps an HMAC of it under a key
derived from SECRET_KEY, which can find a story by its code but cannot be turned back
into the code), and carried from the form to the thanks pages in signed, HttpOnly
cookies scoped to those pages, one per language so that the code survives a reload or
a change of language. The cookies hold the code and its signature, and no time: they
expire with their own lifetime (``COOKIE_MAX_AGE``), so that nothing in them says when
the story was sent.

A code that cannot fail her: 15 random digits and a Damm check digit, which catches
every single mistyped digit and every swap of two neighbouring digits. A code with a
typo is told so at once, instead of getting the same "done" as a code that withdrew
a story. That reveals nothing about any story: anyone can compute a check digit.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date

from submissions.macs import salted_hex

DIGITS = 16
RANDOM_DIGITS = DIGITS - 1
COOKIE_PREFIX = "receipt_"
COOKIE_SALT = "untold.receipt-cookie"
# The code can be shown again on the thanks pages (reload, another language) for this
# many seconds after sending, and no longer.
COOKIE_MAX_AGE = 600

# Damm's quasigroup of order 10 (H. M. Damm, 2004): its rows are all different and
# weakly totally antisymmetric, so one wrong digit or two swapped neighbours always
# change the result.
DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm(digits: str) -> int:
    interim = 0
    for digit in digits:
        interim = DAMM[interim][int(digit)]
    return interim


def with_check_digit(digits: str) -> str:
    return digits + str(damm(digits))


def new_code() -> str:
    return with_check_digit(f"{secrets.randbelow(10**RANDOM_DIGITS):0{RANDOM_DIGITS}d}")


def has_typo(code: str) -> bool:
    """Whether a code of 16 ASCII digits fails its check digit."""
    return damm(code) != 0


def grouped(code: str) -> str:
    """The code in groups of four digits, as it is shown."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def digest(code: str) -> str:
    """HMAC-SHA256 of a receipt code under a key derived from SECRET_KEY: a code can be
    looked up, but the stored digest cannot be turned back into the code."""
    return salted_hex("untold.receipt-digest", code)


def cookie_name(language: str) -> str:
    return COOKIE_PREFIX + language


def hand_over(response: HttpResponse, code: str, *, paths: Iterable[tuple[str, str]]) -> None:
    """Give the code to the thanks page of each ``(language, path)``, and to no other
    page, for ``COOKIE_MAX_AGE`` seconds from now. One cookie per language, all set at
    once: each page has its own path, and a cookie has one."""
    value = signing.Signer(salt=COOKIE_SALT).sign(code)
    expires = http_date(time.time() + COOKIE_MAX_AGE)  # once for all: the same instant
    secure = not settings.DEBUG
    for language, path in paths:
        response.set_cookie(
            cookie_name(language),
            value,
            max_age=COOKIE_MAX_AGE,
            expires=expires,
            path=path,
            secure=secure,
            httponly=True,
            samesite="Strict",
        )


def received(request: HttpRequest, language: str) -> str | None:
    """The code handed over to this language's thanks page, if its cookie is still there
    and genuine."""
    try:
        return signing.Signer(salt=COOKIE_SALT).unsign(request.COOKIES[cookie_name(language)])
    except (KeyError, signing.BadSignature):
        return None


def forget(response: HttpResponse, *, paths: Iterable[tuple[str, str]]) -> None:
    """Delete the handed-over code from every thanks page with ``response``."""
    for language, path in paths:
        response.delete_cookie(cookie_name(language), path=path, samesite="Strict")

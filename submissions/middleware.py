"""Headers that keep every page from leaking anything to the browser or beyond.

Promise: pages are never cached, send a Referer to no other site, load nothing from
another origin, run no inline script or style, cannot be framed, and get no camera,
microphone or location. The moderation panel gets the same, with inline styles
allowed for Django's admin templates.

``Referrer-Policy: same-origin`` (settings.SECURE_REFERRER_POLICY) rather than
``no-referrer``: under "no-referrer" browsers send ``Origin: null`` with a page's own
form posts, which Django's CSRF check rightly refuses; "same-origin" sends the
origin to this site only, and no Referer to the exit site or anyone else.

Public pages are also sent gzipped (``compressed_outside_the_panel``), for her data plan,
and a method a page does not take is refused with a page that says so
(``explained_refusals``), not Django's empty 405.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.middleware.gzip import GZipMiddleware

PUBLIC_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PANEL_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
    "interest-cohort=(), browsing-topics=()"
)


def in_panel(request: HttpRequest) -> bool:
    return request.path.startswith(f"/{settings.UNTOLD_ADMIN_PATH}")


def privacy_headers(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response["Cache-Control"] = "no-store"
        response.setdefault(
            "Content-Security-Policy", PANEL_CSP if in_panel(request) else PUBLIC_CSP
        )
        response["Permissions-Policy"] = PERMISSIONS_POLICY
        response["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    return middleware


def compressed_outside_the_panel(get_response: Callable[[HttpRequest], HttpResponse]):
    """Public pages gzipped by Django's GZipMiddleware, with its padding against BREACH:
    the heaviest form page a phone downloads falls from about 21 KB to 11 KB
    (bench/page_weight.py), most of it the HTML.

    BREACH reads a secret out of compressed sizes when a response also holds text the
    attacker chose, and the attacker can make her browser ask for it again and again.
    No public page offers that: the CSRF token is masked afresh in every response; her
    code and her text come back only on pages her own same-site posts and SameSite=Strict
    cookies reach (a cross-site post never comes back as her form); and no public page
    shows anyone else's words. The panel is never compressed: there, stories anyone can
    write stand beside other women's stories."""
    compress = GZipMiddleware(get_response)

    def middleware(request: HttpRequest) -> HttpResponse:
        if in_panel(request):
            return get_response(request)
        return cast(HttpResponse, compress(request))  # a sync stack: never awaitable

    return middleware


def explained_refusals(get_response: Callable[[HttpRequest], HttpResponse]):
    """A method a page does not take (a PUT to the story form, a POST to the privacy
    page, a GET of the panel's sign-out) gets Django's 405 with an empty body, which a
    browser shows as a blank page.
    It becomes the bad-request page in her language, saying that nothing was stored,
    with the 405 and its Allow header kept."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if isinstance(response, HttpResponseNotAllowed) and not response.content:
            # Imported here: submissions.logs imports this module while logging is set
            # up, before the models the views need are ready.
            from submissions.views import bad_request

            explained = bad_request(request)
            explained.status_code = 405
            explained["Allow"] = response["Allow"]
            return explained
        return response

    return middleware

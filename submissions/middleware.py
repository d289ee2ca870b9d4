"""Headers that keep every page from leaking anything to the browser or beyond.

Promise: pages are never cached, send a Referer to no other site, load nothing from
another origin, run no inline script or style, cannot be framed, and get no camera,
microphone or location. The moderation panel gets the same, with inline styles
allowed for Django's admin templates.

``Referrer-Policy: same-origin`` (settings.SECURE_REFERRER_POLICY) rather than
``no-referrer``: under "no-referrer" browsers send ``Origin: null`` with a page's own
form posts, which Django's CSRF check rightly refuses; "same-origin" sends the
origin to this site only, and no Referer to the exit site or anyone else.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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

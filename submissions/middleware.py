"""Headers that keep the public pages from leaking anything to the browser or beyond.

Promise: pages are never cached, send no Referer, load nothing from another origin,
run no inline script or style, cannot be framed, and get no camera, microphone or
location. The moderation panel gets the same, with inline styles allowed for Django's
admin templates.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

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
        panel = in_panel(request)
        response["Cache-Control"] = "no-store"
        response.setdefault("Content-Security-Policy", PANEL_CSP if panel else PUBLIC_CSP)
        response["Permissions-Policy"] = PERMISSIONS_POLICY
        response["Cross-Origin-Resource-Policy"] = "same-origin"
        if panel:
            # Under "no-referrer" Chromium sends "Origin: null" with every form POST, which
            # Django's CSRF check refuses (the login form among them). "same-origin" sends
            # the origin to this site only, and still no Referer to any other.
            response["Referrer-Policy"] = "same-origin"
        return response

    return middleware


LOGIN_TIME_KEY = "untold_login_at"


def panel_session_limit(get_response: Callable[[HttpRequest], HttpResponse]):
    """End a staff session 12 hours after login, however active it has been. (Idle
    sessions end after 30 minutes through SESSION_COOKIE_AGE.)"""

    def middleware(request: HttpRequest) -> HttpResponse:
        # Only the panel has sessions: the public pages need not look for one.
        if in_panel(request) and request.user.is_authenticated:
            logged_in_at = request.session.get(LOGIN_TIME_KEY, 0)
            if time.time() - logged_in_at > settings.UNTOLD_PANEL_SESSION_HOURS * 3600:
                logout(request)
        return get_response(request)

    return middleware


class PublicCsrfMiddleware(CsrfViewMiddleware):
    """Django's CSRF protection, accepting ``Origin: null`` on the public pages.

    The public pages send no Referer ("no-referrer"), and under that policy browsers
    send ``Origin: null`` with a page's own form posts; Django would refuse them all.
    There the token check alone decides, which holds because the CSRF cookie is
    SameSite=Strict (a cross-site post arrives without it) and HSTS covers subdomains
    (no plain-HTTP subdomain can plant a cookie). The panel keeps the full check: it
    sends its origin to itself ("same-origin").
    """

    def _origin_verified(self, request: HttpRequest) -> bool:
        if request.META.get("HTTP_ORIGIN") == "null" and not in_panel(request):
            return True
        return super()._origin_verified(request)

"""Staff sessions: every sign-in and failed sign-in on record, and no session longer
than 12 hours however active.

Threat: a session left open on a shared computer, or a password being guessed. Each
login and each failed attempt is an AuditEvent (with a username only if that account
exists, so that a password typed into the username box is never recorded), and a
session ends 12 hours after its login.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model, logout, user_logged_in, user_login_failed
from django.core.cache import caches
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_otp.forms import otp_verification_failed

from submissions.accounts import acting_as
from submissions.middleware import in_panel
from submissions.models import AuditEvent

logger = logging.getLogger("untold.sessions")
PROBE_KEY = "untold:session-store-probe"
LOGIN_TIME_KEY = "untold_login_at"
RENEWED_KEY = "untold_renewed_at"
# A session idle for SESSION_COOKIE_AGE ends; renewing it this often instead of on every
# request lets it end up to this much sooner.
RENEW_SECONDS = 5 * 60


def session_limit(get_response: Callable[[HttpRequest], HttpResponse]):
    """End a staff session 12 hours after login, however active it has been, and after
    SESSION_COOKIE_AGE (30 minutes) without a request. The idle limit is renewed by
    saving the session at most every RENEW_SECONDS, not on every request, and checked
    here as well as by the session store's own expiry."""

    def middleware(request: HttpRequest) -> HttpResponse:
        # Only the panel has sessions: the public pages need not look for one.
        if in_panel(request) and request.user.is_authenticated:
            now = time.time()
            logged_in_at = request.session.get(LOGIN_TIME_KEY, 0)
            renewed_at = request.session.get(RENEWED_KEY, logged_in_at)
            if (
                now - logged_in_at > settings.UNTOLD_PANEL_SESSION_HOURS * 3600
                or now - renewed_at > settings.SESSION_COOKIE_AGE
            ):
                logout(request)
            elif now - renewed_at > RENEW_SECONDS:
                request.session[RENEWED_KEY] = int(now)  # saved, with a new idle limit
        return get_response(request)

    return middleware


def session_store_reachable(get_response: Callable[[HttpRequest], HttpResponse]):
    """With Redis configured, staff sessions live there and nowhere else (a session in
    the database would stamp it around new stories). If Redis cannot be reached, the
    panel says so with a 503 instead of failing inside the session machinery; the
    public pages, which have no sessions, go on."""
    cached = settings.SESSION_ENGINE == "django.contrib.sessions.backends.cache"

    def middleware(request: HttpRequest) -> HttpResponse:
        if cached and in_panel(request):
            try:
                caches[settings.SESSION_CACHE_ALIAS].get(PROBE_KEY)
            except Exception as error:  # any failure of the store: say so, once
                logger.warning(
                    "panel unavailable: session store unreachable (%s)", type(error).__name__
                )
                return render(request, "admin/session_store_down.html", status=503)
        return get_response(request)

    return middleware


def staff_actor(get_response: Callable[[HttpRequest], HttpResponse]):
    """Changes to accounts made by a panel request are on record as made by its user."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if in_panel(request) and request.user.is_authenticated:
            with acting_as(request.user.get_username()):
                return get_response(request)
        return get_response(request)

    return middleware


@receiver(user_logged_in)
def _record_login(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[LOGIN_TIME_KEY] = int(time.time())
    AuditEvent.record(AuditEvent.Action.LOGGED_IN, actor=user.get_username())


@receiver(user_login_failed)
def _record_failed_login(sender, credentials, request=None, **kwargs) -> None:
    AuditEvent.record(AuditEvent.Action.LOGIN_FAILED, actor=known_username(credentials))


@receiver(otp_verification_failed)
def _record_failed_code(sender, user, **kwargs) -> None:
    AuditEvent.record(AuditEvent.Action.LOGIN_FAILED, actor=user.get_username(), step="code")


def known_username(credentials: dict) -> str:
    """The username of a failed login, only if such an account exists: a password typed
    into the username box must not end up in the audit trail."""
    username = credentials.get("username", "")
    exists = get_user_model().objects.filter(username=username).exists()
    return username if exists else "(unknown username)"

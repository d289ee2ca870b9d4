"""Staff sessions: every sign-in and failed sign-in on record, and no session longer
than 12 hours however active.

Threat: a session left open on a shared computer, or a password being guessed. Each
login and each failed attempt is an AuditEvent (with a username only if that account
exists, so that a password typed into the username box is never recorded), and a
session ends 12 hours after its login.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model, logout, user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django_otp.forms import otp_verification_failed

from submissions.accounts import acting_as
from submissions.middleware import in_panel
from submissions.models import AuditEvent

LOGIN_TIME_KEY = "untold_login_at"


def session_limit(get_response: Callable[[HttpRequest], HttpResponse]):
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

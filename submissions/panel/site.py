"""The moderation panel's site: the Django admin, refusing any session that has not
passed two-factor login, with failed login attempts limited per username, per client
and overall.

Threat: a stolen or guessed password must open nothing. The site accepts only
sessions verified by an OTP device (django-otp), and a password-guessing run is cut
short without recording any client address.
"""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.views import PasswordChangeView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.translation import gettext_lazy as _
from django_otp import verify_token
from django_otp.admin import OTPAdminSite
from django_otp.forms import otp_verification_failed
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions import custody, ratelimit
from submissions.accounts import acting_as
from submissions.panel.forms import PanelPasswordChangeForm
from submissions.panel.keys import can_see_keys, keys_page
from submissions.panel.views import export, statistics


class PanelLoginForm(AdminAuthenticationForm):
    """Username, password and code on one page, checked together, with one answer for
    every failure: a wrong password, a missing or wrong code and an inactive account
    look alike, and each takes the same steps (a password hash, a device lookup).

    The code's shape picks the device (six digits: the authenticator app; otherwise a
    backup code), so a failed attempt is counted against that device alone. No device
    can be named in the request: there is no device field to forge."""

    otp_token = forms.CharField(
        label=_("Code"),
        help_text=_("The 6-digit code from your authenticator app, or a backup code."),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "spellcheck": "false"}),
    )
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": _(
            "The username, password or code is not right. Check them and try again."
        ),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return self.cleaned_data  # the fields say what is missing
        # Authenticator apps show "123 456"; people type what they see.
        token = "".join((self.cleaned_data.get("otp_token") or "").split())
        user = authenticate(self.request, username=username, password=password)
        device = verified_device(user, token)
        if user is None or device is None or not user.is_staff:
            if user is not None and device is None:
                # A right password with a missing or wrong code, on record as such.
                otp_verification_failed.send(sender=type(self), user=user)
            raise self.get_invalid_login_error()
        # django-otp marks the session verified when a user with this attribute logs in.
        user.otp_device = device  # type: ignore[attr-defined]
        self.user_cache = user
        return self.cleaned_data


def verified_device(user: Any, token: str) -> Any:
    """The device of ``user`` that accepts ``token`` now, or None. The device is looked
    up whether or not there is a user, so that an unknown user costs the same query."""
    kind = TOTPDevice if token.isdigit() and len(token) == 6 else StaticDevice
    device = kind.objects.filter(user_id=getattr(user, "pk", None), confirmed=True).first()
    if user is None or device is None or not token:
        return None
    return verify_token(user, device.persistent_id, token)


class PanelSite(OTPAdminSite):
    site_header = _("Untold moderation")
    site_title = _("Untold moderation")
    index_title = _("Testimonies")
    login_form = PanelLoginForm
    login_template = "admin/panel_login.html"

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Sign-in attempts are limited per username and per client; only failures count,
        and only attempts with a username and a password spend the site's budget, so
        that a flood of empty posts from one client closes the door to nobody else."""
        if request.method != "POST":
            return super().login(request, extra_context)
        now = time.time()
        own = [
            (ratelimit.username_key(request), settings.UNTOLD_RATE_LOGIN_PER_USERNAME),
            (ratelimit.client_key(request), settings.UNTOLD_RATE_LOGIN_PER_CLIENT),
        ]
        site = settings.UNTOLD_RATE_LOGIN_SITE
        spend = bool(request.POST.get("username")) and bool(request.POST.get("password"))
        limited = ratelimit.check(request, "panel-login", own=own, site=site, spend=spend, now=now)
        if limited:
            context = {**self.each_context(request), "limited": limited}
            return limited.refuse(TemplateResponse(request, "admin/login_limited.html", context))
        response = super().login(request, extra_context)
        if response.status_code == 302 and request.user.is_authenticated:
            ratelimit.forgive("panel-login", own=own, site=site, now=now)
            # Password and code are right: open the account's keys with the password.
            with acting_as(request.user.get_username()):
                held = custody.unlock(request.user, request.POST["password"])
            custody.keep_in_session(request, response, held)
        return response

    def password_change(self, request: HttpRequest, extra_context: dict | None = None):
        """Django's page, with a form that re-wraps the account's key under the new
        password."""
        url = reverse("admin:password_change_done", current_app=self.name)
        defaults = {
            "form_class": PanelPasswordChangeForm,
            "success_url": url,
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        request.current_app = self.name
        return PasswordChangeView.as_view(**defaults)(request)

    def get_urls(self) -> list[URLPattern | URLResolver]:
        """The admin's pages, the statistics and the export; without Django's "view on
        site" redirect, which no model here has and which answers for any object of any
        model whether it exists."""
        extra: list[URLPattern | URLResolver] = [
            path("statistics/", self.admin_view(statistics), name="statistics"),
            path("export/", self.admin_view(export), name="export"),
            path("keys/", self.admin_view(keys_page), name="keys"),
        ]
        kept = [url for url in super().get_urls() if getattr(url, "name", None) != "view_on_site"]
        return extra + kept

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Each group lands where it works: moderators on the queue of new stories,
        campaign staff on the statistics; administrators on the index, which lists the
        accounts and the audit trail."""
        if request.user.has_perm("submissions.change_testimony"):
            return HttpResponseRedirect(reverse("admin:submissions_testimony_queue"))
        if request.user.has_perm("submissions.view_statistics"):
            return HttpResponseRedirect(reverse("admin:statistics"))
        return super().index(request, extra_context)

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        context["can_moderate"] = request.user.has_perm("submissions.change_testimony")
        context["can_view_statistics"] = request.user.has_perm("submissions.view_statistics")
        context["can_export"] = request.user.has_perm("submissions.export")
        context["can_see_keys"] = request.user.is_authenticated and can_see_keys(request.user)
        return context

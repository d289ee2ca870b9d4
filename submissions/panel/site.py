"""The moderation panel's site: the Django admin, refusing any session that has not
passed two-factor login, with login attempts limited per username and overall.

Threat: a stolen or guessed password must open nothing. The site accepts only
sessions verified by an OTP device (django-otp), and a password-guessing run is cut
short without recording any client address.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions import ratelimit
from submissions.panel.views import export, statistics


class PanelLoginForm(OTPAdminAuthenticationForm):
    """Username, password and code on one page. Without an explicit device choice the
    code's shape picks the device (six digits: the authenticator app; otherwise a
    backup code), so a failed attempt is counted against that device alone."""

    def clean_otp(self, user) -> None:
        if user is not None and not self.cleaned_data.get("otp_device"):
            # Authenticator apps show "123 456"; people type what they see.
            token = "".join((self.cleaned_data.get("otp_token") or "").split())
            self.cleaned_data["otp_token"] = token
            kind = TOTPDevice if token.isdigit() and len(token) == 6 else StaticDevice
            device = kind.objects.filter(user=user, confirmed=True).first()
            if device is not None:
                self.cleaned_data["otp_device"] = device.persistent_id
        super().clean_otp(user)


class PanelSite(OTPAdminSite):
    site_header = _("Untold moderation")
    site_title = _("Untold moderation")
    index_title = _("Testimonies")
    login_form = PanelLoginForm

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if request.method == "POST":
            limited = ratelimit.check(
                request,
                "panel-login",
                per_client=settings.UNTOLD_RATE_LOGIN_PER_USERNAME,
                site=settings.UNTOLD_RATE_LOGIN_SITE,
                client_key=ratelimit.username_key,
            )
            if limited:
                context = {**self.each_context(request), "limited": limited}
                return limited.refuse(
                    TemplateResponse(request, "admin/login_limited.html", context)
                )
        return super().login(request, extra_context)

    def get_urls(self):
        extra = [
            path("statistics/", self.admin_view(statistics), name="statistics"),
            path("export/", self.admin_view(export), name="export"),
        ]
        return extra + super().get_urls()

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        context["can_view_statistics"] = request.user.has_perm("submissions.view_statistics")
        context["can_export"] = request.user.has_perm("submissions.export")
        return context

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class SubmissionsConfig(AppConfig):
    name = "submissions"
    default = True
    verbose_name = _("Testimonies")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported for what they register: the system checks, the audit of account
        # changes, the grants an account loses with its group, the panel's model pages and
        # its sign-in receivers.
        from submissions import accounts, checks, custody  # noqa: F401
        from submissions.panel import admin, sessions, testimonies  # noqa: F401


class PanelConfig(admin_apps.AdminConfig):
    """The Django admin as the moderation panel: the two-factor site in
    submissions/panel/site.py, serving the pages in submissions/panel/."""

    default = False
    default_site = "submissions.panel.site.PanelSite"

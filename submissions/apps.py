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
        from submissions import checks  # noqa: F401  (registers the system checks)


class PanelConfig(admin_apps.AdminConfig):
    """The Django admin, served by the two-factor admin site in submissions/admin.py."""

    default = False
    default_site = "submissions.sites.PanelSite"

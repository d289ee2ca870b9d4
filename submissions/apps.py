from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubmissionsConfig(AppConfig):
    name = "submissions"
    verbose_name = _("Testimonies")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from submissions import checks  # noqa: F401  (registers the system checks)

"""The staff groups of the moderation panel, and what each may do.

Promise: reading original text is the moderators' alone; campaign staff see only
statistics and the anonymized export; administrators list, deactivate and reactivate
accounts and read the audit trail, and never read a story. No group can be given or
changed from the panel: only the command line on the moderation host does that.
These are the only groups, defined here once and used by the migration that creates
them, by the commands that grant them and by the tests.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class StaffGroup(models.TextChoices):
    MODERATOR = "moderator", _("moderator")
    CAMPAIGN = "campaign", _("campaign staff")
    ADMINISTRATOR = "administrator", _("administrator")


# (app label, permission codename) for each group.
PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    StaffGroup.MODERATOR: [
        ("submissions", "view_testimony"),
        ("submissions", "change_testimony"),
        ("submissions", "delete_testimony"),
        ("submissions", "view_original"),
        ("submissions", "view_statistics"),
        ("submissions", "export"),
    ],
    StaffGroup.CAMPAIGN: [
        ("submissions", "view_statistics"),
        ("submissions", "export"),
    ],
    # Accounts are listed, deactivated and reactivated in the panel; everything else
    # about them (groups, passwords, second factors) is done on the command line.
    StaffGroup.ADMINISTRATOR: [
        ("auth", "view_user"),
        ("auth", "change_user"),
        ("submissions", "view_auditevent"),
    ],
}


def sync_groups(group_model: Any, permission_model: Any) -> None:
    """Give each staff group exactly its permissions, creating the group if need be.

    Takes the models as arguments so that migrations can pass their historical ones.
    A permission that does not exist yet is left out: the migration that creates it
    calls this again.
    """
    for name, codenames in PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        wanted = [
            permission
            for permission in permission_model.objects.select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in codenames
        ]
        group.permissions.set(wanted)

"""The staff groups, with their permissions (submissions/staff.py).

- moderator: read and redact text, approve, reject, delete; statistics; export.
- campaign: export and statistics only; never the original, never the record list.
- administrator: accounts; the audit trail.

A later migration that changes what a group may do calls ``sync_groups`` again.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from submissions.staff import PERMISSIONS, sync_groups


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    sync_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0003_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]

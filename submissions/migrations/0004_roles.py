"""The three roles, as groups with permissions.

- moderator: read and redact text, approve, reject, delete; statistics; export.
- campaign: export and statistics only; never the original, never the record list.
- administrator: accounts and their two-factor devices; the audit trail.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "moderator": [
        ("submissions", "view_testimony"),
        ("submissions", "change_testimony"),
        ("submissions", "delete_testimony"),
        ("submissions", "view_original"),
        ("submissions", "view_statistics"),
        ("submissions", "export"),
    ],
    "campaign": [
        ("submissions", "view_statistics"),
        ("submissions", "export"),
    ],
    "administrator": [
        ("auth", "view_user"),
        ("auth", "add_user"),
        ("auth", "change_user"),
        ("auth", "delete_user"),
        ("auth", "view_group"),
        ("otp_totp", "view_totpdevice"),
        ("otp_totp", "add_totpdevice"),
        ("otp_totp", "change_totpdevice"),
        ("otp_totp", "delete_totpdevice"),
        ("otp_static", "view_staticdevice"),
        ("otp_static", "add_staticdevice"),
        ("otp_static", "change_staticdevice"),
        ("otp_static", "delete_staticdevice"),
        ("submissions", "view_auditevent"),
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codenames:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0003_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]

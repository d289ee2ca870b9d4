from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

from submissions.accounts import acting_as
from submissions.staff import StaffGroup


class Command(BaseCommand):
    help = (
        "Add a staff account to a group (moderator, campaign or administrator), on the "
        "moderation host: the only way a group, and so the right to read stories, is "
        "given. Refuses an unknown account and a superuser. On the audit trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("group", choices=StaffGroup.values)

    def handle(self, *args, username: str, group: str, **options) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no account {username!r}; nothing was changed.")
        if user.is_superuser:
            raise CommandError(
                f"{username!r} is a superuser, which bypasses every group; nothing was changed."
            )
        if user.groups.filter(name=group).exists():
            self.stdout.write(f"{username!r} is in {group} already.")
            return
        with acting_as("manage.py grant_group"):
            user.groups.add(Group.objects.get(name=group))
            if not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
        self.stdout.write(f"Added {username!r} to {group}.")

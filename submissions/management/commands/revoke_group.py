from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

from submissions.accounts import acting_as
from submissions.staff import StaffGroup


class Command(BaseCommand):
    help = (
        "Remove a staff account from a group (moderator, campaign or administrator). The "
        "account keeps its password and second factor; deactivate it in the panel to stop "
        "it signing in at all. On the audit trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("group", choices=StaffGroup.values)

    def handle(self, *args, username: str, group: str, **options) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no account {username!r}; nothing was changed.")
        if not user.groups.filter(name=group).exists():
            self.stdout.write(f"{username!r} is not in {group}.")
            return
        with acting_as("manage.py revoke_group"):
            user.groups.remove(Group.objects.get(name=group))
        self.stdout.write(f"Removed {username!r} from {group}.")

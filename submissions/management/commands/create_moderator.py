from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from submissions import custody
from submissions.accounts import acting_as, new_second_factor
from submissions.management.terminal import read_password, show_second_factor
from submissions.staff import StaffGroup


class Command(BaseCommand):
    help = (
        "Create a staff account for the moderation panel in one group (moderator: read, "
        "redact, approve; campaign: export and statistics; administrator: accounts and "
        "audit). Asks for the password twice, or reads one line from stdin with "
        "--password-stdin. Prints the authenticator set-up (otpauth URI and a QR code) and "
        "single-use backup codes, shown only now. Makes the account's own key, locked with "
        "its password; the account opens nothing until someone who holds the keys grants "
        "them (the Keys page, or grant_keys). Refuses an existing username and a "
        "password that fails the password rules. Never creates a superuser. Every change is "
        "on the audit trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--group", choices=StaffGroup.values, required=True)
        parser.add_argument("--password-stdin", action="store_true")

    def handle(self, *args, username: str, group: str, password_stdin: bool, **options) -> None:
        if User.objects.filter(username=username).exists():
            raise CommandError(f"The account {username!r} exists already; nothing was changed.")
        user = User(username=username, is_staff=True, is_superuser=False)
        password = read_password(
            user, from_stdin=password_stdin, nothing_done="nothing was created."
        )
        with acting_as("manage.py create_moderator"), transaction.atomic():
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=group))
            totp, codes = new_second_factor(user)
            custody.make_account_key(user, password, reason="account created")
        self.stdout.write(
            f"Created {group} account {username!r}. It holds no key until someone grants them "
            "(Keys page, or grant_keys).\n"
        )
        show_second_factor(self.stdout, totp, codes)

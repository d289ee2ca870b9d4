from __future__ import annotations

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from submissions.accounts import acting_as, new_second_factor
from submissions.management.terminal import show_second_factor


class Command(BaseCommand):
    help = (
        "Replace a staff account's authenticator and backup codes with new ones, on the "
        "moderation host (for a lost phone): the old ones stop working at once. Prints the "
        "new set-up and codes, shown only now. On the audit trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no account {username!r}; nothing was changed.")
        with acting_as("manage.py reset_second_factor"):
            totp, codes = new_second_factor(user)
        self.stdout.write(f"New second factor for {username!r}.\n")
        show_second_factor(self.stdout, totp, codes)

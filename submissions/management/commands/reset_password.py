from __future__ import annotations

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from submissions import custody
from submissions.accounts import acting_as
from submissions.management.terminal import read_password


class Command(BaseCommand):
    help = (
        "Set a new password for a staff account, on the moderation host: the only way to "
        "reset another person's password (the panel changes only one's own). Asks twice, or "
        "reads one line from stdin with --password-stdin; refuses a password that fails the "
        "password rules. The account gets a new key and loses its grants: it opens nothing "
        "until someone who holds the keys grants them again. On the audit trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password-stdin", action="store_true")

    def handle(self, *args, username: str, password_stdin: bool, **options) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no account {username!r}; nothing was changed.")
        password = read_password(
            user, from_stdin=password_stdin, nothing_done="nothing was changed."
        )
        with acting_as("manage.py reset_password"), transaction.atomic():
            user.set_password(password)
            user.save(update_fields=["password"])
            custody.make_account_key(user, password, reason="password reset")
        self.stdout.write(
            f"Set a new password for {username!r}. It holds no key until someone grants them "
            "again (Keys page, or grant_keys)."
        )

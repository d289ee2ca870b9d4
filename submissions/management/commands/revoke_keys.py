from __future__ import annotations

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from submissions import custody
from submissions.accounts import acting_as


class Command(BaseCommand):
    help = (
        "Take every key grant from a staff account. Its signed-in sessions lose the keys at "
        "their next request. The account keeps its own key and can be granted again. On the "
        "audit trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no account {username!r}; nothing was revoked.")
        with acting_as("manage.py revoke_keys"):
            gone = custody.revoke(user, by="manage.py revoke_keys")
        self.stdout.write(f"Revoked {gone} keys of {username!r}.")

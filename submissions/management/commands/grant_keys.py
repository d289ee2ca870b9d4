from __future__ import annotations

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from submissions import custody
from submissions.accounts import acting_as
from submissions.management.terminal import add_key_source, key_source


class Command(BaseCommand):
    help = (
        "Grant a staff account the campaign secrets its group holds (moderator: the story "
        "key and the campaign-text key; campaign staff: the campaign-text key), sealed to "
        "the account's own key. Opens them with the offline key file (--key-file) or a "
        "moderator's keys (--as USERNAME). Refuses an account in no such group, and one "
        "that has not signed in yet (it has no key to grant to). On the audit trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        add_key_source(parser)

    def handle(self, *args, username: str, **options) -> None:
        if not options.get("key_file") and not options.get("as_user"):
            raise CommandError("Name the keys to grant from: --key-file FILE or --as USERNAME.")
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"There is no active account {username!r}; nothing was granted.")
        held = custody.secrets_of(key_source(options))
        by = (
            f"manage.py grant_keys as {options['as_user']}"
            if options.get("as_user")
            else ("manage.py grant_keys with the key file")
        )
        try:
            with acting_as(by):
                made = custody.grant(user, held, by=by)
        except custody.CustodyError as error:
            raise CommandError(f"{error} Nothing was granted.") from None
        self.stdout.write(f"Granted {made} keys to {username!r}.")

from __future__ import annotations

import getpass
import io
import sys

import qrcode
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions.staff import StaffGroup

BACKUP_CODES = 8


class Command(BaseCommand):
    help = (
        "Create a staff account for the moderation panel in one group (moderator: read, "
        "redact, approve; campaign: export and statistics; administrator: accounts and "
        "audit). Asks "
        "for the password twice, or reads one line from stdin with --password-stdin. Prints "
        "the authenticator set-up (otpauth URI and a QR code) and single-use backup codes, "
        "shown only now. Refuses an existing username and a password that fails the "
        "password rules. Never creates a superuser."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--group", choices=StaffGroup.values, required=True)
        parser.add_argument("--password-stdin", action="store_true")

    def handle(self, *args, username: str, group: str, password_stdin: bool, **options) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            raise CommandError(f"The account {username!r} exists already; nothing was changed.")
        password = self.read_password(password_stdin)
        user = User(username=username, is_staff=True, is_superuser=False)
        try:
            password_validation.validate_password(password, user)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages) + " Nothing was created.") from None
        with transaction.atomic():
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=group))
            totp = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
            backup = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
            codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
            backup.token_set.bulk_create(StaticToken(device=backup, token=c) for c in codes)
        self.stdout.write(f"Created {group} account {username!r}.\n")
        self.stdout.write("Scan this in an authenticator app (or enter the URI by hand):")
        self.stdout.write(totp.config_url)
        self.stdout.write(terminal_qr(totp.config_url))
        self.stdout.write("Backup codes, each usable once (keep them offline):")
        self.stdout.write("  " + "  ".join(codes))

    def read_password(self, from_stdin: bool) -> str:
        if from_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ; nothing was created.")
        if not password:
            raise CommandError("An empty password is not allowed; nothing was created.")
        return password


def terminal_qr(data: str) -> str:
    code = qrcode.QRCode(border=2)
    code.add_data(data)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()

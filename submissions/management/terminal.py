"""What the account commands ask for and show on the moderation host's terminal: a
password, typed twice or piped in, and an authenticator set-up with backup codes."""

from __future__ import annotations

import getpass
import io
import sys

import qrcode
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, OutputWrapper
from django_otp.plugins.otp_totp.models import TOTPDevice


def read_password(user: User, *, from_stdin: bool, nothing_done: str) -> str:
    """A new password for ``user`` that passes the password rules; ``nothing_done`` ends
    every refusal ("nothing was created.")."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError(f"The passwords differ; {nothing_done}")
    if not password:
        raise CommandError(f"An empty password is not allowed; {nothing_done}")
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise CommandError(" ".join(error.messages) + f" {nothing_done.capitalize()}") from None
    return password


def show_second_factor(out: OutputWrapper, totp: TOTPDevice, codes: list[str]) -> None:
    out.write("Scan this in an authenticator app (or enter the URI by hand):")
    out.write(totp.config_url)
    out.write(terminal_qr(totp.config_url))
    out.write("Backup codes, each usable once (keep them offline):")
    out.write("  " + "  ".join(codes))


def terminal_qr(data: str) -> str:
    code = qrcode.QRCode(border=2)
    code.add_data(data)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()

"""What the commands ask for and show on the moderation host's terminal: a password,
typed twice or piped in; an authenticator set-up with backup codes; and the keys a
command opens with (the offline key file, or a staff member's own keys)."""

from __future__ import annotations

import getpass
import io
import sys
from pathlib import Path

import qrcode
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, OutputWrapper
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions import crypto, custody, keys


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


def add_key_source(parser) -> None:
    """--key-file FILE (repeatable) or --as USERNAME: the keys the command opens with.
    Without either, the server's configured key file, if a deployment still has one."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--key-file", type=Path, action="append", help="the offline key file (repeatable)"
    )
    source.add_argument(
        "--as", dest="as_user", metavar="USERNAME", help="open with this staff member's keys"
    )
    parser.add_argument(
        "--secret-stdin",
        action="store_true",
        help="read the key file's passphrase or the password from stdin instead of a prompt",
    )


def key_source(options: dict) -> crypto.Keyring:
    """The keyring the command's options name (see ``add_key_source``)."""
    from_stdin = options.get("secret_stdin", False)
    if options.get("key_file"):
        return key_files(options["key_file"], from_stdin)
    if options.get("as_user"):
        return staff_keys(options["as_user"], from_stdin)
    try:
        return keys.configured_keys()
    except crypto.SealError as error:
        raise CommandError(f"{error}.") from None


def ask(prompt: str, from_stdin: bool) -> str:
    return sys.stdin.readline().rstrip("\n") if from_stdin else getpass.getpass(prompt)


def key_files(paths: list[Path], from_stdin: bool) -> crypto.Keyring:
    try:
        texts = [path.read_bytes() for path in paths]
    except OSError as error:
        raise CommandError(f"Cannot read {error.filename}: {error.strerror}.") from None
    passphrase = None
    if any(b"ENCRYPTED" in text.split(b"-----END", 1)[0] for text in texts):
        passphrase = ask("Key file passphrase: ", from_stdin).encode()
    try:
        opened = crypto.Keyring.load((), texts, passphrase)
        return keys.configured_keys().holding(opened.private_keys, opened.campaign_keys)
    except crypto.SealError as error:
        raise CommandError(f"The key file does not open: {error}.") from None


def staff_keys(username: str, from_stdin: bool) -> crypto.Keyring:
    user = User.objects.filter(username=username, is_active=True, is_staff=True).first()
    password = ask(f"Password of {username}: ", from_stdin)
    try:
        if user is None:
            raise crypto.SealError("no such staff account")
        held = custody.open_grants(user, custody.open_account_key(user, password))
    except crypto.SealError:
        raise CommandError(
            f"{username!r} and that password open no key; nothing was done."
        ) from None
    return custody.ring_of(held)

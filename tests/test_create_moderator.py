"""`create_moderator`: a staff account in one group, an authenticator and backup codes.

Promise: the command makes exactly the account it says (never a superuser), refuses
an existing username and a weak password without creating anything, and what it
prints is enough to log in with password and code.
"""

from __future__ import annotations

import base64
import io
import re
import sys
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions.models import AuditEvent
from submissions.staff import StaffGroup
from tests.panel import PASSWORD, log_in, signed_in

pytestmark = pytest.mark.django_db

QR_BLOCKS = set("█▀▄")


@pytest.fixture
def create(monkeypatch):
    """Run the command as `... --password-stdin <<< password`; return what it printed."""

    def run(username: str = "ann", group: str = "moderator", password: str = PASSWORD) -> str:
        out = io.StringIO()
        monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
        call_command("create_moderator", username, group=group, password_stdin=True, stdout=out)
        return out.getvalue()

    return run


def otpauth_uri(output: str) -> str:
    return re.search(r"otpauth://\S+", output).group()


def code_from_uri(uri: str) -> str:
    """What an authenticator app scanning the URI would show now."""
    params = {name: values[0] for name, values in parse_qs(urlsplit(uri).query).items()}
    secret = params["secret"]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digits, period = int(params.get("digits", 6)), int(params.get("period", 30))
    return f"{totp(key, step=period, digits=digits):0{digits}d}"


def test_it_creates_a_staff_moderator_with_an_authenticator_and_backup_codes(create):
    create("ann", "moderator")

    user = User.objects.get(username="ann")
    assert user.is_staff
    assert not user.is_superuser
    assert user.is_active
    assert list(user.groups.values_list("name", flat=True)) == ["moderator"]
    assert user.check_password(PASSWORD)
    assert user.password.startswith("argon2")
    totp_device = TOTPDevice.objects.get(user=user)
    assert totp_device.confirmed
    backup = StaticDevice.objects.get(user=user)
    assert backup.confirmed
    assert backup.token_set.count() == 8


def test_it_prints_the_otpauth_uri_a_qr_code_and_the_backup_codes(create):
    output = create("ann", "moderator")

    user = User.objects.get(username="ann")
    uri = otpauth_uri(output)
    assert uri == TOTPDevice.objects.get(user=user).config_url
    assert unquote(urlsplit(uri).path) == "/Untold:ann"
    qr_lines = [line for line in output.splitlines() if set(line) & QR_BLOCKS]
    assert len(qr_lines) >= 10
    assert len({len(line) for line in qr_lines}) == 1  # a square block, not stray characters
    codes = {token.token for token in StaticDevice.objects.get(user=user).token_set.all()}
    assert len(codes) == 8
    assert all(code in output for code in codes)
    assert PASSWORD not in output


@pytest.mark.parametrize("group", StaffGroup.values)
def test_each_group_is_given_as_asked(create, group):
    create(f"{group}-user", group)

    user = User.objects.get(username=f"{group}-user")
    assert list(user.groups.values_list("name", flat=True)) == [group]
    assert user.is_staff
    assert not user.is_superuser


def test_it_refuses_an_unknown_group(create):
    with pytest.raises(CommandError, match="group"):
        create("ann", "superuser")

    assert not User.objects.filter(username="ann").exists()


def test_it_refuses_an_existing_username_and_changes_nothing(create):
    create("ann", "moderator")
    before = User.objects.get(username="ann").password

    with pytest.raises(CommandError, match="exists already"):
        create("ann", StaffGroup.ADMINISTRATOR, password="another long passphrase 77")

    user = User.objects.get(username="ann")
    assert user.password == before
    assert list(user.groups.values_list("name", flat=True)) == ["moderator"]
    assert TOTPDevice.objects.filter(user=user).count() == 1
    assert StaticDevice.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    "weak",
    ["short1", "password12345", "123456789012345", "ann-the-moderator"],
    ids=["too-short", "common", "numeric", "like-the-username"],
)
def test_it_refuses_a_weak_password_and_creates_nothing(create, weak):
    with pytest.raises(CommandError, match="Nothing was created"):
        create("ann-the-moderator", "moderator", password=weak)

    assert not User.objects.filter(username="ann-the-moderator").exists()
    assert not TOTPDevice.objects.exists()
    assert not StaticDevice.objects.exists()


def test_it_refuses_an_empty_password(create):
    with pytest.raises(CommandError, match="empty password"):
        create("ann", "moderator", password="")

    assert not User.objects.exists()


def test_the_new_account_logs_in_with_the_code_from_the_printed_uri(create):
    output = create("ann", "moderator")
    client = Client(HTTP_HOST="localhost")

    response = log_in(client, "ann", code=code_from_uri(otpauth_uri(output)))

    assert response.status_code == 302
    assert signed_in(client)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGGED_IN, actor="ann").exists()


def test_a_printed_backup_code_logs_in(create):
    output = create("ann", "moderator")
    code = output.split("keep them offline):")[1].split()[0]
    client = Client(HTTP_HOST="localhost")

    response = log_in(client, "ann", code=code)

    assert response.status_code == 302
    assert signed_in(client)

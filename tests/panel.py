"""Staff accounts for panel tests: real users, real groups, real OTP devices."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

PANEL = "/moderation/"
PASSWORD = "a long and unguessable passphrase 42"
GROUPS = {"moderator": "moderator", "campaign": "campaign", "admin": "administrator"}


def staff(username: str, role: str) -> tuple[User, TOTPDevice]:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=GROUPS[role]))
    return user, TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def verified_client(user: User, device: TOTPDevice) -> Client:
    """A session that has passed both password and code, as the login page leaves it."""
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def password_only_client(user: User) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client

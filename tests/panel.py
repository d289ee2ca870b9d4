"""Staff accounts for panel tests: real users, real groups, real OTP devices."""

from __future__ import annotations

from importlib import import_module

from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

PANEL = "/moderation/"
LOGIN = f"{PANEL}login/"
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


def current_code(device: TOTPDevice) -> str:
    """The code an authenticator app shows now (zero-padded, as typed)."""
    device.refresh_from_db()
    code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{code:0{device.digits}d}"


def log_in(client: Client, username: str, password: str = PASSWORD, code: str = "", **extra):
    """Post the panel's login form as a person would fill it in."""
    data = {"username": username, "password": password, "otp_token": code, "next": PANEL}
    return client.post(LOGIN, data, **extra)


def ensure_roles() -> None:
    """Create the role groups of migration 0004 again. A transactional test's flush
    empties every table, and permissions come back (post_migrate) but groups do not."""
    roles = import_module("submissions.migrations.0004_roles").ROLES
    for name, codenames in roles.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in codenames
        )

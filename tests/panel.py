"""Staff accounts for panel tests: real users, real groups, real OTP devices."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions.staff import sync_groups
from tests.custody import give_keys, hold_in_session

PANEL = "/moderation/"
LOGIN = f"{PANEL}login/"
PASSWORD = "a long and unguessable passphrase 42"


def staff(username: str, group: str) -> tuple[User, TOTPDevice]:
    """A staff account in ``group`` (a StaffGroup) with a confirmed authenticator."""
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user, TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def verified_client(user: User, device: TOTPDevice, *, keys: bool = True) -> Client:
    """A session that has passed both password and code, as the login page leaves it:
    with the keys the account's group holds (granted from the configured key file),
    unless ``keys`` is False."""
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    if keys:
        hold_in_session(client, user, give_keys(user, PASSWORD))
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


def signed_in(client: Client) -> bool:
    """Whether the panel lets this client in: its index answers, or sends it on to the
    page its group lands on (never to the login page)."""
    response = client.get(PANEL)
    if response.status_code == 302:
        return not response["Location"].startswith(LOGIN)
    return response.status_code == 200


def log_in(client: Client, username: str, password: str = PASSWORD, code: str = "", **extra):
    """Post the panel's login form as a person would fill it in."""
    data = {"username": username, "password": password, "otp_token": code, "next": PANEL}
    return client.post(LOGIN, data, **extra)


def ensure_groups() -> None:
    """Create the staff groups again. A transactional test's flush empties every table,
    and permissions come back (post_migrate) but groups do not."""
    sync_groups(Group, Permission)

"""Every change to accounts, groups, permissions, passwords and second-factor devices
is an AuditEvent (who, what, to whom), visible on the audit list; from the panel and
from the command line.

Threat (submissions/accounts.py): someone gives an account the right to read stories,
or takes over a moderator's account through its password or second factor, and the
trail stays silent or blames the moderator. Our commands name themselves as the actor,
the panel names the signed-in staff member, and anything else (Django's own commands,
a shell) is on record as "system".
"""

from __future__ import annotations

import getpass
import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from submissions.models import AuditEvent
from submissions.staff import StaffGroup
from tests.panel import PANEL, PASSWORD, current_code, log_in, signed_in, staff, verified_client

pytestmark = pytest.mark.django_db

Action = AuditEvent.Action
NEW_PASSWORD = "another long passphrase for ann 77"


class Event(NamedTuple):
    actor: str
    action: str
    subject: str
    detail: dict


@contextmanager
def recorded() -> Iterator[list[Event]]:
    """The audit events written inside the block, filled in when it ends."""
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    made: list[Event] = []
    yield made
    new = AuditEvent.objects.exclude(pk__in=before)
    made += [Event(e.actor, e.action, e.subject, e.detail) for e in new]


def who_what_whom(events: list[Event]) -> list[tuple[str, str, str]]:
    return sorted((event.actor, event.action, event.subject) for event in events)


@pytest.fixture
def ann() -> User:
    """A campaign-staff account with no second factor yet."""
    user = User.objects.create_user("ann", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=StaffGroup.CAMPAIGN))
    return user


def with_stdin(monkeypatch, line: str) -> None:
    """As `... --password-stdin <<< line`."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(line + "\n"))


# --- Our commands ----------------------------------------------------------------------


def test_create_moderator_records_the_account_with_its_password_group_and_second_factor(
    monkeypatch,
):
    with_stdin(monkeypatch, PASSWORD)

    with recorded() as made:
        call_command(
            "create_moderator", "zoe", group="moderator", password_stdin=True, stdout=io.StringIO()
        )

    actor = "manage.py create_moderator"
    assert who_what_whom(made) == sorted(
        [
            (actor, Action.ACCOUNT_CREATED, "zoe"),
            (actor, Action.GROUP_ADDED, "zoe"),
            (actor, Action.DEVICE_ADDED, "zoe"),
            (actor, Action.DEVICE_ADDED, "zoe"),
            (actor, Action.KEY_MADE, "zoe"),
        ]
    )
    details = [event.detail for event in made]
    assert {"staff": True, "superuser": False, "active": True, "password": True} in details
    assert {"item": "moderator"} in details
    assert {"device": "authenticator"} in details and {"device": "backup codes"} in details


def test_grant_group_records_the_group_and_the_staff_status_it_gives():
    User.objects.create_user("zoe", password=PASSWORD)

    with recorded() as made:
        call_command("grant_group", "zoe", "moderator", stdout=io.StringIO())

    actor = "manage.py grant_group"
    assert who_what_whom(made) == sorted(
        [(actor, Action.GROUP_ADDED, "zoe"), (actor, Action.STAFF_GRANTED, "zoe")]
    )
    assert {"item": "moderator"} in [event.detail for event in made]


def test_revoke_group_records_the_removal(ann):
    with recorded() as made:
        call_command("revoke_group", "ann", "campaign", stdout=io.StringIO())

    assert made == [
        Event("manage.py revoke_group", Action.GROUP_REMOVED, "ann", {"item": "campaign"})
    ]


def test_reset_password_records_the_new_password(monkeypatch, ann):
    with_stdin(monkeypatch, NEW_PASSWORD)

    with recorded() as made:
        call_command("reset_password", "ann", password_stdin=True, stdout=io.StringIO())

    assert who_what_whom(made) == [
        ("manage.py reset_password", Action.KEY_MADE, "ann"),
        ("manage.py reset_password", Action.PASSWORD_CHANGED, "ann"),
    ]
    assert User.objects.get(username="ann").check_password(NEW_PASSWORD)


def test_reset_second_factor_records_each_device_removed_and_added():
    staff("ann", StaffGroup.MODERATOR)

    with recorded() as made:
        call_command("reset_second_factor", "ann", stdout=io.StringIO())

    actor = "manage.py reset_second_factor"
    assert who_what_whom(made) == sorted(
        [
            (actor, Action.DEVICE_REMOVED, "ann"),
            (actor, Action.DEVICE_ADDED, "ann"),
            (actor, Action.DEVICE_ADDED, "ann"),
        ]
    )


# --- Django's own commands -------------------------------------------------------------


def test_djangos_changepassword_is_recorded(monkeypatch, ann):
    # Given: the two answers typed at the terminal's password prompts
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": NEW_PASSWORD)

    with recorded() as made:
        call_command("changepassword", "ann", stdout=io.StringIO())

    assert who_what_whom(made) == [("system", Action.PASSWORD_CHANGED, "ann")]
    assert User.objects.get(username="ann").check_password(NEW_PASSWORD)


def test_djangos_createsuperuser_is_recorded_as_a_superuser_account(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", NEW_PASSWORD)

    with recorded() as made:
        call_command(
            "createsuperuser", username="boss", email="", interactive=False, stdout=io.StringIO()
        )

    created = [event for event in made if event.action == Action.ACCOUNT_CREATED]
    assert created == [
        Event(
            "system",
            Action.ACCOUNT_CREATED,
            "boss",
            {"staff": True, "superuser": True, "active": True, "password": True},
        )
    ]
    assert User.objects.get(username="boss").check_password(NEW_PASSWORD)


# --- A shell ---------------------------------------------------------------------------


def group(name: str) -> Group:
    return Group.objects.get(name=name)


def permission(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="submissions", codename=codename)


def make_superuser(user: User) -> None:
    user.is_superuser = True
    user.save()


def deactivate(user: User) -> None:
    user.is_active = False
    user.save()


def set_password(user: User) -> None:
    user.set_password(NEW_PASSWORD)
    user.save()


def add_and_remove_authenticator(user: User) -> None:
    TOTPDevice.objects.create(user=user, name="phone").delete()


# Each change, and the events it must write: (action, subject, detail).
SHELL_CHANGES: dict[str, tuple[Callable[[User], object], list[tuple[str, str, dict]]]] = {
    "user.groups.add": (
        lambda ann: ann.groups.add(group("moderator")),
        [(Action.GROUP_ADDED, "ann", {"item": "moderator"})],
    ),
    "group.user_set.add": (
        lambda ann: group("moderator").user_set.add(ann),
        [(Action.GROUP_ADDED, "ann", {"item": "moderator"})],
    ),
    "user.groups.remove": (
        lambda ann: ann.groups.remove(group("campaign")),
        [(Action.GROUP_REMOVED, "ann", {"item": "campaign"})],
    ),
    "user.groups.clear": (
        lambda ann: ann.groups.clear(),
        [(Action.GROUP_REMOVED, "ann", {"item": "campaign"})],
    ),
    "group.user_set.clear": (
        lambda ann: group("campaign").user_set.clear(),
        [(Action.GROUP_REMOVED, "ann", {"item": "campaign"})],
    ),
    "user.user_permissions.add": (
        lambda ann: ann.user_permissions.add(permission("view_original")),
        [(Action.PERMISSION_ADDED, "ann", {"item": "submissions.view_original"})],
    ),
    "group.permissions.add": (
        lambda ann: group("campaign").permissions.add(permission("view_original")),
        [(Action.GROUP_PERMISSION_ADDED, "campaign", {"item": "submissions.view_original"})],
    ),
    "group.permissions.remove": (
        lambda ann: group("campaign").permissions.remove(permission("export")),
        [(Action.GROUP_PERMISSION_REMOVED, "campaign", {"item": "submissions.export"})],
    ),
    "group.permissions.clear": (
        lambda ann: group("campaign").permissions.clear(),
        [
            (Action.GROUP_PERMISSION_REMOVED, "campaign", {"item": "submissions.export"}),
            (
                Action.GROUP_PERMISSION_REMOVED,
                "campaign",
                {"item": "submissions.view_statistics"},
            ),
        ],
    ),
    "user.is_superuser": (make_superuser, [(Action.SUPERUSER_GRANTED, "ann", {})]),
    "user.is_active": (deactivate, [(Action.ACCOUNT_DEACTIVATED, "ann", {})]),
    "user.set_password": (set_password, [(Action.PASSWORD_CHANGED, "ann", {})]),
    "TOTPDevice create and delete": (
        add_and_remove_authenticator,
        [
            (Action.DEVICE_ADDED, "ann", {"device": "authenticator"}),
            (Action.DEVICE_REMOVED, "ann", {"device": "authenticator"}),
        ],
    ),
    "StaticDevice create": (
        lambda ann: StaticDevice.objects.create(user=ann, name="codes"),
        [(Action.DEVICE_ADDED, "ann", {"device": "backup codes"})],
    ),
}


@pytest.mark.parametrize("change", SHELL_CHANGES, ids=str)
def test_each_change_made_in_a_shell_is_recorded_as_made_by_system(ann, change):
    make_change, expected = SHELL_CHANGES[change]

    with recorded() as made:
        make_change(ann)

    assert sorted(made, key=str) == sorted(
        (Event("system", action, subject, detail) for action, subject, detail in expected),
        key=str,
    )


def test_a_password_hash_written_directly_is_recorded(ann):
    with recorded() as made:
        ann.password = make_password(NEW_PASSWORD)
        ann.save()

    assert who_what_whom(made) == [("system", Action.PASSWORD_CHANGED, "ann")]


def test_a_new_secret_on_an_existing_authenticator_is_recorded(ann):
    # Given: ann's authenticator, whose secret someone replaces with one they know
    device = TOTPDevice.objects.create(user=ann, name="authenticator", confirmed=True)

    with recorded() as made:
        device.key = random_hex(20)
        device.save()

    assert [event.subject for event in made] == ["ann"], "a second factor changed unrecorded"


def test_a_backup_code_added_to_an_existing_device_is_recorded(ann):
    backup = StaticDevice.objects.create(user=ann, name="backup codes", confirmed=True)

    with recorded() as made:
        backup.token_set.create(token="known0code")

    assert [event.subject for event in made] == ["ann"], "a second factor changed unrecorded"


# --- The panel -------------------------------------------------------------------------


def test_the_audit_list_shows_who_changed_what_for_whom(ann):
    ann.groups.add(group("moderator"))
    client = verified_client(*staff("root", StaffGroup.ADMINISTRATOR))

    page = client.get(f"{PANEL}submissions/auditevent/?action__exact=group_added")

    assert page.status_code == 200
    rows = [line for line in page.content.decode().split("<tr") if "field-sentence" in line]
    assert any("system added ann to the group moderator" in row for row in rows), rows


def test_a_password_changed_in_the_panel_is_recorded_as_made_by_its_owner():
    client = verified_client(*staff("root", StaffGroup.ADMINISTRATOR))

    with recorded() as made:
        response = client.post(
            f"{PANEL}password_change/",
            {
                "old_password": PASSWORD,
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
        )

    assert response.status_code == 302
    assert who_what_whom(made) == [
        ("root", Action.KEY_RESEALED, "root"),
        ("root", Action.PASSWORD_CHANGED, "root"),
    ]


def test_signing_in_writes_no_account_change():
    # Given: a moderator with an authenticator, signing in with password and code
    _, device = staff("ann", StaffGroup.MODERATOR)
    client = Client(HTTP_HOST="localhost")

    # When: the login saves last_login and the device's counters
    with recorded() as made:
        response = log_in(client, "ann", code=current_code(device))

    # Then: the events are the login itself and, at this first sign-in, the account's
    # own key being made; nothing about the account changes
    assert response.status_code == 302
    assert signed_in(client)
    assert who_what_whom(made) == [("ann", Action.KEY_MADE, "ann"), ("ann", Action.LOGGED_IN, "")]

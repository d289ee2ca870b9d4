"""Every change to a staff account is on record: who changed what, for whom.

Threat: an administrator (or anyone with a shell on the moderation host) gives an
account the right to read stories, or takes over a moderator's account by resetting
its password or second factor, and the trail then blames the moderator. So every
change to accounts, their groups and permissions, the permissions of groups, passwords
and second-factor devices writes an AuditEvent, whichever door it came through: the
panel, our commands, Django's own commands (``createsuperuser``, ``changepassword``)
or a shell. The receivers below watch the models themselves (their save, delete and
many-to-many signals), so every path through the ORM is seen; ``acting_as`` names
who is acting (the signed-in staff member in the panel, the command on the command
line), and a change made with no one named is recorded as made by "system".

What signals cannot see: raw SQL, ``QuerySet.update()`` and ``bulk_create``, which
skip every model hook. Whoever can run those on the database owns it anyway; the
deploy guide keeps that to the database owner on the moderation host.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions.models import AuditEvent

Action = AuditEvent.Action
SYSTEM = "system"
actor: ContextVar[str] = ContextVar("untold_actor", default=SYSTEM)
# Account flags whose every change is recorded, with the actions for on and off.
FLAGS = {
    "is_active": (Action.ACCOUNT_REACTIVATED, Action.ACCOUNT_DEACTIVATED),
    "is_staff": (Action.STAFF_GRANTED, Action.STAFF_REVOKED),
    "is_superuser": (Action.SUPERUSER_GRANTED, Action.SUPERUSER_REVOKED),
}
# Every field of an account compared before and after a save.
WATCHED = (*FLAGS, "password", "username")


@contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Record account changes made inside this block as made by ``name``."""
    token = actor.set(name)
    try:
        yield
    finally:
        actor.reset(token)


def record(action: str, subject: str, **detail: object) -> None:
    AuditEvent.objects.create(action=action, actor=actor.get(), subject=subject, detail=detail)


@receiver(pre_save, sender=User)
def remember_account(sender: type[User], instance: User, update_fields=None, **kwargs) -> None:
    """Keep the watched fields as stored, to compare after the save. A save that names
    only other fields (the login's ``last_login``) is not looked at."""
    stored = None
    if instance.pk is not None and (update_fields is None or set(update_fields) & set(WATCHED)):
        stored = User.objects.filter(pk=instance.pk).values(*WATCHED).first()
    instance.untold_stored = stored  # type: ignore[attr-defined]


@receiver(post_save, sender=User)
def record_account(sender: type[User], instance: User, created: bool, **kwargs) -> None:
    name = instance.get_username()
    if created:
        record(
            Action.ACCOUNT_CREATED,
            name,
            staff=instance.is_staff,
            superuser=instance.is_superuser,
            active=instance.is_active,
            password=instance.has_usable_password(),
        )
        return
    stored = getattr(instance, "untold_stored", None)
    if not stored:
        return
    for flag, (on, off) in FLAGS.items():
        if stored[flag] != getattr(instance, flag):
            record(on if getattr(instance, flag) else off, name)
    if stored["password"] != instance.password:
        # Any new hash: set_password, a hash written directly, or (rarely) the same
        # password hashed again with stronger parameters at sign-in.
        record(Action.PASSWORD_CHANGED, name)
    if stored["username"] != instance.username:
        record(Action.ACCOUNT_RENAMED, name, previous=stored["username"])


@receiver(post_delete, sender=User)
def record_deleted_account(sender: type[User], instance: User, **kwargs) -> None:
    record(Action.ACCOUNT_DELETED, instance.get_username())


# Each watched many-to-many relation: the model that owns it, and the actions for rows
# added to and removed from it.
RELATIONS = {
    User.groups.through: (User, Action.GROUP_ADDED, Action.GROUP_REMOVED),
    User.user_permissions.through: (User, Action.PERMISSION_ADDED, Action.PERMISSION_REMOVED),
    Group.permissions.through: (
        Group,
        Action.GROUP_PERMISSION_ADDED,
        Action.GROUP_PERMISSION_REMOVED,
    ),
}


@receiver(m2m_changed, sender=User.groups.through)
@receiver(m2m_changed, sender=User.user_permissions.through)
@receiver(m2m_changed, sender=Group.permissions.through)
def record_membership(
    sender: Any, instance: Any, action: str, model: Any, pk_set: set | None, **kwargs: Any
) -> None:
    """A user's groups or permissions, or a group's permissions, changed from either
    side (``user.groups.add(group)`` or ``group.user_set.add(user)``). A clear is read
    before it happens (``pre_clear``), while its rows still exist."""
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    owner_model, added, removed = RELATIONS[sender]
    if action == "pre_clear":
        side, other = type(instance)._meta.model_name, model._meta.model_name
        rows = sender.objects.filter(**{side: instance.pk})
        pk_set = set(rows.values_list(f"{other}_id", flat=True))
    others = list(model.objects.filter(pk__in=pk_set or ()))
    if isinstance(instance, owner_model):
        owners, items = [instance], others
    else:
        owners, items = others, [instance]
    for owner in owners:
        for item in items:
            record(added if action == "post_add" else removed, name_of(owner), item=name_of(item))


def name_of(thing: Any) -> str:
    """How the audit trail names an account, a group or a permission."""
    if isinstance(thing, User):
        return thing.get_username()
    if isinstance(thing, Group):
        return thing.name
    return f"{thing.content_type.app_label}.{thing.codename}"


@receiver(pre_save, sender=TOTPDevice)
@receiver(pre_save, sender=StaticDevice)
def remember_device(sender: type, instance: Any, **kwargs) -> None:
    """Keep what makes a device a second factor (its owner, its secret, whether it is
    confirmed), as stored. Each use saves the device too, which changes none of it."""
    fields = ["user_id", "confirmed", *(["key"] if sender is TOTPDevice else [])]
    stored = None
    if instance.pk is not None:
        stored = type(instance).objects.filter(pk=instance.pk).values(*fields).first()
    instance.untold_stored = stored


@receiver(post_save, sender=TOTPDevice)
@receiver(post_save, sender=StaticDevice)
def record_device(sender: type, instance: Any, created: bool, **kwargs) -> None:
    """A new second factor, or one given a new secret, owner or confirmation."""
    owner = instance.user.get_username()
    if created:
        record(Action.DEVICE_ADDED, owner, device=device_kind(instance))
        return
    stored = getattr(instance, "untold_stored", None)
    if stored and any(stored[field] != getattr(instance, field) for field in stored):
        record(Action.DEVICE_CHANGED, owner, device=device_kind(instance))


@receiver(post_save, sender=StaticToken)
def record_backup_code(sender: type, instance: StaticToken, created: bool, **kwargs) -> None:
    """A backup code added to an existing set (a new set is recorded with its device;
    a code used at sign-in is deleted, which changes nothing anyone chose)."""
    if created:
        record(Action.BACKUP_CODE_ADDED, instance.device.user.get_username())


@receiver(post_delete, sender=TOTPDevice)
@receiver(post_delete, sender=StaticDevice)
def record_deleted_device(sender: type, instance: Any, **kwargs) -> None:
    owner = User.objects.filter(pk=instance.user_id).first()
    name = owner.get_username() if owner else f"account {instance.user_id}"
    record(Action.DEVICE_REMOVED, name, device=device_kind(instance))


def device_kind(device: Any) -> str:
    return "authenticator" if isinstance(device, TOTPDevice) else "backup codes"


BACKUP_CODES = 8


def new_second_factor(user: User) -> tuple[TOTPDevice, list[str]]:
    """Replace every second factor of ``user`` with a new authenticator and new backup
    codes (each change on record); return the authenticator and the codes, to be shown
    once to the person they belong to."""
    with transaction.atomic():
        for kind in (TOTPDevice, StaticDevice):
            for device in kind.objects.filter(user=user):
                device.delete()
        totp = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
        backup = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
        backup.token_set.bulk_create(StaticToken(device=backup, token=code) for code in codes)
    return totp, codes

"""System checks that keep the service closed when it is misconfigured.

Outside debug a missing or malformed secret, key, deadline or cache stops start-up
(``manage.py`` commands, ``runserver`` and ``untold/wsgi.py`` all run these checks)
with a message that names the variable and says how to fix it.
"""

from __future__ import annotations

import os
import stat
from contextlib import suppress

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import connections

from submissions import crypto
from submissions.keys import campaign_key_id, configured_keys
from submissions.ratelimit import parse_rate

SERVER_ROLES = ("all", "intake", "moderation")
GENERATE = "Run `python manage.py generate_keys` and set the lines it prints."
RATES = (
    "UNTOLD_RATE_PER_CLIENT",
    "UNTOLD_RATE_SITE",
    "UNTOLD_RATE_WITHDRAW_PER_CLIENT",
    "UNTOLD_RATE_LOGIN_PER_USERNAME",
    "UNTOLD_RATE_LOGIN_PER_CLIENT",
    "UNTOLD_RATE_LOGIN_SITE",
)
MINIMUMS = {
    "UNTOLD_EXPORT_K": 2,
    "UNTOLD_GRACE_MINUTES": 0,
    "UNTOLD_RETAIN_DAYS": 1,
    "UNTOLD_BACKUP_DAYS": 0,
    "UNTOLD_BREAK_EVERY": 0,
    "UNTOLD_KIOSK_IDLE_SECONDS": 30,
    "UNTOLD_KIOSK_WARNING_SECONDS": 10,
}


@register()
def check_secret_key(app_configs, **kwargs) -> list[Error]:
    if settings.UNTOLD_SECRET_KEY_MISSING and not settings.DEBUG:
        return [
            Error(
                "UNTOLD_SECRET_KEY is not set.",
                hint="Set UNTOLD_SECRET_KEY (or UNTOLD_SECRET_KEY_FILE) to at least 50 random "
                'characters, e.g. the output of `python -c "import secrets; '
                'print(secrets.token_urlsafe(50))"`.',
                id="submissions.E001",
            )
        ]
    key = settings.SECRET_KEY
    if not settings.DEBUG and (len(key) < 50 or len(set(key)) < 5):
        return [
            Error(
                "UNTOLD_SECRET_KEY is too short or too simple.",
                hint="Use at least 50 random characters with at least 5 different ones.",
                id="submissions.E001",
            )
        ]
    return []


@register()
def check_deadline(app_configs, **kwargs) -> list[Error]:
    errors = []
    if settings.UNTOLD_CLOSES_AT_RAW and settings.UNTOLD_CLOSES_AT is None:
        errors.append(
            Error(
                f"UNTOLD_CLOSES_AT is not an ISO 8601 instant with an offset: "
                f"{settings.UNTOLD_CLOSES_AT_RAW!r}.",
                hint="Write it like 2026-12-10T23:59:00+05:00.",
                id="submissions.E002",
            )
        )
    elif settings.UNTOLD_CLOSES_AT is None:
        errors.append(
            Error(
                "UNTOLD_CLOSES_AT is not set: the campaign needs a closing instant.",
                hint="Set UNTOLD_CLOSES_AT, e.g. 2026-12-10T23:59:00+05:00.",
                id="submissions.E002",
            )
        )
    if settings.UNTOLD_OPENS_AT_RAW and settings.UNTOLD_OPENS_AT is None:
        errors.append(
            Error(
                f"UNTOLD_OPENS_AT is not an ISO 8601 instant with an offset: "
                f"{settings.UNTOLD_OPENS_AT_RAW!r}.",
                hint="Write it like 2026-11-25T09:00:00+05:00, or leave it unset to open now.",
                id="submissions.E003",
            )
        )
    elif (
        settings.UNTOLD_OPENS_AT
        and settings.UNTOLD_CLOSES_AT
        and settings.UNTOLD_OPENS_AT >= settings.UNTOLD_CLOSES_AT
    ):
        errors.append(
            Error(
                "UNTOLD_OPENS_AT is not before UNTOLD_CLOSES_AT.",
                hint="Set the opening instant before the closing one.",
                id="submissions.E003",
            )
        )
    return errors


@register()
def check_cache(app_configs, **kwargs) -> list[Error]:
    if settings.DEBUG or settings.REDIS_URL:
        if settings.REDIS_URL and not settings.REDIS_URL.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            return [
                Error(
                    "REDIS_URL is not a redis://, rediss:// or unix:// URL.",
                    hint="Write it like redis://127.0.0.1:6379/0.",
                    id="submissions.E004",
                )
            ]
        return []
    return [
        Error(
            "REDIS_URL is not set: rate limits need a cache shared by all processes.",
            hint="Set REDIS_URL, e.g. redis://127.0.0.1:6379/0.",
            id="submissions.E004",
        )
    ]


@register()
def check_role(app_configs, **kwargs) -> list[Error]:
    if settings.UNTOLD_ROLE not in SERVER_ROLES:
        return [
            Error(
                f"UNTOLD_ROLE is {settings.UNTOLD_ROLE!r}.",
                hint="Set UNTOLD_ROLE to all, intake or moderation.",
                id="submissions.E008",
            )
        ]
    if settings.UNTOLD_ROLE == "intake" and settings.UNTOLD_PRIVATE_KEY_FILES:
        return [
            Error(
                "UNTOLD_ROLE is intake but a private key is configured.",
                hint="The public server must hold public keys only: unset "
                "UNTOLD_PRIVATE_KEY_FILE(S) and keep the private key on the moderation side.",
                id="submissions.E007",
            )
        ]
    return []


@register()
def check_keys(app_configs, **kwargs) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    for text in settings.UNTOLD_PUBLIC_KEYS:
        try:
            crypto.public_key_from_text(text)
        except crypto.SealError as error:
            problems.append(
                Error(
                    f"UNTOLD_PUBLIC_KEYS holds a malformed key: {error}.",
                    hint=GENERATE,
                    id="submissions.E005",
                )
            )
    if not settings.UNTOLD_PUBLIC_KEYS and not settings.UNTOLD_PRIVATE_KEY_FILES:
        problems.append(
            Error(
                "UNTOLD_PUBLIC_KEYS is not set: nothing can be sealed.",
                hint=GENERATE,
                id="submissions.E005",
            )
        )
    try:
        campaign_key_id()
    except crypto.SealError as error:
        problems.append(
            Error(
                f"{error}.",
                hint="Copy UNTOLD_CAMPAIGN_KEY_ID from the untold.env that generate_keys wrote.",
                id="submissions.E017",
            )
        )
    if problems:
        return problems
    configured_keys.cache_clear()
    try:
        ring = configured_keys()
    except crypto.SealError as error:
        return [
            Error(
                f"UNTOLD_PRIVATE_KEY_FILE(S) cannot be loaded: {error}.",
                hint="Check the file paths and UNTOLD_PRIVATE_KEY_PASSPHRASE "
                "(or UNTOLD_PRIVATE_KEY_PASSPHRASE_FILE).",
                id="submissions.E006",
            )
        ]
    if ring.can_open and ring.active_key_id not in ring.private_keys:
        problems.append(
            Error(
                f"The active public key (key id {ring.active_key_id.hex()}) has no matching "
                "private key among UNTOLD_PRIVATE_KEY_FILE(S).",
                hint="List the active key's private key file too, or put the public key that "
                "matches one of the private keys first in UNTOLD_PUBLIC_KEYS.",
                id="submissions.E010",
            )
        )
    problems += [
        Warning(
            f"The private key file {name} can be read by other users of this host (mode {mode:o}).",
            hint=f"Run `chmod 600 {name}`: only the account that runs Untold may read it.",
            id="submissions.W003",
        )
        for name, mode in key_file_modes()
        if mode & 0o077
    ]
    return problems


def key_file_modes() -> list[tuple[str, int]]:
    """The permission bits of each configured private key file that can be read."""
    modes = []
    for name in settings.UNTOLD_PRIVATE_KEY_FILES:
        with suppress(OSError):
            modes.append((name, stat.S_IMODE(os.stat(name).st_mode)))
    return modes


@register()
def check_other_settings(app_configs, **kwargs) -> list[Error]:
    errors = [
        Error(
            f"{name} is malformed or its file cannot be read.",
            hint=f"Fix or unset {name}.",
            id="submissions.E011",
        )
        for name in settings.INVALID_SETTINGS
    ]
    # settings.py falls back to UTC for a zone it cannot load.
    if settings.TIME_ZONE != settings.UNTOLD_TIME_ZONE:
        errors.append(
            Error(
                f"UNTOLD_TIME_ZONE is not a known time zone: {settings.UNTOLD_TIME_ZONE!r}.",
                hint="Use an IANA name such as Asia/Almaty.",
                id="submissions.E009",
            )
        )
    # A malformed rate would make every limit fail open.
    for name in RATES:
        try:
            parse_rate(getattr(settings, name))
        except ValueError:
            errors.append(
                Error(
                    f"{name} is not a rate like 10/h or 5/15m: {getattr(settings, name)!r}.",
                    hint=f"Fix or unset {name}: a count and a period of at least 1.",
                    id="submissions.E013",
                )
            )
    errors += [
        Error(
            f"{name} must be at least {minimum}.",
            hint=f"Fix or unset {name}.",
            id="submissions.E011",
        )
        for name, minimum in MINIMUMS.items()
        if getattr(settings, name) < minimum
    ]
    if not settings.DEBUG and not settings.UNTOLD_BACKUP_DAYS_RAW:
        errors.append(
            Error(
                "UNTOLD_BACKUP_DAYS is not set: the privacy page must say how long backups "
                "keep a withdrawn or purged story.",
                hint="Set it to the number of days your oldest backup is kept (0 for none); "
                "see docs/deploy.md, Backups.",
                id="submissions.E014",
            )
        )
    if not settings.DEBUG and not settings.UNTOLD_ORGANISATION:
        errors.append(
            Error(
                "UNTOLD_ORGANISATION is not set: the form must name who runs the campaign "
                "before she consents to it.",
                hint="Set it to the organisation's name as people know it.",
                id="submissions.E015",
            )
        )
    if not settings.DEBUG and not settings.UNTOLD_CONTACT:
        errors.append(
            Error(
                "UNTOLD_CONTACT is not set: the form and the privacy page must say how to "
                "reach the campaign.",
                hint="Set it to an e-mail address, a phone number or a web address.",
                id="submissions.E016",
            )
        )
    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        errors.append(
            Error(
                "UNTOLD_ALLOWED_HOSTS is not set.",
                hint="Set it to the comma-separated host names the site answers to.",
                id="submissions.E012",
            )
        )
    return errors


# PostgreSQL settings under which the server itself would date every testimony: a
# statement log, the statement of a failed INSERT written beside its error (the whole
# row, receipt digest included), commit timestamps, archived write-ahead log (its
# commit records carry times). Each with the values that are safe.
UNDATED = {
    "log_statement": ("none", "ddl"),
    "log_min_duration_statement": ("-1",),
    "log_min_error_statement": ("panic",),
    "track_commit_timestamp": ("off",),
    "archive_mode": ("off",),
}


@register(deploy=True)
def check_no_key_file_on_a_server(app_configs, **kwargs) -> list[Warning]:
    """People hold the keys; a key file left on a server opens every story to whoever
    copies or seizes it."""
    if settings.DEBUG or not settings.UNTOLD_PRIVATE_KEY_FILES:
        return []
    return [
        Warning(
            "A private key file is configured on this server (UNTOLD_PRIVATE_KEY_FILE(S)): "
            "whoever copies or seizes this host opens every story with it.",
            hint="Once every staff member has signed in once (each is granted the keys then), "
            "unset UNTOLD_PRIVATE_KEY_FILE(S) and keep the key file offline "
            "(docs/deploy.md, 'Keys: held by people').",
            id="submissions.W004",
        )
    ]


@register(Tags.database)
def check_database_keeps_no_times(app_configs, databases=None, **kwargs) -> list[Warning]:
    """Run by ``migrate`` and ``check --database default``: the database server's own
    settings are outside the application, so they are read, not assumed."""
    warnings = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        with connection.cursor() as cursor:
            for name, safe in UNDATED.items():
                cursor.execute(f"SHOW {name}")
                value = cursor.fetchone()[0]
                if value not in safe:
                    warnings.append(
                        Warning(
                            f"PostgreSQL's {name} is {value!r}: the database server keeps "
                            "the time each testimony arrived.",
                            hint=f"Set {name} to {safe[0]!r} (docs/deploy.md, PostgreSQL).",
                            id="submissions.W002",
                        )
                    )
    return warnings

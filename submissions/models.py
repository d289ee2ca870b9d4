"""Testimonies and the audit trail.

Promise: a testimony carries no IP address, user agent, account or exact time; only
the day it arrived, in the campaign's time zone. Its id is a random UUID4, so no id
reveals arrival order (``maintenance.shuffle_storage`` takes away the order in which
the database files keep the rows). Its text is sealed before it reaches the database,
and there is no transparently decrypting field: text is opened only by an explicit
call, so list pages, ``dumpdata`` and serializers never see it.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    models,
    transaction,
)
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from submissions import receipts

# Migration 0001 names the default of ``received_on`` submissions.models.campaign_today.
from submissions.campaign import campaign_today
from submissions.choices import AgeGroup, Consent, Language, Region, Status, Teller, ViolenceForm
from submissions.keys import keyring

StrOrPromise = str | Promise
TEXT_FIELD = "text"
CAMPAIGN_TEXT_FIELD = "campaign_text"
VIOLENCE_FORMS = frozenset(ViolenceForm.values)


# What a testimony needs before it is approved and exported: a campaign text, unless
# she allowed statistics only (the export writes no text for those).
READY = models.Q(consent=Consent.STATISTICS) | models.Q(sealed_campaign_text__isnull=False)
EXPORTABLE = READY & models.Q(
    status=Status.APPROVED, consent__in=[Consent.QUOTE, Consent.STATISTICS]
)
# The answers an export writes, the day first (it becomes the week).
EXPORTED_ANSWERS = (
    "received_on",
    "language",
    "forms_of_violence",
    "age_group",
    "region",
    "teller",
    "consent",
)
# The answers statistics count, one chart each (and one for the day).
COUNTED_ANSWERS = ("status", "language", "forms_of_violence", "age_group", "region")


class TestimonyQuerySet(models.QuerySet):
    def with_violence_form(self, value: str) -> TestimonyQuerySet:
        """Testimonies whose comma-separated forms of violence include ``value``."""
        return self.filter(
            models.Q(forms_of_violence=value)
            | models.Q(forms_of_violence__startswith=f"{value},")
            | models.Q(forms_of_violence__endswith=f",{value}")
            | models.Q(forms_of_violence__contains=f",{value},")
        )

    def approve(self, *, by: str) -> tuple[int, int]:
        """Approve those not yet approved that are ready (``READY``), each on record.
        Returns how many were approved and how many were skipped as not ready."""
        pending = self.exclude(status=Status.APPROVED)
        skipped = pending.exclude(READY).count()
        ready = pending.filter(READY)
        return ready.set_status(Status.APPROVED, by=by, action=AuditEvent.Action.APPROVED), skipped

    def reject(self, *, by: str, reason: str = "") -> int:
        """Reject those not yet rejected, each on record with the reason if one is given;
        returns how many."""
        pending = self.exclude(status=Status.REJECTED)
        detail = {"reason": reason} if reason else {}
        return pending.set_status(
            Status.REJECTED, by=by, action=AuditEvent.Action.REJECTED, **detail
        )

    def set_status(self, status: str, *, by: str, action: str, **detail: object) -> int:
        """Give these testimonies ``status`` and record ``action`` for each, together."""
        return self._each_on_record(action, by, lambda rows: rows.update(status=status), detail)

    def delete_on_record(self, *, by: str) -> int:
        """Delete these testimonies from the live database (the rows, their sealed texts
        and wrapped keys), each on record, together; returns how many."""
        return self._each_on_record(AuditEvent.Action.DELETED, by, lambda rows: rows.delete())

    def _each_on_record(
        self,
        action: str,
        by: str,
        change: Callable[[models.QuerySet], object],
        detail: dict[str, object] | None = None,
    ) -> int:
        """Apply ``change`` to these testimonies and record ``action`` for each, in one
        transaction: the change and its audit trail stand or fall together.

        The rows are locked first (on PostgreSQL; SQLite's IMMEDIATE transactions take
        the whole database), and a row that someone changed meanwhile is judged again by
        this queryset's conditions once its lock is granted: two moderators approving
        at once record one approval, and a campaign text blanked meanwhile keeps the
        testimony from being approved without one."""
        with transaction.atomic():
            ids = list(self.select_for_update().values_list("id", flat=True))
            change(self.model.objects.filter(id__in=ids))
            AuditEvent.objects.bulk_create(
                AuditEvent(action=action, actor=by, testimony_id=record_id, detail=detail or {})
                for record_id in ids
            )
        return len(ids)

    def exportable(self) -> TestimonyQuerySet:
        """Approved, consented to some use, and ready (``READY``): nothing else."""
        return self.filter(EXPORTABLE)


class Testimony(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    received_on = models.DateField(_("received on"), default=campaign_today, editable=False)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices)
    sealed_text = models.BinaryField(editable=False)
    # Several ViolenceForm values, comma-separated and sorted; portable to filter on
    # (``forms_of_violence__contains``) on SQLite and PostgreSQL alike.
    forms_of_violence = models.CharField(
        _("forms of violence"), max_length=200, blank=True, default=""
    )
    age_group = models.CharField(
        _("age group"), max_length=10, choices=AgeGroup.choices, blank=True
    )
    region = models.CharField(_("region"), max_length=8, choices=Region.choices, blank=True)
    teller = models.CharField(
        _("who is telling"), max_length=10, choices=Teller.choices, blank=True
    )
    consent = models.CharField(_("consent"), max_length=10, choices=Consent.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.NEW
    )
    sealed_campaign_text = models.BinaryField(null=True, blank=True, editable=False)
    # Unique by a constraint rather than unique=True, which on PostgreSQL adds a second,
    # pattern-matching index that no lookup uses and every story would pay to update.
    receipt_digest = models.CharField(max_length=64, null=True, blank=True, editable=False)

    objects = TestimonyQuerySet.as_manager()

    class Meta:
        verbose_name = _("testimony")
        verbose_name_plural = _("testimonies")
        # Each list, the queue and the export reads its rows through an index, at any
        # size (bench/scale.py, EXPLAIN at 1,000,000 rows): the list in its order
        # (newest day first; scanned backwards), the list by status, the queue of new
        # stories with its filters and count, and exactly the exportable rows in time
        # order (the export's plan groups them by day and answers, from the index alone).
        indexes = [
            models.Index(fields=["received_on", "id"], name="testimony_by_day"),
            models.Index(fields=["status", "received_on", "id"], name="testimony_by_status"),
            models.Index(
                fields=["received_on", "id", "language", "consent", "forms_of_violence"],
                condition=models.Q(status=Status.NEW),
                name="testimony_queue",
            ),
            models.Index(
                fields=[*EXPORTED_ANSWERS],
                condition=EXPORTABLE,
                name="testimony_exportable",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["receipt_digest"], name="testimony_receipt_digest")
        ]
        permissions = [
            ("view_original", _("Can read the original text")),
            ("export", _("Can export the anonymized CSV")),
            ("view_statistics", _("Can see statistics")),
        ]

    def __str__(self) -> str:
        return str(_("story %(id)s") % {"id": self.short_id})

    @property
    def short_id(self) -> str:
        return self.id.hex[:8]

    @property
    def violence_forms(self) -> list[str]:
        return [value for value in self.forms_of_violence.split(",") if value]

    @violence_forms.setter
    def violence_forms(self, values: list[str]) -> None:
        unknown = set(values) - VIOLENCE_FORMS
        if unknown:
            raise ValueError(f"unknown forms of violence: {sorted(unknown)}")
        self.forms_of_violence = ",".join(sorted(set(values)))

    def seal_text(self, text: str) -> None:
        self.sealed_text = keyring().seal(text, record_id=self.id, field_name=TEXT_FIELD)

    def open_text(self) -> str:
        """The original text. Raises SealError; never returns ciphertext."""
        return keyring().open(self.sealed_text, record_id=self.id, field_name=TEXT_FIELD)

    def seal_campaign_text(self, text: str) -> None:
        self.sealed_campaign_text = keyring().seal_campaign(
            text, record_id=self.id, field_name=CAMPAIGN_TEXT_FIELD
        )

    def open_campaign_text(self) -> str | None:
        """The moderator's redacted copy, or None if there is none yet. Raises SealError."""
        if self.sealed_campaign_text is None:
            return None
        return keyring().open_campaign(
            self.sealed_campaign_text, record_id=self.id, field_name=CAMPAIGN_TEXT_FIELD
        )

    def set_receipt_code(self, code: str) -> None:
        self.receipt_digest = receipts.digest(code)

    def store(self) -> None:
        """Insert this new testimony, whole or not at all; raises DatabaseError.

        One INSERT is atomic on its own, without the two extra round trips of BEGIN and
        COMMIT. Inside a transaction someone else opened (a test, or ATOMIC_REQUESTS) a
        savepoint keeps a failure here from poisoning it.

        A persistent connection is not health-checked first: Django's check is a whole
        round trip (SELECT 1) before a request's first query, about a tenth of a
        submission's time (bench/submit.py). Instead, if the INSERT finds the connection
        dead (the database restarted, say), it is sent once more on a new one. That
        cannot store the story twice: the row's id is made here, so if the first INSERT
        was committed before the connection broke, the second fails on that id, and
        the row is found and taken as stored."""
        if connection.in_atomic_block:
            with transaction.atomic():
                self.insert()
            return
        # Django's own flags for its check (5.2; not in django-stubs): under a Django
        # without them, the check runs as before, slower but as safe.
        unchecked = getattr(connection, "health_check_enabled", False) and not getattr(
            connection, "health_check_done", True
        )
        connection.health_check_done = True  # type: ignore[attr-defined]  # as if it had run
        try:
            self.insert()
        except (OperationalError, InterfaceError):
            if not unchecked or connection.is_usable():
                raise  # a failure of the INSERT itself, not of an unchecked connection
            connection.close()
            try:
                self.insert()
            except IntegrityError:
                if not type(self).objects.filter(pk=self.pk).exists():
                    raise

    def insert(self) -> None:
        """One INSERT of this new row, as ``save(force_insert=True)`` would send it.

        On PostgreSQL its values travel as parameters (server-side binding). Django's
        client-side binding writes the sealed text into the statement as hex, twice its
        size, for PostgreSQL to parse back; that and the save() machinery around it
        took about 150 µs of the 600 µs a story costs beyond a bare view
        (bench/submit.py). Django's own ``server_side_binding`` option, for every query
        with save() kept, was tried instead: the whole suite passed, but a story still
        cost 1.40-1.48x a bare view against 1.29x this way, run back to back. Django's
        cursor wrapper is kept: its errors, and its query log in debug. No pre_save or
        post_save signal is sent, here as elsewhere: the main flow uses no signals, and
        none is connected to a testimony."""
        if connection.vendor != "postgresql":
            self.save(force_insert=True)
            return
        import psycopg  # the backend's own driver, there whenever PostgreSQL is used

        fields = self._meta.concrete_fields
        values = [
            field.get_db_prep_save(field.pre_save(self, True), connection) for field in fields
        ]
        connection.ensure_connection()
        with connection.wrap_database_errors:
            binding: Any = psycopg.Cursor(connection.connection)  # stubs expect Django's
        cursor = (
            connection.make_debug_cursor(binding)
            if connection.queries_logged
            else connection.make_cursor(binding)
        )
        with cursor:
            cursor.execute(insert_statement(type(self)), values)
        self._state.adding = False
        self._state.db = connection.alias

    def approve(self, *, by: str) -> None:
        """Approve this testimony, on record, unless it is approved already. Raises
        ValueError, changing nothing, if it may be quoted and has no campaign text (as
        stored now)."""
        _, skipped = type(self).objects.filter(pk=self.pk).approve(by=by)
        if skipped:
            raise ValueError("a quotable testimony is approved only with a campaign text")
        self.status = Status.APPROVED

    def reject(self, *, by: str, reason: str = "") -> None:
        """Reject this testimony, on record with the reason if one is given, unless it is
        rejected already."""
        type(self).objects.filter(pk=self.pk).reject(by=by, reason=reason)
        self.status = Status.REJECTED

    def delete_on_record(self, *, by: str) -> None:
        type(self).objects.filter(pk=self.pk).delete_on_record(by=by)


@functools.cache
def insert_statement(model: type[models.Model]) -> str:
    """``INSERT INTO table (every column) VALUES (%s, ...)`` for ``model``, made once."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in model._meta.concrete_fields)
    placeholders = ", ".join(["%s"] * len(model._meta.concrete_fields))
    table = quote(model._meta.db_table)
    # Quoted names from the model itself; every value is a parameter.
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608


class DailyCountQuerySet(models.QuerySet):
    def roll_up(self, through: date) -> date | None:
        """Count the testimonies of every day up to ``through`` not counted yet, a day
        with stories (and the empty days before it) per transaction; return the last
        day counted, or None if there is nothing to count.

        While a day is counted, writers wait (a few milliseconds a day), so that no
        testimony is counted twice or missed; from then on the database's own triggers
        (migration 0007) keep the day's counts as stories are decided or deleted (or,
        rarely, stored for a past day)."""
        counted = CountedThrough.objects.get_or_create(pk=1)[0].day
        while counted is None or counted < through:
            start = None if counted is None else counted + timedelta(days=1)
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    table = connection.ops.quote_name(Testimony._meta.db_table)
                    with connection.cursor() as cursor:
                        # Writers (and other roll-ups) wait; readers do not.
                        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
                state = CountedThrough.objects.select_for_update().get(pk=1)
                if state.day != counted:  # another roll-up went ahead meanwhile
                    counted = state.day
                    continue
                pending = Testimony.objects.filter(received_on__lte=through)
                if start is not None:
                    pending = pending.filter(received_on__gte=start)
                day = pending.aggregate(day=models.Min("received_on"))["day"]
                if day is None:
                    if start is None:
                        return None  # no story yet: nothing to count
                    day = through  # only empty days are left
                # Nothing should stand there yet; whatever does (a flushed test database,
                # a restored dump) is counted again rather than added to.
                stale = self.filter(day__lte=day)
                stale = stale if start is None else stale.filter(day__gte=start)
                stale.delete()
                self.bulk_create(
                    DailyCount(day=day, answer=answer, value=value, count=n)
                    for answer in COUNTED_ANSWERS
                    for value, n in Testimony.objects.filter(received_on=day)
                    .values_list(answer)
                    .annotate(n=models.Count("id"))
                    .order_by()
                )
                state.day = counted = day
                state.save(update_fields=["day"])
        return counted

    def statistics(self, *, before: date | None = None) -> dict[str, list[tuple[str, int]]]:
        """Counts for the dashboard, of the testimonies received before ``before`` (all
        of them by default): by status, day, language, form of violence, age group and
        region, each as (label, count) pairs in a stable order.

        Days that have ended are read from their counts (``roll_up``), today from the
        testimonies themselves: the work grows with the campaign's days and today's
        stories, not with the number of stories (bench/scale.py)."""
        today = campaign_today()
        counted = self.roll_up(today - timedelta(days=1))
        stored, live = self.none(), Testimony.objects.all()
        if counted is not None:
            stored, live = self.filter(day__lte=counted), live.filter(received_on__gt=counted)
        if before is not None:
            stored, live = stored.filter(day__lt=before), live.filter(received_on__lt=before)
        totals: dict[str, Counter[str]] = {answer: Counter() for answer in COUNTED_ANSWERS}
        for answer, value, n in (
            stored.values_list("answer", "value").annotate(n=models.Sum("count")).order_by()
        ):
            totals[answer][value] += n
        days: Counter[date] = Counter(
            dict(
                stored.filter(answer="status")
                .values_list("day")
                .annotate(n=models.Sum("count"))
                .order_by()
            )
        )
        for answer in COUNTED_ANSWERS:
            grouped = live.values_list(answer).annotate(n=models.Count("id")).order_by()
            totals[answer].update(dict(grouped))
        days.update(dict(live.values_list("received_on").annotate(n=models.Count("id")).order_by()))
        forms: Counter[str] = Counter()
        for joined, n in totals["forms_of_violence"].items():
            for value in filter(None, joined.split(",")):
                forms[value] += n

        def labelled(
            counts: Counter[str], choices: Sequence[tuple[str, StrOrPromise]]
        ) -> list[tuple[str, int]]:
            return [(str(label), counts[value]) for value, label in choices]

        return {
            "status": labelled(totals["status"], Status.choices),
            "day": [(day.isoformat(), n) for day, n in sorted(days.items()) if n],
            "language": labelled(totals["language"], Language.choices),
            "form": labelled(forms, ViolenceForm.choices),
            "age_group": labelled(totals["age_group"], [*AgeGroup.choices, ("", _("Not said"))]),
            "region": labelled(totals["region"], [*Region.choices, ("", _("Not said"))]),
        }


class DailyCount(models.Model):
    """How many testimonies received on ``day`` gave ``value`` as their ``answer`` (a
    Testimony field in COUNTED_ANSWERS; forms of violence as stored, comma-joined).
    What statistics read for the days that have ended, instead of every testimony."""

    day = models.DateField()
    answer = models.CharField(max_length=20)
    value = models.CharField(max_length=200)
    count = models.IntegerField()

    objects = DailyCountQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "answer", "value"], name="daily_count_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.answer}={self.value}: {self.count}"


class CountedThrough(models.Model):
    """One row: the last day whose testimonies DailyCount holds (None: none yet)."""

    day = models.DateField(null=True)

    def __str__(self) -> str:
        return f"counted through {self.day}"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: object) -> int:
        raise PermissionError("audit events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit events are append-only")


class AuditEvent(models.Model):
    """Who on the staff did what to which record, and when. Never a client address.

    Append-only: the model refuses updates and deletes, and on PostgreSQL a trigger
    refuses them in the database too (see migration 0002)."""

    class Action(models.TextChoices):
        VIEWED = "viewed", _("viewed original")
        EDITED = "edited", _("edited campaign text")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        DELETED = "deleted", _("deleted")
        EXPORTED = "exported", _("exported")
        LOGGED_IN = "logged_in", _("logged in")
        LOGIN_FAILED = "login_failed", _("failed login")
        ROTATED_KEYS = "rotated_keys", _("rotated keys")
        PURGED = "purged", _("purged")
        EXPORT_FAILED = "export_failed", _("export refused")
        ACCOUNT_CREATED = "account_created", _("created account")
        ACCOUNT_DELETED = "account_deleted", _("deleted account")
        ACCOUNT_DEACTIVATED = "account_deactivated", _("deactivated account")
        ACCOUNT_REACTIVATED = "account_reactivated", _("reactivated account")
        STAFF_GRANTED = "staff_granted", _("made staff")
        STAFF_REVOKED = "staff_revoked", _("removed from staff")
        SUPERUSER_GRANTED = "superuser_granted", _("made superuser")
        SUPERUSER_REVOKED = "superuser_revoked", _("removed superuser")
        GROUP_ADDED = "group_added", _("added to group")
        GROUP_REMOVED = "group_removed", _("removed from group")
        PERMISSION_ADDED = "permission_added", _("gave permission")
        PERMISSION_REMOVED = "permission_removed", _("took permission")
        GROUP_PERMISSION_ADDED = "group_permission_added", _("gave group permission")
        GROUP_PERMISSION_REMOVED = "group_permission_removed", _("took group permission")
        PASSWORD_CHANGED = "password_changed", _("set password")
        DEVICE_ADDED = "device_added", _("added second factor")
        DEVICE_REMOVED = "device_removed", _("removed second factor")
        DEVICE_CHANGED = "device_changed", _("changed second factor")
        BACKUP_CODE_ADDED = "backup_code_added", _("added backup code")
        ACCOUNT_RENAMED = "account_renamed", _("renamed account")
        KEY_MADE = "key_made", _("made account key")
        KEY_GRANTED = "key_granted", _("granted key")
        KEY_REVOKED = "key_revoked", _("revoked key")
        KEY_RESEALED = "key_resealed", _("re-sealed account key")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    at = models.DateTimeField(_("when"), default=timezone.now, editable=False)
    actor = models.CharField(_("who"), max_length=150)
    action = models.CharField(_("action"), max_length=30, choices=Action.choices)
    # Not a foreign key: the event outlives a deleted or purged testimony.
    testimony_id = models.UUIDField(null=True, blank=True)
    # The account (or group) a change to accounts was made to; empty for other events.
    subject = models.CharField(_("to whom"), max_length=160, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        verbose_name = _("audit event")
        # The audit list, newest first (Django adds the id to its order), whole or by
        # action, reads through an index at any size (bench/scale.py).
        indexes = [
            models.Index(fields=["at", "id"], name="audit_by_time"),
            models.Index(fields=["action", "at", "id"], name="audit_by_action"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit events are append-only")

    @classmethod
    def record(
        cls,
        action: str,
        *,
        actor: str,
        testimony: Testimony | None = None,
        **detail: object,
    ) -> AuditEvent:
        return cls.objects.create(
            action=action,
            actor=actor,
            testimony_id=testimony.pk if testimony else None,
            detail=detail,
        )


class Secret(models.TextChoices):
    """The campaign secrets a person can hold."""

    STORY = "story", _("story key")
    CAMPAIGN_TEXT = "campaign_text", _("campaign-text key")


class StaffKey(models.Model):
    """A staff account's own X25519 key pair. The private half is stored wrapped under a
    key derived from the account's password (``kdf``, ``salt``); the server alone cannot
    unwrap it. ``carried_over`` marks an account that existed before people held the
    keys: at its next sign-in, a server that still has a key file grants it what its
    group should hold."""

    user = models.OneToOneField(
        "auth.User", on_delete=models.CASCADE, related_name="staff_key", primary_key=True
    )
    public_key = models.BinaryField(max_length=32)
    wrapped_private_key = models.BinaryField()
    salt = models.BinaryField(max_length=16)
    kdf = models.JSONField()
    carried_over = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("account key")

    def __str__(self) -> str:
        return f"key of {self.user_id}"


class KeyGrant(models.Model):
    """One campaign secret, sealed (HPKE) to one account's public key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="key_grants")
    secret = models.CharField(max_length=20, choices=Secret.choices)
    key_id = models.CharField(max_length=16)  # hex of the 8-byte key id
    sealed = models.BinaryField()
    granted_by = models.CharField(max_length=150)
    granted_on = models.DateField(default=campaign_today)

    class Meta:
        verbose_name = _("key grant")
        constraints = [
            models.UniqueConstraint(fields=["user", "secret", "key_id"], name="one_grant_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.secret} {self.key_id}"

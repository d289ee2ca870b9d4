"""Testimonies and the audit trail.

Promise: a testimony carries no IP address, user agent, account or exact time; only
the day it arrived, in the campaign's time zone. Its id is a random UUID4, so no id
reveals arrival order, and ``shuffle_storage`` takes away the order in which the
database files keep the rows. Its text is sealed before it reaches the database, and
there is no transparently decrypting field: text is opened only by an explicit call,
so list pages, ``dumpdata`` and serializers never see it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections, models, transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from submissions import crypto

TEXT_FIELD = "text"
CAMPAIGN_TEXT_FIELD = "campaign_text"


@cache
def keyring() -> crypto.Keyring:
    """The keys this process holds, loaded once from settings. Raises SealError."""
    pems = []
    for name in settings.UNTOLD_PRIVATE_KEY_FILES:
        try:
            pems.append(Path(name).read_bytes())
        except OSError as error:
            raise crypto.SealError(
                f"cannot read private key file {name}: {error.strerror}"
            ) from None
    passphrase = settings.UNTOLD_PRIVATE_KEY_PASSPHRASE.encode() or None
    return crypto.Keyring.load(settings.UNTOLD_PUBLIC_KEYS, pems, passphrase)


@receiver(setting_changed)
def _forget_keys(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("UNTOLD_P"):
        keyring.cache_clear()


def campaign_today(now: datetime | None = None) -> date:
    """The date in the campaign's time zone: the only time a testimony keeps."""
    return timezone.localdate(now or timezone.now(), ZoneInfo(settings.UNTOLD_TIME_ZONE))


@dataclass(frozen=True)
class Campaign:
    """When the form takes submissions: from ``opens_at`` (or always) until ``closes_at``,
    plus a grace period for a form that was served before the close."""

    opens_at: datetime | None
    closes_at: datetime
    grace: timedelta

    @classmethod
    def from_settings(cls) -> Campaign:
        return cls(
            opens_at=settings.UNTOLD_OPENS_AT,
            closes_at=settings.UNTOLD_CLOSES_AT,
            grace=timedelta(minutes=settings.UNTOLD_GRACE_MINUTES),
        )

    def has_opened_at(self, now: datetime) -> bool:
        return self.opens_at is None or now >= self.opens_at

    def is_open_at(self, now: datetime) -> bool:
        return self.has_opened_at(now) and now < self.closes_at

    def accepts(self, now: datetime, served_at: datetime | None) -> bool:
        """Whether a form served at ``served_at`` may be submitted at ``now``."""
        if self.is_open_at(now):
            return True
        return (
            served_at is not None
            and self.has_opened_at(served_at)
            and served_at < self.closes_at
            and now < self.closes_at + self.grace
        )

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(ZoneInfo(settings.UNTOLD_TIME_ZONE))

    @property
    def delete_after(self) -> date:
        """The day after which testimonies are purged."""
        return self.local(self.closes_at).date() + timedelta(days=settings.UNTOLD_RETAIN_DAYS)


def receipt_digest(code: str) -> str:
    """HMAC-SHA256 of a receipt code under a key derived from SECRET_KEY: a code can be
    looked up, but the stored digest cannot be turned back into the code."""
    return salted_hmac("untold.receipt-digest", code, algorithm="sha256").hexdigest()


class Language(models.TextChoices):
    KAZAKH = "kk", "Қазақша"
    RUSSIAN = "ru", "Русский"
    ENGLISH = "en", "English"


class ViolenceForm(models.TextChoices):
    PHYSICAL = "physical", _("Physical violence")
    SEXUAL = "sexual", _("Sexual violence")
    PSYCHOLOGICAL = "psychological", _("Psychological violence")
    ECONOMIC = "economic", _("Economic violence")
    HARASSMENT = "harassment", _("Harassment")
    TRAFFICKING = "trafficking", _("Trafficking")
    FGM = "fgm", _("Female genital mutilation")
    CHILD_MARRIAGE = "child_marriage", _("Child marriage")
    OTHER = "other", _("Other")


class AgeGroup(models.TextChoices):
    UNDER_18 = "under_18", _("Under 18")
    FROM_18 = "18_24", _("18–24")
    FROM_25 = "25_34", _("25–34")
    FROM_35 = "35_44", _("35–44")
    FROM_45 = "45_54", _("45–54")
    FROM_55 = "55_64", _("55–64")
    FROM_65 = "65_plus", _("65 or older")


class Region(models.TextChoices):
    """Central Asia: Kazakhstan by region (ISO 3166-2), its neighbours by country.
    The part before the hyphen is the country, which export uses to generalize."""

    KZ_ASTANA = "KZ-71", _("Kazakhstan — Astana")
    KZ_ALMATY_CITY = "KZ-75", _("Kazakhstan — Almaty (city)")
    KZ_SHYMKENT = "KZ-79", _("Kazakhstan — Shymkent")
    KZ_ABAI = "KZ-10", _("Kazakhstan — Abai Region")
    KZ_AKMOLA = "KZ-11", _("Kazakhstan — Akmola Region")
    KZ_AKTOBE = "KZ-15", _("Kazakhstan — Aktobe Region")
    KZ_ALMATY = "KZ-19", _("Kazakhstan — Almaty Region")
    KZ_ATYRAU = "KZ-23", _("Kazakhstan — Atyrau Region")
    KZ_WEST = "KZ-27", _("Kazakhstan — West Kazakhstan Region")
    KZ_ZHAMBYL = "KZ-31", _("Kazakhstan — Zhambyl Region")
    KZ_ZHETYSU = "KZ-33", _("Kazakhstan — Zhetysu Region")
    KZ_KARAGANDA = "KZ-35", _("Kazakhstan — Karaganda Region")
    KZ_KOSTANAY = "KZ-39", _("Kazakhstan — Kostanay Region")
    KZ_KYZYLORDA = "KZ-43", _("Kazakhstan — Kyzylorda Region")
    KZ_MANGYSTAU = "KZ-47", _("Kazakhstan — Mangystau Region")
    KZ_PAVLODAR = "KZ-55", _("Kazakhstan — Pavlodar Region")
    KZ_NORTH = "KZ-59", _("Kazakhstan — North Kazakhstan Region")
    KZ_TURKISTAN = "KZ-61", _("Kazakhstan — Turkistan Region")
    KZ_ULYTAU = "KZ-62", _("Kazakhstan — Ulytau Region")
    KZ_EAST = "KZ-63", _("Kazakhstan — East Kazakhstan Region")
    KYRGYZSTAN = "KG", _("Kyrgyzstan")
    TAJIKISTAN = "TJ", _("Tajikistan")
    TURKMENISTAN = "TM", _("Turkmenistan")
    UZBEKISTAN = "UZ", _("Uzbekistan")
    ELSEWHERE = "other", _("Elsewhere")


class Role(models.TextChoices):
    SURVIVOR = "survivor", _("I am the survivor")
    WITNESS = "witness", _("I am a witness")
    RELATIVE = "relative", _("I am a relative or friend")


class Consent(models.TextChoices):
    QUOTE = "quote", _("May be quoted anonymously in campaign materials")
    STATISTICS = "statistics", _("Use for statistics only")


class Status(models.TextChoices):
    NEW = "new", _("New")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


@dataclass
class RotationReport:
    moved: int = 0
    failed: list[str] = field(default_factory=list)
    remaining: int = 0


def names_key(sealed: bytes, wanted: bytes) -> bool:
    try:
        return crypto.sealed_key_id(sealed) == wanted
    except crypto.SealError:
        return False


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
        """Approve those not yet approved that have a campaign text, each on record.
        Returns how many were approved and how many were skipped for lack of one."""
        pending = self.exclude(status=Status.APPROVED)
        skipped = pending.filter(sealed_campaign_text__isnull=True).count()
        ready = pending.filter(sealed_campaign_text__isnull=False)
        return ready.set_status(Status.APPROVED, by=by, action=AuditEvent.Action.APPROVED), skipped

    def reject(self, *, by: str) -> int:
        """Reject those not yet rejected, each on record; returns how many."""
        pending = self.exclude(status=Status.REJECTED)
        return pending.set_status(Status.REJECTED, by=by, action=AuditEvent.Action.REJECTED)

    def set_status(self, status: str, *, by: str, action: str) -> int:
        """Give these testimonies ``status`` and record ``action`` for each, together."""
        return self._each_on_record(action, by, lambda rows: rows.update(status=status))

    def delete_for_good(self, *, by: str) -> int:
        """Crypto-shred these testimonies (the rows, their sealed texts and wrapped keys
        are gone), each on record, together; returns how many."""
        return self._each_on_record(AuditEvent.Action.DELETED, by, lambda rows: rows.delete())

    def _each_on_record(
        self, action: str, by: str, change: Callable[[models.QuerySet], object]
    ) -> int:
        """Apply ``change`` to these testimonies and record ``action`` for each, in one
        transaction: the change and its audit trail stand or fall together."""
        with transaction.atomic():
            ids = list(self.values_list("id", flat=True))
            change(self.model.objects.filter(id__in=ids))
            AuditEvent.objects.bulk_create(
                AuditEvent(action=action, actor=by, testimony_id=record_id) for record_id in ids
            )
        return len(ids)

    def exportable(self) -> TestimonyQuerySet:
        """Approved, with a campaign text, and consented to some use: nothing else."""
        return self.filter(
            status=Status.APPROVED,
            consent__in=[Consent.QUOTE, Consent.STATISTICS],
            sealed_campaign_text__isnull=False,
        )

    def statistics(self) -> dict[str, list[tuple[str, int]]]:
        """Counts for the dashboard: by status, day, language, form of violence, age
        group and region, each as (label, count) pairs in a stable order."""

        def counted(field: str, choices: list[tuple[str, str]]) -> list[tuple[str, int]]:
            counts = dict(self.values_list(field).annotate(n=models.Count("id")).order_by())
            return [(str(label), counts.get(value, 0)) for value, label in choices]

        days = (
            self.values_list("received_on").annotate(n=models.Count("id")).order_by("received_on")
        )
        forms = dict.fromkeys(ViolenceForm.values, 0)
        for joined in self.values_list("forms_of_violence", flat=True).iterator():
            for value in filter(None, joined.split(",")):
                forms[value] = forms.get(value, 0) + 1
        return {
            "status": counted("status", Status.choices),
            "day": [(day.isoformat(), n) for day, n in days],
            "language": counted("language", Language.choices),
            "form": [(str(label), forms[value]) for value, label in ViolenceForm.choices],
            "age_group": counted("age_group", [*AgeGroup.choices, ("", _("Not said"))]),
            "region": counted("region", [*Region.choices, ("", _("Not said"))]),
        }

    def rotate_keys(self, *, batch_size: int = 500) -> RotationReport:
        """Re-wrap every sealed value to the active key, reading a batch at a time and
        writing each row on its own.

        Resumable: values already on the active key are skipped, so a second run
        continues where an interrupted one stopped. Safe beside live submissions and
        moderators: each row is written with compare-and-swap on the old bytes, so a
        value changed meanwhile is left alone and picked up by the next run.
        """
        ring = keyring()
        active = ring.active_key_id
        report = RotationReport()
        last_id = None
        columns = ("id", "sealed_text", "sealed_campaign_text")
        while True:
            batch = self.order_by("id")
            if last_id is not None:
                batch = batch.filter(id__gt=last_id)
            rows = list(batch.values_list(*columns)[:batch_size])
            if not rows:
                break
            last_id = rows[-1][0]
            for record_id, sealed, campaign in rows:
                try:
                    report.moved += self._rotate_row(ring, active, record_id, sealed, campaign)
                except crypto.SealError as error:
                    report.failed.append(f"{str(record_id)[:8]}: {error}")
        report.remaining = sum(
            1
            for sealed, campaign in self.values_list(
                "sealed_text", "sealed_campaign_text"
            ).iterator(chunk_size=batch_size)
            if not names_key(sealed, active)
            or (campaign is not None and not names_key(campaign, active))
        )
        return report

    def _rotate_row(self, ring, active, record_id, sealed, campaign) -> int:
        sealed, campaign = bytes(sealed), campaign and bytes(campaign)
        changes = {}
        if crypto.sealed_key_id(sealed) != active:
            changes["sealed_text"] = ring.rewrap(sealed, record_id=record_id, field_name=TEXT_FIELD)
        if campaign and crypto.sealed_key_id(campaign) != active:
            text = ring.open_campaign(campaign, record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD)
            changes["sealed_campaign_text"] = ring.seal_campaign(
                text, record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD
            )
        if not changes:
            return 0
        unchanged = self.filter(id=record_id, sealed_text=sealed, sealed_campaign_text=campaign)
        return len(changes) if unchanged.update(**changes) else 0

    def shuffle_storage(self) -> int:
        """Rewrite the whole table in a random order, then compact the database; return
        the number of rows. Nothing stored changes but where and when it was written.

        A database keeps rows in the order they arrive: SQLite numbers them (rowid) and
        PostgreSQL places them one after another, each stamped with the id of the
        transaction that wrote it (xmin). Whoever holds the database files could line
        the testimonies of a day up in arrival order. Copied out and written back in a
        random order in one transaction, they get random places and one transaction id;
        compacting (VACUUM) drops the old copies. Writers wait while the rows are
        rewritten, readers too while the table is compacted: moments for thousands of
        rows.
        """
        if self.query.has_filters():
            raise ValueError("the storage order is shuffled for the whole table only")
        connection = connections[self.db]
        quote = connection.ops.quote_name
        table = quote(self.model._meta.db_table)
        columns = ", ".join(quote(field.column) for field in self.model._meta.concrete_fields)
        # Only names, from the model's own options and quoted, go into these statements.
        copy_out = (
            f"CREATE TEMPORARY TABLE untold_shuffle AS "  # noqa: S608
            f"SELECT {columns}, random() AS place FROM {table}"
        )
        empty = f"DELETE FROM {table}"  # noqa: S608
        copy_back = (
            f"INSERT INTO {table} ({columns}) "  # noqa: S608
            f"SELECT {columns} FROM untold_shuffle ORDER BY place"
        )
        postgresql = connection.vendor == "postgresql"
        with transaction.atomic(using=self.db), connection.cursor() as cursor:
            if postgresql:
                # Writes wait; a withdrawal during the copy would otherwise be undone.
                cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(copy_out)
            cursor.execute(empty)
            cursor.execute(copy_back)
            rows = cursor.rowcount
            cursor.execute("DROP TABLE untold_shuffle")
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM FULL {table}" if postgresql else "VACUUM")
        return rows


class Testimony(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    received_on = models.DateField(default=campaign_today, editable=False)
    language = models.CharField(max_length=2, choices=Language.choices)
    sealed_text = models.BinaryField(editable=False)
    # Several ViolenceForm values, comma-separated and sorted; portable to filter on
    # (``forms_of_violence__contains``) on SQLite and PostgreSQL alike.
    forms_of_violence = models.CharField(max_length=200, blank=True, default="")
    age_group = models.CharField(max_length=10, choices=AgeGroup.choices, blank=True)
    region = models.CharField(max_length=8, choices=Region.choices, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, blank=True)
    consent = models.CharField(max_length=10, choices=Consent.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    sealed_campaign_text = models.BinaryField(null=True, blank=True, editable=False)
    receipt_digest = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )

    objects = TestimonyQuerySet.as_manager()

    class Meta:
        verbose_name = _("testimony")
        verbose_name_plural = _("testimonies")
        indexes = [models.Index(fields=["status", "consent"])]
        permissions = [
            ("view_original", _("Can read the original text")),
            ("export", _("Can export the anonymized CSV")),
            ("view_statistics", _("Can see statistics")),
        ]

    def __str__(self) -> str:
        return f"Testimony {self.short_id}"

    @property
    def short_id(self) -> str:
        return self.id.hex[:8]

    @property
    def violence_forms(self) -> list[str]:
        return [value for value in self.forms_of_violence.split(",") if value]

    @violence_forms.setter
    def violence_forms(self, values: list[str]) -> None:
        unknown = set(values) - set(ViolenceForm.values)
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
        self.receipt_digest = receipt_digest(code)

    def approve(self, *, by: str) -> None:
        if self.sealed_campaign_text is None:
            raise ValueError("a testimony is approved only with a campaign text")
        self.set_status(Status.APPROVED, by=by, action=AuditEvent.Action.APPROVED)

    def reject(self, *, by: str) -> None:
        self.set_status(Status.REJECTED, by=by, action=AuditEvent.Action.REJECTED)

    def set_status(self, status: str, *, by: str, action: str) -> None:
        type(self).objects.filter(pk=self.pk).set_status(status, by=by, action=action)
        self.status = status

    def delete_for_good(self, *, by: str) -> None:
        type(self).objects.filter(pk=self.pk).delete_for_good(by=by)


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

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=20, choices=Action.choices)
    # Not a foreign key: the event outlives a deleted or purged testimony.
    testimony_id = models.UUIDField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        verbose_name = _("audit event")

    def __str__(self) -> str:
        return f"{self.actor} {self.action}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
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

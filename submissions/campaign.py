"""The campaign's calendar: when the form takes stories, and which day it is.

Promise: submissions are accepted only between the opening and closing instants, a
form served before the close is still accepted for a grace period, and a testimony
keeps only the day it arrived, in the campaign's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone


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
        if settings.UNTOLD_CLOSES_AT is None:
            # Outside debug submissions.E002 stops start-up long before this.
            raise ImproperlyConfigured("UNTOLD_CLOSES_AT is not set.")
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
    def purge_on(self) -> date:
        """The day on which testimonies are purged: ``UNTOLD_RETAIN_DAYS`` after the
        close, in the campaign's zone."""
        return self.local(self.closes_at).date() + timedelta(days=settings.UNTOLD_RETAIN_DAYS)

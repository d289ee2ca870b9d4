from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from submissions.models import AuditEvent, Campaign, Testimony, campaign_today


class Command(BaseCommand):
    help = (
        "Delete every testimony for good once UNTOLD_RETAIN_DAYS have passed since the "
        "close (the date the privacy page states). Before that date it deletes nothing. "
        "--dry-run only says what it would delete. Records an audit event with the count."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, dry_run: bool, **options) -> None:
        campaign = Campaign.from_settings()
        today = campaign_today(timezone.now())
        if today < campaign.delete_after:
            self.stdout.write(f"Nothing to purge before {campaign.delete_after.isoformat()}.")
            return
        due = Testimony.objects.all()
        if dry_run:
            self.stdout.write(f"Would delete {due.count()} testimonies (dry run).")
            return
        deleted, _ = due.delete()
        AuditEvent.record(
            AuditEvent.Action.PURGED, actor="manage.py purge_testimonies", count=deleted
        )
        self.stdout.write(f"Deleted {deleted} testimonies.")

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from submissions.campaign import Campaign, campaign_today
from submissions.maintenance import purge
from submissions.models import Testimony


class Command(BaseCommand):
    help = (
        "Delete every testimony from the database once UNTOLD_RETAIN_DAYS have passed since "
        "the close (on the date the privacy page states). Before that date it deletes "
        "nothing. --dry-run only says what it would delete. Records an audit event with the "
        "count first (if it cannot, deletes nothing), then deletes in batches of short "
        "transactions; a purge stopped part-way is finished by the next run."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, dry_run: bool, **options) -> None:
        campaign = Campaign.from_settings()
        today = campaign_today(timezone.now())
        if today < campaign.purge_on:
            self.stdout.write(f"Nothing to purge before {campaign.purge_on.isoformat()}.")
            return
        if dry_run:
            count = Testimony.objects.count()
            self.stdout.write(f"Would delete {count} testimonies (dry run).")
            return
        deleted = purge(actor="manage.py purge_testimonies")
        self.stdout.write(f"Deleted {deleted} testimonies.")

from __future__ import annotations

from django.core.management.base import BaseCommand

from submissions.maintenance import shuffle_storage


class Command(BaseCommand):
    help = (
        "Rewrite every testimony row in a random order in one transaction, then compact "
        "the database (VACUUM), so that neither row numbers, places in the files nor "
        "transaction ids follow the order in which testimonies arrived. Changes no "
        "testimony. Submissions and the panel wait while it runs. Run it every night, "
        "beside purge_testimonies."
    )

    def handle(self, *args, **options) -> None:
        rows = shuffle_storage()
        self.stdout.write(f"Shuffled the storage order of {rows} testimonies.")

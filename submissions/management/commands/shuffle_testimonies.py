from __future__ import annotations

from django.core.management.base import BaseCommand

from submissions.maintenance import shuffle_storage


class Command(BaseCommand):
    help = (
        "Give every testimony row a random place in the database files, so that neither "
        "row numbers, places in the files nor transaction ids follow the order in which "
        "testimonies arrived. Changes no testimony. On PostgreSQL it builds a shuffled copy "
        "beside the table while submissions go on and swaps it in with one short "
        "transaction; on SQLite it rewrites the rows in one transaction and compacts the "
        "file (VACUUM), and writers wait meanwhile. Run it every hour, as the database owner."
    )

    def handle(self, *args, **options) -> None:
        rows = shuffle_storage()
        self.stdout.write(f"Shuffled the storage order of {rows} testimonies.")

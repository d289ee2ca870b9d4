from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from submissions.crypto import NoPrivateKeyError
from submissions.export import start


class Command(BaseCommand):
    help = (
        "Write the anonymized CSV of approved, consented testimonies (campaign text only, "
        "ISO weeks, k-anonymous, formula-safe) to --output FILE, or to stdout with '-'. "
        "Refuses a k below UNTOLD_EXPORT_K and a server without the private key. Records "
        "an audit event with the options and the row count."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", required=True, help="a file path, or - for stdout")
        parser.add_argument("--k", type=int, help="at least UNTOLD_EXPORT_K (the default)")
        parser.add_argument("--no-bom", action="store_true", help="leave out the UTF-8 BOM")

    def handle(self, *args, output: str, k: int | None, no_bom: bool, **options) -> None:
        k = settings.UNTOLD_EXPORT_K if k is None else k
        if k < settings.UNTOLD_EXPORT_K:
            raise CommandError(
                f"--k must be at least UNTOLD_EXPORT_K ({settings.UNTOLD_EXPORT_K})."
            )
        try:
            plan = start(k=k, bom=not no_bom, actor="manage.py export_testimonies")
        except NoPrivateKeyError as error:
            raise CommandError(f"{error}; nothing was written.") from None
        target = sys.stdout.buffer if output == "-" else open(output, "wb")  # noqa: SIM115
        try:
            for chunk in plan.stream(bom=not no_bom):
                target.write(chunk)
        finally:
            if target is not sys.stdout.buffer:
                target.close()
        self.stderr.write(f"Exported {plan.rows} rows ({plan.suppressed} withheld for k={k}).")

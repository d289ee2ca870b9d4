from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from submissions.maintenance import rotate_keys
from submissions.management.terminal import add_key_source, key_source
from submissions.models import AuditEvent


class Command(BaseCommand):
    help = (
        "Re-wrap every sealed testimony to the active story key (the first of "
        "UNTOLD_PUBLIC_KEYS) and re-seal every campaign text under the active campaign-text "
        "key (UNTOLD_CAMPAIGN_KEY_ID), a slice of --batch-size rows per transaction, in "
        "--workers processes (one per core by default). Resumable, even after kill -9, and "
        "safe while the site takes submissions: values already on the active keys are "
        "skipped, and each row is written only if it has not changed meanwhile. Needs the "
        "keys of every old key id: the offline key file (--key-file, repeatable) or a "
        "moderator's keys (--as USERNAME). Prints how many values moved; exits "
        "non-zero if any value could not be opened or still names another key."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
        add_key_source(parser)

    def handle(self, *args, batch_size: int, workers: int, **options) -> None:
        if batch_size < 1 or workers < 1:
            raise CommandError("--batch-size and --workers must be at least 1.")
        ring = key_source(options)
        if not ring.can_open:
            raise CommandError("These keys hold no story key: rotation needs them.")
        report = rotate_keys(ring, batch_size=batch_size, workers=workers)
        AuditEvent.record(
            AuditEvent.Action.ROTATED_KEYS,
            actor="manage.py rotate_keys",
            moved=report.moved,
            failed=len(report.failed),
            to_key_id=ring.active_key_id.hex(),
        )
        for failure in report.failed:
            self.stderr.write(f"cannot open {failure}")
        summary = (
            f"Moved {report.moved} values to key id {ring.active_key_id.hex()}; "
            f"{len(report.failed)} could not be opened; {report.remaining} records still "
            "name another key."
        )
        if report.failed or report.remaining:
            raise CommandError(summary)
        self.stdout.write(summary)

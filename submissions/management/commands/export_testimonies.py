from __future__ import annotations

import os
import stat
import sys
from typing import BinaryIO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from submissions.crypto import NoPrivateKeyError
from submissions.export import CannotExport, start
from submissions.keys import holding
from submissions.management.terminal import add_key_source, key_source


class Command(BaseCommand):
    help = (
        "Write the anonymized CSV of approved, consented testimonies (campaign text only, "
        "ISO weeks, k-anonymous, formula-safe) to --output FILE, or to stdout with '-'. "
        "The file is readable by its owner only (0600). Opens campaign texts with the offline "
        "key file (--key-file) or a staff member's keys (--as USERNAME, asks the password). "
        "Refuses a k below UNTOLD_EXPORT_K, keys that hold no campaign-text key, and an "
        "export in which any campaign text fails to open (nothing is written). Records an "
        "audit event with the options and the row count, or the refusal."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", required=True, help="a file path, or - for stdout")
        parser.add_argument("--k", type=int, help="at least UNTOLD_EXPORT_K (the default)")
        parser.add_argument("--no-bom", action="store_true", help="leave out the UTF-8 BOM")
        add_key_source(parser)

    def handle(self, *args, output: str, k: int | None, no_bom: bool, **options) -> None:
        k = settings.UNTOLD_EXPORT_K if k is None else k
        if k < settings.UNTOLD_EXPORT_K:
            raise CommandError(
                f"--k must be at least UNTOLD_EXPORT_K ({settings.UNTOLD_EXPORT_K})."
            )
        try:
            with holding(key_source(options)):
                plan, chunks = start(k=k, bom=not no_bom, actor=self.actor(options))
        except NoPrivateKeyError as error:
            raise CommandError(f"{error}; nothing was written.") from None
        except CannotExport as error:
            raise CommandError(
                f"{error}; nothing was written. Run check_keys to see which keys fail."
            ) from None
        target = sys.stdout.buffer if output == "-" else private_file(output)
        try:
            for chunk in chunks:
                target.write(chunk)
        finally:
            if target is not sys.stdout.buffer:
                target.close()
        self.stderr.write(f"Exported {plan.rows} rows ({plan.suppressed} withheld for k={k}).")

    def actor(self, options: dict) -> str:
        who = options.get("as_user")
        return f"manage.py export_testimonies as {who}" if who else "manage.py export_testimonies"


def private_file(path: str) -> BinaryIO:
    """``path`` opened for writing, readable and writable by its owner only, even if a
    file was there before with wider permissions. Something that is not a regular file
    (/dev/null, a pipe) is written to as it is: its permissions are not the export's."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "wb")

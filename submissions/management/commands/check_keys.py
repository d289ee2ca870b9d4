from __future__ import annotations

from collections import Counter, defaultdict

from django.core.management.base import BaseCommand, CommandError

from submissions import crypto
from submissions.keys import keyring
from submissions.models import CAMPAIGN_TEXT_FIELD, TEXT_FIELD, Testimony

SAMPLE = 3


class Command(BaseCommand):
    help = (
        "Restore drill: list every key id that stored values name, say whether its private "
        "key is loaded here, and fully open a few values per key id (their text is never "
        "printed). Exits non-zero if any key id has no private key here or any sampled value "
        "fails to open. Writes nothing."
    )

    def handle(self, *args, **options) -> None:
        ring = keyring()
        if not ring.can_open:
            raise CommandError("No private key is configured here: nothing can be opened.")
        counts: Counter[str] = Counter()
        samples: dict[str, list[tuple]] = defaultdict(list)
        columns = ("id", "sealed_text", "sealed_campaign_text")
        for record_id, sealed, campaign in Testimony.objects.values_list(*columns).iterator():
            for field_name, value in ((TEXT_FIELD, sealed), (CAMPAIGN_TEXT_FIELD, campaign)):
                if value is None:
                    continue
                try:
                    kid = crypto.sealed_key_id(value).hex()
                except crypto.SealError:
                    kid = "malformed"
                counts[kid] += 1
                if len(samples[kid]) < SAMPLE:
                    samples[kid].append((record_id, field_name, bytes(value)))
        problems = 0
        self.stdout.write(f"Active key id: {ring.active_key_id.hex()}")
        for kid, count in sorted(counts.items()):
            loaded = kid != "malformed" and bytes.fromhex(kid) in ring.private_keys
            opened = sum(self.opens(ring, *sample) for sample in samples[kid])
            ok = loaded and opened == len(samples[kid])
            problems += not ok
            self.stdout.write(
                f"  key id {kid}: {count} values, private key {'loaded' if loaded else 'MISSING'}, "
                f"{opened}/{len(samples[kid])} sampled values opened"
            )
        if problems:
            raise CommandError(f"{problems} key id(s) cannot be opened here.")
        self.stdout.write(f"All {sum(counts.values())} values name keys that open here.")

    def opens(self, ring: crypto.Keyring, record_id, field_name: str, value: bytes) -> bool:
        opener = ring.open if field_name == TEXT_FIELD else ring.open_campaign
        try:
            opener(value, record_id=record_id, field_name=field_name)
        except crypto.SealError:
            return False
        return True

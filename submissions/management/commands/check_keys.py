from __future__ import annotations

from collections import Counter, defaultdict

from django.core.management.base import BaseCommand, CommandError

from submissions import crypto
from submissions.management.terminal import add_key_source, key_source
from submissions.models import CAMPAIGN_TEXT_FIELD, TEXT_FIELD, Testimony

SAMPLE = 3


class Command(BaseCommand):
    help = (
        "Restore drill: list every key id that stored values name (story texts and campaign "
        "texts apart), say whether the keys given hold it (the offline key file with "
        "--key-file, or a staff member's keys with --as USERNAME), and fully open a few "
        "values per key id (their text is never printed). Exits non-zero if any key id is "
        "not held or any sampled value fails to open. Writes nothing."
    )

    def add_arguments(self, parser) -> None:
        add_key_source(parser)

    def handle(self, *args, **options) -> None:
        ring = key_source(options)
        if not ring.can_open and not ring.can_open_campaign:
            raise CommandError("These keys hold nothing: nothing can be opened.")
        counts: Counter[tuple[str, str]] = Counter()
        samples: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        columns = ("id", "sealed_text", "sealed_campaign_text")
        for record_id, sealed, campaign in Testimony.objects.values_list(*columns).iterator():
            for field_name, value in ((TEXT_FIELD, sealed), (CAMPAIGN_TEXT_FIELD, campaign)):
                if value is None:
                    continue
                try:
                    kid = crypto.sealed_key_id(value).hex()
                except crypto.SealError:
                    kid = "malformed"
                counts[(field_name, kid)] += 1
                if len(samples[(field_name, kid)]) < SAMPLE:
                    samples[(field_name, kid)].append((record_id, field_name, bytes(value)))
        problems = 0
        self.stdout.write(f"Active story key id: {ring.active_key_id.hex()}")
        self.stdout.write(f"Active campaign-text key id: {ring.active_campaign_id.hex()}")
        for (field_name, kid), count in sorted(counts.items()):
            story = field_name == TEXT_FIELD
            held = ring.private_keys if story else ring.campaign_keys
            loaded = kid != "malformed" and bytes.fromhex(kid) in held
            sampled = samples[(field_name, kid)]
            opened = sum(self.opens(ring, *sample) for sample in sampled)
            problems += not (loaded and opened == len(sampled))
            kind = "story" if story else "campaign-text"
            self.stdout.write(
                f"  {kind} key id {kid}: {count} values, {kind} key "
                f"{'held' if loaded else 'MISSING'}, {opened}/{len(sampled)} sampled values opened"
            )
        if problems:
            raise CommandError(f"{problems} key id(s) cannot be opened with these keys.")
        self.stdout.write(f"All {sum(counts.values())} values name keys that open with these keys.")

    def opens(self, ring: crypto.Keyring, record_id, field_name: str, value: bytes) -> bool:
        opener = ring.open if field_name == TEXT_FIELD else ring.open_campaign
        try:
            opener(value, record_id=record_id, field_name=field_name)
        except crypto.SealError:
            return False
        return True

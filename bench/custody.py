"""What people-held keys cost (issue 15): sign-in, the reading view, the export.

Runs on a SQLite file of its own, migrated here, with keys made here. Figures:

- sign-in: the login POST (password hash, code, Argon2id derivation, opening the
  grants), median of 9; target at most 0.5 s. The Argon2id derivation alone, and the
  memory it takes (peak resident memory of a fresh process before and after one
  derivation).
- reading view: the change page of one story, median of 40 rounds, with the keys held
  in the session versus the first release's way (a key file on the server, the
  custody middleware left out); target at most 1 ms more.
- export: 20,000 approved rows streamed with a person's keys versus the key file;
  target: the same within noise (at most 10% apart).

Prints a table; exits non-zero if a target is missed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDER = Path(tempfile.mkdtemp(prefix="untold-bench-custody-"))
os.environ["DATABASE_URL"] = f"sqlite:///{FOLDER / 'bench.sqlite3'}"
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "untold.settings")
os.environ["UNTOLD_DEBUG"] = "1"

from submissions import crypto  # noqa: E402

STORY_KEY, CAMPAIGN_KEY = crypto.generate_private_key(), crypto.new_campaign_key()
KEY_FILE = FOLDER / "untold-keys.pem"
KEY_FILE.write_bytes(crypto.key_file_text(STORY_KEY, CAMPAIGN_KEY))
os.environ["UNTOLD_PUBLIC_KEYS"] = crypto.public_key_to_text(STORY_KEY.public_key())
os.environ["UNTOLD_CAMPAIGN_KEY_ID"] = crypto.campaign_key_id(CAMPAIGN_KEY).hex()
os.environ["UNTOLD_PRIVATE_KEY_FILE"] = str(KEY_FILE)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

PASSWORD = "a long and unguessable passphrase 42"  # noqa: S105 - a bench account's
EXPORT_ROWS = 20_000
ARGON2_PROBE = """
import os
from submissions import crypto

def high_water_kib():
    # VmHWM, not ru_maxrss: ru_maxrss keeps the parent's figure across fork and exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

before = high_water_kib()
crypto.account_wrapping_key("a password", os.urandom(16), crypto.ACCOUNT_KDF)
print(before, high_water_kib())
"""


def median_seconds(work, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def argon2_memory_mib() -> float:
    """Peak resident memory added by one derivation, in a fresh process (Linux)."""
    out = subprocess.run(
        [sys.executable, "-c", ARGON2_PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout.split()
    return (int(out[-1]) - int(out[-2])) / 1024


def main() -> int:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from submissions import custody
    from submissions.export import start
    from submissions.keys import configured_keys, holding
    from submissions.models import Testimony
    from submissions.staff import StaffGroup
    from tests.panel import current_code, ensure_groups, log_in, staff

    call_command("migrate", verbosity=0)
    ensure_groups()
    server = configured_keys()
    user, device = staff("mira", StaffGroup.MODERATOR)
    custody.make_account_key(user, PASSWORD, reason="bench")
    custody.grant(user, custody.secrets_of(server), by="bench")
    with holding(server):
        story = Testimony(language="ru", consent="quote", status="approved")
        story.seal_text("A story of about a page. " * 80)
        story.seal_campaign_text("The campaign text. " * 40)
        story.save()
    rows = []

    def sign_in(client: Client | None = None) -> Client:
        """A fresh sign-in; the code's time step may be used again here."""
        TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
        client = client or Client(HTTP_HOST="localhost")
        if log_in(client, "mira", code=current_code(device)).status_code != 302:
            raise SystemExit("the bench moderator could not sign in")
        return client

    sign_in_s = median_seconds(sign_in, 9)
    salt = os.urandom(16)
    argon2_s = median_seconds(
        lambda: crypto.account_wrapping_key(PASSWORD, salt, crypto.ACCOUNT_KDF), 9
    )
    memory = argon2_memory_mib()
    rows.append(
        (
            "sign-in (login POST, Argon2id included)",
            f"{sign_in_s * 1000:.0f} ms",
            "≤ 500 ms",
            sign_in_s <= 0.5,
        )
    )
    rows.append(("  Argon2id alone (t=3, 64 MiB, 2 lanes)", f"{argon2_s * 1000:.0f} ms", "", True))
    rows.append(("  memory one derivation takes", f"{memory:.0f} MiB", "(printed)", True))

    client = sign_in()
    page = f"/{settings.UNTOLD_ADMIN_PATH}submissions/testimony/{story.pk}/change/"
    if "A story of about a page." not in client.get(page).content.decode():
        raise SystemExit("the reading view did not open the story")
    without = [m for m in settings.MIDDLEWARE if m != "submissions.custody.session_keys"]
    held_times, file_times = [], []
    for _ in range(40):
        held_times.append(median_seconds(lambda: client.get(page), 1))
        with override_settings(MIDDLEWARE=without):
            file_times.append(median_seconds(lambda: client.get(page), 1))
    held_ms = statistics.median(held_times) * 1000
    file_ms = statistics.median(file_times) * 1000
    rows.append(
        (
            "reading view, keys in the session vs key file",
            f"{held_ms:.2f} vs {file_ms:.2f} ms (+{held_ms - file_ms:.2f})",
            "≤ +1 ms",
            held_ms - file_ms <= 1.0,
        )
    )

    with open(os.devnull, "w") as quiet:
        call_command(
            "seed_demo", count=EXPORT_ROWS, status="approved", size=600, random_seed=1, stdout=quiet
        )
    held = custody.open_grants(user, custody.open_account_key(user, PASSWORD))

    def export_with(ring) -> float:
        start_at = time.perf_counter()
        with holding(ring):
            _, chunks = start(k=5, bom=True, actor="bench")
        for _ in chunks:
            pass
        return time.perf_counter() - start_at

    person, keyfile = [], []
    for _ in range(3):
        person.append(export_with(custody.ring_of(held)))
        keyfile.append(export_with(server))
    ratio = min(person) / min(keyfile)
    rows.append(
        (
            f"export of {EXPORT_ROWS:,} rows, person's keys vs key file",
            f"{min(person):.2f} vs {min(keyfile):.2f} s ({ratio:.2f}x)",
            "≤ 1.10x",
            ratio <= 1.10,
        )
    )

    print("\nPeople-held keys (bench/custody.py)")
    width = max(len(row[0]) for row in rows)
    for name, figure, target, ok in rows:
        print(f"  {name:<{width}}  {figure:<28} {target:<10} {'ok' if ok else 'MISSED'}")
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

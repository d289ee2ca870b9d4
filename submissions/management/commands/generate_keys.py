from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from submissions import crypto


class Command(BaseCommand):
    help = (
        "Create the campaign's keys: a new X25519 story key pair, to which testimonies are "
        "sealed, and a new random campaign-text key. Without --output, print the key file "
        "and the environment lines that configure the servers. With --output DIR, write "
        "DIR/untold-keys-<key id>.pem (mode 0600), the offline key file that holds both "
        "secrets, and DIR/untold.env (the public key and the campaign-text key id), refusing "
        "to overwrite either. The key file belongs offline, not on a server: staff are "
        "granted the keys with it (grant_keys) and then hold them. --on-this-server adds it "
        "to untold.env as UNTOLD_PRIVATE_KEY_FILE, for development. --story-key-from FILE "
        "keeps the story key of an existing key file and adds a new campaign-text key. "
        "--passphrase prompts for a passphrase that protects the file; --passphrase-stdin "
        "reads it from standard input."
    )
    # Runs before any key exists, so the checks that demand keys must not stop it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", type=Path, help="folder to write the key files into")
        parser.add_argument(
            "--on-this-server",
            action="store_true",
            help="name the key file in untold.env (development only)",
        )
        parser.add_argument(
            "--story-key-from", type=Path, help="keep the story key of this key file"
        )
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--passphrase", action="store_true", help="prompt for a passphrase")
        group.add_argument(
            "--passphrase-stdin", action="store_true", help="read the passphrase from stdin"
        )

    def handle(self, *args, output: Path | None, **options) -> None:
        passphrase = self.read_passphrase(options["passphrase"], options["passphrase_stdin"])
        private_key = self.story_key(options["story_key_from"], passphrase)
        campaign_key = crypto.new_campaign_key()
        public_text = crypto.public_key_to_text(private_key.public_key())
        key_id = crypto.key_id(private_key.public_key()).hex()
        campaign_id = crypto.campaign_key_id(campaign_key).hex()
        text = crypto.key_file_text(private_key, campaign_key, passphrase)
        lines = [
            f"# story key id {key_id}, campaign-text key id {campaign_id}",
            f"UNTOLD_PUBLIC_KEYS={public_text}",
            f"UNTOLD_CAMPAIGN_KEY_ID={campaign_id}",
        ]
        if output is None:
            self.stdout.write(text.decode("ascii"))
            self.stdout.write("\n".join(lines))
            return
        output.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_path = (output / f"untold-keys-{key_id}.pem").resolve()
        env_path = output / "untold.env"
        if options["on_this_server"]:
            lines.append(f"UNTOLD_PRIVATE_KEY_FILE={key_path}")
            if passphrase:
                lines.append(
                    "# and UNTOLD_PRIVATE_KEY_PASSPHRASE_FILE=<a file with the passphrase>"
                )
        if env_path.exists():
            raise CommandError(f"{env_path} exists already; nothing was written.")
        self.write_new(key_path, text)
        self.write_new(env_path, ("\n".join(lines) + "\n").encode())
        self.stdout.write(
            f"Wrote the key file {key_path} (story key id {key_id}, campaign-text key id "
            f"{campaign_id}) and {env_path}."
        )

    def story_key(self, path: Path | None, passphrase: bytes | None):
        if path is None:
            return crypto.generate_private_key()
        try:
            return crypto.read_key_file(path.read_bytes(), passphrase).private_key
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        except crypto.SealError as error:
            raise CommandError(f"{path}: {error}.") from None

    def read_passphrase(self, prompt: bool, from_stdin: bool) -> bytes | None:
        if from_stdin:
            passphrase = sys.stdin.readline().rstrip("\n")
        elif prompt:
            passphrase = getpass.getpass("Passphrase: ")
            if passphrase != getpass.getpass("Again: "):
                raise CommandError("The passphrases differ; nothing was written.")
        else:
            return None
        if len(passphrase) < 12:
            raise CommandError("Use a passphrase of at least 12 characters; nothing was written.")
        return passphrase.encode()

    def write_new(self, path: Path, data: bytes) -> None:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists already; nothing was overwritten.") from None
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)

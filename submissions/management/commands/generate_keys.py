from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from submissions import crypto


class Command(BaseCommand):
    help = (
        "Create a new X25519 key pair for sealing testimonies. Without --output, print the "
        "private key (PEM) and the environment lines that configure it. With --output DIR, "
        "write DIR/private-<key id>.pem (mode 0600) and DIR/untold.env instead, refusing to "
        "overwrite either. --passphrase prompts for a passphrase that protects the private "
        "key; --passphrase-stdin reads it from standard input."
    )
    # Runs before any key exists, so the checks that demand keys must not stop it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", type=Path, help="folder to write the key files into")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--passphrase", action="store_true", help="prompt for a passphrase")
        group.add_argument(
            "--passphrase-stdin", action="store_true", help="read the passphrase from stdin"
        )

    def handle(self, *args, output: Path | None, **options) -> None:
        passphrase = self.read_passphrase(options["passphrase"], options["passphrase_stdin"])
        private_key = crypto.generate_private_key()
        public_text = crypto.public_key_to_text(private_key.public_key())
        key_id = crypto.key_id(private_key.public_key()).hex()
        pem = crypto.private_key_to_pem(private_key, passphrase)
        if output is None:
            self.stdout.write(pem.decode("ascii"))
            self.stdout.write(f"# key id {key_id}\nUNTOLD_PUBLIC_KEYS={public_text}")
            self.stdout.write("UNTOLD_PRIVATE_KEY_FILE=/path/to/the/private/key/above.pem")
            return
        output.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem_path = (output / f"private-{key_id}.pem").resolve()
        env_path = output / "untold.env"
        lines = [f"# key id {key_id}", f"UNTOLD_PUBLIC_KEYS={public_text}"]
        lines.append(f"UNTOLD_PRIVATE_KEY_FILE={pem_path}")
        if passphrase:
            lines.append("# and UNTOLD_PRIVATE_KEY_PASSPHRASE_FILE=<a file holding the passphrase>")
        if env_path.exists():
            raise CommandError(f"{env_path} exists already; nothing was written.")
        self.write_new(pem_path, pem)
        self.write_new(env_path, ("\n".join(lines) + "\n").encode())
        self.stdout.write(f"Wrote key id {key_id} to {pem_path} and {env_path}.")

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

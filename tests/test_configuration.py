"""Fail closed: outside debug a missing or malformed setting stops start-up and says which.

Settings are read from the environment when Django starts, so every case runs a real
``manage.py`` (or ``import untold.wsgi``) in a subprocess with an environment built
from nothing: no UNTOLD_* variable leaks in from the shell that runs the tests.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from submissions import crypto
from tests.conftest import KeyPair, write_key_pair

PROJECT = Path(__file__).resolve().parent.parent
SECRET_KEY = secrets.token_urlsafe(50)
SHORT_SECRET_KEY = "Short-secret-0123456789"
PASSPHRASE = "correct horse battery staple"
WRONG_PASSPHRASE = "incorrect mule battery staple"
SECRETS = (SECRET_KEY, SHORT_SECRET_KEY, PASSPHRASE, WRONG_PASSPHRASE)


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the project's Python with exactly ``env`` (plus PATH and HOME)."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "DJANGO_SETTINGS_MODULE": "untold.settings",
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT,
        env=base | env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def env_file_lines(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def encrypted_key_pair(tmp_path_factory) -> KeyPair:
    return write_key_pair(tmp_path_factory.mktemp("encrypted"), PASSPHRASE.encode())


@pytest.fixture
def production_env(key_pair) -> dict[str, str]:
    """Everything a production process needs, debug off. No key file: people hold the
    keys."""
    return {
        "UNTOLD_SECRET_KEY": SECRET_KEY,
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "UNTOLD_PUBLIC_KEYS": key_pair.public_text,
        "UNTOLD_CLOSES_AT": "2099-12-10T23:59:00+05:00",
        "UNTOLD_ALLOWED_HOSTS": "untold.example",
        "UNTOLD_BACKUP_DAYS": "30",
        "UNTOLD_ORGANISATION": "Campaign Org",
        "UNTOLD_CONTACT": "hello@campaign.example",
    }


def test_production_configuration_passes_deploy_checks(production_env):
    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production_env)

    assert result.returncode == 0, output_of(result)


def test_a_key_file_left_on_a_server_is_named_by_the_deploy_check(production_env, key_pair):
    production_env["UNTOLD_PRIVATE_KEY_FILE"] = str(key_pair.private_file)

    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production_env)

    assert result.returncode != 0
    assert "submissions.W004" in output_of(result)
    assert "whoever copies or seizes this host opens every story" in output_of(result)


PANIC = "?options=-c%20log_min_error_statement%3Dpanic"


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL (DATABASE_URL=postgres://...)",
)
@pytest.mark.parametrize(
    ("session_options", "clean"),
    [
        (PANIC, True),
        (PANIC + "%20-c%20log_statement%3Dmod", False),
        ("", False),
    ],
    ids=["quiet-server", "statement-log-on", "failed-statements-logged-by-default"],
)
def test_production_database_checks_report_a_server_that_keeps_times(
    production_env, session_options, clean
):
    # The checks that read the PostgreSQL server's own settings (submissions.W002), with
    # settings changed for this one connection: the quiet server logs no failed
    # statement; the second turns the statement log on; the last is PostgreSQL's
    # default, which writes a failed INSERT's whole row beside its error.
    production_env["DATABASE_URL"] = os.environ["DATABASE_URL"] + session_options
    result = run(
        "manage.py",
        "check",
        "--deploy",
        "--database",
        "default",
        "--fail-level",
        "WARNING",
        env=production_env,
    )

    assert (result.returncode == 0) is clean, output_of(result)
    assert ("submissions.W002" in output_of(result)) is not clean


def test_a_private_key_file_others_can_read_is_named(production_env, key_pair, tmp_path):
    # Given a copy of the private key that the group and everyone else can read,
    copy = tmp_path / "private-copy.pem"
    copy.write_bytes(key_pair.private_file.read_bytes())
    copy.chmod(0o644)
    production_env["UNTOLD_PRIVATE_KEY_FILE"] = str(copy)

    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production_env)

    # the deploy check names the file and says how to fix it; at 0600 only the warning
    # that a key file is on a server at all (W004) is left.
    assert result.returncode != 0
    assert "submissions.W003" in output_of(result)
    assert f"chmod 600 {copy}" in output_of(result)
    copy.chmod(0o600)
    again = output_of(
        run("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production_env)
    )
    assert "submissions.W003" not in again
    assert "submissions.W004" in again


def test_intake_role_with_public_keys_only_passes(production_env):
    env = production_env | {"UNTOLD_ROLE": "intake"}

    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, output_of(result)


@pytest.mark.parametrize(
    ("change", "check_id", "variable"),
    [
        pytest.param({"UNTOLD_SECRET_KEY": None}, "E001", "UNTOLD_SECRET_KEY", id="no-secret"),
        pytest.param(
            {"UNTOLD_SECRET_KEY": SHORT_SECRET_KEY}, "E001", "UNTOLD_SECRET_KEY", id="short-secret"
        ),
        pytest.param({"UNTOLD_CLOSES_AT": None}, "E002", "UNTOLD_CLOSES_AT", id="no-close"),
        pytest.param(
            {"UNTOLD_CLOSES_AT": "2099-12-10 23:59"}, "E002", "UNTOLD_CLOSES_AT", id="naive-close"
        ),
        pytest.param(
            {"UNTOLD_OPENS_AT": "next monday"}, "E003", "UNTOLD_OPENS_AT", id="malformed-open"
        ),
        pytest.param(
            {"UNTOLD_OPENS_AT": "2099-12-10T23:59:00+05:00"},
            "E003",
            "UNTOLD_OPENS_AT",
            id="opens-at-close",
        ),
        pytest.param({"REDIS_URL": None}, "E004", "REDIS_URL", id="no-redis"),
        pytest.param(
            {"UNTOLD_PUBLIC_KEYS": None, "UNTOLD_PRIVATE_KEY_FILE": None},
            "E005",
            "UNTOLD_PUBLIC_KEYS",
            id="no-keys",
        ),
        pytest.param(
            {"UNTOLD_PUBLIC_KEYS": "bm90IGEga2V5"}, "E005", "UNTOLD_PUBLIC_KEYS", id="bad-key"
        ),
        pytest.param(
            {"UNTOLD_PRIVATE_KEY_FILE": "/nonexistent/private.pem"},
            "E006",
            "UNTOLD_PRIVATE_KEY_FILE",
            id="unreadable-private-key",
        ),
        pytest.param(
            {
                "UNTOLD_PUBLIC_KEYS": "{encrypted_public}",
                "UNTOLD_PRIVATE_KEY_FILE": "{encrypted_file}",
                "UNTOLD_PRIVATE_KEY_PASSPHRASE": WRONG_PASSPHRASE,
            },
            "E006",
            "UNTOLD_PRIVATE_KEY_PASSPHRASE",
            id="wrong-passphrase",
        ),
        pytest.param(
            {"UNTOLD_ROLE": "intake", "UNTOLD_PRIVATE_KEY_FILE": "{first_file}"},
            "E007",
            "UNTOLD_PRIVATE_KEY_FILE",
            id="intake",
        ),
        pytest.param({"UNTOLD_ROLE": "public"}, "E008", "UNTOLD_ROLE", id="bad-role"),
        pytest.param(
            {"UNTOLD_TIME_ZONE": "Asia/Nowhere"}, "E009", "UNTOLD_TIME_ZONE", id="bad-zone"
        ),
        pytest.param(
            {"UNTOLD_PUBLIC_KEYS": "{second_public}", "UNTOLD_PRIVATE_KEY_FILE": "{first_file}"},
            "E010",
            "UNTOLD_PUBLIC_KEYS",
            id="active-key-without-private-key",
        ),
        pytest.param(
            {"UNTOLD_SECRET_KEY": None, "UNTOLD_SECRET_KEY_FILE": "/nonexistent/secret"},
            "E011",
            "UNTOLD_SECRET_KEY_FILE",
            id="unreadable-secret-file",
        ),
        pytest.param({"UNTOLD_ALLOWED_HOSTS": None}, "E012", "UNTOLD_ALLOWED_HOSTS", id="no-host"),
        pytest.param({"UNTOLD_RATE_SITE": "ten/h"}, "E013", "UNTOLD_RATE_SITE", id="bad-rate"),
        pytest.param(
            {"UNTOLD_RATE_PER_CLIENT": "10/0m"}, "E013", "UNTOLD_RATE_PER_CLIENT", id="zero-period"
        ),
        pytest.param(
            {"UNTOLD_SSL_REDIRECT": "ture"}, "E011", "UNTOLD_SSL_REDIRECT", id="boolean-typo"
        ),
        pytest.param({"UNTOLD_EXPORT_K": "1"}, "E011", "UNTOLD_EXPORT_K", id="k-too-small"),
        pytest.param(
            {"UNTOLD_BACKUP_DAYS": None}, "E014", "UNTOLD_BACKUP_DAYS", id="no-backup-days"
        ),
        pytest.param(
            {"UNTOLD_BACKUP_DAYS": "a month"}, "E011", "UNTOLD_BACKUP_DAYS", id="bad-backup-days"
        ),
        pytest.param(
            {"UNTOLD_ORGANISATION": None}, "E015", "UNTOLD_ORGANISATION", id="no-organisation"
        ),
        pytest.param({"UNTOLD_CONTACT": " "}, "E016", "UNTOLD_CONTACT", id="no-contact"),
        pytest.param(
            {"UNTOLD_KIOSK_IDLE_SECONDS": "5"},
            "E011",
            "UNTOLD_KIOSK_IDLE_SECONDS",
            id="booth-idle-too-short",
        ),
        pytest.param(
            {"UNTOLD_CAMPAIGN_KEY_ID": "not hex"},
            "E017",
            "UNTOLD_CAMPAIGN_KEY_ID",
            id="bad-campaign-key-id",
        ),
        pytest.param(
            {"UNTOLD_CODES_WITHOUT_CHECK_DIGIT": "first release"},
            "E011",
            "UNTOLD_CODES_WITHOUT_CHECK_DIGIT",
            id="codes-without-check-digit-typo",
        ),
        pytest.param(
            {"UNTOLD_KIOSK_WARNING_SECONDS": "a minute"},
            "E011",
            "UNTOLD_KIOSK_WARNING_SECONDS",
            id="bad-booth-warning",
        ),
    ],
)
def test_misconfiguration_stops_start_up_and_names_the_variable(
    production_env, key_pair, second_key_pair, encrypted_key_pair, change, check_id, variable
):
    values = {
        "first_file": str(key_pair.private_file),
        "second_public": second_key_pair.public_text,
        "encrypted_public": encrypted_key_pair.public_text,
        "encrypted_file": str(encrypted_key_pair.private_file),
    }
    env = {
        name: value.format_map(values)
        for name, value in (production_env | change).items()
        if value is not None
    }

    result = run("manage.py", "check", env=env)

    output = output_of(result)
    assert result.returncode != 0
    assert f"submissions.{check_id}" in output
    assert variable in output
    assert [secret for secret in SECRETS if secret in output] == []


def test_wsgi_import_fails_without_a_secret(production_env):
    """gunicorn imports untold.wsgi and runs no checks of its own."""
    del production_env["UNTOLD_SECRET_KEY"]

    result = run("-c", "import untold.wsgi", env=production_env)

    assert result.returncode != 0
    assert "SystemCheckError" in result.stderr
    assert "UNTOLD_SECRET_KEY" in result.stderr


# --- generate_keys ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("generated") / "keys"
    result = run("manage.py", "generate_keys", "--output", str(folder), env={})
    assert result.returncode == 0, output_of(result)
    return folder


@pytest.fixture(scope="module")
def second_run(generated) -> tuple[subprocess.CompletedProcess, dict[str, bytes], set[str]]:
    """generate_keys run again into the same folder: the folder's files before, and names after."""
    before = {path.name: path.read_bytes() for path in generated.iterdir()}
    result = run("manage.py", "generate_keys", "--output", str(generated), env={})
    return result, before, {path.name for path in generated.iterdir()}


def test_generate_keys_writes_the_key_file_readable_by_owner_only(generated):
    (key_file,) = generated.glob("untold-keys-*.pem")

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert "-----BEGIN UNTOLD CAMPAIGN TEXT KEY-----" in key_file.read_text()


def test_generate_keys_names_the_campaign_text_key_and_no_file_on_the_server(generated):
    lines = env_file_lines(generated / "untold.env")
    (key_file,) = generated.glob("untold-keys-*.pem")
    opened = crypto.read_key_file(key_file.read_bytes())

    assert opened.campaign_key is not None
    assert lines["UNTOLD_CAMPAIGN_KEY_ID"] == crypto.campaign_key_id(opened.campaign_key).hex()
    assert "UNTOLD_PRIVATE_KEY_FILE" not in lines


def test_generate_keys_refuses_to_overwrite(generated, second_run):
    result, before, _ = second_run

    assert result.returncode != 0
    assert "untold.env exists already" in result.stderr
    assert {name: (generated / name).read_bytes() for name in before} == before


def test_generate_keys_refusal_leaves_no_new_file(second_run):
    _, before, names_after = second_run

    assert names_after == set(before)


def test_generate_keys_env_file_configures_a_working_keyring(production_env, generated):
    env = production_env | env_file_lines(generated / "untold.env")

    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, output_of(result)
    assert env["UNTOLD_PUBLIC_KEYS"] != production_env["UNTOLD_PUBLIC_KEYS"]


@pytest.fixture(scope="module")
def generated_with_passphrase(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("generated-passphrase") / "keys"
    result = run(
        "manage.py",
        "generate_keys",
        "--passphrase-stdin",
        "--output",
        str(folder),
        env={},
        stdin=PASSPHRASE + "\n",
    )
    assert result.returncode == 0, output_of(result)
    return folder


def test_passphrase_from_stdin_encrypts_the_private_key(generated_with_passphrase):
    (pem_file,) = generated_with_passphrase.glob("untold-keys-*.pem")
    pem = pem_file.read_bytes()
    public_text = env_file_lines(generated_with_passphrase / "untold.env")["UNTOLD_PUBLIC_KEYS"]

    assert b"ENCRYPTED" in pem
    private_key = crypto.private_key_from_pem(pem, PASSPHRASE.encode())
    assert crypto.public_key_to_text(private_key.public_key()) == public_text
    with pytest.raises(crypto.SealError):
        crypto.private_key_from_pem(pem)
    with pytest.raises(crypto.SealError):
        crypto.private_key_from_pem(pem, WRONG_PASSPHRASE.encode())
    # The campaign-text key in the same file opens only through the story key.
    assert crypto.read_key_file(pem, PASSPHRASE.encode()).campaign_key is not None
    with pytest.raises(crypto.SealError):
        crypto.read_key_file(pem)


def test_secrets_can_come_from_files(production_env, generated_with_passphrase, tmp_path):
    secret_file, passphrase_file = tmp_path / "secret", tmp_path / "passphrase"
    secret_file.write_text(SECRET_KEY + "\n")
    passphrase_file.write_text(PASSPHRASE + "\n")
    del production_env["UNTOLD_SECRET_KEY"]
    env = production_env | env_file_lines(generated_with_passphrase / "untold.env")
    (key_file,) = generated_with_passphrase.glob("untold-keys-*.pem")
    env |= {
        "UNTOLD_SECRET_KEY_FILE": str(secret_file),
        "UNTOLD_PRIVATE_KEY_FILE": str(key_file),
        "UNTOLD_PRIVATE_KEY_PASSPHRASE_FILE": str(passphrase_file),
    }

    result = run("manage.py", "check", "--deploy", "--fail-level", "ERROR", env=env)

    # The key file opens with the passphrase from its file (else E006); a key file on a
    # server is only warned about.
    assert result.returncode == 0, output_of(result)
    assert "submissions.E006" not in output_of(result)
    assert "submissions.W004" in output_of(result)

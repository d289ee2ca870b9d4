"""People hold the keys: each account's own key, grants, revocation, password change
and reset, the session across workers, and the commands that take the offline key
file or a staff member's keys. Every change is on the audit trail.

Here the server holds no key file (a finished migration): the offline key file lives
in a folder of its own, as it would on a USB stick in a safe."""

from __future__ import annotations

import io
import sys
from importlib import import_module
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions import crypto, custody
from submissions.keys import configured_keys, holding
from submissions.models import AuditEvent, KeyGrant, Secret, StaffKey
from submissions.panel.forms import SEALED_HERE
from submissions.staff import StaffGroup
from tests.conftest import new_testimony
from tests.custody import give_account_key, give_keys, hold_in_session
from tests.panel import PANEL, PASSWORD, current_code, log_in, staff, verified_client
from tests.servers import server_env, shell

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action
STORY = "STORY-7f3a only the moderators read this"
CAMPAIGN = "CAMPAIGN-19c2 the redacted copy"
NEW_PASSWORD = "another long and unguessable passphrase 73"
KEYS_PAGE = f"{PANEL}keys/"


@pytest.fixture
def offline(settings, tmp_path) -> Path:
    """A key file written by this release (story key and random campaign-text key),
    kept off the server: the server is configured with public values only."""
    private_key, campaign_key = crypto.generate_private_key(), crypto.new_campaign_key()
    path = tmp_path / "offline" / "untold-keys.pem"
    path.parent.mkdir()
    path.write_bytes(crypto.key_file_text(private_key, campaign_key))
    settings.UNTOLD_PUBLIC_KEYS = [crypto.public_key_to_text(private_key.public_key())]
    settings.UNTOLD_CAMPAIGN_KEY_ID = crypto.campaign_key_id(campaign_key).hex()
    settings.UNTOLD_PRIVATE_KEY_FILES = []
    configured_keys.cache_clear()
    return path


def file_ring(path: Path) -> crypto.Keyring:
    opened = crypto.Keyring.load((), [path.read_bytes()])
    return configured_keys().holding(opened.private_keys, opened.campaign_keys)


@pytest.fixture
def story(offline):
    with holding(file_ring(offline)):
        return new_testimony(STORY, CAMPAIGN)


def grant_from_file(user: User, path: Path) -> int:
    return custody.grant(user, custody.secrets_of(file_ring(path)), by="test")


def moderator_with_keys(name: str, offline: Path) -> tuple[User, Client]:
    user, device = staff(name, StaffGroup.MODERATOR)
    give_account_key(user, PASSWORD)
    grant_from_file(user, offline)
    client = Client(HTTP_HOST="localhost")
    assert log_in(client, name, code=current_code(device)).status_code == 302
    return user, client


def reads(client: Client, testimony) -> bool:
    page = client.get(f"{PANEL}submissions/testimony/{testimony.pk}/change/").content.decode()
    return STORY in page


def events(action: str, subject: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, subject=subject))


# --- sign-in --------------------------------------------------------------------------


def test_the_first_sign_in_makes_the_accounts_key_and_opens_nothing(story):
    _, device = staff("newcomer", StaffGroup.MODERATOR)
    client = Client(HTTP_HOST="localhost")

    assert log_in(client, "newcomer", code=current_code(device)).status_code == 302

    key = StaffKey.objects.get(user__username="newcomer")
    assert len(bytes(key.public_key)) == 32
    assert key.kdf == crypto.ACCOUNT_KDF
    assert bytes(key.salt) and PASSWORD.encode() not in bytes(key.wrapped_private_key)
    assert not reads(client, story)
    assert (
        str(SEALED_HERE)
        in client.get(f"{PANEL}submissions/testimony/{story.pk}/change/").content.decode()
    )
    assert events(Action.KEY_MADE, "newcomer")[0].detail["reason"] == "first sign-in"


def test_a_granted_moderator_reads_after_signing_in(story, offline):
    _, client = moderator_with_keys("mira", offline)

    assert reads(client, story)


def test_the_keys_cookie_is_httponly_strict_and_for_the_whole_site(offline):
    _, device = staff("mira", StaffGroup.MODERATOR)
    client = Client(HTTP_HOST="localhost")

    response = log_in(client, "mira", code=current_code(device))

    cookie = response.cookies[django_settings.UNTOLD_KEYS_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["max-age"] and not cookie["expires"]  # gone with the browser


def test_outside_debug_the_keys_cookie_is_secure_and_host_only(key_pair):
    script = (
        "from django.conf import settings; "
        "print(settings.UNTOLD_KEYS_COOKIE_NAME, settings.SESSION_COOKIE_SECURE)"
    )

    result = shell(script, env=server_env(key_pair.public_text, UNTOLD_DEBUG="0"))

    assert result.stdout.split() == ["__Host-untold-keys", "True"], result.stderr


def test_any_worker_opens_for_the_session_and_none_without_its_cookie(story, offline):
    # Two clients with the same cookies are two workers reading one session store.
    _, first = moderator_with_keys("mira", offline)
    other_worker = Client(HTTP_HOST="localhost")
    for name, morsel in first.cookies.items():
        other_worker.cookies[name] = morsel.value
    without_cookie = Client(HTTP_HOST="localhost")
    without_cookie.cookies[django_settings.SESSION_COOKIE_NAME] = first.cookies[
        django_settings.SESSION_COOKIE_NAME
    ].value

    assert reads(other_worker, story)
    assert not reads(without_cookie, story)


def test_signing_out_removes_the_servers_half_and_the_cookie(story, offline):
    _, client = moderator_with_keys("mira", offline)
    session_key = client.session.session_key

    response = client.post(f"{PANEL}logout/")

    store = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key)
    assert custody.SESSION_KEY not in store.load()
    assert response.cookies[django_settings.UNTOLD_KEYS_COOKIE_NAME].value == ""
    assert not reads(client, story)


# --- the migration from a key file on the server ---------------------------------------


def carried_over(name: str, group: str):
    user, device = staff(name, group)
    StaffKey.objects.create(
        user=user, public_key=b"", wrapped_private_key=b"", salt=b"", kdf={}, carried_over=True
    )
    return user, device


def test_a_carried_over_moderator_is_granted_at_sign_in_while_the_server_has_its_file():
    # The suite's default server still has its (first-release) key file.
    with_file = new_testimony(STORY, CAMPAIGN)
    user, device = carried_over("old-hand", StaffGroup.MODERATOR)
    client = Client(HTTP_HOST="localhost")

    log_in(client, "old-hand", code=current_code(device))

    assert reads(client, with_file)
    assert {g.secret for g in KeyGrant.objects.filter(user=user)} == {
        Secret.STORY,
        Secret.CAMPAIGN_TEXT,
    }
    (granted,) = events(Action.KEY_GRANTED, "old-hand")
    assert granted.detail["by"] == custody.SERVER_KEY_FILE
    assert not StaffKey.objects.get(user=user).carried_over


def test_carried_over_campaign_staff_get_the_campaign_text_key_only():
    user, device = carried_over("campaigner", StaffGroup.CAMPAIGN)

    log_in(Client(HTTP_HOST="localhost"), "campaigner", code=current_code(device))

    assert {g.secret for g in KeyGrant.objects.filter(user=user)} == {Secret.CAMPAIGN_TEXT}


def test_an_account_made_after_the_migration_gets_nothing_from_the_servers_file():
    testimony = new_testimony(STORY, CAMPAIGN)
    _, device = staff("latecomer", StaffGroup.MODERATOR)
    client = Client(HTTP_HOST="localhost")

    log_in(client, "latecomer", code=current_code(device))

    assert not reads(client, testimony)
    assert not KeyGrant.objects.filter(user__username="latecomer").exists()


# --- administrators ---------------------------------------------------------------------


def test_an_administrator_holds_nothing_and_cannot_be_granted(offline):
    admin, _ = staff("root", StaffGroup.ADMINISTRATOR)
    give_account_key(admin, PASSWORD)

    with pytest.raises(custody.CustodyError, match="no group that holds keys"):
        grant_from_file(admin, offline)
    assert (
        verified_client(*staff("root2", StaffGroup.ADMINISTRATOR)).get(KEYS_PAGE).status_code == 403
    )


def test_an_account_given_the_moderator_group_from_anywhere_opens_nothing_until_granted(
    story, offline
):
    # An administrator's new account, put in the moderators' group on the command line.
    user = User.objects.create_user("puppet", password=PASSWORD, is_staff=True)
    call_command("grant_group", "puppet", "moderator", stdout=io.StringIO())
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    client = Client(HTTP_HOST="localhost")

    assert log_in(client, "puppet", code=current_code(device)).status_code == 302

    assert client.get(f"{PANEL}submissions/testimony/{story.pk}/change/").status_code == 200
    assert not reads(client, story)
    assert not KeyGrant.objects.filter(user=user).exists()


# --- granting and revoking in the panel --------------------------------------------------


def test_a_moderator_grants_a_colleague_who_then_reads(story, offline):
    _, granter = moderator_with_keys("mira", offline)
    colleague, device = staff("nura", StaffGroup.MODERATOR)
    give_account_key(colleague, PASSWORD)

    page = granter.get(KEYS_PAGE).content.decode()
    response = granter.post(KEYS_PAGE, {"user": colleague.pk, "action": "grant"})

    assert custody.fingerprint(StaffKey.objects.get(user=colleague).public_key) in page
    assert response.status_code == 302
    (granted,) = events(Action.KEY_GRANTED, "nura")
    assert granted.actor == "mira" and granted.detail["by"] == "mira"
    client = Client(HTTP_HOST="localhost")
    log_in(client, "nura", code=current_code(device))
    assert reads(client, story)


def test_granting_to_someone_who_has_not_signed_in_says_so(offline):
    _, granter = moderator_with_keys("mira", offline)
    colleague, _ = staff("nura", StaffGroup.MODERATOR)

    response = granter.post(KEYS_PAGE, {"user": colleague.pk, "action": "grant"}, follow=True)

    assert "has not signed in yet" in response.content.decode()
    assert not KeyGrant.objects.filter(user=colleague).exists()


def test_a_revocation_takes_effect_at_the_next_request(story, offline):
    _, granter = moderator_with_keys("mira", offline)
    colleague, reader = moderator_with_keys("nura", offline)
    assert reads(reader, story)

    granter.post(KEYS_PAGE, {"user": colleague.pk, "action": "revoke"})

    assert not reads(reader, story)
    (revoked,) = events(Action.KEY_REVOKED, "nura")
    assert revoked.actor == "mira"


def test_campaign_staff_see_the_keys_page_but_cannot_grant(offline):
    campaigner = verified_client(*staff("campaigner", StaffGroup.CAMPAIGN))
    colleague, _ = staff("nura", StaffGroup.MODERATOR)
    give_account_key(colleague, PASSWORD)

    assert campaigner.get(KEYS_PAGE).status_code == 200
    response = campaigner.post(KEYS_PAGE, {"user": colleague.pk, "action": "grant"})

    assert response.status_code == 403
    assert not KeyGrant.objects.filter(user=colleague).exists()


def test_a_grant_copied_to_another_account_does_not_open(offline):
    mira, _ = moderator_with_keys("mira", offline)
    thief, _ = staff("thief", StaffGroup.MODERATOR)
    private_key = give_account_key(thief, PASSWORD)
    original = KeyGrant.objects.filter(user=mira).first()
    KeyGrant.objects.create(
        user=thief,
        secret=original.secret,
        key_id=original.key_id,
        sealed=original.sealed,
        granted_by="copied",
    )

    with pytest.raises(crypto.SealError):
        custody.open_grants(thief, private_key)


# --- password change and reset, leaving ---------------------------------------------------


def test_a_password_change_in_the_panel_rewraps_the_key_and_keeps_the_grants(story, offline):
    user, client = moderator_with_keys("mira", offline)
    before = bytes(StaffKey.objects.get(user=user).public_key)

    response = client.post(
        f"{PANEL}password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert bytes(StaffKey.objects.get(user=user).public_key) == before
    with pytest.raises(crypto.SealError):
        custody.open_account_key(user, PASSWORD)
    assert custody.open_grants(user, custody.open_account_key(user, NEW_PASSWORD))
    assert events(Action.KEY_RESEALED, "mira")


def test_a_password_reset_on_the_command_line_leaves_no_key_until_granted(
    story, offline, monkeypatch
):
    user, _ = moderator_with_keys("mira", offline)
    monkeypatch.setattr(sys, "stdin", io.StringIO(NEW_PASSWORD + "\n"))

    call_command("reset_password", "mira", password_stdin=True, stdout=io.StringIO())

    assert not KeyGrant.objects.filter(user=user).exists()
    assert custody.open_grants(user, custody.open_account_key(user, NEW_PASSWORD)) == {}
    made = events(Action.KEY_MADE, "mira")[0]
    assert made.actor == "manage.py reset_password" and made.detail["reason"] == "password reset"


def test_a_password_set_elsewhere_gives_a_new_key_at_sign_in(story, offline):
    user, device = staff("mira", StaffGroup.MODERATOR)
    give_account_key(user, PASSWORD)
    grant_from_file(user, offline)
    user.set_password(NEW_PASSWORD)  # Django's changepassword, say
    user.save()
    client = Client(HTTP_HOST="localhost")

    log_in(client, "mira", password=NEW_PASSWORD, code=current_code(device))

    assert not reads(client, story)
    assert events(Action.KEY_MADE, "mira")[0].detail["reason"] == "password set elsewhere"


def test_a_deactivated_account_keeps_no_grant(offline):
    user, _ = moderator_with_keys("mira", offline)

    user.is_active = False
    user.save()

    assert not KeyGrant.objects.filter(user=user).exists()
    assert events(Action.KEY_REVOKED, "mira")[0].detail["reason"] == "account deactivated"


def test_leaving_a_group_drops_the_grants(offline):
    user, _ = moderator_with_keys("mira", offline)

    user.groups.remove(Group.objects.get(name=StaffGroup.MODERATOR))

    assert not KeyGrant.objects.filter(user=user).exists()


# --- commands with the offline key file or a staff member's keys ------------------------


def test_grant_keys_with_the_key_file(offline):
    user, _ = staff("nura", StaffGroup.MODERATOR)
    give_account_key(user, PASSWORD)

    call_command("grant_keys", "nura", key_file=[offline], stdout=io.StringIO())

    assert {g.secret for g in KeyGrant.objects.filter(user=user)} == set(Secret.values)
    assert events(Action.KEY_GRANTED, "nura")[0].actor == "manage.py grant_keys with the key file"


def test_grant_keys_as_a_moderator_asks_her_password(offline, monkeypatch):
    moderator_with_keys("mira", offline)
    user, _ = staff("camille", StaffGroup.CAMPAIGN)
    give_account_key(user, PASSWORD)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))

    call_command("grant_keys", "camille", as_user="mira", secret_stdin=True, stdout=io.StringIO())

    assert {g.secret for g in KeyGrant.objects.filter(user=user)} == {Secret.CAMPAIGN_TEXT}


def test_a_wrong_password_opens_no_key_on_the_command_line(offline, monkeypatch):
    moderator_with_keys("mira", offline)
    monkeypatch.setattr(sys, "stdin", io.StringIO("wrong password\n"))

    with pytest.raises(CommandError, match="open no key"):
        call_command("check_keys", as_user="mira", secret_stdin=True, stdout=io.StringIO())


def test_revoke_keys_on_the_command_line(offline):
    user, _ = moderator_with_keys("mira", offline)

    call_command("revoke_keys", "mira", stdout=io.StringIO())

    assert not KeyGrant.objects.filter(user=user).exists()


def test_export_check_and_rotation_work_with_the_key_file(story, offline, settings, tmp_path):
    story.status = "approved"
    story.save()
    for _ in range(5):
        with holding(file_ring(offline)):
            new_testimony(STORY, CAMPAIGN, status="approved")
    out = tmp_path / "export.csv"

    call_command("export_testimonies", output=str(out), key_file=[offline], stderr=io.StringIO())
    drill = io.StringIO()
    call_command("check_keys", key_file=[offline], stdout=drill)

    assert CAMPAIGN in out.read_text(encoding="utf-8-sig")
    assert "story key held" in drill.getvalue() and "campaign-text key held" in drill.getvalue()
    # Without keys given, a server without a key file opens nothing.
    with pytest.raises(CommandError):
        call_command("export_testimonies", output=str(out), stderr=io.StringIO())


def test_campaign_staff_export_with_their_own_keys_but_cannot_open_stories(
    story, offline, monkeypatch, tmp_path
):
    user, _ = staff("camille", StaffGroup.CAMPAIGN)
    give_account_key(user, PASSWORD)
    grant_from_file(user, offline)
    for _ in range(5):
        with holding(file_ring(offline)):
            new_testimony(STORY, CAMPAIGN, status="approved")
    out = tmp_path / "export.csv"
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n" + PASSWORD + "\n"))

    call_command(
        "export_testimonies",
        output=str(out),
        as_user="camille",
        secret_stdin=True,
        stderr=io.StringIO(),
    )
    drill = io.StringIO()
    with pytest.raises(CommandError):
        call_command("check_keys", as_user="camille", secret_stdin=True, stdout=drill)

    assert CAMPAIGN in out.read_text(encoding="utf-8-sig")
    assert "story key MISSING" in drill.getvalue()
    assert "campaign-text key held" in drill.getvalue()


def test_the_export_page_streams_with_the_signed_in_persons_keys(offline):
    for _ in range(5):
        with holding(file_ring(offline)):
            new_testimony(STORY, CAMPAIGN, status="approved")
    user, device = staff("camille", StaffGroup.CAMPAIGN)
    client = verified_client(user, device, keys=False)
    give_account_key(user, PASSWORD)
    grant_from_file(user, offline)
    held = custody.open_grants(user, custody.open_account_key(user, PASSWORD))
    hold_in_session(client, user, held)

    response = client.post(f"{PANEL}export/", {"k": 5, "bom": "on"})

    assert response.status_code == 200
    assert CAMPAIGN in b"".join(response.streaming_content).decode("utf-8-sig")


def test_rotation_with_the_key_file_moves_campaign_texts_to_a_new_campaign_key(
    story, offline, settings, tmp_path
):
    # A new key file keeps the story key and adds a new campaign-text key.
    new_file = tmp_path / "new.pem"
    old = crypto.read_key_file(offline.read_bytes())
    campaign_key = crypto.new_campaign_key()
    new_file.write_bytes(crypto.key_file_text(old.private_key, campaign_key))
    settings.UNTOLD_CAMPAIGN_KEY_ID = crypto.campaign_key_id(campaign_key).hex()
    configured_keys.cache_clear()

    call_command("rotate_keys", key_file=[offline, new_file], workers=1, stdout=io.StringIO())

    story.refresh_from_db()
    assert crypto.sealed_key_id(story.sealed_campaign_text) == crypto.campaign_key_id(campaign_key)
    with holding(file_ring(new_file)):
        assert story.open_campaign_text() == CAMPAIGN


def test_give_keys_helper_grants_the_groups_secrets():
    # The helper the panel tests use grants from the suite's configured key file.
    user, _ = staff("mira", StaffGroup.MODERATOR)

    held = give_keys(user, PASSWORD)

    assert {kind for kind, _ in held} == {Secret.STORY, Secret.CAMPAIGN_TEXT}


@pytest.mark.parametrize("who", ["abc", "", "1" * 40])
def test_a_grant_for_no_such_account_is_a_404_not_a_server_error(offline, who):
    _, granter = moderator_with_keys("mira", offline)

    response = granter.post(KEYS_PAGE, {"user": who, "action": "grant"})

    assert response.status_code == 404
    assert not KeyGrant.objects.exclude(user__username="mira").exists()


def test_the_keys_page_reads_the_same_number_of_queries_however_many_accounts(offline):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _, granter = moderator_with_keys("mira", offline)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert granter.get(KEYS_PAGE).status_code == 200
        return len(captured)

    for n in range(2):
        give_account_key(staff(f"few-{n}", StaffGroup.CAMPAIGN)[0], PASSWORD)
    few = queries()
    for n in range(6):
        give_account_key(staff(f"many-{n}", StaffGroup.MODERATOR)[0], PASSWORD)

    assert queries() == few

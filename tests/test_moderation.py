"""A moderator's work in the panel: reading, redacting, approving, rejecting, deleting.

Promise: the list never loads or shows text; the original is shown only on a
testimony's reading view, with identifying details marked; nothing quotable is
approved without a campaign text; a deleted testimony is gone; every step is in the
audit trail and Django's own change log holds nothing of it. A server without the
private key, or with the wrong one, says so plainly instead of failing.
"""

from __future__ import annotations

import base64
import html
import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone

from submissions.choices import Status
from submissions.models import AuditEvent, Testimony
from submissions.panel.forms import SEALED_HERE
from submissions.staff import StaffGroup
from tests.conftest import new_testimony, use_keys
from tests.panel import PANEL, staff, verified_client
from tests.servers import server_env, shell

pytestmark = pytest.mark.django_db

MARKER = "ORIGINAL-ONLY-MARKER-Әйгерім"
PHONE = "+7 701 234 56 78"
EMAIL = "aigerim@example.kz"
STORY = f"{MARKER}. Звоните {PHONE} или пишите {EMAIL}, это было в 2019 году."
SUGGESTED = f"{MARKER}. Звоните [phone] или пишите [email], это было в 2019 году."
REDACTED = "Это было в 2019 году. [phone] [email]"
LIST = f"{PANEL}submissions/testimony/"
AUDIT = f"{PANEL}submissions/auditevent/"
STATISTICS = f"{PANEL}statistics/"
Action = AuditEvent.Action


def make(text: str = STORY, campaign_text: str | None = None, **fields) -> Testimony:
    return new_testimony(text, campaign_text, **fields)


def change_url(testimony: Testimony) -> str:
    return f"{LIST}{testimony.pk}/change/"


def delete_url(testimony: Testimony) -> str:
    return f"{LIST}{testimony.pk}/delete/"


def follow(client, response) -> str:
    """The page a redirect leads to, where the admin shows its messages."""
    assert response.status_code == 302, response.status_code
    return html.unescape(client.get(response["Location"]).content.decode())


def textarea(page: str) -> str:
    match = re.search(r'<textarea name="campaign_text"[^>]*>\n?(.*?)</textarea>', page, re.S)
    return html.unescape(match.group(1))


def form_data(form: str) -> dict[str, list[str]]:
    """The hidden fields of a form, as a browser would post them."""
    data: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form):
        data.setdefault(name, []).append(html.unescape(value))
    return data


def audited(action: str, testimony: Testimony | None = None) -> list[str]:
    events = AuditEvent.objects.filter(action=action)
    if testimony is not None:
        events = events.filter(testimony_id=testimony.pk)
    return list(events.values_list("actor", flat=True))


@pytest.fixture
def moderator():
    return verified_client(*staff("mod", "moderator"))


@pytest.fixture
def administrator():
    return verified_client(*staff("root", StaffGroup.ADMINISTRATOR))


@pytest.fixture
def testimony() -> Testimony:
    return make()


# --- The list ------------------------------------------------------------------------------


def test_the_list_shows_no_text_and_never_loads_sealed_bytes(moderator, testimony):
    make(campaign_text=REDACTED)

    with CaptureQueriesContext(connection) as queries:
        response = moderator.get(LIST)

    page = response.content.decode()
    assert response.status_code == 200
    assert testimony.short_id in page
    assert "1 KiB" in page
    for text in (MARKER, PHONE, EMAIL, "[phone]"):
        assert text not in page
    selects = [q["sql"] for q in queries if "submissions_testimony" in q["sql"]]
    assert any("LENGTH(" in sql.upper() for sql in selects)
    for sql in selects:
        columns = re.sub(r'LENGTH\("submissions_testimony"\."sealed_text"\)', "", sql, flags=re.I)
        assert '"sealed_text"' not in columns, sql
        assert '"sealed_campaign_text"' not in columns, sql
    assert audited(Action.VIEWED) == []


# --- The change page -----------------------------------------------------------------------


def test_the_change_page_shows_the_original_with_identifiers_marked(moderator, testimony):
    response = moderator.get(change_url(testimony))

    page = response.content.decode()
    assert response.status_code == 200
    assert MARKER in page
    # Marked by more than colour: the marker that replaces it follows each detail.
    assert f'<mark class="found">{PHONE}<span class="kind"> [phone]</span></mark>' in page
    assert f'<mark class="found">{EMAIL}<span class="kind"> [email]</span></mark>' in page
    assert audited(Action.VIEWED, testimony) == ["mod"]


def test_an_empty_campaign_text_starts_as_the_suggestion(moderator, testimony):
    response = moderator.get(change_url(testimony))

    assert response.status_code == 200
    assert textarea(response.content.decode()) == SUGGESTED
    # Opened once for the page, so recorded once.
    assert audited(Action.VIEWED, testimony) == ["mod"]


def test_saving_the_campaign_text_seals_it_and_is_audited(moderator, testimony):
    response = moderator.post(change_url(testimony), {"campaign_text": REDACTED, "_save": "Save"})

    assert response.status_code == 302
    testimony.refresh_from_db()
    assert testimony.open_campaign_text() == REDACTED
    assert REDACTED.encode() not in bytes(testimony.sealed_campaign_text)
    assert testimony.status == Status.NEW
    assert audited(Action.EDITED, testimony) == ["mod"]
    # A save that redirects shows no original, so it records no reading.
    assert audited(Action.VIEWED, testimony) == []
    assert textarea(moderator.get(change_url(testimony)).content.decode()) == REDACTED


def test_saving_an_unchanged_campaign_text_writes_no_edit(moderator):
    testimony = make(campaign_text=REDACTED)

    moderator.post(change_url(testimony), {"campaign_text": REDACTED, "_save": "Save"})

    assert audited(Action.EDITED) == []


def test_save_and_approve_approves_with_the_campaign_text(moderator, testimony):
    response = moderator.post(
        change_url(testimony), {"campaign_text": SUGGESTED, "_approve_next": "Approve & next"}
    )

    assert f"Approved {testimony.short_id}." in follow(moderator, response)
    testimony.refresh_from_db()
    assert testimony.status == Status.APPROVED
    assert testimony.open_campaign_text() == SUGGESTED
    assert audited(Action.EDITED, testimony) == ["mod"]
    assert audited(Action.APPROVED, testimony) == ["mod"]


@pytest.mark.parametrize("campaign_text", ["", "  \n  "], ids=["empty", "blank"])
def test_approving_without_a_campaign_text_is_refused(moderator, testimony, campaign_text):
    response = moderator.post(
        change_url(testimony), {"campaign_text": campaign_text, "_approve_next": "Approve & next"}
    )

    assert response["Location"] == change_url(testimony)
    assert "write its campaign text before approving" in follow(moderator, response)
    testimony.refresh_from_db()
    assert testimony.status == Status.NEW
    assert audited(Action.APPROVED) == []


def test_reject_from_the_change_page(moderator, testimony):
    response = moderator.post(
        change_url(testimony), {"campaign_text": "", "_reject_next": "Reject & next"}
    )

    assert f"Rejected {testimony.short_id}." in follow(moderator, response)
    testimony.refresh_from_db()
    assert testimony.status == Status.REJECTED
    assert audited(Action.REJECTED, testimony) == ["mod"]


# --- Actions on the list -------------------------------------------------------------------


def test_bulk_approve_skips_testimonies_without_campaign_text_and_says_so(moderator):
    ready = make(campaign_text=REDACTED)
    unready = make()

    response = moderator.post(
        LIST, {"action": "approve", "_selected_action": [ready.pk, unready.pk], "index": 0}
    )

    page = follow(moderator, response)
    assert "Approved 1 testimony." in page
    assert "1 quotable testimony has no campaign text yet and was not approved." in page
    ready.refresh_from_db()
    unready.refresh_from_db()
    assert (ready.status, unready.status) == (Status.APPROVED, Status.NEW)
    assert audited(Action.APPROVED) == ["mod"]
    assert audited(Action.APPROVED, ready) == ["mod"]


def test_bulk_approve_takes_as_many_queries_for_many_testimonies_as_for_few(moderator):
    def queries_to_approve(count: int) -> int:
        selected = [make(campaign_text=REDACTED).pk for _ in range(count)]
        with CaptureQueriesContext(connection) as captured:
            moderator.post(LIST, {"action": "approve", "_selected_action": selected, "index": 0})
        return len(captured)

    assert queries_to_approve(2) == queries_to_approve(12)


def test_bulk_reject(moderator):
    first, second = make(), make(campaign_text=REDACTED)

    response = moderator.post(
        LIST, {"action": "reject", "_selected_action": [first.pk, second.pk], "index": 0}
    )

    assert "Rejected 2 testimonies." in follow(moderator, response)
    assert set(Testimony.objects.values_list("status", flat=True)) == {Status.REJECTED}
    assert audited(Action.REJECTED, first) == ["mod"]
    assert audited(Action.REJECTED, second) == ["mod"]


def test_deleting_from_the_list_removes_the_rows_after_confirmation(moderator):
    doomed = [make(), make(campaign_text=REDACTED)]
    kept = make()
    selected = [testimony.pk for testimony in doomed]

    confirmation = moderator.post(
        LIST, {"action": "delete_selected", "_selected_action": selected, "index": 0}
    )
    assert confirmation.status_code == 200
    assert MARKER not in confirmation.content.decode()
    assert Testimony.objects.count() == 3
    # Send back exactly what the confirmation page's form holds, as the browser would.
    forms = re.findall(r"<form[^>]*>(.*?)</form>", confirmation.content.decode(), re.S)
    confirm = next(form for form in forms if 'name="post"' in form)
    response = moderator.post(LIST, form_data(confirm))

    assert response.status_code == 302
    assert list(Testimony.objects.values_list("pk", flat=True)) == [kept.pk]
    for testimony in doomed:
        assert not Testimony.objects.filter(pk=testimony.pk).exists()
        assert audited(Action.DELETED, testimony) == ["mod"]


def test_deleting_from_the_change_page_removes_the_row(moderator, testimony):
    assert moderator.get(delete_url(testimony)).status_code == 200

    response = moderator.post(delete_url(testimony), {"post": "yes"})

    assert response.status_code == 302
    assert not Testimony.objects.filter(pk=testimony.pk).exists()
    assert audited(Action.DELETED, testimony) == ["mod"]


# --- What is on record ---------------------------------------------------------------------


def test_djangos_change_log_holds_nothing_of_the_work_on_testimonies(moderator):
    # The audit trail records each step; a second, timestamped row per click would only
    # date the moderator's work twice.
    edited, approved, deleted = make(), make(), make()

    moderator.get(change_url(edited))
    moderator.post(change_url(edited), {"campaign_text": REDACTED, "_save": "Save"})
    moderator.post(change_url(approved), {"campaign_text": SUGGESTED, "_approve_next": "A"})
    moderator.post(delete_url(deleted), {"post": "yes"})
    moderator.post(
        LIST, {"action": "delete_selected", "_selected_action": [edited.pk], "post": "yes"}
    )

    assert not LogEntry.objects.exists()
    assert len(audited(Action.DELETED)) == 2


def test_the_audit_list_shows_each_step_as_a_sentence(moderator, administrator):
    testimony, doomed = make(), make()
    moderator.get(change_url(testimony))
    moderator.post(change_url(testimony), {"campaign_text": SUGGESTED, "_approve_next": "A"})
    moderator.post(
        change_url(testimony),
        {"campaign_text": SUGGESTED, "_reject_next": "R", "reason": "names a village"},
    )
    moderator.post(delete_url(doomed), {"post": "yes"})

    response = administrator.get(AUDIT)

    assert response.status_code == 200
    rows = [
        html.unescape(re.sub(r"<[^>]+>", " ", row))
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", response.content.decode(), re.S)
    ]

    def shown(sentence: str) -> bool:
        return any(" ".join(sentence.split()) in " ".join(row.split()) for row in rows)

    record = testimony.short_id
    for sentence in (
        f"mod read the original of story {record}",
        f"mod edited the campaign text of story {record}",
        f"mod approved story {record}",
        f"mod rejected story {record}, because: names a village",
        f"mod deleted the story {doomed.short_id}",
    ):
        assert shown(sentence), (sentence, rows)
    assert "{" not in response.content.decode().split("result_list")[1].split("</table>")[0]
    assert MARKER not in response.content.decode()


# --- Keys this server does not hold --------------------------------------------------------


def test_a_moderator_who_holds_no_key_is_told_so_and_sees_no_text(testimony):
    # The server still has its key file: it opens nothing for someone not granted.
    moderator = verified_client(*staff("newcomer", StaffGroup.MODERATOR), keys=False)

    response = moderator.get(change_url(testimony))

    page = response.content.decode()
    assert response.status_code == 200
    assert str(SEALED_HERE) in page
    assert MARKER not in page
    assert audited(Action.VIEWED) == []
    assert moderator.get(LIST).status_code == 200


def test_a_text_sealed_to_an_unknown_key_is_named_never_shown(
    settings, moderator, key_pair, second_key_pair
):
    use_keys(settings, second_key_pair, second_key_pair)
    testimony = make(campaign_text=REDACTED)
    use_keys(settings, key_pair, key_pair)

    response = moderator.get(change_url(testimony))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Cannot open this text" in page
    assert second_key_pair.key_id.hex() in page
    for sealed in (bytes(testimony.sealed_text), bytes(testimony.sealed_campaign_text)):
        body = sealed[-48:]
        assert body.hex() not in page
        assert base64.b64encode(body).decode()[:32] not in page
        assert repr(body)[2:34] not in html.unescape(page)
    for text in (MARKER, REDACTED):
        assert text not in page
    assert audited(Action.VIEWED) == []


# --- Statistics ----------------------------------------------------------------------------


@pytest.fixture
def counted():
    """Six Russian testimonies, new; two Kazakh ones, approved; no English one."""
    for _ in range(6):
        make(language="ru", forms_of_violence="physical,psychological", age_group="25_34")
    for _ in range(2):
        make(language="kk", campaign_text=REDACTED, status=Status.APPROVED, region="KZ-71")


def table(page: str, key: str) -> dict[str, str]:
    section = re.search(rf'aria-labelledby="chart-{key}">(.*?)</section>', page, re.S).group(1)
    rows = re.findall(r'<tr><th scope="row">(.*?)</th><td>(.*?)</td></tr>', section)
    return {html.unescape(label): html.unescape(count) for label, count in rows}


def test_moderators_see_every_count(moderator, counted):
    response = moderator.get(STATISTICS)

    page = response.content.decode()
    assert response.status_code == 200
    assert table(page, "language") == {"Қазақша": "2", "Русский": "6", "English": "0"}
    assert table(page, "status") == {"New": "6", "Approved": "2", "Rejected": "0"}
    assert table(page, "form")["Physical violence"] == "6"
    assert table(page, "region")["Kazakhstan — Astana"] == "2"
    assert table(page, "age_group")["25–34"] == "6"
    assert list(table(page, "day").values()) == ["8"]


def test_campaign_staff_see_small_counts_hidden_with_the_next_smallest(counted):
    # The next day: campaign staff see only the days that have ended.
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        response = verified_client(*staff("campaigner", "campaign")).get(STATISTICS)

    page = response.content.decode()
    assert response.status_code == 200
    # 2 alone would be 8 minus 6: the 6 is hidden with it.
    assert table(page, "language") == {"Қазақша": "hidden", "Русский": "hidden", "English": "0"}
    assert table(page, "status") == {"New": "hidden", "Approved": "hidden", "Rejected": "0"}
    assert table(page, "region")["Kazakhstan — Astana"] == "hidden"
    assert table(page, "region")["Not said"] == "hidden"
    assert MARKER not in page


def test_each_chart_is_drawn_on_the_server_beside_a_table_with_nothing_from_elsewhere(
    moderator, counted
):
    response = moderator.get(STATISTICS)

    page = response.content.decode()
    charts = ["status", "day", "language", "form", "age_group", "region"]
    for key in charts:
        section = re.search(rf'aria-labelledby="chart-{key}">(.*?)</section>', page, re.S)
        assert section, key
        # Bars as HTML, so that their labels keep their size on a phone; the table folded.
        assert '<ul class="bars">' in section.group(1) and "<details>" in section.group(1), key
        assert "<table" in section.group(1).split("<details>")[1], key
    assert page.count('<section class="module chart"') == len(charts)
    links = re.findall(r'\b(?:src|href)\s*=\s*["\']([^"\']*)', page, re.I)
    assert links
    assert [link for link in links if link.lower().startswith(("http", "//"))] == []
    assert "<script" not in page.split('<section class="module chart"', 1)[1]


# --- The intake role -----------------------------------------------------------------------

PROBE = """
from django.test import Client
from django.urls import Resolver404, resolve
try:
    resolve("/moderation/")
    print("panel mounted")
except Resolver404:
    print("panel absent")
client = Client(HTTP_HOST="localhost")
print(client.get("/moderation/").status_code, client.get("/moderation/login/").status_code)
print(resolve("/en/").url_name)
"""


def test_the_intake_role_does_not_mount_the_panel(key_pair):
    env = server_env(key_pair.public_text, UNTOLD_ROLE="intake")

    result = shell(PROBE, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["panel absent", "404 404", "form"]


def test_the_default_role_mounts_the_panel():
    assert resolve(PANEL).url_name == "index"

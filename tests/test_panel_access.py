"""Who may open what in the moderation panel: every role against every page."""

from __future__ import annotations

import pytest

from submissions.choices import Status
from submissions.models import AuditEvent, Testimony
from submissions.staff import StaffGroup
from tests.conftest import new_testimony
from tests.panel import PANEL, password_only_client, staff, verified_client

MARKER = "ORIGINAL-ONLY-MARKER-Әйгерім"


@pytest.fixture
def testimony(db) -> Testimony:
    return new_testimony(f"Менің атым {MARKER}", "Менің атым [name]", language="kk")


def pages(testimony: Testimony) -> dict[str, str]:
    record = f"{PANEL}submissions/testimony/{testimony.pk}"
    return {
        "list": f"{PANEL}submissions/testimony/",
        "change": f"{record}/change/",
        "queue": f"{PANEL}submissions/testimony/queue/",
        "delete": f"{record}/delete/",
        "history": f"{record}/history/",
        "statistics": f"{PANEL}statistics/",
        "audit": f"{PANEL}submissions/auditevent/",
        "users": f"{PANEL}auth/user/",
        "index": PANEL,
    }


ALLOWED = {
    StaffGroup.MODERATOR: {"list", "change", "queue", "delete", "history", "statistics", "index"},
    StaffGroup.CAMPAIGN: {"statistics", "index"},
    StaffGroup.ADMINISTRATOR: {"audit", "users", "index"},
}
# Pages that send their reader on: each group's index to where it lands, the queue to
# its first story.
SENT_ON = {
    (StaffGroup.MODERATOR, "index"): "/submissions/testimony/queue/",
    (StaffGroup.MODERATOR, "queue"): "/change/",
    (StaffGroup.CAMPAIGN, "index"): "/statistics/",
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_each_role_opens_exactly_its_pages(role, testimony):
    client = verified_client(*staff(f"{role}-user", role))

    for name, url in pages(testimony).items():
        response = client.get(url)
        if (role, name) in SENT_ON:
            assert response.status_code == 302, (role, name, response.status_code)
            assert SENT_ON[role, name] in response["Location"], (role, name)
            continue
        expected = 200 if name in ALLOWED[role] else 403
        assert response.status_code == expected, (role, name, response.status_code)
        if name != "change" or role != "moderator":
            assert MARKER not in response.content.decode(), (role, name)


@pytest.mark.django_db
def test_only_the_moderator_sees_the_original_and_each_reading_is_audited(testimony):
    user, device = staff("reader", "moderator")
    client = verified_client(user, device)

    first = client.get(pages(testimony)["change"])
    second = client.get(pages(testimony)["change"])

    assert MARKER in first.content.decode() and MARKER in second.content.decode()
    views = AuditEvent.objects.filter(action=AuditEvent.Action.VIEWED, testimony_id=testimony.pk)
    assert views.count() == 2
    assert set(views.values_list("actor", flat=True)) == {"reader"}


@pytest.mark.django_db
@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_a_password_alone_opens_nothing(role, testimony):
    user, _ = staff(f"{role}-no-code", role)
    client = password_only_client(user)

    for name, url in pages(testimony).items():
        response = client.get(url)
        assert response.status_code == 302, (role, name)
        assert "/login/" in response["Location"]
        assert MARKER not in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEWED).exists()


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login_page(client, testimony):
    for url in pages(testimony).values():
        response = client.get(url, HTTP_HOST="localhost")
        assert response.status_code == 302
        assert "/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["approve", "reject", "delete_selected"])
def test_campaign_staff_cannot_act_on_testimonies(action, testimony):
    client = verified_client(*staff("campaign-user", "campaign"))

    response = client.post(
        pages(testimony)["list"], {"action": action, "_selected_action": [testimony.pk]}
    )

    assert response.status_code == 403
    testimony.refresh_from_db()
    assert testimony.status == Status.NEW


@pytest.mark.django_db
def test_nobody_can_add_change_or_delete_an_audit_event(testimony):
    client = verified_client(*staff("admin-user", StaffGroup.ADMINISTRATOR))
    event = AuditEvent.record(AuditEvent.Action.VIEWED, actor="someone", testimony=testimony)
    base = f"{PANEL}submissions/auditevent/"

    assert client.get(base).status_code == 200
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{event.pk}/change/", {"actor": "x"}).status_code == 403
    assert client.post(f"{base}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).actor == "someone"

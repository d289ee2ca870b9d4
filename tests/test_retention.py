"""Retention: testimonies are deleted on the day the privacy page states, not before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, connection

from submissions import maintenance
from submissions.campaign import Campaign
from submissions.models import AuditEvent, Testimony
from tests.conftest import new_testimony

CLOSE = datetime(2023, 12, 10, 17, 59, tzinfo=UTC)  # 23:59 in Almaty, then UTC+6


@pytest.fixture
def campaign(settings):
    settings.UNTOLD_CLOSES_AT = CLOSE
    settings.UNTOLD_TIME_ZONE = "Asia/Almaty"
    settings.UNTOLD_RETAIN_DAYS = 90
    for _ in range(3):
        new_testimony("kept until the retention date", language="en")
    return Campaign.from_settings()


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_testimonies", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_nothing_is_deleted_the_day_before_the_stated_date(campaign):
    day_before = datetime.combine(campaign.purge_on - timedelta(days=1), datetime.min.time())
    with time_machine.travel(day_before.replace(hour=12, tzinfo=UTC), tick=False):
        output = purge()

    assert Testimony.objects.count() == 3
    assert campaign.purge_on.isoformat() in output
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.PURGED).exists()


@pytest.mark.django_db
def test_a_dry_run_on_the_date_says_what_it_would_delete_and_deletes_nothing(campaign):
    with time_machine.travel(datetime.combine(campaign.purge_on, datetime.min.time(), UTC)):
        output = purge("--dry-run")

    assert "Would delete 3" in output
    assert Testimony.objects.count() == 3


@pytest.mark.django_db
def test_on_the_stated_date_everything_is_deleted_and_audited(campaign):
    with time_machine.travel(datetime.combine(campaign.purge_on, datetime.min.time(), UTC)):
        output = purge()

    assert "Deleted 3" in output
    assert Testimony.objects.count() == 0
    event = AuditEvent.objects.get(action=AuditEvent.Action.PURGED)
    assert event.detail == {"count": 3}


@pytest.mark.django_db
def test_the_privacy_page_states_the_purge_date(campaign, client):
    response = client.get("/en/privacy/", HTTP_HOST="localhost")

    html = response.content.decode()
    assert "10 December 2023, 23:59" in html
    assert "9 March 2024" in html  # 10 December 2023 + 90 days
    assert campaign.purge_on.isoformat() == "2024-03-09"


REFUSE_AUDIT = {
    "sqlite": [
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON submissions_auditevent "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'the audit trail is full'; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON submissions_auditevent "
        "FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
    ],
}


@pytest.mark.django_db
def test_a_purge_whose_audit_event_fails_deletes_nothing(campaign):
    # Given an audit trail that refuses every new event (a trigger, gone after the test),
    with connection.cursor() as cursor:
        for statement in REFUSE_AUDIT[connection.vendor]:
            cursor.execute(statement)

    # when the purge runs on its day, it fails,
    with (
        time_machine.travel(datetime.combine(campaign.purge_on, datetime.min.time(), UTC)),
        pytest.raises(DatabaseError),
    ):
        purge()

    # and every testimony is still there: nothing is deleted before its record is written.
    assert Testimony.objects.count() == 3


@pytest.mark.django_db
def test_the_purge_deletes_in_batches_until_nothing_is_left(campaign):
    for _ in range(4):
        new_testimony("one more", language="kk")

    deleted = maintenance.purge(actor="cron", batch_size=2)

    assert deleted == 7
    assert Testimony.objects.count() == 0
    assert AuditEvent.objects.get(action=AuditEvent.Action.PURGED).detail == {"count": 7}


@pytest.mark.django_db
def test_the_purge_on_postgresql_goes_a_page_at_a_time_until_nothing_is_left(campaign, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's pages")
    monkeypatch.setattr(maintenance, "PURGE_PAGES", 1)
    for n in range(40):
        new_testimony("Он запирал меня дома. " * 20 + str(n), language="ru")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT (ctid::text::point)[0]) FROM submissions_testimony")
        pages = cursor.fetchone()[0]

    deleted = maintenance.purge(actor="cron")

    assert pages > 2, "the rows lie on several pages"
    assert deleted == 43
    assert Testimony.objects.count() == 0

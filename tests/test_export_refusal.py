"""An export that cannot be completed is refused before its first byte, and every panel
error page carries the same headers as any other page.

A campaign text that fails to open (damaged, or moved from another row) would break the
file off part-way, after its audit event claimed a whole export. So every campaign text
the file would hold is opened first; if any fails, nothing is sent, the page says why,
and the audit trail records a refused export with the count that failed.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from submissions.models import AuditEvent, DailyCountQuerySet, Testimony
from tests.conftest import new_testimony
from tests.panel import PANEL, staff, verified_client

pytestmark = pytest.mark.django_db
EXPORT = f"{PANEL}export/"
Action = AuditEvent.Action


@pytest.fixture
def swapped() -> list[Testimony]:
    """Five exportable stories, two of whose campaign texts were swapped in the
    database: each is whole, but bound to the other's row, so neither opens."""
    stories = [
        new_testimony(f"story {n}", f"campaign text {n}", status="approved", teller="survivor")
        for n in range(5)
    ]
    first, second = stories[0], stories[1]
    Testimony.objects.filter(pk=first.pk).update(sealed_campaign_text=second.sealed_campaign_text)
    Testimony.objects.filter(pk=second.pk).update(sealed_campaign_text=first.sealed_campaign_text)
    return stories


def campaigner() -> Client:
    return verified_client(*staff("campaigner", "campaign"))


def test_the_panel_refuses_the_whole_export_and_says_why(swapped):
    response = campaigner().post(EXPORT, {"k": 5, "bom": "on"})

    assert response.status_code == 500
    assert not response.streaming
    assert response["Content-Type"].startswith("text/html")
    assert "2 campaign texts cannot be opened, so nothing was exported" in response.content.decode()
    assert "campaign text 2" not in response.content.decode()


def test_a_refused_export_is_on_record_as_refused_with_its_count(swapped):
    campaigner().post(EXPORT, {"k": 5, "bom": "on"})

    assert not AuditEvent.objects.filter(action=Action.EXPORTED).exists()
    refused = AuditEvent.objects.get(action=Action.EXPORT_FAILED)
    assert (refused.actor, refused.detail["unopened"]) == ("campaigner", 2)


def test_the_command_refuses_it_too_and_writes_no_file(swapped, tmp_path):
    target = tmp_path / "export.csv"

    with pytest.raises(CommandError, match="2 campaign texts cannot be opened"):
        call_command("export_testimonies", output=str(target), stderr=io.StringIO())

    assert not target.exists()
    assert AuditEvent.objects.filter(action=Action.EXPORT_FAILED).count() == 1


def test_with_every_text_whole_the_export_streams(swapped):
    Testimony.objects.filter(pk__in=[swapped[0].pk, swapped[1].pk]).delete()
    new_testimony("story 5", "campaign text 5", status="approved", teller="survivor")
    new_testimony("story 6", "campaign text 6", status="approved", teller="survivor")

    response = campaigner().post(EXPORT, {"k": 5, "bom": "on"})

    assert response.status_code == 200
    assert b"campaign text 6" in b"".join(response.streaming_content)


def test_a_panel_page_that_fails_sends_the_same_headers(monkeypatch):
    # Given a panel page that fails inside (here, the statistics query),
    def broken(self, **options):
        raise RuntimeError("the statistics could not be counted")

    monkeypatch.setattr(DailyCountQuerySet, "statistics", broken)
    client = verified_client(*staff("mod", "moderator"))
    client.raise_request_exception = False

    response = client.get(f"{PANEL}statistics/")

    # the error page still keeps itself out of caches, frames and other origins.
    assert response.status_code == 500
    assert response["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "could not be counted" not in response.content.decode()

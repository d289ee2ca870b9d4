"""Who may take the CSV away: campaign staff and moderators with a verified session,
nobody else, by any URL; and neither the page nor the command goes below k."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import get_resolver

from submissions.models import AuditEvent, Testimony
from submissions.panel import views
from submissions.panel.forms import SEALED_HERE
from submissions.staff import StaffGroup
from tests.panel import PANEL, password_only_client, staff, verified_client

EXPORT = f"{PANEL}export/"


@pytest.fixture
def approved(db) -> None:
    records = []
    for n in range(6):
        record = Testimony(language="ru", consent="quote", status="approved")
        record.seal_text(f"original {n}")
        record.seal_campaign_text(f"campaign text {n}")
        records.append(record)
    Testimony.objects.bulk_create(records)


def exported_nothing() -> bool:
    return not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORTED).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["campaign", "moderator"])
def test_campaign_staff_and_moderators_can_export(role, approved):
    client = verified_client(*staff(f"{role}-user", role))

    page = client.get(EXPORT)
    response = client.post(EXPORT, {"k": 5, "bom": "on"})

    assert page.status_code == 200
    assert 'name="k"' in page.content.decode()
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.startswith('"record","received_week"')
    assert body.count("campaign text") == 6


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_visitors_are_sent_to_the_login_page(method, approved):
    response = getattr(Client(HTTP_HOST="localhost"), method)(EXPORT, {"k": 5})

    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert exported_nothing()


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("role", ["campaign", "moderator"])
def test_a_password_without_the_code_exports_nothing(role, method, approved):
    user, _ = staff(f"{role}-no-code", role)
    client = password_only_client(user)

    response = getattr(client, method)(EXPORT, {"k": 5})

    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert exported_nothing()


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_administrators_without_the_export_permission_are_refused(method, approved):
    client = verified_client(*staff("accounts-admin", StaffGroup.ADMINISTRATOR))

    response = getattr(client, method)(EXPORT, {"k": 5})

    assert response.status_code == 403
    assert not isinstance(response, StreamingHttpResponse)
    assert "campaign text" not in response.content.decode()
    assert exported_nothing()


def test_the_export_view_is_reachable_only_inside_the_panel():
    def routes(resolver, prefix=""):
        for pattern in resolver.url_patterns:
            route = prefix + str(pattern.pattern)
            if hasattr(pattern, "url_patterns"):
                yield from routes(pattern, route)
            else:
                yield route, pattern.callback

    def is_export(callback) -> bool:
        while callback is not None:
            if callback is views.export:
                return True
            callback = getattr(callback, "__wrapped__", None)
        return False

    found = [route for route, callback in routes(get_resolver()) if is_export(callback)]

    assert found == [EXPORT.lstrip("/")]


@pytest.mark.django_db
def test_a_k_below_the_setting_is_refused_with_no_file(approved, settings):
    settings.UNTOLD_EXPORT_K = 5
    client = verified_client(*staff("campaigner", "campaign"))

    response = client.post(EXPORT, {"k": 4, "bom": "on"})

    assert response.status_code == 400
    assert not isinstance(response, StreamingHttpResponse)
    assert "Content-Disposition" not in response
    assert response["Content-Type"].startswith("text/html")
    assert "The smallest group is at least 5 stories." in response.content.decode()
    assert exported_nothing()


@pytest.mark.django_db
def test_the_command_refuses_a_k_below_the_setting(approved, settings, tmp_path):
    settings.UNTOLD_EXPORT_K = 5
    output = tmp_path / "export.csv"

    with pytest.raises(CommandError, match="at least UNTOLD_EXPORT_K"):
        call_command("export_testimonies", output=str(output), k=4, stderr=io.StringIO())

    assert not output.exists()
    assert exported_nothing()


@pytest.mark.django_db
def test_the_command_refuses_a_server_without_the_private_key(approved, intake_only, tmp_path):
    output = tmp_path / "export.csv"

    with pytest.raises(CommandError, match="no campaign-text key is held"):
        call_command("export_testimonies", output=str(output), stderr=io.StringIO())

    assert not output.exists()
    assert exported_nothing()


@pytest.mark.django_db
def test_the_page_refuses_someone_who_holds_no_key(approved):
    # Given campaign staff whom nobody has granted the campaign-text key yet (the server
    # still has a key file: it is not theirs), when they ask for the CSV, then they get
    # a page that says so, not a download that breaks off at its first row.
    client = verified_client(*staff("campaigner", "campaign"), keys=False)

    response = client.post(EXPORT, {"k": 5, "bom": "on"})

    assert response.status_code == 403
    assert not isinstance(response, StreamingHttpResponse)
    assert str(SEALED_HERE) in response.content.decode()
    assert exported_nothing()

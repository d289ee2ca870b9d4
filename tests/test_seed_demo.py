"""seed_demo makes realistic records through the real sealing path."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from submissions.choices import Language, Status
from submissions.models import Testimony


@pytest.fixture(autouse=True)
def demo_server(settings):
    """A development machine: seed_demo runs only in debug, or when told otherwise."""
    settings.DEBUG = True


@pytest.mark.django_db
def test_seed_demo_creates_sealed_records_in_every_status_and_language():
    call_command("seed_demo", count=60, random_seed=7, stdout=None)

    records = list(Testimony.objects.all())
    assert len(records) == 60
    assert {r.status for r in records} == set(Status.values)
    assert {r.language for r in records} == set(Language.values)
    for record in records:
        assert len(record.open_text()) >= 590  # about --size characters
    approved = [r for r in records if r.status == Status.APPROVED]
    assert all(r.open_campaign_text() for r in approved)
    assert all(r.sealed_campaign_text is None for r in records if r.status != Status.APPROVED)


@pytest.mark.django_db
def test_seed_demo_refuses_approved_records_without_a_private_key(intake_only):
    with pytest.raises(CommandError, match="private key"):
        call_command("seed_demo", count=3, status="approved")

    call_command("seed_demo", count=3, status="new")
    assert Testimony.objects.count() == 3


@pytest.mark.django_db
def test_seed_demo_refuses_a_server_outside_debug_unless_told(settings):
    # Given a server outside debug, where invented stories would pass for real ones,
    settings.DEBUG = False

    # it creates nothing,
    with pytest.raises(CommandError, match="cannot be told apart"):
        call_command("seed_demo", count=3, status="new")
    assert not Testimony.objects.exists()

    # unless it is told that this is a demo or benchmark server.
    call_command("seed_demo", count=3, status="new", outside_debug=True)
    assert Testimony.objects.count() == 3

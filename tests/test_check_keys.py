"""check_keys: the restore drill names every key id in use and proves it opens here."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from submissions.models import Testimony
from tests.conftest import new_testimony, use_keys


def store(text: str = "drill") -> Testimony:
    return new_testimony(text, text)


@pytest.mark.django_db
def test_the_drill_passes_when_every_key_opens(sealing_keys):
    for _ in range(4):
        store("SECRET-TEXT-never-printed")
    out = StringIO()

    call_command("check_keys", stdout=out)

    kid = sealing_keys.key_id.hex()
    assert f"story key id {kid}: 4 values, story key held, 3/3" in out.getvalue()
    assert f"campaign-text key id {kid}: 4 values, campaign-text key held, 3/3" in out.getvalue()
    assert "SECRET-TEXT" not in out.getvalue()


@pytest.mark.django_db
def test_the_drill_fails_and_names_a_key_whose_private_key_is_missing(settings, second_key_pair):
    store()
    # The restored server holds another key pair only.
    use_keys(settings, second_key_pair, second_key_pair)
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("check_keys", stdout=out)

    assert "story key MISSING" in out.getvalue()


@pytest.mark.django_db
def test_the_drill_fails_on_a_damaged_value():
    testimony = store()
    damaged = bytearray(testimony.sealed_text)
    damaged[-1] ^= 1
    Testimony.objects.filter(pk=testimony.pk).update(sealed_text=bytes(damaged))

    with pytest.raises(CommandError):
        call_command("check_keys", stdout=StringIO())

"""Key rotation: `manage.py rotate_keys` moves every sealed value to the active key.

Afterwards no value names the old key id, every value still opens to its original
text, a damaged or unopenable value is reported (and the command fails) without
stopping the others, and a row changed meanwhile is never overwritten.
"""

from __future__ import annotations

from io import StringIO
from uuid import UUID

import pytest
from django.core.management import CommandError, call_command

from submissions import crypto
from submissions.keys import keyring
from submissions.maintenance import compare_and_swap, rewrapped_row, rotate_keys
from submissions.models import AuditEvent, Testimony
from tests.conftest import KeyPair, new_testimony, use_keys, write_key_pair

# Where a testimony value's body (nonce + ciphertext) starts, after the wrapped data key.
BODY_START = crypto.HEADER_LENGTH + crypto.KEY_ID_LENGTH + crypto.WRAPPED_KEY_LENGTH

TEXTS_ON_OLD_KEY = [
    ("Ол мені ұрды, мен ешкімге айтпадым.", "Ол мені ұрды."),
    ("Он забирал мою зарплату каждый месяц. " * 40, None),  # longer than one 1 KiB bucket
    ("My manager wrote to me every night.", "A manager wrote every night."),
]
TEXTS_ON_NEW_KEY = [
    ("Көршілер бәрін естіді.", "Көршілер естіді."),
    ("Я ушла зимой с дочерью.", None),
]
# Values sealed to the old key: its three texts and two campaign texts.
VALUES_ON_OLD_KEY = 5


def create(text: str, campaign: str | None = None) -> Testimony:
    return new_testimony(text, campaign, language="kk")


def stored() -> dict[UUID, tuple[bytes, bytes | None]]:
    """Every record's sealed bytes, as the database holds them now."""
    return {
        record_id: (bytes(text), None if campaign is None else bytes(campaign))
        for record_id, text, campaign in Testimony.objects.values_list(
            "id", "sealed_text", "sealed_campaign_text"
        )
    }


def key_ids() -> set[bytes]:
    return {
        crypto.sealed_key_id(value)
        for values in stored().values()
        for value in values
        if value is not None
    }


def rotate(batch_size: int = 2) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rotate_keys", batch_size=batch_size, workers=1, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def originals(settings, key_pair, second_key_pair) -> dict[UUID, tuple[str, str | None]]:
    """Records sealed to the old key A and the new key B; then B active, both private
    keys loaded, as an operator configures a rotation. Maps ids to original texts."""
    texts = {}
    use_keys(settings, key_pair, key_pair)
    for text, campaign in TEXTS_ON_OLD_KEY:
        texts[create(text, campaign).id] = (text, campaign)
    use_keys(settings, second_key_pair, second_key_pair)
    for text, campaign in TEXTS_ON_NEW_KEY:
        texts[create(text, campaign).id] = (text, campaign)
    use_keys(settings, second_key_pair, second_key_pair, key_pair)
    return texts


@pytest.mark.django_db
@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_rotation_leaves_no_value_on_the_old_key(originals, key_pair, second_key_pair, batch_size):
    assert key_ids() == {key_pair.key_id, second_key_pair.key_id}

    rotate(batch_size)

    assert key_ids() == {second_key_pair.key_id}
    assert len(stored()) == len(originals)


@pytest.mark.django_db
def test_every_value_opens_to_its_original_text_with_the_new_key_alone(
    originals, settings, second_key_pair
):
    rotate()

    # Given only the new private key: the old one can now be retired
    use_keys(settings, second_key_pair, second_key_pair)
    for record in Testimony.objects.all():
        text, campaign = originals[record.id]
        assert record.open_text() == text
        assert record.open_campaign_text() == campaign


@pytest.mark.django_db
def test_rotation_rewraps_only_the_data_key_and_keeps_the_text_body(originals, key_pair):
    before = stored()

    rotate()

    after = stored()
    moved = [
        record_id
        for record_id, (text, _) in before.items()
        if crypto.sealed_key_id(text) == key_pair.key_id
    ]
    assert len(moved) == len(TEXTS_ON_OLD_KEY)
    for record_id in moved:
        old, new = before[record_id][0], after[record_id][0]
        assert new[BODY_START:] == old[BODY_START:]
        assert new[crypto.HEADER_LENGTH : BODY_START] != old[crypto.HEADER_LENGTH : BODY_START]


@pytest.mark.django_db
def test_rotation_moves_campaign_text_to_the_new_key(originals, key_pair, second_key_pair):
    before = stored()

    rotate()

    after = stored()
    old_campaigns = [
        record_id
        for record_id, (_, campaign) in before.items()
        if campaign is not None and crypto.sealed_key_id(campaign) == key_pair.key_id
    ]
    assert len(old_campaigns) == 2
    for record_id in old_campaigns:
        assert crypto.sealed_key_id(after[record_id][1]) == second_key_pair.key_id
        assert Testimony.objects.get(pk=record_id).open_campaign_text() == (originals[record_id][1])


@pytest.mark.django_db
def test_rotation_prints_how_many_values_moved_and_records_an_audit_event(
    originals, second_key_pair
):
    out, err = rotate()

    assert f"Moved {VALUES_ON_OLD_KEY} values to key id {second_key_pair.key_id.hex()}" in out
    assert err == ""
    event = AuditEvent.objects.get(action=AuditEvent.Action.ROTATED_KEYS)
    assert event.actor == "manage.py rotate_keys"
    assert event.detail == {
        "moved": VALUES_ON_OLD_KEY,
        "failed": 0,
        "to_key_id": second_key_pair.key_id.hex(),
    }


@pytest.mark.django_db
def test_a_second_rotation_moves_nothing_and_rewrites_nothing(originals):
    rotate()
    after_first = stored()

    out, _ = rotate()

    assert "Moved 0 values" in out
    assert stored() == after_first
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ROTATED_KEYS).count() == 2


@pytest.mark.django_db
def test_an_interrupted_rotation_resumes_where_it_stopped(originals, key_pair, second_key_pair):
    # Given a rotation that stopped after moving two records
    first_ids = [
        record_id
        for record_id, (text, _) in sorted(stored().items())
        if crypto.sealed_key_id(text) == key_pair.key_id
    ][:2]
    done = rotate_keys(keyring(), Testimony.objects.filter(id__in=first_ids), batch_size=1)
    assert done.moved >= 2
    kept = {record_id: values for record_id, values in stored().items() if record_id in first_ids}

    # When the command runs again
    out, _ = rotate()

    # Then it moves only what was left and does not touch what was done
    assert f"Moved {VALUES_ON_OLD_KEY - done.moved} values" in out
    assert {record_id: stored()[record_id] for record_id in first_ids} == kept
    assert key_ids() == {second_key_pair.key_id}


@pytest.fixture
def third_key_pair(tmp_path) -> KeyPair:
    return write_key_pair(tmp_path)


@pytest.mark.django_db
@pytest.mark.parametrize("problem", ["tampered body", "damaged header", "private key not loaded"])
def test_a_value_that_cannot_be_opened_fails_the_command_while_the_others_move(
    originals, settings, key_pair, second_key_pair, third_key_pair, problem
):
    # Given one more record on an old key that the rotation cannot open
    if problem in ("tampered body", "damaged header"):
        use_keys(settings, key_pair, key_pair)
        bad = create("Бұл мәтін бүлінеді.")
        tampered = bytearray(bad.sealed_text)
        tampered[-1 if problem == "tampered body" else 0] ^= 0x01
        Testimony.objects.filter(pk=bad.pk).update(sealed_text=bytes(tampered))
    else:
        use_keys(settings, third_key_pair, third_key_pair)
        bad = create("Бұл кілт жоқ.")
    use_keys(settings, second_key_pair, second_key_pair, key_pair)
    bad_before = stored()[bad.id]

    # When the rotation runs
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match=f"Moved {VALUES_ON_OLD_KEY} values") as failure:
        call_command("rotate_keys", batch_size=2, workers=1, stdout=out, stderr=err)

    # Then it says which record failed, leaves it as it was, and moved all the others
    assert "1 could not be opened; 1 records still name another key" in str(failure.value)
    assert f"cannot open {str(bad.id)[:8]}" in err.getvalue()
    assert stored()[bad.id] == bad_before
    others = {record_id: values for record_id, values in stored().items() if record_id != bad.id}
    assert {crypto.sealed_key_id(v) for values in others.values() for v in values if v} == {
        second_key_pair.key_id
    }
    event = AuditEvent.objects.get(action=AuditEvent.Action.ROTATED_KEYS)
    assert event.detail["moved"] == VALUES_ON_OLD_KEY
    assert event.detail["failed"] == 1


@pytest.mark.django_db
def test_rotation_does_not_overwrite_a_value_changed_meanwhile(settings, key_pair, second_key_pair):
    # Given a record read by the rotation while still on the old key...
    use_keys(settings, key_pair, key_pair)
    record = create("The first version.")
    stale = bytes(record.sealed_text)
    # ...and changed by someone else before the rotation writes it back
    record.seal_text("The second version.")
    record.save()
    changed = bytes(record.sealed_text)

    # When the rotation writes its re-wrapped copy of the stale bytes
    use_keys(settings, second_key_pair, second_key_pair, key_pair)
    ring = keyring()
    written = compare_and_swap("default", {record.id: rewrapped_row(ring, record.id, stale, None)})

    # Then the change stands, and the next run moves the changed value
    assert written == set()
    assert stored()[record.id] == (changed, None)
    rotate()
    assert Testimony.objects.get(pk=record.id).open_text() == "The second version."
    assert key_ids() == {second_key_pair.key_id}


def test_rotation_refuses_to_run_without_a_private_key(intake_only):
    with pytest.raises(CommandError, match="hold no story key"):
        rotate()


def test_rotation_refuses_a_batch_size_below_one():
    with pytest.raises(CommandError, match="at least 1"):
        rotate(batch_size=0)

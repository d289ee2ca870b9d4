"""Sealing: every way a sealed value can be wrong makes opening raise, never return text."""

from __future__ import annotations

import uuid

import pytest

from submissions import crypto
from submissions.keys import keyring
from submissions.models import CAMPAIGN_TEXT_FIELD, TEXT_FIELD, Testimony
from tests.conftest import new_testimony, use_keys

TEXT = "Мен бәрін айтқым келеді — I want to say everything 🌷"


def sealed_testimony(text: str = TEXT) -> Testimony:
    return new_testimony(text, text, save=False, language="kk")


def test_a_sealed_text_opens_to_exactly_what_was_sealed():
    testimony = sealed_testimony()

    assert testimony.open_text() == TEXT
    assert testimony.open_campaign_text() == TEXT
    assert TEXT.encode() not in bytes(testimony.sealed_text)


def test_sealing_the_same_text_twice_gives_different_bytes():
    first, second = sealed_testimony(), sealed_testimony()

    assert bytes(first.sealed_text) != bytes(second.sealed_text)


def test_the_header_names_the_active_key(sealing_keys):
    testimony = sealed_testimony()

    assert bytes(testimony.sealed_text).startswith(crypto.SEALED_V1 + sealing_keys.key_id)
    assert bytes(testimony.sealed_campaign_text).startswith(
        crypto.CAMPAIGN_V1 + sealing_keys.key_id
    )


@pytest.mark.parametrize("field", ["sealed_text", "sealed_campaign_text"])
def test_every_flipped_byte_makes_opening_raise(field):
    testimony = sealed_testimony()
    original = bytes(getattr(testimony, field))
    opener = testimony.open_text if field == "sealed_text" else testimony.open_campaign_text

    for position in range(0, len(original), 7):
        tampered = bytearray(original)
        tampered[position] ^= 0x01
        setattr(testimony, field, bytes(tampered))
        with pytest.raises(crypto.SealError):
            opener()


@pytest.mark.parametrize("length", [0, 3, 11, 40, 100, 1000])
def test_a_truncated_value_raises(length):
    testimony = sealed_testimony()
    testimony.sealed_text = bytes(testimony.sealed_text)[:length]
    testimony.sealed_campaign_text = bytes(testimony.sealed_campaign_text)[:length]

    with pytest.raises(crypto.SealError):
        testimony.open_text()
    with pytest.raises(crypto.SealError):
        testimony.open_campaign_text()


def test_a_value_moved_to_another_row_raises():
    # Given two records, when one's sealed text is copied into the other,
    # then it does not open there: the record id is bound into the value.
    first, second = sealed_testimony("first"), sealed_testimony("second")
    second.sealed_text = first.sealed_text
    second.sealed_campaign_text = first.sealed_campaign_text

    with pytest.raises(crypto.SealError):
        second.open_text()
    with pytest.raises(crypto.SealError):
        second.open_campaign_text()


def test_a_value_moved_to_another_field_raises():
    ring, record_id = keyring(), uuid.uuid4()
    sealed = ring.seal("text", record_id=record_id, field_name=TEXT_FIELD)
    campaign = ring.seal_campaign("text", record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD)

    with pytest.raises(crypto.SealError):
        ring.open(sealed, record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD)
    with pytest.raises(crypto.SealError):
        ring.open_campaign(campaign, record_id=record_id, field_name=TEXT_FIELD)
    # Each kind of value is refused by the other kind's opener too.
    with pytest.raises(crypto.SealError):
        ring.open(campaign, record_id=record_id, field_name=CAMPAIGN_TEXT_FIELD)
    with pytest.raises(crypto.SealError):
        ring.open_campaign(sealed, record_id=record_id, field_name=TEXT_FIELD)


def test_an_unknown_key_id_raises_and_names_it(settings, second_key_pair):
    testimony = sealed_testimony()
    use_keys(settings, second_key_pair, second_key_pair)

    with pytest.raises(crypto.UnknownKeyError) as raised:
        testimony.open_text()

    assert raised.value.key_id.hex() in str(raised.value)


def test_the_intake_role_cannot_open_anything(intake_only):
    testimony = Testimony(language="en", consent="quote")
    testimony.seal_text(TEXT)  # sealing needs only the public key

    with pytest.raises(crypto.NoPrivateKeyError):
        testimony.open_text()
    with pytest.raises(crypto.NoPrivateKeyError):
        testimony.seal_campaign_text(TEXT)
    assert not keyring().can_open


def test_a_one_character_and_a_900_character_text_seal_to_the_same_length():
    short, long = sealed_testimony("a"), sealed_testimony("a" * 900)

    assert len(bytes(short.sealed_text)) == len(bytes(long.sealed_text))
    assert len(bytes(short.sealed_campaign_text)) == len(bytes(long.sealed_campaign_text))


def test_longer_texts_grow_by_whole_buckets():
    lengths = {len(bytes(sealed_testimony("a" * n).sealed_text)) for n in (1, 1020, 1021, 2000)}

    assert sorted(lengths)[1] - sorted(lengths)[0] == crypto.BUCKET
    assert len(lengths) == 2


def test_an_error_message_never_contains_the_text():
    testimony = sealed_testimony("SECRET-WORDS")
    testimony.sealed_text = bytes(testimony.sealed_text)[:-1] + b"\0"

    with pytest.raises(crypto.SealError) as raised:
        testimony.open_text()

    assert "SECRET-WORDS" not in str(raised.value)
    assert "SECRET-WORDS" not in repr(raised.value)


def test_a_passphrase_protected_private_key_loads_only_with_its_passphrase():
    private_key = crypto.generate_private_key()
    pem = crypto.private_key_to_pem(private_key, b"correct horse battery")

    assert b"ENCRYPTED" in pem
    with pytest.raises(crypto.SealError):
        crypto.private_key_from_pem(pem, b"wrong passphrase!")
    with pytest.raises(crypto.SealError):
        crypto.private_key_from_pem(pem, None)
    loaded = crypto.private_key_from_pem(pem, b"correct horse battery")
    assert crypto.key_id(loaded.public_key()) == crypto.key_id(private_key.public_key())


@pytest.mark.parametrize(
    "text", ["", "short", "A" * 44, "QT5scxTa6XyTrpQx6Rzo2/kyL0Q5qeyJoP1bLVPe"]
)
def test_a_malformed_public_key_is_refused(text):
    with pytest.raises(crypto.SealError):
        crypto.public_key_from_text(text)

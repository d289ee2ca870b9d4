"""Redaction: the identifying details a pattern can find are found, and nothing else moves.

Every detected detail is checked in Kazakh, Russian and English sentences; the
suggested campaign text must differ from the original only where a detail was, and
ordinary numbers (years, ages, amounts, dates, hotlines) must come back untouched.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from submissions.redaction import (
    MARKERS,
    Finding,
    find_identifiers,
    highlight,
    is_valid_iin,
    passes_luhn,
    suggest_campaign_text,
)

# --- valid numbers, computed here rather than trusted from the module ------------------


def iin_control(first_eleven: str) -> int | None:
    digits = [int(ch) for ch in first_eleven]
    first = sum(weight * digit for weight, digit in zip(range(1, 12), digits, strict=True)) % 11
    if first != 10:
        return first
    second_weights = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]
    second = sum(weight * digit for weight, digit in zip(second_weights, digits, strict=True)) % 11
    return None if second == 10 else second


def make_iin(birth: str, century: int = 4, serial: int = 1234) -> str:
    """A valid IIN for a YYMMDD birth date: the first serial from ``serial`` that has one."""
    for candidate in range(serial, serial + 100):
        first_eleven = f"{birth}{century}{candidate:04d}"
        control = iin_control(first_eleven)
        if control is not None:
            return f"{first_eleven}{control}"
    raise AssertionError("no valid IIN in a hundred serials")


def with_wrong_control(iin: str) -> str:
    return iin[:11] + str((int(iin[11]) + 1) % 10)


def make_card(prefix: str, length: int = 16) -> str:
    """A number of ``length`` digits starting with ``prefix`` that passes the Luhn check."""
    body = prefix + "0" * (length - len(prefix) - 1)
    for control in "0123456789":
        number = body + control
        total = 0
        for position, ch in enumerate(reversed(number)):
            value = int(ch) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return number
    raise AssertionError("unreachable")


def grouped(number: str, sizes: tuple[int, ...], separator: str = " ") -> str:
    parts, position = [], 0
    for size in sizes:
        parts.append(number[position : position + size])
        position += size
    return separator.join(parts)


IIN_WOMAN_1990 = make_iin("900415", century=4)
IIN_MAN_1987 = make_iin("871130", century=3)
IIN_GIRL_2005 = make_iin("050301", century=6)
VISA = make_card("440043", 16)
MASTERCARD = make_card("5169", 16)
AMEX = make_card("3782", 15)
LONG_CARD = make_card("6250", 19)


def test_the_helpers_agree_with_the_module():
    assert all(is_valid_iin(iin) for iin in (IIN_WOMAN_1990, IIN_MAN_1987, IIN_GIRL_2005))
    assert not is_valid_iin(with_wrong_control(IIN_WOMAN_1990))
    assert all(passes_luhn(card) for card in (VISA, MASTERCARD, AMEX, LONG_CARD))
    assert passes_luhn("4111111111111111")
    assert not passes_luhn("4111111111111112")


# --- each kind, in each language -----------------------------------------------------

DETECTED = [
    # e-mail
    ("Маған aigerim.k@mail.ru поштасына жазыңыз", "email", "aigerim.k@mail.ru"),
    ("Пишите на aigerim.k@mail.ru", "email", "aigerim.k@mail.ru"),
    ("His e-mail is daniyar_1985+work@gmail.com.", "email", "daniyar_1985+work@gmail.com"),
    ("Его почта: почта@пример.рф, больше ничего", "email", "почта@пример.рф"),
    # phone
    ("Менің нөмірім +7 701 123 45 67, хабарласыңыз", "phone", "+7 701 123 45 67"),
    ("Оның нөмірі 87011234567 еді", "phone", "87011234567"),
    ("Звоните 8 701 123-45-67 вечером", "phone", "8 701 123-45-67"),
    ("Его номер +7(701)123-45-67.", "phone", "+7(701)123-45-67"),
    ("Домашний телефон 8 (727) 123 45 67, это Алматы", "phone", "8 (727) 123 45 67"),
    ("Рабочий +7 (7172) 55-12-34", "phone", "+7 (7172) 55-12-34"),
    ("Ол 701 123 45 67 нөмірінен қоңырау шалды", "phone", "701 123 45 67"),
    ("He called from +998 90 123 45 67 every night", "phone", "+998 90 123 45 67"),
    ("Her sister's number is +44 20 7946 0958.", "phone", "+44 20 7946 0958"),
    ("Call me on +1 (212) 555-0100, please", "phone", "+1 (212) 555-0100"),
    ("Бишкек: +996 555 123 456", "phone", "+996 555 123 456"),
    # IIN
    (f"Менің ЖСН {IIN_WOMAN_1990}, оны жариялаңыз", "iin", IIN_WOMAN_1990),
    (f"ИИН мужа {IIN_MAN_1987}.", "iin", IIN_MAN_1987),
    (f"His IIN is {IIN_GIRL_2005}", "iin", IIN_GIRL_2005),
    # card
    (f"Ол менің {grouped(VISA, (4, 4, 4, 4))} картамды алды", "card", grouped(VISA, (4, 4, 4, 4))),
    (f"Он забрал карту {VISA} и всё снял", "card", VISA),
    (
        f"Карта {grouped(MASTERCARD, (4, 4, 4, 4), '-')}.",
        "card",
        grouped(MASTERCARD, (4,) * 4, "-"),
    ),
    (f"He used my Amex {grouped(AMEX, (4, 6, 5))} twice", "card", grouped(AMEX, (4, 6, 5))),
    (
        f"Card {grouped(LONG_CARD, (4, 4, 4, 4, 3))} is hers",
        "card",
        grouped(LONG_CARD, (4,) * 4 + (3,)),
    ),
    # link
    ("Оның парақшасы instagram.com/aigerim_88 еді", "url", "instagram.com/aigerim_88"),
    ("Он писал мне с vk.com/id123, потом удалил", "url", "vk.com/id123"),
    (
        "Страница: https://www.facebook.com/daniyar.s?id=5).",
        "url",
        "https://www.facebook.com/daniyar.s?id=5",
    ),
    ("See www.example.org/about for the photo", "url", "www.example.org/about"),
    ("Канал t.me/aigerim_help, ол жабық", "url", "t.me/aigerim_help"),
    ("Сайт мектептің: мектеп.қаз", "url", "мектеп.қаз"),
    (
        "The article (https://en.wikipedia.org/wiki/Foo_(bar)) says it",
        "url",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
    ),
    # handle
    ("Инстаграмда @aigerim_88 деп жазылған", "handle", "@aigerim_88"),
    ("Его телеграм @daniyar.s.", "handle", "@daniyar.s"),
    ("She posted it as @Aigerim.K_1990 on Instagram", "handle", "@Aigerim.K_1990"),
    # address
    ("Ол Сәтбаев көшесі 22 мекенжайында тұрады", "address", "Сәтбаев көшесі 22"),
    ("Біз Абай даңғылы 10 үйде тұрдық", "address", "Абай даңғылы 10 үйде"),
    (
        "Мекенжайы: Қабанбай батыр даңғылы, 53 үй, 12 пәтер.",
        "address",
        "Қабанбай батыр даңғылы, 53 үй, 12 пәтер",
    ),
    ("Самал-2 ш/а, 58 үй", "address", "Самал-2 ш/а, 58 үй"),
    ("Ол 12-пәтерде тұрады", "address", "12-пәтерде"),
    ("Он живёт на ул. Абая 150", "address", "ул. Абая 150"),
    ("Адрес: улица Кенесары, д. 40, кв. 12.", "address", "улица Кенесары, д. 40, кв. 12"),
    ("Мы жили в мкр. Самал-2, д. 58, потом переехали", "address", "мкр. Самал-2, д. 58"),
    ("Офис на пр-т Достык 5/1, кв 3", "address", "пр-т Достык 5/1, кв 3"),
    ("Она снимала квартиру на пр. Абая 44", "address", "пр. Абая 44"),
    ("Он приходил в кв. 12 каждую ночь", "address", "кв. 12"),
    ("He lived at 12 Baker Street with his mother", "address", "12 Baker Street"),
    ("The shelter is at Abay Avenue 150, apt. 7.", "address", "Abay Avenue 150, apt. 7"),
    ("I stayed in flat 4 for a year", "address", "flat 4"),
]


def ids(table: list[tuple[str, ...]]) -> list[str]:
    return [f"{row[1]}-{index}" for index, row in enumerate(table)]


@pytest.mark.parametrize(("text", "kind", "detail"), DETECTED, ids=ids(DETECTED))
def test_each_kind_is_found_in_kazakh_russian_and_english(text, kind, detail):
    start = text.index(detail)

    assert find_identifiers(text) == [Finding(kind, start, start + len(detail), detail)]


@pytest.mark.parametrize(("text", "kind", "detail"), DETECTED, ids=ids(DETECTED))
def test_the_suggestion_replaces_exactly_the_detail(text, kind, detail):
    assert suggest_campaign_text(text) == text.replace(detail, MARKERS[kind], 1)


@pytest.mark.parametrize(("text", "kind", "detail"), DETECTED, ids=ids(DETECTED))
def test_highlight_marks_the_detail_and_rejoins_to_the_text(text, kind, detail):
    segments = highlight(text)

    assert "".join(segment for segment, _ in segments) == text
    assert [segment for segment, found in segments if found] == [detail]
    assert (detail, kind) in segments


def test_markers_are_the_same_whatever_the_language():
    assert MARKERS == {
        "email": "[email]",
        "phone": "[phone]",
        "iin": "[IIN]",
        "card": "[card]",
        "url": "[link]",
        "handle": "[handle]",
        "address": "[address]",
    }


def test_a_testimony_with_several_details_keeps_everything_else_byte_identical():
    text = (
        "Ол маған +7 701 123 45 67 нөмірінен жазды.\n"
        "Потом писал на aigerim.k@mail.ru и в instagram.com/aigerim_88 — с 2019 года.\n"
        f"He lives at ул. Абая 150, кв. 12; IIN {IIN_MAN_1987}, card {VISA}. I was 17."
    )

    assert suggest_campaign_text(text) == (
        "Ол маған [phone] нөмірінен жазды.\n"
        "Потом писал на [email] и в [link] — с 2019 года.\n"
        "He lives at [address]; IIN [IIN], card [card]. I was 17."
    )


# --- what must not be flagged --------------------------------------------------------


def test_an_iin_with_a_wrong_checksum_is_not_flagged():
    text = f"ИИН {with_wrong_control(IIN_WOMAN_1990)}"

    assert find_identifiers(text) == []


@pytest.mark.parametrize(
    "number",
    [
        "901315400123",  # month 13
        "900400400123",  # day 00
        "900415700123",  # seventh digit 7
    ],
)
def test_twelve_digits_without_a_birth_date_are_not_an_iin(number):
    control = iin_control(number[:11])
    candidate = number[:11] + str(control if control is not None else 0)

    assert find_identifiers(f"Номер {candidate}") == []


def test_an_iin_inside_a_longer_run_of_digits_is_not_an_iin():
    text = f"Счёт 1{IIN_WOMAN_1990}12345678"  # 21 digits: too long for a card too

    assert find_identifiers(text) == []


def test_a_card_number_failing_luhn_is_not_flagged():
    broken = VISA[:-1] + str((int(VISA[-1]) + 1) % 10)

    assert find_identifiers(f"Карта {grouped(broken, (4, 4, 4, 4))}") == []


def test_a_card_number_is_one_card_and_not_also_a_phone():
    card = make_card("8701123456", 16)
    text = f"Card {card}"

    assert [(f.kind, f.text) for f in find_identifiers(text)] == [("card", card)]


def test_a_link_with_an_email_inside_is_one_link():
    link = "https://mail.ru/compose?to=aigerim.k@mail.ru"

    assert [(f.kind, f.text) for f in find_identifiers(f"Он прислал {link} вчера")] == [
        ("url", link)
    ]


def test_the_at_sign_of_an_email_is_not_a_handle():
    assert [f.kind for f in find_identifiers("aigerim.k@mail.ru, @aigerim")] == [
        "email",
        "handle",
    ]


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("(+44 20 7946 0958)", "+44 20 7946 0958"),
        ("+998 90 123 45 67 (0", "+998 90 123 45 67"),  # found by hypothesis
    ],
)
def test_a_phone_number_stops_before_a_bracket_it_does_not_close(text, phone):
    assert [(f.kind, f.text) for f in find_identifiers(text)] == [("phone", phone)]


def test_overlapping_matches_merge_so_no_part_is_left_behind():
    # "0958 Baker Street" (an address) overlaps the end of the phone number.
    text = "+44 20 7946 0958 Baker Street"

    assert find_identifiers(text) == [Finding("address", 0, len(text), text)]


UNCHANGED = [
    # years
    "В 2023 году он ушёл, а в 1998 я родилась.",
    "2018 жылы ол мені ұрды.",
    "It started in 2015 and lasted until 2020.",
    "В 2019-2020 годах я жила у мамы.",
    # ages
    "I was 17 when it started.",
    "Мне было 23 года, ему 45.",
    "Мен 17 жаста едім.",
    "Это было 8 марта, мне было 8 лет.",
    # counts and amounts
    "We had 3 children.",
    "Он забирал 50 000 тенге каждый месяц.",
    "Ол 5000 тг берді.",
    "He took 50,000 tenge and 1 200 000 tg in debts.",
    "Квартира 45 кв. м, 3 комнаты, 2 этажа.",
    "Our flat 60 sq m was too small.",
    "Үйде 3 пәтер бар.",
    # dates and times
    "Это случилось 10.12.2023 в 23:59.",
    "15.03.2021 күні, сағат 07:30.",
    "It was on 10 December, 10 декабря, 10 желтоқсан.",
    # hotlines and percentages
    "Позвоните 102, 112, 150 или 1409.",
    "Call 112 or 150; 100% of us were afraid.",
    "Сенім телефоны: 150. Полиция: 102.",
    # sentences with dots, abbreviations, ordinary words
    "Я пришла дома.Потом он ушёл.",
    "Она сказала: «Иди домой».Потом ушла.",
    "И т.д. и т.п., т.е. ничего, и пр. Потом всё.",
    "St. Petersburg, Dr. Smith, e.g. at 5 p.m.",
    "На улице было темно. My flat was small. The street was empty.",
    "Мы жили на 5 этаже, в доме 5 комнат.",
    "Приказ №45, статья 109 УК РК, версия 2.0.1, рост 1.65.",
    "He wrote to me at night, but I did not answer.",
    "Мен оған @ белгісін көрсеттім.",
    "She said @10 o'clock, at 10.",
    "",
]


@pytest.mark.parametrize("text", UNCHANGED)
def test_ordinary_numbers_and_sentences_come_back_unchanged(text):
    assert find_identifiers(text) == []
    assert suggest_campaign_text(text) == text
    assert highlight(text) == ([(text, None)] if text else [])


# --- robustness ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "1 " * 5000,
        "a@" * 5000,
        "a." * 5000,
        "@a." * 3333,
        "+1 " * 3333,
        "8 (" * 3333,
        "1234 " * 2000,
        "ул. Абая " * 1000,
        "1 Abc " * 1600,
        "http://a" + ")" * 10000,
        "x" * 10000 + "@mail.ru",
        "7" * 10000,
        " " * 10000,
    ],
    ids=lambda text: repr(text[:8]),
)
def test_long_adversarial_input_completes(text):
    assert "".join(segment for segment, _ in highlight(text)) == text
    suggest_campaign_text(text)


FRAGMENTS = st.sampled_from(
    [
        " ",
        ".",
        ",",
        "-",
        "(",
        ")",
        "+",
        "@",
        "/",
        "№",
        "\n",
        "1",
        "7",
        "8",
        "12",
        "150",
        "2023",
        "ул. ",
        "Абая ",
        "көшесі ",
        "даңғылы ",
        "кв. ",
        "д. ",
        "Street ",
        "flat ",
        "www.",
        "http://",
        ".kz",
        ".com",
        "mail",
        ".рф",
        "aigerim",
        "_88",
        "+7 ",
        "8 701 ",
        "4400 ",
        "ә",
        "Қ",
        "I was ",
        "жаста ",
    ]
)
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=3)), max_size=200).map("".join),
)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_any_text_splits_and_rejoins_exactly(text):
    findings = find_identifiers(text)

    assert "".join(segment for segment, _ in highlight(text)) == text
    assert all(f.start < f.end and text[f.start : f.end] == f.text for f in findings)
    assert all(a.end <= b.start for a, b in pairwise(findings))
    assert all(f.kind in MARKERS for f in findings)
    assert isinstance(suggest_campaign_text(text), str)


def repeated_to_10000_characters(text: str) -> str:
    return (text * (10_000 // len(text) + 1))[:10_000] if text else text


@settings(max_examples=50, deadline=None)
@given(TEXTS.map(repeated_to_10000_characters))
def test_long_repetitive_text_completes(text):
    assert "".join(segment for segment, _ in highlight(text)) == text


DIGIT = st.sampled_from("0123456789")


def digits(count: int) -> st.SearchStrategy[str]:
    return st.lists(DIGIT, min_size=count, max_size=count).map("".join)


PHONES = st.one_of(
    st.tuples(st.sampled_from("012345678"), digits(7)).map(
        lambda p: f"+7 70{p[0]} {p[1][:3]} {p[1][3:5]} {p[1][5:]}"
    ),
    digits(10).map(lambda d: f"8{d}"),
    digits(10).map(lambda d: f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"),
    digits(9).map(lambda d: f"+998 {d[:2]} {d[2:5]} {d[5:7]} {d[7:]}"),
)
EMAILS = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[a-z][a-z0-9._+-]{0,15}", fullmatch=True),
    st.from_regex(r"[a-zа-я][a-zа-я0-9-]{0,10}[a-zа-я0-9]", fullmatch=True),
    st.sampled_from(["kz", "ru", "com", "org", "рф"]),
)


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.one_of(PHONES, EMAILS), TEXTS)
def test_an_inserted_email_or_phone_never_reaches_the_suggestion(before, detail, after):
    assume(detail not in before + after)
    text = f"{before} {detail} {after}"
    start = len(before) + 1

    assert any(f.start <= start and start + len(detail) <= f.end for f in find_identifiers(text))
    assert detail not in suggest_campaign_text(text)

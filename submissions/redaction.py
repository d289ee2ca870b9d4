"""Finding the identifying details a machine can find reliably in a testimony.

Threat: a detail left in a published testimony (a phone number, an IIN, a card
number, an address, a profile link) can identify the survivor or the abuser, and
identifying either can put her in danger. Before a testimony is used in a campaign a
moderator removes such details; this module points at the ones that follow a pattern
and suggests a copy with each replaced by a neutral marker.

It finds patterns, not meaning. Names, places, workplaces, relationships and the
story itself can identify someone just as well, and only a person reading the text
can judge them: the moderator remains responsible for the campaign text.

What is found (``Finding.kind``):

- ``email``: e-mail addresses, including Cyrillic ones (``почта@пример.рф``);
- ``phone``: Kazakhstan and Russia numbers (``+7 701 123 45 67``, ``8 (727) 123 45 67``,
  ``87011234567``, ``701 123 45 67``) and international ``+<country code>`` numbers;
- ``iin``: 12-digit Kazakhstan IINs with a plausible birth date and a valid checksum;
- ``card``: 13 to 19 digit payment card numbers that pass the Luhn check;
- ``url``: links with a scheme, ``www.``, or a bare domain under a common TLD;
- ``handle``: social media handles (``@aigerim_88``);
- ``address``: a street word with a name and house number, and flat numbers, in
  Russian, Kazakh and English (``ул. Абая 150, кв. 12``, ``Сәтбаев көшесі 22``,
  ``12 Baker Street``, ``flat 4``). This one is a heuristic.

Matches that overlap are merged into one finding named after the longest (then most
specific) of them, so that no part of a detected detail is left behind.

This module knows nothing about Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MARKERS",
    "Finding",
    "find_identifiers",
    "highlight",
    "iin_check_digit",
    "is_valid_iin",
    "passes_luhn",
    "suggest_campaign_text",
]

MARKERS: dict[str, str] = {
    "email": "[email]",
    "phone": "[phone]",
    "iin": "[IIN]",
    "card": "[card]",
    "url": "[link]",
    "handle": "[handle]",
    "address": "[address]",
}

# When two matches of the same length overlap, the earlier kind names the finding.
_SPECIFICITY = ("card", "iin", "email", "url", "phone", "handle", "address")


@dataclass(frozen=True)
class Finding:
    """One detail: its kind (a key of ``MARKERS``) and where it is, ``text[start:end]``."""

    kind: str
    start: int
    end: int
    text: str


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.UNICODE | re.VERBOSE)


# Every quantifier below is either bounded or separated from its neighbours by a
# character it cannot match, so a failing match backtracks linearly: testimony text
# is untrusted input and can be long.

# --- e-mail -------------------------------------------------------------------------

_DOMAIN = r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}(?!\w)"

_EMAIL = _compile(
    rf"""
    (?<![\w.+-])          # start of the local part, not its middle
    [\w+-][\w.+-]{{0,63}}
    @{_DOMAIN}
    """
)

# --- phone --------------------------------------------------------------------------

# Kazakhstan and Russia share +7. After the prefix come ten digits: a three or four
# digit area code (optionally in parentheses) and the subscriber number, grouped by
# single spaces, dashes or dots. Fixing the shapes keeps dates and amounts out.
_SEP = r"[ .\-\u00a0]?"
_TEN_DIGITS = rf"""
    (?: (?:\(\s?\d{{3}}\s?\)|\d{{3}}) {_SEP} \d{{3}} {_SEP} \d{{2}} {_SEP} \d{{2}}
      | (?:\(\s?\d{{4}}\s?\)|\d{{4}}) {_SEP} \d{{2}} {_SEP} \d{{2}} {_SEP} \d{{2}}
    )
"""

_PHONE_NATIONAL = _compile(
    rf"""
    (?<![\d+])
    (?: (?:\+\s?7|8|7(?=[ .\-\u00a0]?\(?7)) [ .\-\u00a0]?\s? {_TEN_DIGITS}   # +7/8/7, ten digits
      | (?:\(7[0-8]\d\)|7[0-8]\d) {_SEP} \d{{3}} {_SEP} \d{{2}} {_SEP} \d{{2}}   # mobile
    )
    (?!\d)
    """
)

# Any other country: "+", then 8 to 15 digits in all (E.164), each optionally
# preceded by a separator; a separator is at most ")", one space/dash/dot, "(".
_PHONE_INTERNATIONAL = _compile(
    r"""
    (?<![\w+])
    \+[1-689]
    (?:\)?[ .\-\u00a0]?\(?\d){7,14}
    (?!\d)
    """
)

_PHONE_SEPARATORS = " .-\u00a0("
_PHONE_MIN_DIGITS = 8

# --- IIN ----------------------------------------------------------------------------

_IIN = _compile(r"(?<!\d)\d{12}(?!\d)")

_IIN_WEIGHTS_FIRST = tuple(range(1, 12))
_IIN_WEIGHTS_SECOND = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def iin_check_digit(first_eleven: str) -> int | None:
    """The IIN control digit for eleven digits, or None if no digit makes them valid."""
    digits = [int(ch) for ch in first_eleven]
    check = sum(w * d for w, d in zip(_IIN_WEIGHTS_FIRST, digits, strict=True)) % 11
    if check == 10:
        check = sum(w * d for w, d in zip(_IIN_WEIGHTS_SECOND, digits, strict=True)) % 11
    return None if check == 10 else check


def is_valid_iin(digits: str) -> bool:
    """Twelve digits: birth date YYMMDD, century and sex digit 0-6, valid control digit."""
    if len(digits) != 12 or not digits.isdigit():
        return False
    month, day, century = int(digits[2:4]), int(digits[4:6]), int(digits[6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and century <= 6):
        return False
    return iin_check_digit(digits[:11]) == int(digits[11])


# --- payment card -------------------------------------------------------------------

_CARD = _compile(
    r"""
    (?<!\d)
    (?: \d{13,19}
      | \d{4}(?P<sep>[ \-])\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{3})?   # 4-4-4-4(-3)
      | \d{4}[ \-]\d{6}[ \-]\d{5}                                              # Amex 4-6-5
    )
    (?!\d)
    """
)


def passes_luhn(digits: str) -> bool:
    """The Luhn check that every payment card number satisfies."""
    total = 0
    for position, ch in enumerate(reversed(digits)):
        value = int(ch)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# --- links --------------------------------------------------------------------------

_TLDS = ("kz", "ru", "com", "org", "net", "uz", "kg", "tj", "tm", "su", "me", "io", "info")
_TLDS_CYRILLIC = ("рф", "қаз")
# Only all-lower or all-upper TLDs: "дома.Потом" is a missing space, not a domain.
_TLD = "|".join(
    sorted({t for tld in _TLDS + _TLDS_CYRILLIC for t in (tld, tld.upper())}, key=len, reverse=True)
)
_URL_TAIL = r"""[^\s<>"'«»]"""

_URL = _compile(
    rf"""
    (?: (?i:https?://|www\.) \w {_URL_TAIL}*
      | (?<![\w.@-])                         # not the middle of a name or an e-mail
        (?:[^\W_](?:[\w-]{{0,61}}[^\W_])?\.)+
        (?:{_TLD})(?![\w-])
        (?:[/?\#]{_URL_TAIL}*)?
    )
    """
)

_URL_TRAILING = ".,;:!?'\"»…"

# --- handle -------------------------------------------------------------------------

_HANDLE = _compile(
    r"""
    (?<![\w.+@-])       # an "@" after a word character belongs to an e-mail
    @\w[\w.]{0,28}\w
    (?![\w@])
    """
)

# --- address ------------------------------------------------------------------------

_UPPER = "A-ZА-ЯЁӘҒҚҢӨҰҮҺІ"
_NAME_WORD = rf"[{_UPPER}][\w'’-]{{0,30}}"
# Kazakh and Russian street names often carry a lowercase title: Қабанбай батыр, Төле би.
_TITLE = r"(?:батыр[аеу]?|би|ақын|хан[аеу]?)(?!\w)"
_NAME = rf"{_NAME_WORD}(?:[ \u00a0](?:{_NAME_WORD}|{_TITLE})){{0,2}}"
_NUMBERED_NAME = rf"\d{{1,3}}(?:-?[а-яa-z])?(?!\w)(?:[ \u00a0]{_NAME_WORD})?"
# Pronouns, articles and prepositions that begin a sentence before a street name.
_NOT_A_NAME = r"""
    (?!(?:Мен|Менің|Біз|Біздің|Ол|Оның|Олар|Сен|Сіз|Бұл|Сол|Я|Мы|Он|Она|Они|Мой|Моя|Наш|Наша
        |Это|В|На|I|We|He|She|They|My|Our|His|Her|Their|The|This|That|In|On|At|Near)(?!\w))
"""

# A Kazakh case ending on "үй" (house), "пәтер" (flat), "қабат" (floor): 53 үйде, 12 пәтерде.
_KZ_CASE = r"[^\W\d_]{0,5}(?!\w)"
_HOUSE = r"№?\s?\d{1,4}(?!\d)(?:\s?/\s?\d{1,4}(?!\d)|-?[а-яёәa-zА-ЯЁӘA-Z](?!\w))?"
_GAP = r"\s{0,3},?\s{0,3}"
# Words that number a flat or house; alone they still identify one ("кв. 12", "flat 4").
_FLAT_WORD = r"""
    (?i: д\. | дом(?!\w) | кв(?:\.|(?!\w)) | квартир[аеуы](?!\w) | үй(?!\w) | пәтер(?!\w)
       | apartment(?!\w) | apt(?:\.|(?!\w)) | flat(?!\w)
    )
"""
# Words that only narrow an address down once a street or flat is named.
_PART_WORD = r"""
    (?i: корп(?:\.|(?!\w)) | корпус(?!\w) | подъезд(?!\w) | эт\. | этаж(?!\w) | блок(?!\w)
       | unit(?!\w) | suite(?!\w) | bldg(?:\.|(?!\w)) | building(?!\w)
    )
"""
_NUMBER_SIGN = r"(?:\#|(?i:no)\.?\s?)?"
_UNIT = rf"""
    (?: (?:{_FLAT_WORD}|{_PART_WORD}) \s? {_NUMBER_SIGN} {_HOUSE}
      | {_HOUSE} \s?-?\s? (?i:үй|пәтер|қабат){_KZ_CASE}
    )
"""
# "квартира 45 кв. м" is a floor area, not flat 45.
_NOT_AN_AREA = r"(?!\s?(?i:кв\.?\s?м|м²|м2|m²|sq\.?\s?m|sq\.?\s?ft)(?!\w))"
# Alone, a number needs its word before it or a hyphen: "3 пәтер" is also "three flats".
_FLAT = rf"""
    (?: {_FLAT_WORD} \s? {_NUMBER_SIGN} {_HOUSE} {_NOT_AN_AREA}
      | {_HOUSE} \s?-\s? (?i:үй|пәтер){_KZ_CASE}
    )
"""
_TAIL = rf"(?:{_GAP}{_HOUSE}(?:\s?-?\s?(?i:үй){_KZ_CASE})?)?(?:{_GAP}{_UNIT}){{0,3}}"

_RU_STREET = r"""
    (?i: ул(?:\.|(?!\w)) | улиц(?:а|е|у|ы|ей)(?!\w)
       | пр-к?т(?:\.|(?!\w)) | просп\. | проспект(?:а|е|у|ом)?(?!\w)
       | мкрн?(?:\.|(?!\w)) | м-н(?!\w) | микрорайон(?:а|е|у|ом)?(?!\w)
       | переул(?:ок|ка|ке|ком)(?!\w) | б-р(?!\w) | бульвар(?:а|е|у|ом)?(?!\w)
    )
"""
# Abbreviations that also mean something else ("и пр." is "etc."): only with a number.
_RU_STREET_AMBIGUOUS = r"(?i: пр\. | пер\. )"

_KZ_STREET = r"""
    (?i: көше(?:сі|сінде|сіндегі|сіне|сінен)?(?!\w)
       | даңғыл(?:ы|ында|ындағы)?(?!\w)
       | шағын[ ]?аудан(?:ы|ында|ындағы)?(?!\w) | ш/а(?!\w)
       | ықшам[ ]?аудан(?:ы|ында)?(?!\w) | мөлтек[ ]?аудан(?:ы|ында)?(?!\w)
    )
"""

_EN_STREET = r"""
    (?i: street | st\.? | avenue | ave\.? | road | rd\.? | lane | boulevard | blvd\.?
       | highway | square | sq\.? )(?![\w])
"""
_EN_NAME = rf"(?:{_NAME_WORD}|\d{{1,3}}(?:st|nd|rd|th))"

_ADDRESS = _compile(
    rf"""
    (?<!\w)
    (?: {_RU_STREET} \s{{0,2}} (?:{_NAME}|{_NUMBERED_NAME}) {_TAIL}
      | {_RU_STREET_AMBIGUOUS} \s{{0,2}} {_NAME} {_GAP} {_HOUSE} (?:{_GAP}{_UNIT}){{0,3}}
      | {_NOT_A_NAME} (?:{_NAME}|\d{{1,3}}) (?:\s|\s?-\s?) {_KZ_STREET} {_TAIL}
      | \d{{1,5}}[a-zA-Z]?,?\s (?:{_EN_NAME}\s){{1,3}} {_EN_STREET} (?:{_GAP}{_UNIT}){{0,3}}
      | {_NOT_A_NAME} (?:{_EN_NAME}\s){{1,3}} {_EN_STREET} {_GAP} {_HOUSE}
        (?:{_GAP}{_UNIT}){{0,3}}
      | {_FLAT} (?:{_GAP}{_UNIT}){{0,3}}
    )
    """
)

# --- finding ------------------------------------------------------------------------


_BRACKETS = {")": "(", "]": "["}


def _trim_url(text: str, start: int, end: int) -> int:
    """Drop sentence punctuation after a link, and closing brackets it did not open."""
    unopened = {
        close: text.count(close, start, end) - text.count(open_, start, end)
        for close, open_ in _BRACKETS.items()
    }
    while end > start:
        last = text[end - 1]
        if last in _URL_TRAILING:
            end -= 1
        elif last in _BRACKETS and unopened[last] > 0:
            unopened[last] -= 1
            end -= 1
        else:
            break
    return end


def _close_brackets(text: str, start: int, end: int) -> int:
    """Cut an international number before a bracket it does not close: "+44 20 7946 (0"."""
    unclosed: int | None = None
    for position in range(start, end):
        bracket = text[position]
        if bracket == "(" and unclosed is None:
            unclosed = position
        elif bracket == ")" and unclosed is not None:
            unclosed = None
        elif bracket in "()":
            end = position
            break
    if unclosed is not None:
        end = unclosed
    while end > start and text[end - 1] in _PHONE_SEPARATORS:
        end -= 1
    digit_count = sum(ch.isdigit() for ch in text[start:end])
    return end if digit_count >= _PHONE_MIN_DIGITS else start


def _candidates(text: str) -> list[Finding]:
    found: list[Finding] = []

    def add(kind: str, start: int, end: int) -> None:
        if end > start:
            found.append(Finding(kind, start, end, text[start:end]))

    for m in _EMAIL.finditer(text):
        add("email", m.start(), m.end())
    for m in _PHONE_NATIONAL.finditer(text):
        add("phone", m.start(), m.end())
    for m in _PHONE_INTERNATIONAL.finditer(text):
        add("phone", m.start(), _close_brackets(text, m.start(), m.end()))
    for m in _IIN.finditer(text):
        if is_valid_iin(m.group()):
            add("iin", m.start(), m.end())
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        # Sixteen zeros pass the Luhn check too, and are nobody's card.
        if passes_luhn(digits) and digits.strip("0"):
            add("card", m.start(), m.end())
    for m in _URL.finditer(text):
        add("url", m.start(), _trim_url(text, m.start(), m.end()))
    for m in _HANDLE.finditer(text):
        if not m.group()[1:].replace(".", "").isdigit():
            add("handle", m.start(), m.end())
    for m in _ADDRESS.finditer(text):
        add("address", m.start(), m.end())
    return found


def _rank(finding: Finding) -> tuple[int, int]:
    return (finding.end - finding.start, -_SPECIFICITY.index(finding.kind))


def find_identifiers(text: str) -> list[Finding]:
    """Identifying details in ``text``: sorted by start, never overlapping.

    Overlapping matches merge into one finding that spans them all and takes the kind
    of the longest (then the most specific): a link that contains an e-mail-like part
    is one link, a card number is not also a phone.
    """
    clusters: list[list[Finding]] = []
    cluster_end = -1
    for candidate in sorted(_candidates(text), key=lambda f: f.start):
        if clusters and candidate.start < cluster_end:
            clusters[-1].append(candidate)
            cluster_end = max(cluster_end, candidate.end)
        else:
            clusters.append([candidate])
            cluster_end = candidate.end
    findings = []
    for cluster in clusters:
        start, end = cluster[0].start, max(f.end for f in cluster)
        findings.append(Finding(max(cluster, key=_rank).kind, start, end, text[start:end]))
    return findings


def highlight(text: str) -> list[tuple[str, str | None]]:
    """``text`` cut into segments, each with its finding's kind or None; they join to it.

    Segments are raw text: the caller escapes each one before wrapping findings in
    ``<mark>``.
    """
    segments: list[tuple[str, str | None]] = []
    position = 0
    for finding in find_identifiers(text):
        if finding.start > position:
            segments.append((text[position : finding.start], None))
        segments.append((finding.text, finding.kind))
        position = finding.end
    if position < len(text):
        segments.append((text[position:], None))
    return segments


def suggest_campaign_text(text: str) -> str:
    """``text`` with every finding replaced by its marker (``[phone]``, ``[address]``…).

    A suggestion for the moderator, who still reads the whole text for names and
    context before approving it.
    """
    return "".join(segment if kind is None else MARKERS[kind] for segment, kind in highlight(text))

"""The Kazakh and Russian pages are whole: every string translated, compiled and shown,
and nothing stale kept (no entry that no source marks, no obsolete one).

The compiled .mo files are committed next to their .po files, so `make run` and
`make test` need no GNU gettext. These tests need none either: they read both file
formats themselves. After adding or changing a translatable string, run
`make messages` (needs gettext), translate what it added, and commit both files.
"""

from __future__ import annotations

import ast
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.cache import caches
from django.test import Client
from django.utils import timezone, translation

from tests.servers import hidden

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("kk", "ru")
# Kazakh as in Django's own kk catalog; Russian with its three forms (1, 2-4, 5-20).
PLURAL_FORMS = {
    "kk": "nplurals=2; plural=(n!=1);",
    "ru": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && "
    "(n%100<10 || n%100>=20) ? 1 : 2);",
}
HINT = "run `make messages`, translate the new entries and commit the .po and .mo files"
PLACEHOLDER = re.compile(r"%%|%\(\w+\)\w|%\w")

pytestmark = pytest.mark.django_db


# --- Reading the catalogs ------------------------------------------------------------------


@dataclass
class Entry:
    line: int
    flags: set[str]
    context: str | None = None
    msgid: str = ""
    plural: str | None = None
    strings: dict[int, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return self.context, self.msgid, self.plural


def read_po(path: Path) -> list[Entry]:
    """The live entries of a .po file (obsolete ``#~`` entries are not compiled)."""
    entries: list[Entry] = []
    flags: set[str] = set()
    keyword = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#,"):
            flags |= {flag.strip() for flag in line[2:].split(",")}
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith('"'):
            new_keyword, line = line.split(" ", 1)
            if new_keyword in ("msgctxt", "msgid") and keyword != "msgctxt":
                entries.append(Entry(number, flags))
                flags = set()
            keyword = new_keyword
        value, entry = ast.literal_eval(line), entries[-1]
        if keyword == "msgctxt":
            entry.context = (entry.context or "") + value
        elif keyword == "msgid":
            entry.msgid += value
        elif keyword == "msgid_plural":
            entry.plural = (entry.plural or "") + value
        else:
            index = int(keyword[7:-1]) if keyword.startswith("msgstr[") else 0
            entry.strings[index] = entry.strings.get(index, "") + value
    return entries


def read_mo(path: Path) -> dict[tuple[str | None, str, str | None], list[str]]:
    """A compiled catalog, as GNU gettext lays it out: (context, msgid, plural) -> forms."""
    data = path.read_bytes()
    order = "<" if data[:4] == b"\xde\x12\x04\x95" else ">"
    _, count, originals, translations = struct.unpack(order + "4I", data[4:20])
    catalog = {}
    for index in range(count):
        strings = []
        for table in (originals, translations):
            length, offset = struct.unpack_from(order + "2I", data, table + 8 * index)
            strings.append(data[offset : offset + length].decode("utf-8"))
        context, _, msgids = strings[0].rpartition("\x04")
        msgid, _, plural = msgids.partition("\x00")
        catalog[context or None, msgid, plural or None] = strings[1].split("\x00")
    return catalog


def po_path(language: str) -> Path:
    return ROOT / "locale" / language / "LC_MESSAGES" / "django.po"


def header(entries: list[Entry]) -> dict[str, str]:
    text = next(entry for entry in entries if entry.key == (None, "", None)).strings[0]
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


# --- What the sources mark for translation ---------------------------------------------------

SINGULAR = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy"}
CONTEXTUAL = {"pgettext", "pgettext_lazy", "npgettext", "npgettext_lazy"}
TRANSLATE_TAG = re.compile(r"""{%\s*trans(?:late)?\s+(["'])(.*?)\1([^%]*)%}""")
BLOCK_TAG = re.compile(
    r"{%\s*blocktrans(?:late)?\b([^%]*)%}(.*?){%\s*endblocktrans(?:late)?\s*%}", re.S
)
CONTEXT_OPTION = re.compile(r"""\bcontext\s+(["'])(.*?)\1""")
FILTER_ARGUMENT = re.compile(r"""\b_\(\s*(["'])(.*?)\1\s*\)""")


def source_files(*suffixes: str) -> list[Path]:
    """The files makemessages reads (`make messages` ignores .venv, tests and bench)."""
    found = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith(".") and name not in ("tests", "bench")
        ]
        found += [Path(folder, name) for name in names if Path(name).suffix in suffixes]
    return sorted(found)


def python_messages(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", None))
        texts = [arg.value if isinstance(arg, ast.Constant) else None for arg in node.args]
        plural = name in {"ngettext", "ngettext_lazy", "npgettext", "npgettext_lazy"}
        context = None
        if name in CONTEXTUAL:
            context, texts = texts[0] if texts else None, texts[1:]
        if name in SINGULAR | CONTEXTUAL and texts and isinstance(texts[0], str):
            yield context, texts[0], texts[1] if plural else None


def block_text(text: str, trimmed: bool) -> str:
    if trimmed:
        text = " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return re.sub(r"{{\s*(\w+)\s*}}", r"%(\1)s", text.replace("%", "%%"))


def template_messages(path: Path):
    text = path.read_text(encoding="utf-8")
    for _, msgid, options in TRANSLATE_TAG.findall(text):
        context = CONTEXT_OPTION.search(options)
        yield context and context.group(2), msgid.replace("%", "%%"), None
    for options, body in BLOCK_TAG.findall(text):
        context = CONTEXT_OPTION.search(options)
        parts = [
            block_text(part, "trimmed" in options) for part in re.split(r"{%\s*plural\s*%}", body)
        ]
        yield context and context.group(2), parts[0], parts[1] if len(parts) > 1 else None
    for tag in re.findall(r"{{.*?}}|{%.*?%}", text, re.S):
        for _, msgid in FILTER_ARGUMENT.findall(tag):
            yield None, msgid, None


def marked_in_the_sources() -> dict[tuple[str | None, str, str | None], Path]:
    """Every message the sources mark for translation, with a file that marks it."""
    return {
        message: path.relative_to(ROOT)
        for path in source_files(".py")
        for message in python_messages(path)
    } | {
        message: path.relative_to(ROOT)
        for path in source_files(".html", ".txt")
        for message in template_messages(path)
    }


def test_every_string_marked_in_the_sources_is_in_both_catalogs():
    marked = marked_in_the_sources()
    assert len(marked) > 100, "the extraction found too little to be trusted"
    for language in LANGUAGES:
        keys = {entry.key for entry in read_po(po_path(language))}
        missing = [
            f"{where}: {message[1]!r}" for message, where in marked.items() if message not in keys
        ]
        assert not missing, f"not in locale/{language}; {HINT}:\n" + "\n".join(missing)


def stale_entries(path: Path, marked: Iterable[tuple[str | None, str, str | None]]) -> list[str]:
    """Entries of a .po file that no source marks any more, and obsolete (``#~``) ones:
    what `makemessages --no-obsolete` would drop."""
    live = set(marked) | {(None, "", None)}
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    stale = [
        f"{where}:{entry.line} is in no source: {entry.msgid!r}"
        for entry in read_po(path)
        if entry.key not in live
    ]
    lines = path.read_text(encoding="utf-8").splitlines()
    return stale + [
        f"{where}:{number} is obsolete: {line}"
        for number, line in enumerate(lines, 1)
        if line.startswith("#~ msgid ")
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_entry_is_stale(language):
    stale = stale_entries(po_path(language), marked_in_the_sources())

    assert not stale, f"{HINT} (it drops them):\n" + "\n".join(stale)


def test_a_sentence_no_source_says_and_an_obsolete_one_are_stale(tmp_path):
    catalog = tmp_path / "django.po"
    catalog.write_text(
        po_path("kk").read_text(encoding="utf-8")
        + '\n#: templates/gone.html:1\nmsgid "No page says this any more"\nmsgstr "Ескі"\n'
        + '\n#~ msgid "Obsolete"\n#~ msgstr "Ескірген"\n',
        encoding="utf-8",
    )

    stale = stale_entries(catalog, marked_in_the_sources())

    assert [line.split(" ", 1)[1] for line in stale] == [
        "is in no source: 'No page says this any more'",
        'is obsolete: #~ msgid "Obsolete"',
    ]


# --- The catalogs themselves ---------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated_and_none_is_fuzzy(language):
    path = po_path(language)
    entries = read_po(path)
    assert header(entries)["Plural-Forms"] == PLURAL_FORMS[language]
    assert header(entries)["Language"] == language
    forms = int(re.search(r"nplurals=(\d+)", PLURAL_FORMS[language]).group(1))
    problems = []
    for entry in entries:
        where = f"{path.relative_to(ROOT)}:{entry.line}"
        if "fuzzy" in entry.flags:
            problems.append(f"{where} is fuzzy: {entry.msgid!r}")
        if entry.msgid == "":
            continue
        expected = forms if entry.plural is not None else 1
        if sorted(entry.strings) != list(range(expected)):
            problems.append(f"{where} needs {expected} form(s): {entry.msgid!r}")
        for index, text in entry.strings.items():
            source = entry.plural if index and entry.plural is not None else entry.msgid
            if not text:
                problems.append(f"{where} is untranslated: {entry.msgid!r}")
            elif placeholders(text) != placeholders(source):
                problems.append(f"{where} form {index} changes the placeholders: {text!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_says_exactly_what_the_po_file_says(language):
    path = po_path(language)
    compiled = read_mo(path.with_suffix(".mo"))
    entries = read_po(path)
    stale = f"{path.with_suffix('.mo').relative_to(ROOT)} is out of date; {HINT}"

    expected = {entry.key: [entry.strings[i] for i in sorted(entry.strings)] for entry in entries}
    # The header differs only in dates when makemessages is re-run with nothing new.
    dated = ("POT-Creation-Date", "PO-Revision-Date")
    for catalog in (expected, compiled):
        lines = catalog.pop((None, "", None), [""])[0].splitlines()
        catalog["header"] = [line for line in lines if not line.startswith(dated)]
    assert compiled.keys() == expected.keys(), stale
    for key, strings in expected.items():
        assert compiled[key] == strings, f"{stale}: {key[1]!r}"


def test_russian_counts_take_the_right_form_and_kazakh_ones_a_translation():
    msgid = "Too many attempts. Nothing was changed. Please try again in about %(minutes)s minute."
    plural = msgid.replace("minute.", "minutes.")
    with translation.override("ru"):
        endings = [
            translation.ngettext(msgid, plural, n).split()[-1] for n in (1, 2, 5, 11, 21, 24)
        ]
    assert endings == ["минуту.", "минуты.", "минут.", "минут.", "минуту.", "минуты."]
    with translation.override("kk"):
        assert {translation.ngettext(msgid, plural, n) for n in (1, 5)} - {msgid, plural}


# --- The pages, as she sees them -----------------------------------------------------------


class VisibleText(HTMLParser):
    """Text a person can see or hear: text nodes (split at line ends and " · ") and the
    attributes that are shown or read out, or that the script shows."""

    SHOWN_ATTRIBUTES = {"aria-label", "title", "alt", "placeholder", "data-template", "data-over"}

    def __init__(self, html: str) -> None:
        super().__init__()
        self.pieces: list[str] = []
        self.hidden = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style")
        self.pieces += [value for name, value in attrs if name in self.SHOWN_ATTRIBUTES and value]

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.hidden:
            self.pieces += re.split(r"\n| · ", data)

    @property
    def nodes(self) -> set[str]:
        return {" ".join(piece.split()) for piece in self.pieces} - {""}

    @property
    def text(self) -> str:
        return "\n".join(sorted(self.nodes))


def words(text: str) -> list[str]:
    """The parts of a message around its placeholders that hold words."""
    parts = re.split(r"%\(\w+\)\w", text.replace("%%", "%"))
    return [part.strip() for part in parts if re.search(r"\w\w", part)]


def submit_story(client, language):
    page = client.get(f"/{language}/").content.decode()
    served = hidden(page, "served")
    story = {
        "text": "A story.",
        "consent": "statistics",
        "served": served,
        "website": "",
    }
    assert client.post(f"/{language}/", story).status_code == 302
    return client.get(f"/{language}/thanks/")


def twice(client, path, data):
    client.post(path, data)
    return client.post(path, data)


def withdraw_nothing(client, path):
    return client.post(path + "withdraw/", {"code": "0000 0000 0000 0000", "confirmed": "1"})


def busy(client, path):
    """A story from someone else spends the site's whole budget; then hers is turned away."""
    for sender in (Client(HTTP_HOST="localhost", REMOTE_ADDR="192.0.2.99"), client):
        served = hidden(sender.get(path).content.decode(), "served")
        response = sender.post(path, {"text": "a", "consent": "quote", "served": served})
    return response


def forbidden(client, path):
    return Client(enforce_csrf_checks=True, HTTP_HOST="localhost").post(path + "withdraw/")


def failing_story(client, path):
    """A story sent to a server left without a key to seal it: a real fault, a 500."""
    served = hidden(client.get(path).content.decode(), "served")
    client.raise_request_exception = False
    return client.post(path, {"text": "a", "consent": "quote", "served": served})


PAGES = {
    # name: (settings to change, how to fetch it under /<language>/, English it must show)
    "form": ({}, lambda c, p: c.get(p), ["Tell your story", "Prefer not to say", "Send my story"]),
    "form with errors": ({}, lambda c, p: c.post(p, {"text": " "}), ["Please check the following"]),
    "form too long": (
        {},
        lambda c, p: c.post(p, {"text": "x" * 10_002}),
        ["Please shorten it by"],
    ),
    "form rate limited": (
        {"UNTOLD_RATE_PER_CLIENT": "1/h"},
        lambda c, p: twice(c, p, {"text": "a"}),
        ["You sent several stories just now"],
    ),
    "form busy": (
        {"UNTOLD_RATE_SITE": "1/h"},
        busy,
        ["Many people are sending stories right now"],
    ),
    "thanks with code in a booth": (
        {"UNTOLD_KIOSK": True},
        lambda c, p: submit_story(c, p.strip("/")),
        ["Your receipt code", "I am done", "Are you still there?"],
    ),
    "thanks without code": ({}, lambda c, p: c.get(p + "thanks/"), ["Thank you"]),
    "thanks with code": (
        {},
        lambda c, p: submit_story(c, p.strip("/")),
        ["Your receipt code", "Copy the code"],
    ),
    "privacy": ({}, lambda c, p: c.get(p + "privacy/"), ["What is not stored"]),
    "safety": ({}, lambda c, p: c.get(p + "safety/"), ["Staying safe online", "Browser history"]),
    "withdraw": ({}, lambda c, p: c.get(p + "withdraw/"), ["Continue", "Receipt code"]),
    "withdraw confirm": (
        {},
        lambda c, p: c.post(p + "withdraw/", {"code": "0000 0000 0000 0000"}),
        ["Delete this story?", "Yes, delete my story"],
    ),
    "withdraw confirm, unchecked code": (
        {"UNTOLD_CODES_WITHOUT_CHECK_DIGIT": True},
        lambda c, p: c.post(p + "withdraw/", {"code": "0000 0000 0000 0001"}),
        ["This code may have a typo", "Type the code again", "Yes, delete my story"],
    ),
    "withdraw typo": (
        {},
        lambda c, p: c.post(p + "withdraw/", {"code": "0000 0000 0000 0001"}),
        ["This code has a typo"],
    ),
    "withdraw error": (
        {},
        lambda c, p: c.post(p + "withdraw/", {"code": "12"}),
        ["A receipt code has 16 digits."],
    ),
    "withdraw rate limited": (
        {"UNTOLD_RATE_WITHDRAW_PER_CLIENT": "1/h"},
        lambda c, p: twice(c, p + "withdraw/", {"code": "12"}),
        ["Too many attempts."],
    ),
    "withdrawn": ({}, withdraw_nothing, ["Done"]),
    "closed": (
        {"UNTOLD_CLOSES_AT": -1},
        lambda c, p: c.post(p, {"text": "unsent"}),
        ["The collection has closed", "Your text (not sent)", "If you need help now"],
    ),
    "not open yet": (
        {"UNTOLD_OPENS_AT": 1},
        lambda c, p: c.get(p),
        ["The collection is not open yet"],
    ),
    "not found": ({}, lambda c, p: c.get(p + "no-such-page/"), ["Page not found"]),
    "forbidden": ({}, forbidden, ["Not allowed"]),
    "server error": (
        {"UNTOLD_PUBLIC_KEYS": [], "UNTOLD_PRIVATE_KEY_FILES": []},
        failing_story,
        ["Something went wrong", "Leave this site"],
    ),
    "bad request": (
        {"DATA_UPLOAD_MAX_NUMBER_FIELDS": 1},
        lambda c, p: c.post(p + "withdraw/", {"code": "1", "extra": "2"}),
        ["Something was wrong with the request"],
    ),
}


@pytest.fixture
def render(settings):
    """Fetch a page in a language after applying its settings; days become instants."""
    now = timezone.now().replace(microsecond=0)
    settings.UNTOLD_OPENS_AT = None
    settings.UNTOLD_CLOSES_AT = now + timedelta(weeks=3)
    settings.UNTOLD_RATE_SITE = "1000/h"
    settings.UNTOLD_RATE_PER_CLIENT = "1000/h"
    settings.UNTOLD_RATE_WITHDRAW_PER_CLIENT = "1000/h"

    def fetch(name: str, language: str) -> VisibleText:
        changes, get, _ = PAGES[name]
        for setting, value in changes.items():
            setattr(
                settings, setting, now + timedelta(days=value) if setting.endswith("_AT") else value
            )
        caches["default"].clear()
        response = get(Client(HTTP_HOST="localhost"), f"/{language}/")
        assert response.status_code < 500 or name == "server error"
        return VisibleText(response.content.decode())

    yield fetch


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", PAGES)
def test_a_page_shows_no_english_sentence_and_every_translation(render, name, language):
    english, local = render(name, "en"), render(name, language)
    for phrase in PAGES[name][2]:
        assert phrase in english.text, f"the English {name} page lacks {phrase!r}"

    shown = []
    for entry in read_po(po_path(language)):
        forms = [entry.msgid] + ([entry.plural] if entry.plural else [])
        if entry.msgid and "%" not in entry.msgid:
            if entry.msgid in english.nodes:
                shown.append((entry, [entry.msgid]))
        else:
            for text in forms:
                parts = words(text)
                # A message of single words between placeholders ("%(a)s removed %(b)s
                # from %(c)s") is found on a page only if some part says more than a word.
                telling = any(" " in part for part in parts)
                if telling and all(part in english.text for part in parts):
                    shown.append((entry, parts))
    assert shown, f"no catalog entry found on the English {name} page"
    for entry, parts in shown:
        translations = [entry.strings[i] for i in sorted(entry.strings)]
        for part in parts:
            if not any(part in text for text in translations):
                assert part not in local.text, f"English on the {language} {name} page: {part!r}"
        if "%" in entry.msgid:
            assert any(all(w in local.text for w in words(t)) for t in translations), entry.msgid
        else:
            translated = " ".join(translations[0].split())
            assert translated in local.nodes, f"{translated!r} not on the {language} {name} page"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_character_counter_keeps_the_placeholders_its_script_replaces(render, language):
    page = render("form", language)
    template = next(p for p in page.pieces if "%(count)s" in p)
    over = next(p for p in page.pieces if "%(over)s" in p)
    assert "%(limit)s" in template and "%%" not in template + over

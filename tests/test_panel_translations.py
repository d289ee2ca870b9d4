"""The panel speaks Kazakh and Russian: every label, filter title and object name, and
Django admin's own words, which our catalogue gives again where Django's Kazakh is
missing or awkward (submissions/panel/phrases.py).

Each page is fetched in English and in the language; no message of our catalogue that
the English page shows may be left in English on the translated page.
"""

from __future__ import annotations

import pytest

from submissions.staff import StaffGroup
from tests.conftest import new_testimony
from tests.panel import PANEL, staff, verified_client
from tests.test_translations import LANGUAGES, VisibleText, po_path, read_po

pytestmark = pytest.mark.django_db

PAGES = {
    # name: (group of the reader, how to reach the page from the panel's root)
    "list": (StaffGroup.MODERATOR, "submissions/testimony/"),
    "list filtered": (StaffGroup.MODERATOR, "submissions/testimony/?status__exact=new"),
    "reading view": (StaffGroup.MODERATOR, "submissions/testimony/queue/"),
    "statistics": (StaffGroup.MODERATOR, "statistics/"),
    "index": (StaffGroup.ADMINISTRATOR, ""),
    "accounts": (StaffGroup.ADMINISTRATOR, "auth/user/"),
    "audit trail": (StaffGroup.ADMINISTRATOR, "submissions/auditevent/"),
    "export": (StaffGroup.CAMPAIGN, "export/"),
    "password change": (StaffGroup.CAMPAIGN, "password_change/"),
    "keys": (StaffGroup.MODERATOR, "keys/"),
    "keys, campaign staff": (StaffGroup.CAMPAIGN, "keys/"),
}
# Django admin's words that its Kazakh catalogue gets wrong, and that must not show.
AWKWARD = ["үщін таңда", "-ден 0 таңдалды", "Өшіру/Уақыт", "Сүзгіз"]


@pytest.fixture
def fetch():
    new_testimony("A story.", "A campaign text.")
    clients = {group: verified_client(*staff(f"{group}-reader", group)) for group in StaffGroup}

    def get(name: str, language: str) -> VisibleText:
        group, path = PAGES[name]
        client = clients[group]
        response = client.get(PANEL + path, HTTP_ACCEPT_LANGUAGE=language, follow=True)
        assert response.status_code == 200, (name, language)
        return VisibleText(response.content.decode())

    return get


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", PAGES)
def test_every_word_of_the_panel_is_translated(fetch, name, language):
    english, local = fetch(name, "en"), fetch(name, language)

    shown = [
        entry
        for entry in read_po(po_path(language))
        if entry.msgid and "%" not in entry.msgid and entry.msgid in english.nodes
    ]
    assert shown, f"no catalog entry found on the English {name} page"
    left = [
        entry.msgid
        for entry in shown
        if entry.msgid in local.nodes and " ".join(entry.strings[0].split()) != entry.msgid
    ]
    assert not left, f"English on the {language} {name} page: {left}"
    for awkward in AWKWARD:
        assert awkward not in local.text, (name, awkward)

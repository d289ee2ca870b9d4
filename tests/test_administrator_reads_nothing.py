"""An administrator cannot read stories, directly or indirectly.

Promise (submissions/staff.py): administrators list, deactivate and reactivate accounts
and read the audit trail, and never read a story. So no page they can reach shows a
story or a second factor's secret, and no form they can send gives anyone the right to
read stories (superuser status, a group, a permission) or takes over a moderator's
account (its password or its second factor). The first test walks every door: each URL
of the panel's site with every id that fits, each link on each page, and each form
sent back with hostile extras.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.http import HttpResponse
from django.test import Client
from django.urls import URLResolver, reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions.models import AuditEvent, Testimony
from submissions.staff import StaffGroup
from tests.conftest import new_testimony
from tests.panel import PANEL, staff, verified_client

pytestmark = pytest.mark.django_db

STORY = "STORY-ONLY-MARKER-7f3a Менің атым Әйгерім"
CAMPAIGN_TEXT = "CAMPAIGN-ONLY-MARKER-9c1d Менің атым [name]"
LOGOUT = f"{PANEL}logout/"


@dataclass
class Panel:
    mod: User
    root: User
    campaign: User
    testimony: Testimony
    client: Client


@pytest.fixture
def panel() -> Panel:
    """A moderator with a story to read (and already read once), an administrator
    signed in with both factors, and a campaign-staff account."""
    mod, _ = staff("mod", StaffGroup.MODERATOR)
    backup = StaticDevice.objects.create(user=mod, name="backup codes", confirmed=True)
    backup.token_set.create(token=StaticToken.random_token())
    campaign, _ = staff("campaign", StaffGroup.CAMPAIGN)
    root, root_device = staff("root", StaffGroup.ADMINISTRATOR)
    testimony = new_testimony(STORY, CAMPAIGN_TEXT)
    AuditEvent.record(AuditEvent.Action.VIEWED, actor="mod", testimony=testimony)
    return Panel(mod, root, campaign, testimony, verified_client(root, root_device))


# --- What must never be shown ------------------------------------------------------------


def secrets() -> list[str]:
    """The stories and every second factor's secret, in each form a page could show."""
    shown = [STORY.split()[0], CAMPAIGN_TEXT.split()[0], "otpauth://"]
    for device in TOTPDevice.objects.all():
        shown += [device.key.lower(), device.key.upper()]
        shown.append(base64.b32encode(device.bin_key).decode().rstrip("="))
    shown += StaticToken.objects.values_list("token", flat=True)
    return shown


def body(response: HttpResponse) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def assert_shows_no_secret(response: HttpResponse, where: str, hidden: list[str]) -> None:
    text = body(response)
    for secret in hidden:
        assert secret not in text, (where, secret)


# --- Every URL of the panel, with every id that fits --------------------------------------

ARGUMENT = re.compile(r"\(\?P<(?P<regex>\w+)>[^)]*\)|<(?:\w+:)?(?P<route>\w+)>")

# What the stock UserAdmin, GroupAdmin and django-otp's device admins would serve.
STOCK = [
    "auth/group/",
    "auth/group/add/",
    "auth/group/{group}/change/",
    "auth/group/{group}/delete/",
    "auth/user/add/",
    "auth/user/{mod}/password/",
    "auth/user/{root}/password/",
    "auth/user/{mod}/delete/",
    "otp_totp/",
    "otp_totp/totpdevice/",
    "otp_totp/totpdevice/add/",
    "otp_totp/totpdevice/{device}/change/",
    "otp_totp/totpdevice/{device}/config/",
    "otp_totp/totpdevice/{device}/qrcode/",
    "otp_totp/totpdevice/{device}/delete/",
    "otp_static/",
    "otp_static/staticdevice/",
    "otp_static/staticdevice/add/",
    "otp_static/staticdevice/{static}/change/",
    "otp_static/staticdevice/{static}/delete/",
]


def stock_urls(panel: Panel) -> list[str]:
    ids = {
        "group": Group.objects.get(name=StaffGroup.MODERATOR).pk,
        "mod": panel.mod.pk,
        "root": panel.root.pk,
        "device": TOTPDevice.objects.get(user=panel.mod).pk,
        "static": StaticDevice.objects.get(user=panel.mod).pk,
    }
    return [url.format(**ids) for url in STOCK]


def candidates(panel: Panel) -> dict[str, list[str]]:
    """Every value worth trying for each path argument of the panel's URLs."""
    object_ids = [
        *User.objects.values_list("pk", flat=True),
        panel.testimony.pk,
        AuditEvent.objects.get(action=AuditEvent.Action.VIEWED).pk,
        AuditEvent.objects.filter(subject="mod").first().pk,
        *Group.objects.values_list("pk", flat=True),
        *TOTPDevice.objects.values_list("pk", flat=True),
        *StaticDevice.objects.values_list("pk", flat=True),
    ]
    models = [User, Group, Permission, Testimony, AuditEvent, TOTPDevice, StaticDevice]
    return {
        "object_id": [str(pk) for pk in object_ids],
        "content_type_id": [str(ContentType.objects.get_for_model(m).pk) for m in models],
        "app_label": ["submissions", "auth", "otp_totp", "otp_static", "admin"],
        "url": stock_urls(panel),
    }


def route_templates(patterns: list, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from route_templates(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def panel_urls(panel: Panel) -> list[str]:
    """Each URL pattern of the panel's site, with each path argument replaced by each of
    its candidates. An argument without candidates fails here, on purpose: a new kind of
    page must be walked too."""
    values = candidates(panel)
    urls = []
    for template in route_templates(admin.site.get_urls()):
        names = [match["regex"] or match["route"] for match in ARGUMENT.finditer(template)]
        for chosen in itertools.product(*(values[name] for name in names)):
            relative = fill(template, iter(chosen))
            urls.append(PANEL + relative.replace("^", "").replace("$", ""))
    return urls


def fill(template: str, values: Iterator[str]) -> str:
    return ARGUMENT.sub(lambda _: next(values), template)


# Query parameters the admin reads beside filters, tried on every page that opens.
QUERIES = ["_popup=1", "_to_field=password", "_to_field=id", "q=mod", "suggest=1", "o=1", "all="]


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


# --- Forms and links, as a browser reads them ---------------------------------------------


@dataclass
class Form:
    action: str
    fields: list[tuple[str, str]]
    buttons: list[tuple[str, str]]


class PageReader(HTMLParser):
    """The forms (with the values a browser would send) and the links of a page.
    Django's admin marks the chosen option of each select, so only marked ones count."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[str] = []
        self.in_form = False
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attr = {name: value or "" for name, value in attrs}
        name, kind = attr.get("name"), attr.get("type", "text").lower()
        if tag == "a" and attr.get("href"):
            self.links.append(attr["href"])
        elif tag == "form":
            self.forms.append(Form(attr.get("action", ""), [], []))
            self.in_form = True
        elif tag == "option" and self.select and "selected" in attr:
            self.forms[-1].fields.append((self.select, attr.get("value", "")))
        elif not (self.in_form and name):
            return
        elif tag == "button" or kind in {"submit", "image"}:
            self.forms[-1].buttons.append((name, attr.get("value", "")))
        elif tag == "select":
            self.select = name
        elif tag == "textarea":
            self.textarea = name
            self.forms[-1].fields.append((name, ""))
        elif kind not in {"checkbox", "radio", "button", "reset", "file"} or "checked" in attr:
            self.forms[-1].fields.append((name, attr.get("value", "on")))

    def handle_data(self, data: str) -> None:
        if self.textarea:
            name, value = self.forms[-1].fields.pop()
            self.forms[-1].fields.append((name, value + data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False
        elif tag in {"select", "textarea"}:
            self.select = self.textarea = None


def read_page(url: str, response: HttpResponse) -> PageReader:
    reader = PageReader()
    if response.status_code == 200 and "html" in response.get("Content-Type", ""):
        reader.feed(body(response))
    reader.links = [link for link in (in_panel(url, href) for href in reader.links) if link]
    for form in reader.forms:
        form.action = in_panel(url, form.action) or ""
    reader.forms = [form for form in reader.forms if form.action]
    return reader


def in_panel(page: str, href: str) -> str | None:
    """The address ``href`` leads to from ``page``, if it is a panel page other than
    logout (which would end the walk, not open a door)."""
    url = urljoin(page, href).split("#")[0]
    path = urlsplit(url).path
    if not path.startswith(PANEL) or path == LOGOUT or "://" in url:
        return None
    return url


# --- What a hostile administrator adds to every form --------------------------------------


def hostile_fields(panel: Panel) -> dict[str, list[str]]:
    moderators = Group.objects.get(name=StaffGroup.MODERATOR)
    view_original = Permission.objects.get(codename="view_original")
    password = "a hostile new passphrase 1234"
    return {
        "is_superuser": ["on"],
        "is_staff": ["on"],
        "groups": [str(moderators.pk)],
        "user_permissions": [str(view_original.pk)],
        "permissions": [str(view_original.pk)],
        "user": [str(panel.root.pk)],
        "key": ["00" * 20],
        "password": [password],
        "password1": [password],
        "password2": [password],
        "new_password1": [password],
        "new_password2": [password],
        "usable_password": ["true"],
    }


def variants(form: Form, panel: Panel) -> Iterator[dict[str, list[str]]]:
    """The form's own values (they win over the extras) with every hostile extra; then
    the same as a "save as new", and with each list action on records of other kinds
    and on every account."""
    own: dict[str, list[str]] = {}
    for name, value in [*form.fields, *form.buttons]:
        own.setdefault(name, []).append(value)
    data = {**hostile_fields(panel), **own}
    yield data
    yield {**data, "_saveasnew": ["1"]}
    accounts = [str(pk) for pk in User.objects.values_list("pk", flat=True)]
    other_records = [str(panel.testimony.pk), "not-an-id"]
    yield {**data, "action": ["deactivate"], "_selected_action": other_records}
    for action in ["delete_selected", "deactivate", "reactivate"]:
        yield {**data, "action": [action], "_selected_action": accounts, "post": ["yes"]}


# --- The walk -----------------------------------------------------------------------------


def walk(panel: Panel, start: list[str]) -> tuple[set[str], list[str]]:
    """GET every URL in ``start`` (also with each of QUERIES) and every panel link on
    those pages; send back every form found, once per page and shape; check every answer
    for secrets. Returns the URLs that opened, and the requests that failed (5xx)."""
    client, hidden = panel.client, secrets()
    client.raise_request_exception = False
    queue = [(url, 0) for url in start]
    seen, sent, opened, failed = set(start), set(), set(), []
    while queue:
        url, depth = queue.pop(0)
        response = client.get(url)
        assert_shows_no_secret(response, url, hidden)
        if response.status_code >= 500:
            failed.append(f"GET {url}")
        if response.status_code != 200:
            continue
        opened.add(url)
        page = read_page(url, response)
        if depth == 0:
            more = [with_query(url, query) for query in QUERIES if "?" not in url]
            for link in [*more, *page.links]:
                if link not in seen:
                    seen.add(link)
                    queue.append((link, 0 if link in more else 1))
        for form in page.forms:
            shape = (urlsplit(form.action).path, tuple(sorted(name for name, _ in form.fields)))
            if shape in sent:
                continue
            sent.add(shape)
            for data in variants(form, panel):
                answer = client.post(form.action, data)
                assert_shows_no_secret(answer, f"POST {form.action}", hidden)
                if answer.status_code >= 500:
                    chosen = data.get("action", []) + data.get("_selected_action", [])
                    failed.append(f"POST {urlsplit(form.action).path} {' '.join(chosen)}")
    return opened, failed


def could_read_stories(pk: int) -> bool:
    """``has_perm`` on a fresh instance; an inactive account is asked as if reactivated,
    since what matters is what it holds."""
    user = User.objects.get(pk=pk)
    user.is_active = True
    return user.has_perm("submissions.view_original")


def accounts() -> dict[str, tuple]:
    """Each account's password hash and second factors (with their secrets)."""
    return {
        user.username: (
            user.password,
            set(TOTPDevice.objects.filter(user=user).values_list("pk", "key", "confirmed")),
            set(StaticDevice.objects.filter(user=user).values_list("pk", "confirmed")),
            set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True)),
        )
        for user in User.objects.all()
    }


def test_no_door_an_administrator_can_reach_shows_a_story_or_gives_the_right_to_read_one(panel):
    # Given: every account's password and second factor, and the groups, before the walk
    accounts_before = accounts()
    moderators = Group.objects.get(name=StaffGroup.MODERATOR)
    group_perms_before = set(moderators.permissions.values_list("pk", flat=True))
    root_groups_before = set(panel.root.groups.values_list("pk", flat=True))
    assert reverse("admin:index") == PANEL

    # When: the administrator walks every URL, link and form of the panel
    opened, _ = walk(panel, panel_urls(panel))

    # Then: the walk reached the administrator's own pages, still signed in
    for page in ["", "auth/user/", f"auth/user/{panel.mod.pk}/change/", "submissions/auditevent/"]:
        assert PANEL + page in opened
    assert PANEL + "password_change/" in opened
    assert panel.client.get(PANEL).status_code == 200
    # and nobody gained the right to read stories, nor took over the moderator
    assert not User.objects.filter(is_superuser=True).exists()
    readers = {user.username for user in User.objects.all() if could_read_stories(user.pk)}
    assert readers == {"mod"}
    assert accounts() == accounts_before
    assert set(moderators.permissions.values_list("pk", flat=True)) == group_perms_before
    assert set(panel.root.groups.values_list("pk", flat=True)) == root_groups_before
    assert not panel.root.user_permissions.exists()
    # The walk did act: the list's deactivate ran.
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.ACCOUNT_DEACTIVATED, actor="root", subject="mod"
    ).exists()


def test_no_door_an_administrator_can_reach_fails_with_a_server_error(panel):
    _, failed = walk(panel, panel_urls(panel))

    assert sorted(set(failed)) == []


def test_the_stock_account_group_and_device_pages_answer_nothing(panel):
    hidden = secrets()
    hostile = hostile_fields(panel)

    for url in (PANEL + relative for relative in stock_urls(panel)):
        got, posted = panel.client.get(url), panel.client.post(url, hostile)

        assert got.status_code != 200, url
        assert posted.status_code != 200, url
        assert_shows_no_secret(got, url, hidden)
        assert_shows_no_secret(posted, url, hidden)
    assert not User.objects.filter(is_superuser=True).exists()
    assert TOTPDevice.objects.filter(user=panel.root).count() == 1


@pytest.mark.parametrize(
    "page",
    [
        "auth/group/",
        "auth/group/add/",
        "otp_totp/",
        "otp_totp/totpdevice/",
        "otp_totp/totpdevice/add/",
        "otp_static/",
        "otp_static/staticdevice/",
    ],
)
def test_the_group_and_device_pages_are_gone(panel, page):
    assert panel.client.get(PANEL + page).status_code == 404


def test_the_index_offers_no_group_or_device_page(panel):
    index = panel.client.get(PANEL).content.decode()

    assert "auth/group/" not in index
    assert "otp_totp" not in index and "otp_static" not in index


def test_posting_superuser_groups_and_permissions_to_ones_own_page_changes_nothing(panel):
    view_original = Permission.objects.get(codename="view_original")
    moderators = Group.objects.get(name=StaffGroup.MODERATOR)

    # When: the administrator sends its own account page with everything it may not set
    response = panel.client.post(
        f"{PANEL}auth/user/{panel.root.pk}/change/",
        {
            "is_active": "on",
            "is_superuser": "on",
            "is_staff": "on",
            "groups": [moderators.pk],
            "user_permissions": [view_original.pk],
            "username": "mod2",
            "_save": "Save",
        },
    )

    # Then: the page saves what it offers (is_active) and nothing else
    assert response.status_code == 302
    root = User.objects.get(pk=panel.root.pk)
    assert root.username == "root"
    assert not root.is_superuser
    assert list(root.groups.values_list("name", flat=True)) == [StaffGroup.ADMINISTRATOR]
    assert not root.user_permissions.exists()
    assert not could_read_stories(root.pk)


def act_on(panel: Panel, action: str, user: User) -> HttpResponse:
    return panel.client.post(
        f"{PANEL}auth/user/", {"action": action, "_selected_action": [user.pk], "index": 0}
    )


def test_deactivating_and_reactivating_from_the_list_are_on_record(panel):
    deactivated = act_on(panel, "deactivate", panel.mod)

    assert deactivated.status_code == 302
    assert not User.objects.get(pk=panel.mod.pk).is_active
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.ACCOUNT_DEACTIVATED, actor="root", subject="mod"
    ).exists()

    reactivated = act_on(panel, "reactivate", panel.mod)

    assert reactivated.status_code == 302
    assert User.objects.get(pk=panel.mod.pk).is_active
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.ACCOUNT_REACTIVATED, actor="root", subject="mod"
    ).exists()


def test_an_administrator_cannot_deactivate_itself(panel):
    # When: from the list action, and from its own page with the box unticked
    act_on(panel, "deactivate", panel.root)
    panel.client.post(f"{PANEL}auth/user/{panel.root.pk}/change/", {"_save": "Save"})

    # Then: it is still active, still signed in, and nothing says otherwise on record
    assert User.objects.get(pk=panel.root.pk).is_active
    assert panel.client.get(PANEL).status_code == 200
    assert not AuditEvent.objects.filter(
        action=AuditEvent.Action.ACCOUNT_DEACTIVATED, subject="root"
    ).exists()

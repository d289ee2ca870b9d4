"""Page weight of every public page in its heaviest real state, and how many requests it
takes, measured as a phone downloads it.

The static files go through production's own pipeline: collected into a temporary
folder by WhiteNoise's CompressedManifestStaticFilesStorage (gzip at level 9, as
`collectstatic` does in production) and served by WhiteNoise to a client that accepts
gzip. The HTML is counted as Django sends it, gzipped too
(submissions.middleware.compressed_outside_the_panel says why that is safe). Every
response counts its status line and headers as HTTP/1.1 sends them (HTTP/2 would send
them smaller). What she wrote herself and is shown back (a story over the limit, a story
that came after the close) is counted apart, as the bytes it adds: it is hers, not the
page's.

Target (issues 3 and 12): under 20 KB and at most 3 requests, on every page, in every
state listed in STATES, in every language, on a phone and on a booth. Prints the
heaviest case of each state and exits non-zero if any case is over a limit.
tests/test_page_weight.py checks every case the same way.
"""

from __future__ import annotations

import gzip
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from pathlib import Path

from django.core.management import call_command
from django.http import HttpResponseBase
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

LIMIT_BYTES = 20 * 1024
LIMIT_REQUESTS = 3
LANGUAGES = ("en", "ru", "kk")
ASSET = re.compile(r'<(?:link|script|img)\b[^>]*?(?:href|src)="(/[^"]+)"')
CSS_URL = re.compile(r"url\((?!\s*['\"]?data:)")
# What a phone's browser sends.
ACCEPT_ENCODING = "gzip, deflate, br"
# A story over the limit, in Kazakh letters (two bytes each): the heaviest she can send.
LONG_STORY = "Қ" * 10_001


@dataclass(frozen=True)
class Weight:
    downloaded: int  # every byte a phone downloads for the page, headers included
    her_text: int  # of which her own words, shown back to her
    requests: int

    @property
    def page(self) -> int:
        """The page's own weight: what is measured against the limit."""
        return self.downloaded - self.her_text

    @property
    def over(self) -> bool:
        return self.page >= LIMIT_BYTES or self.requests > LIMIT_REQUESTS


def on_the_wire(response: HttpResponseBase) -> int:
    """Bytes of an HTTP/1.1 response: status line, headers and body as sent."""
    body = (
        b"".join(response.streaming_content)  # type: ignore[attr-defined]
        if response.streaming
        else response.content  # type: ignore[attr-defined]
    )
    status = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n".encode()
    return len(status) + len(response.serialize_headers()) + 4 + len(body)


def text_of(response: HttpResponseBase) -> str:
    """The page as the browser reads it, unpacked if it came compressed."""
    body = response.content  # type: ignore[attr-defined]
    return (gzip.decompress(body) if response.get("Content-Encoding") == "gzip" else body).decode()


def weigh(client: Client, response: HttpResponseBase, her_text: str = "") -> Weight:
    """The page and everything it loads, fetched as a phone would."""
    html = text_of(response)
    downloaded, requests = on_the_wire(response), 1
    for url in ASSET.findall(html):
        asset = client.get(url)
        if asset.status_code != 200:
            raise AssertionError(f"{url} answered {asset.status_code}")
        downloaded += on_the_wire(asset)
        requests += 1
        if url.endswith(".css"):
            # Anything the stylesheet loads would be a request more.
            css = client.get(url, HTTP_ACCEPT_ENCODING="identity").getvalue().decode()  # type: ignore[attr-defined]
            requests += len(CSS_URL.findall(css))
    return Weight(downloaded, her_share(response, html, her_text), requests)


def her_share(response: HttpResponseBase, html: str, her_text: str) -> int:
    """The bytes her own words add to the page as sent."""
    shown = escape(her_text)
    if not her_text or shown not in html:
        return 0
    without = html.replace(shown, "")
    if response.get("Content-Encoding") != "gzip":
        return len(html.encode()) - len(without.encode())
    return len(gzip.compress(html.encode())) - len(gzip.compress(without.encode()))


# --- The states, each at its heaviest --------------------------------------------------------

Fetch = Callable[[Client, str], tuple[HttpResponseBase, str]]


def served(client: Client, language: str) -> str:
    page = text_of(client.get(f"/{language}/"))
    return re.search(r'name="served" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]


def get(path: str) -> Fetch:
    return lambda client, language: (client.get(f"/{language}/{path}"), "")


def post(path: str, data: dict[str, str], **changes: object) -> Fetch:
    def fetch(client: Client, language: str) -> tuple[HttpResponseBase, str]:
        with override_settings(**changes):
            client.post(f"/{language}/{path}", data)
            return client.post(f"/{language}/{path}", data), ""

    return fetch


def every_error(client: Client, language: str) -> tuple[HttpResponseBase, str]:
    # Every error a browser can cause at once, from the page it was served: no choice of
    # use, no text, and a form too old to send (its notice too).
    data = {"served": "expired", "consent": "", "text": ""}
    return client.post(f"/{language}/", data), ""


def every_field_wrong(client: Client, language: str) -> tuple[HttpResponseBase, str]:
    # And every optional answer wrong too, as only a page served with other choices, or
    # a forged post, can send: the heaviest form page there is.
    gone = "no-longer-offered"
    data = {"served": "expired", "consent": "", "text": "", "age_group": gone}
    data |= {"forms_of_violence": gone, "region": gone, "teller": gone}
    return client.post(f"/{language}/", data), ""


def too_long(client: Client, language: str) -> tuple[HttpResponseBase, str]:
    data = {"served": served(client, language), "consent": "", "text": LONG_STORY}
    return client.post(f"/{language}/", data), LONG_STORY


def story(client: Client, language: str) -> dict[str, str]:
    return {"served": served(client, language), "consent": "quote", "text": "A story."}


def limited(site_wide: bool) -> Fetch:
    def fetch(client: Client, language: str) -> tuple[HttpResponseBase, str]:
        rate = {"UNTOLD_RATE_SITE" if site_wide else "UNTOLD_RATE_PER_CLIENT": "1/h"}
        with override_settings(**rate):
            client.post(f"/{language}/", story(client, language))
            return client.post(f"/{language}/", story(client, language)), ""

    return fetch


def thanks(client: Client, language: str) -> tuple[HttpResponseBase, str]:
    client.post(f"/{language}/", story(client, language))
    return client.get(f"/{language}/thanks/"), ""


def closed(client: Client, language: str) -> tuple[HttpResponseBase, str]:
    data = {**story(client, language), "text": LONG_STORY[:10_000]}
    after = timezone.now() - timedelta(days=1)
    with override_settings(UNTOLD_CLOSES_AT=after, UNTOLD_GRACE_MINUTES=0):
        return client.post(f"/{language}/", data), data["text"]


def not_yet_open(client: Client, language: str) -> tuple[HttpResponseBase, str]:
    with override_settings(UNTOLD_OPENS_AT=timezone.now() + timedelta(days=1)):
        return client.get(f"/{language}/"), ""


def bad_request(client: Client, language: str) -> tuple[HttpResponseBase, str]:
    with override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=1):
        return client.post(f"/{language}/withdraw/", {"code": "1", "more": "2"}), ""


def forbidden(client: Client, language: str) -> tuple[HttpResponseBase, str]:
    checked = Client(
        enforce_csrf_checks=True, HTTP_HOST="localhost", HTTP_ACCEPT_ENCODING=ACCEPT_ENCODING
    )
    return checked.post(f"/{language}/withdraw/", {"code": "1"}), ""


def server_error(client: Client, language: str) -> tuple[HttpResponseBase, str]:
    data = story(client, language)
    with override_settings(UNTOLD_PUBLIC_KEYS=[], UNTOLD_PRIVATE_KEY_FILES=[]):
        return client.post(f"/{language}/", data), ""


CODE, TYPO = "0000 0000 0000 0000", "0000 0000 0000 0001"
STATES: dict[str, Fetch] = {
    "form": get(""),
    "form, every error": every_error,
    "form, every field wrong": every_field_wrong,
    "form, story over the limit": too_long,
    "form, her limit": limited(site_wide=False),
    "form, everyone's limit": limited(site_wide=True),
    "thanks, with the code": thanks,
    "thanks, code gone": get("thanks/"),
    "withdraw": get("withdraw/"),
    "withdraw, wrong code": post("withdraw/", {"code": TYPO}),
    "withdraw, her limit": post("withdraw/", {"code": "12"}, UNTOLD_RATE_WITHDRAW_PER_CLIENT="1/h"),
    "withdraw, confirm": post("withdraw/", {"code": CODE}),
    "withdraw, confirm unchecked": post(
        "withdraw/", {"code": TYPO}, UNTOLD_CODES_WITHOUT_CHECK_DIGIT=True
    ),
    "withdraw, confirm at her limit": post(
        "withdraw/", {"code": CODE, "confirmed": "1"}, UNTOLD_RATE_WITHDRAW_PER_CLIENT="1/h"
    ),
    "withdraw, done": post("withdraw/", {"code": CODE, "confirmed": "1"}),
    "privacy": get("privacy/"),
    "safety": get("safety/"),
    "closed, her story not sent": closed,
    "not open yet": not_yet_open,
    "400": bad_request,
    "403": forbidden,
    "404": get("no-such-page/"),
    "500": server_error,
}


@contextmanager
def served_as_in_production(folder: Path) -> Iterator[None]:
    """Static files collected, hashed and compressed into ``folder``, and served from it
    by WhiteNoise with debug off, as in production."""
    with override_settings(
        DEBUG=False,
        STATIC_ROOT=folder,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
        },
        WHITENOISE_USE_FINDERS=False,
        WHITENOISE_AUTOREFRESH=False,
        UNTOLD_RATE_PER_CLIENT="1000/h",
        UNTOLD_RATE_SITE="1000/h",
        UNTOLD_RATE_WITHDRAW_PER_CLIENT="1000/h",
    ):
        if not (folder / "staticfiles.json").exists():
            call_command("collectstatic", interactive=False, verbosity=0)
        yield


def measure(state: str, language: str, *, booth: bool) -> Weight:
    """One case; call it inside ``served_as_in_production``. A fresh client each time:
    WhiteNoise learns the static files when the middleware is built."""
    client = Client(
        HTTP_HOST="localhost", HTTP_ACCEPT_ENCODING=ACCEPT_ENCODING, raise_request_exception=False
    )
    with override_settings(UNTOLD_KIOSK=booth):
        response, her_text = STATES[state](client, language)
        if response.status_code == 302:
            raise AssertionError(f"{state} redirected to {response['Location']}")
        return weigh(client, response, her_text)


def main() -> int:
    from django.core.cache import cache
    from django.db import transaction

    rows, failed = [], False
    # The stories sent here go into the development database: they are rolled back.
    with (
        tempfile.TemporaryDirectory() as folder,
        served_as_in_production(Path(folder)),
        transaction.atomic(),
    ):
        for state in STATES:
            cases = []
            for language in LANGUAGES:
                for booth in (False, True):
                    cache.clear()
                    weight = measure(state, language, booth=booth)
                    failed |= weight.over
                    where = f"{language}{', booth' if booth else ''}"
                    cases.append((weight.over, weight.page, weight.requests, where, weight))
            rows.append((state, max(cases, key=lambda case: case[:3])))
        transaction.set_rollback(True)
    header = f"{'page (heaviest case)':<44}{'downloaded':>11}{'her text':>9}{'page KB':>8}"
    print(f"{header}{'requests':>9}")
    for state, (over, _, requests, where, weight) in rows:
        print(
            f"{state + ' (' + where + ')':<44}{weight.downloaded:>11}{weight.her_text:>9}"
            f"{weight.page / 1024:>8.1f}{requests:>9}{'  OVER' if over else ''}"
        )
    print(f"limits: under {LIMIT_BYTES // 1024} KB, her text apart, and {LIMIT_REQUESTS} requests")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "untold.settings")
    import django

    django.setup()
    sys.exit(main())

"""Page weight of every public page: HTML + CSS + JS bytes (uncompressed) and requests.

Target (issue 3): under 20 KB and at most 3 requests per page. Prints a table and
exits non-zero if a page is over either limit.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "untold.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.staticfiles import finders  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

LIMIT_BYTES = 20 * 1024
LIMIT_REQUESTS = 3
ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def weigh(html: str) -> tuple[int, int]:
    size, requests = len(html.encode()), 1
    for url in ASSET.findall(html):
        path = finders.find(url.removeprefix(settings.STATIC_URL))
        size += os.path.getsize(path)
        requests += 1
    return size, requests


def main() -> int:
    client = Client(HTTP_HOST="localhost")
    rows, failed = [], False
    for language in ("en", "ru", "kk"):
        for page in ("", "privacy/", "withdraw/", "thanks/"):
            html = client.get(f"/{language}/{page}").content.decode()
            rows.append((f"/{language}/{page}", *weigh(html)))
        with override_settings(UNTOLD_CLOSES_AT=timezone.now() - timedelta(days=1)):
            html = client.get(f"/{language}/").content.decode()
        rows.append((f"/{language}/ (closed)", *weigh(html)))
    print(f"{'page':<24}{'bytes':>8}{'KB':>8}{'requests':>10}")
    for page, size, requests in rows:
        over = size > LIMIT_BYTES or requests > LIMIT_REQUESTS
        failed |= over
        print(f"{page:<24}{size:>8}{size / 1024:>8.1f}{requests:>10}{'  OVER' if over else ''}")
    print(f"limits: {LIMIT_BYTES // 1024} KB and {LIMIT_REQUESTS} requests per page")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

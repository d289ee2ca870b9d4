"""Page weight of every public page, and how many requests it takes.

Two figures per page: the bytes as written (HTML + CSS + JS) and the bytes a phone
downloads: the HTML as Django sends it (never compressed: it carries the CSRF token),
the stylesheet and the script as WhiteNoise sends them, gzipped (production uses
CompressedManifestStaticFilesStorage). Target (issues 3 and 12): what a phone downloads
stays under 20 KB, in at most 3 requests, on every page in every language. Prints a
table and exits non-zero if a page is over either limit.
"""

from __future__ import annotations

import gzip
import os
import re
import sys
from datetime import timedelta
from pathlib import Path

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


def weigh(html: str) -> tuple[int, int, int]:
    """Bytes as written, bytes downloaded, requests."""
    written = downloaded = len(html.encode())
    requests = 1
    for url in ASSET.findall(html):
        content = Path(finders.find(url.removeprefix(settings.STATIC_URL))).read_bytes()
        written += len(content)
        # WhiteNoise compresses with gzip at level 9 when it collects the files.
        downloaded += len(gzip.compress(content, compresslevel=9, mtime=0))
        requests += 1
    return written, downloaded, requests


def main() -> int:
    client = Client(HTTP_HOST="localhost")
    rows, failed = [], False
    for language in ("en", "ru", "kk"):
        for page in ("", "privacy/", "safety/", "withdraw/", "thanks/"):
            html = client.get(f"/{language}/{page}").content.decode()
            rows.append((f"/{language}/{page}", *weigh(html)))
        with override_settings(UNTOLD_CLOSES_AT=timezone.now() - timedelta(days=1)):
            html = client.get(f"/{language}/").content.decode()
        rows.append((f"/{language}/ (closed)", *weigh(html)))
    print(f"{'page':<24}{'written':>10}{'downloaded':>12}{'KB':>7}{'requests':>10}")
    for page, written, downloaded, requests in rows:
        over = downloaded > LIMIT_BYTES or requests > LIMIT_REQUESTS
        failed |= over
        print(
            f"{page:<24}{written:>10}{downloaded:>12}{downloaded / 1024:>7.1f}{requests:>10}"
            f"{'  OVER' if over else ''}"
        )
    print(f"limits: {LIMIT_BYTES // 1024} KB downloaded and {LIMIT_REQUESTS} requests per page")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

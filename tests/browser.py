"""Debian's Chromium, driven by Playwright, for the browser tests. Never downloaded:
without /usr/bin/chromium the tests that use it are skipped, saying so."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests may run as root in a container
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)


@contextmanager
def chromium() -> Iterator[object]:
    from playwright import sync_api

    # Playwright's sync API keeps an asyncio loop running in this thread, and Django then
    # refuses ORM calls from it (SynchronousOnlyOperation). The tests' own queries and the
    # database teardown are plain synchronous code: allow them while the browser runs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()


WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_violations(page) -> str:
    """axe-core's report of WCAG A/AA violations on the page, empty if there are none
    (axe-core comes inside the axe-playwright-python wheel)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]},
    )
    return results.generate_report() if results.violations_count else ""

"""The logs hold nothing about a visitor.

A line in the log is timestamped by whatever collects it, so a line about a visitor's
failed request dates her visit. The configured handler writes no line for a public
request that failed on the client's side, and a line that carries an exception keeps
only its class: a traceback's exception text can quote the row of a failed INSERT.
What reaches the handler is read from its own stream, as a supervisor would read it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.test import Client

from tests.panel import PANEL, staff, verified_client
from tests.servers import hidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What the configured console handler writes, instead of standard error."""
    handler = logging.getLogger("django").handlers[0]
    stream = io.StringIO()
    old = handler.setStream(stream)
    yield stream
    handler.setStream(old)


def story(client: Client, **fields: str) -> dict[str, str]:
    page = client.get("/en/").content.decode()
    return {
        "text": "Он забрал мой паспорт.",
        "consent": "statistics",
        "served": hidden(page, "served"),
        **fields,
    }


def test_failed_public_requests_write_no_line(written, settings):
    # Two posts an hour: the empty one and the story; the third is refused.
    settings.UNTOLD_RATE_PER_CLIENT = "2/h"
    visitor = Client()
    strict = Client(enforce_csrf_checks=True)

    statuses = [
        visitor.post("/en/", {}).status_code,  # 400: nothing filled in
        visitor.get("/en/no-such-page/").status_code,  # 404
        strict.post("/en/", {"text": "x"}).status_code,  # 403: no CSRF token
        visitor.post(
            "/en/",
            urlencode(story(visitor, text="x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))),
            content_type="application/x-www-form-urlencoded",
        ).status_code,  # too big: refused before it is read
        visitor.post("/en/", story(visitor)).status_code,  # stored
        visitor.post("/en/", story(visitor)).status_code,  # 429
        Client(HTTP_HOST="evil.example").get("/en/").status_code,  # 400: unknown host
    ]

    assert statuses == [400, 404, 403, 400, 302, 429, 400]
    assert written.getvalue() == ""


def test_a_server_error_writes_its_exception_class_only(written, settings):
    # A misconfigured server (no public key to seal with) fails inside the view.
    visitor = Client(raise_request_exception=False)
    fields = story(visitor, text="A story that must not reach the log")
    settings.UNTOLD_PUBLIC_KEYS = []
    settings.UNTOLD_PRIVATE_KEY_FILES = []

    assert visitor.post("/en/", fields).status_code == 500

    lines = written.getvalue().splitlines()
    assert lines == ["ERROR django.request django.request: SealError"]


def test_staff_requests_that_fail_are_still_logged(written):
    moderator = verified_client(*staff("mod", "moderator"))

    assert (
        moderator.get(f"{PANEL}submissions/testimony/?sealed_text__contains=a").status_code == 400
    )

    assert "django.security.DisallowedModelAdminLookup" in written.getvalue()

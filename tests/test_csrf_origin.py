"""Cross-site posts are refused on every page, by Django's own CSRF check.

Pages send ``Referrer-Policy: same-origin``, so a browser posts a page's own form with
its real origin, and Django's CSRF middleware (not a subclass) checks it everywhere:
a foreign origin is refused, and so is ``Origin: null`` (what a sandboxed frame on
another site sends).
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from submissions.models import Testimony
from tests.panel import LOGIN, PASSWORD, staff
from tests.servers import hidden

pytestmark = pytest.mark.django_db
HOST = "localhost"
OWN = f"http://{HOST}"


def story(client: Client) -> dict[str, str]:
    page = client.get("/en/").content.decode()
    return {
        "csrfmiddlewaretoken": hidden(page, "csrfmiddlewaretoken"),
        "served": hidden(page, "served"),
        "text": "A story sent from somewhere.",
        "consent": "statistics",
    }


def login(client: Client) -> dict[str, str]:
    page = client.get(LOGIN).content.decode()
    return {
        "csrfmiddlewaretoken": hidden(page, "csrfmiddlewaretoken"),
        "username": "ann",
        "password": PASSWORD,
        "otp_token": "123456",
    }


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True, HTTP_HOST=HOST)


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost.evil"])
def test_a_story_from_another_origin_is_refused_and_nothing_stored(browser, origin):
    response = browser.post("/en/", story(browser), HTTP_ORIGIN=origin)

    assert response.status_code == 403
    assert not Testimony.objects.exists()


def test_a_story_from_the_page_itself_is_stored(browser):
    response = browser.post("/en/", story(browser), HTTP_ORIGIN=OWN)

    assert response.status_code == 302
    assert Testimony.objects.count() == 1


@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
def test_a_panel_login_from_another_origin_is_refused(browser, origin):
    staff("ann", "moderator")

    response = browser.post(LOGIN, login(browser), HTTP_ORIGIN=origin)

    assert response.status_code == 403


def test_a_panel_login_from_the_panel_itself_is_checked(browser):
    staff("ann", "moderator")

    response = browser.post(LOGIN, login(browser), HTTP_ORIGIN=OWN)

    # The code is wrong, so the login page answers again, with no CSRF refusal.
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content


@pytest.mark.parametrize("path", ["/en/", f"{LOGIN}"])
def test_every_page_sends_a_referer_to_itself_only(browser, path):
    assert browser.get(path)["Referrer-Policy"] == "same-origin"


def test_a_cross_site_post_never_comes_back_as_her_form(browser):
    # A page elsewhere posts a text of its choosing, quotable:
    fields = story(browser) | {"text": "Words someone else chose.", "consent": "quote"}

    response = browser.post("/en/", fields, HTTP_ORIGIN="https://evil.example")

    # the refusal shows neither that text nor a form to send it with.
    page = response.content.decode()
    assert response.status_code == 403
    assert "Words someone else chose." not in page
    assert "<form" not in page
    assert not Testimony.objects.exists()


def test_a_stale_token_from_the_page_itself_keeps_her_text_but_ticks_nothing(browser):
    fields = story(browser) | {"consent": "quote"}
    browser.cookies.clear()  # the browser was closed and reopened, say

    response = browser.post("/en/", fields, HTTP_ORIGIN=OWN)

    page = response.content.decode()
    assert response.status_code == 403
    assert "A story sent from somewhere." in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert not re.search(r'<input[^>]*name="consent"[^>]*checked', page)

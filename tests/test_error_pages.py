"""Every error page keeps her way out: "Leave this site" at the top and the "Staying safe
online" page one tap away, in her language, on a booth too. Even the 500 page, which
Django would render from a bare template."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.servers import hidden

pytestmark = pytest.mark.django_db

LANGUAGES = ("en", "ru", "kk")
LEAVE = {"en": "Leave this site", "ru": "Покинуть сайт", "kk": "Сайттан шығу"}


@pytest.fixture(autouse=True)
def open_campaign(settings):
    settings.UNTOLD_KIOSK = False
    settings.UNTOLD_RATE_PER_CLIENT = "1/h"


def story(client: Client, language: str) -> dict[str, str]:
    served = hidden(client.get(f"/{language}/").content.decode(), "served")
    return {"text": "A story.", "consent": "statistics", "served": served}


def bad_request(client, settings, language):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 1
    return client.post(f"/{language}/withdraw/", {"code": "1", "extra": "2"})


def forbidden(client, settings, language):
    return Client(enforce_csrf_checks=True).post(f"/{language}/withdraw/", {"code": "1"})


def not_found(client, settings, language):
    return client.get(f"/{language}/no-such-page/")


def too_many(client, settings, language):
    client.post(f"/{language}/", story(client, language))
    return client.post(f"/{language}/", story(client, language))


def server_error(client, settings, language):
    # A server left without a key to seal with fails inside the view, as a real fault.
    fields = story(client, language)
    settings.UNTOLD_PUBLIC_KEYS = []
    settings.UNTOLD_PRIVATE_KEY_FILES = []
    return Client(raise_request_exception=False).post(f"/{language}/", fields)


ERRORS = {400: bad_request, 403: forbidden, 404: not_found, 429: too_many, 500: server_error}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("status", ERRORS)
def test_an_error_page_keeps_the_quick_exit_and_the_safety_page(client, settings, status, language):
    response = ERRORS[status](client, settings, language)

    page = response.content.decode()
    assert response.status_code == status
    assert f'<html lang="{language}">' in page
    exit_link = re.search(r'<a class="exit" id="quick-exit" href="/exit/"[^>]*>([^<]+)</a>', page)
    assert exit_link and exit_link.group(1) == LEAVE[language], page[:2000]
    assert f'<a href="/{language}/safety/">' in page


def test_the_500_page_on_a_booth_returns_to_an_empty_form_by_itself(client, settings):
    settings.UNTOLD_KIOSK = True
    settings.UNTOLD_KIOSK_IDLE_SECONDS, settings.UNTOLD_KIOSK_WARNING_SECONDS = 240, 45

    page = server_error(client, settings, "ru").content.decode()

    # With JavaScript the idle overlay counts down as on every page; without, a refresh.
    assert 'data-kiosk="1" data-start="/exit/" data-idle="240" data-warning="45"' in page
    assert '<noscript><meta http-equiv="refresh" content="285;url=/exit/"></noscript>' in page
    assert "На этом экране" in page


def test_a_500_page_that_cannot_be_rendered_still_offers_the_quick_exit(client, settings, tmp_path):
    (tmp_path / "500.html").write_text("{% url 'no-such-page' %}")
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [tmp_path, *engine["DIRS"]]}]

    response = server_error(client, settings, "kk")

    assert response.status_code == 500
    assert '<a href="/exit/" rel="noreferrer">Leave this site · ' in response.content.decode()

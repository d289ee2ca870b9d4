"""Every public page, in its heaviest real state, stays under 20 KB as a phone downloads
it (static files compressed and served as in production, headers counted, her own text
shown back counted apart) and takes at most 3 requests, in every language, on a phone
and on a booth. The states and the measurement are bench/page_weight.py's, which
prints the figures (`make bench`)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from django.test import Client

from bench.page_weight import (
    ACCEPT_ENCODING,
    ASSET,
    LANGUAGES,
    LIMIT_BYTES,
    LIMIT_REQUESTS,
    STATES,
    measure,
    served_as_in_production,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def static_folder(tmp_path_factory) -> Path:
    """Static files collected once for the module, as production's collectstatic does."""
    folder = tmp_path_factory.mktemp("static")
    with served_as_in_production(folder):
        pass
    return folder


@pytest.mark.parametrize("booth", [False, True], ids=["phone", "booth"])
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("state", STATES)
def test_a_page_stays_under_20_kb_and_3_requests(static_folder, state, language, booth):
    with served_as_in_production(static_folder):
        weight = measure(state, language, booth=booth)

    assert weight.requests <= LIMIT_REQUESTS
    assert weight.page < LIMIT_BYTES, f"{weight.page / 1024:.1f} KB"


def test_the_stylesheet_and_the_script_come_compressed(static_folder):
    with served_as_in_production(static_folder):
        client = Client(HTTP_HOST="localhost")
        page = client.get("/ru/").content.decode()
        assets = [
            client.get(url, HTTP_ACCEPT_ENCODING=ACCEPT_ENCODING) for url in ASSET.findall(page)
        ]

    assert [asset["Content-Encoding"] for asset in assets] == ["gzip", "gzip"]


@pytest.mark.parametrize("path", ["/ru/", "/kk/privacy/", "/en/no-such-page/"])
def test_public_pages_come_gzipped(client, path):
    response = client.get(path, HTTP_ACCEPT_ENCODING=ACCEPT_ENCODING)

    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert b"<!doctype html>" in gzip.decompress(response.content)


def test_the_panel_is_never_compressed(client, settings):
    # Its pages set stories anyone can write beside other women's stories (BREACH).
    response = client.get(
        f"/{settings.UNTOLD_ADMIN_PATH}login/", HTTP_ACCEPT_ENCODING=ACCEPT_ENCODING
    )

    assert response.status_code == 200 and len(response.content) > 1000
    assert "Content-Encoding" not in response

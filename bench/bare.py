"""WSGI application for bench/submit.py: the real site plus /bare/, a view behind the
same middleware that saves the plaintext and does nothing else. Benchmark only: it is
never mounted by untold.urls."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "untold.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from submissions.models import Testimony  # noqa: E402
from untold import urls  # noqa: E402


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    testimony = Testimony(language="en", consent=request.POST["consent"])
    testimony.sealed_text = request.POST["text"].encode()
    testimony.save(force_insert=True)
    return HttpResponseRedirect("/en/thanks/")


urls.urlpatterns.insert(0, path("bare/", bare))
settings.ROOT_URLCONF = "untold.urls"

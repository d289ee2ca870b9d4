"""WSGI application for bench/submit.py: the real site plus /bare/, a view behind the
same middleware that saves the plaintext and does nothing else, /steps/.../, views
that each add one more part of the real path to the one before, so that the benchmark
can say where the difference goes, and /typical/, the path a Django team would build
instead (bench/typical.py). Benchmark only: never mounted by untold.urls."""

from __future__ import annotations

import os
from collections.abc import Callable

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "untold.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from bench import typical  # noqa: E402
from submissions import ratelimit  # noqa: E402
from submissions.forms import TestimonyForm  # noqa: E402
from submissions.models import Testimony  # noqa: E402
from untold import urls  # noqa: E402

# What each step adds to the one before. The real path (/en/) adds the deadline and
# damage checks and the signed receipt cookie to the last, and takes away three costs:
# the count's answer arrives while the story is sealed, and the story is stored without
# Django's health check first (Testimony.store), in an INSERT whose values are
# parameters (Testimony.insert). Every step stores as Django's save() does.
STEPS = ["bare", "csrf", "rate-limit", "validation", "sealing"]


def save_plaintext(text: str, consent: str) -> HttpResponse:
    testimony = Testimony(language="en", consent=consent)
    testimony.sealed_text = text.encode()
    testimony.save(force_insert=True)
    return HttpResponseRedirect("/en/thanks/")


def up_to(step: str) -> Callable[[HttpRequest], HttpResponse]:
    """A view with the parts of the real path up to and including ``step``."""
    parts = STEPS[: STEPS.index(step) + 1]

    def view(request: HttpRequest) -> HttpResponse:
        if "rate-limit" in parts and ratelimit.check(
            request,
            "submit",
            own=[(ratelimit.client_key(request), settings.UNTOLD_RATE_PER_CLIENT)],
            site=settings.UNTOLD_RATE_SITE,
        ):
            return HttpResponse(status=429)
        if "validation" not in parts:
            return save_plaintext(request.POST["text"], request.POST["consent"])
        form = TestimonyForm(request.POST)
        if not form.is_valid():
            return HttpResponse(status=400)
        if "sealing" not in parts:
            return save_plaintext(form.cleaned_data["text"], form.cleaned_data["consent"])
        testimony, _ = form.sealed(language="en")
        testimony.save(force_insert=True)
        return HttpResponseRedirect("/en/thanks/")

    return view if "csrf" in parts else csrf_exempt(view)


typical.configure()
urls.urlpatterns[:0] = [
    path("bare/", up_to("bare")),
    *(path(f"steps/{step}/", up_to(step)) for step in STEPS[1:]),
    path("typical/", typical.submit),
]
settings.ROOT_URLCONF = "untold.urls"

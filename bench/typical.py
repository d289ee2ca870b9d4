"""The typical path for bench/submit.py: the story form as a Django team would build it
from maintained parts, to compare Untold's own path against. Benchmark only: never
installed as an app, never mounted by untold.urls.

- a ModelForm on a model with the same answers;
- django-ratelimit's ``@ratelimit`` decorator, per client address and site-wide, on
  Django's own RedisCache (``RATELIMIT_USE_CACHE``);
- the text in a Fernet-encrypted field (django-fernet-encrypted-fields: symmetric,
  with a key derived from SECRET_KEY; what DESIGN.md, Sealing, explains Untold does
  not use).

CSRF comes from the same middleware as every other path. ``create_table`` makes the
model's table (bench/submit.py calls it through ``manage.py shell``).
"""

from __future__ import annotations

import os

from django import forms
from django.conf import settings
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST
from django_ratelimit.decorators import ratelimit
from encrypted_fields.fields import EncryptedTextField

from submissions.choices import AgeGroup, Consent, Region, Teller, ViolenceForm


def configure() -> None:
    """What the team adds to settings.py: Django's RedisCache for the rate limits, and
    the field's salt. Called before Django sets up."""
    settings.CACHES["ratelimit"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": settings.REDIS_URL,
    }
    settings.RATELIMIT_USE_CACHE = "ratelimit"
    settings.SALT_KEY = os.environ.get("UNTOLD_BENCH_SALT_KEY", "typical-bench-salt")


class Story(models.Model):
    received_on = models.DateField(auto_now_add=True)
    language = models.CharField(max_length=2, default="en")
    text = EncryptedTextField()
    forms_of_violence = models.CharField(max_length=200, blank=True, default="")
    age_group = models.CharField(max_length=10, choices=AgeGroup.choices, blank=True)
    region = models.CharField(max_length=8, choices=Region.choices, blank=True)
    teller = models.CharField(max_length=10, choices=Teller.choices, blank=True)
    consent = models.CharField(max_length=10, choices=Consent.choices)

    class Meta:
        app_label = "typical"
        db_table = "bench_typical_story"

    def __str__(self) -> str:
        return f"story {self.pk}"


class StoryForm(forms.ModelForm):
    forms_of_violence = forms.MultipleChoiceField(choices=ViolenceForm.choices, required=False)

    class Meta:
        model = Story
        fields = ["consent", "text", "forms_of_violence", "age_group", "region", "teller"]

    def clean_forms_of_violence(self) -> str:
        return ",".join(sorted(self.cleaned_data["forms_of_violence"]))


def site(group: str, request: HttpRequest) -> str:
    return "site"


@require_POST
@ratelimit(key="ip", rate=lambda group, request: settings.UNTOLD_RATE_PER_CLIENT, block=True)
@ratelimit(key=site, rate=lambda group, request: settings.UNTOLD_RATE_SITE, block=True)
def submit(request: HttpRequest) -> HttpResponse:
    form = StoryForm(request.POST)
    if not form.is_valid():
        return HttpResponse(status=400)
    form.save()
    return HttpResponseRedirect("/en/thanks/")


def create_table() -> None:
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.execute(f"DROP TABLE IF EXISTS {Story._meta.db_table}")
        editor.create_model(Story)

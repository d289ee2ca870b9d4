from __future__ import annotations

from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import URLPattern, URLResolver, path

from submissions import views

handler400 = "submissions.views.bad_request"
handler404 = "submissions.views.not_found"
handler500 = "submissions.views.server_error"

urlpatterns: list[URLPattern | URLResolver] = []

if settings.UNTOLD_ROLE != "moderation":
    urlpatterns += [
        path("", views.choose_language, name="choose_language"),
        path("exit/", views.quick_exit, name="exit"),
    ]
    urlpatterns += i18n_patterns(
        path("", views.testimony_form, name="form"),
        path("thanks/", views.thanks, name="thanks"),
        path("withdraw/", views.withdraw, name="withdraw"),
        path("privacy/", views.privacy, name="privacy"),
        path("safety/", views.safety, name="safety"),
    )

if settings.UNTOLD_ROLE != "intake":
    urlpatterns.append(path(settings.UNTOLD_ADMIN_PATH, admin.site.urls))

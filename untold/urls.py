from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import path

urlpatterns = []

if settings.UNTOLD_ROLE != "intake":
    urlpatterns.append(path(settings.UNTOLD_ADMIN_PATH, admin.site.urls))

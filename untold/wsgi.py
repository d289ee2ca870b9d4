"""WSGI entry point. Runs the system checks first, so a misconfigured server never starts."""

from __future__ import annotations

import os

from django.core.management import call_command
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "untold.settings")

application = get_wsgi_application()
# gunicorn does not run Django's system checks; fail closed here instead of serving
# with a missing key, secret or deadline.
call_command("check", fail_level="ERROR")

"""What the logs may hold: nothing about a visitor.

Threat: a log line is timestamped by whatever collects it (a supervisor, journald), so a
line about a visitor's request dates her visit, and Django's own lines name the path
and, for errors, carry a traceback whose exception text can quote the SQL parameters
of a failed INSERT: her story's row. So the console handler drops every line about a
public request that failed on the client's side (400, 403, 404, 413, 429: Django's
``django.request`` and ``django.security`` warnings), and any line that carries an
exception keeps only the exception's class. The panel's own lines are kept: they are
about staff.
"""

from __future__ import annotations

import logging

from submissions.middleware import in_panel

ABOUT_REQUESTS = ("django.request", "django.security")


class Discreet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(ABOUT_REQUESTS) and not self.about_staff(record):
            status = getattr(record, "status_code", None)
            if status is None or status < 500:
                return False
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = "%s: %s"
            record.args = (record.name, record.exc_info[0].__name__)
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True

    def about_staff(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return request is not None and hasattr(request, "path") and in_panel(request)

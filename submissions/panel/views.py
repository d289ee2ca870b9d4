"""The panel's own pages beside the admin's: statistics and the export.

Promise: campaign staff never see a count small enough to single someone out, and an
export is on record, with its row count, before its first byte leaves.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from submissions.campaign import campaign_today
from submissions.crypto import NoPrivateKeyError
from submissions.export import CannotExport
from submissions.export import start as start_export
from submissions.models import Testimony
from submissions.panel.charts import Bar, protect, unprotected
from submissions.panel.forms import ExportForm

HIDDEN = _("hidden")


@permission_required("submissions.view_statistics", raise_exception=True)
def statistics(request: HttpRequest) -> HttpResponse:
    """Counts and bar charts. Moderators see live counts; campaign staff, who may not read
    testimonies, see the days that have ended with small counts hidden (charts.py)."""
    live = request.user.has_perm("submissions.change_testimony")
    testimonies = Testimony.objects.all()
    if not live:
        testimonies = testimonies.filter(received_on__lt=campaign_today())
    show = unprotected if live else protect
    titles = {
        "status": _("By status"),
        "day": _("By day received"),
        "language": _("By language"),
        "form": _("By form of violence"),
        "age_group": _("By age group"),
        "region": _("By region"),
    }
    charts = [
        {"key": key, "title": titles[key], "bars": bar_chart(show(rows))}
        for key, rows in testimonies.statistics().items()
    ]
    context = {
        **admin.site.each_context(request),
        "charts": charts,
        "live": live,
        "title": _("Statistics"),
    }
    return render(request, "admin/statistics.html", context)


def bar_chart(bars: list[Bar]) -> list[dict]:
    """Bars as (label, shown count, width in per cent, y offset) for a server-drawn SVG.
    A hidden count is drawn as no bar at all, and its width is not its count's."""
    top = max((bar.count for bar in bars if not bar.hidden), default=0) or 1
    return [
        {
            "label": bar.label,
            "shown": HIDDEN if bar.hidden else str(bar.count),
            "width": 0 if bar.hidden else round(100 * bar.count / top, 1),
            "y": index * 24,
        }
        for index, bar in enumerate(bars)
    ]


@permission_required("submissions.export", raise_exception=True)
@require_http_methods(["GET", "POST"])
def export(request: HttpRequest) -> HttpResponseBase:
    """The export page; its POST streams the CSV. The audit event is written before the
    first byte, with the row count the plan already knows."""
    form = ExportForm(request.POST or None, initial={"k": settings.UNTOLD_EXPORT_K})
    context = {**admin.site.each_context(request), "form": form, "title": _("Export")}
    if request.method == "GET" or not form.is_valid():
        return render(request, "admin/export.html", context, status=400 if form.errors else 200)
    bom = form.cleaned_data["bom"]
    try:
        plan, chunks = start_export(
            k=form.cleaned_data["k"], bom=bom, actor=request.user.get_username()
        )
    except NoPrivateKeyError as error:
        context["cannot_open"] = error
        return render(request, "admin/export.html", context, status=503)
    except CannotExport as error:
        context["cannot_open"] = ngettext(
            "%(n)d campaign text cannot be opened, so nothing was exported. The failed "
            "export is on the audit trail; run check_keys on the moderation host.",
            "%(n)d campaign texts cannot be opened, so nothing was exported. The failed "
            "export is on the audit trail; run check_keys on the moderation host.",
            error.unopened,
        ) % {"n": error.unopened}
        return render(request, "admin/export.html", context, status=500)
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    filename = f"untold-export-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

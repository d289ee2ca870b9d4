"""The panel's own pages beside the admin's: statistics and the export.

Promise: campaign staff never see a count small enough to single someone out, and an
export is on record, with its row count, before its first byte leaves.
"""

from __future__ import annotations

from datetime import date, timedelta

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

from submissions.campaign import Campaign, campaign_today
from submissions.choices import Status
from submissions.crypto import NoPrivateKeyError
from submissions.export import CannotExport, ExportPlan
from submissions.export import start as start_export
from submissions.models import DailyCount, Testimony
from submissions.panel.charts import Bar, protect, unprotected
from submissions.panel.forms import SEALED_HERE, ExportForm

HIDDEN = _("hidden")


@permission_required("submissions.view_statistics", raise_exception=True)
def statistics(request: HttpRequest) -> HttpResponse:
    """Totals, then a chart per answer, every day of the campaign shown, zeros included.
    Moderators see live counts; campaign staff, who may not read testimonies, see the
    days that have ended, with small counts hidden (charts.py)."""
    live = request.user.has_perm("submissions.change_testimony")
    today = campaign_today()
    counts = DailyCount.objects.statistics(before=None if live else today)
    counts["day"] = every_day(counts["day"], last=today if live else today - timedelta(days=1))
    show = unprotected if live else protect
    charts = [
        {"key": key, "title": TITLES[key], "bars": bar_chart(show(rows))}
        for key, rows in counts.items()
    ]
    by_status = dict(zip(Status.values, (n for _, n in counts["status"]), strict=True))
    context = {
        **admin.site.each_context(request),
        "title": _("Statistics"),
        "live": live,
        "until": today - timedelta(days=1),
        "total": sum(by_status.values()),
        "totals": bar_chart(show([(label, n) for label, n in counts["status"]])),
        "charts": charts,
    }
    return render(request, "admin/statistics.html", context)


TITLES = {
    "status": _("By status"),
    "day": _("By day received"),
    "language": _("By language"),
    "form": _("By form of violence"),
    "age_group": _("By age group"),
    "region": _("By region"),
}


def every_day(rows: list[tuple[str, int]], *, last: date) -> list[tuple[str, int]]:
    """The counts by day with the days that had none, from the campaign's first day (or
    the first story, if the campaign has no opening day) to ``last``."""
    counted = dict(rows)
    opens = settings.UNTOLD_OPENS_AT
    first = Campaign.from_settings().local(opens).date() if opens else None
    if counted:
        earliest = date.fromisoformat(min(counted))
        first = min(first, earliest) if first else earliest
    if first is None:
        return []
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [(day.isoformat(), counted.get(day.isoformat(), 0)) for day in days]


def bar_chart(bars: list[Bar]) -> list[dict]:
    """Each bar's label, shown count and width in per cent. A hidden count is drawn as
    no bar at all, and its width is not its count's."""
    top = max((bar.count for bar in bars if not bar.hidden), default=0) or 1
    return [
        {
            "label": bar.label,
            "shown": HIDDEN if bar.hidden else str(bar.count),
            "width": 0 if bar.hidden else round(100 * bar.count / top, 1),
        }
        for bar in bars
    ]


@permission_required("submissions.export", raise_exception=True)
@require_http_methods(["GET", "POST"])
def export(request: HttpRequest) -> HttpResponseBase:
    """The export page says what the file will hold (how many stories, how many left
    out, which columns shown less precisely) before the download; its POST streams the
    CSV. The audit event is written before the first byte, with the row count the plan
    already knows."""
    form = ExportForm(request.POST or None, initial={"k": settings.UNTOLD_EXPORT_K})
    context = {**admin.site.each_context(request), "form": form, "title": _("Export")}
    if request.method == "GET" or not form.is_valid():
        context["preview"] = preview(request)
        return render(request, "admin/export.html", context, status=400 if form.errors else 200)
    bom = form.cleaned_data["bom"]
    try:
        plan, chunks = start_export(
            k=form.cleaned_data["k"], bom=bom, actor=request.user.get_username()
        )
    except NoPrivateKeyError:
        context["cannot_open"] = SEALED_HERE
        return render(request, "admin/export.html", context, status=403)
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


COLUMN_NAMES = {
    "received_week": _("week"),
    "language": _("language"),
    "forms_of_violence": _("forms of violence"),
    "age_group": _("age group"),
    "region": _("region"),
    "teller": _("who is telling"),
}


def preview(request: HttpRequest) -> dict[str, object]:
    """What an export with the smallest group asked for (``?k=``, or the default)
    would hold; nothing is opened or put on record."""
    try:
        k = max(int(request.GET.get("k", "")), settings.UNTOLD_EXPORT_K)
    except ValueError:
        k = settings.UNTOLD_EXPORT_K
    plan = ExportPlan.build(Testimony.objects.exportable(), k=k)
    return {
        "k": k,
        "rows": plan.rows,
        "left_out": plan.suppressed,
        "generalized": [
            (COLUMN_NAMES[name], plan.generalized.get(name, 0))
            for name in COLUMN_NAMES
            if plan.generalized.get(name)
        ],
    }

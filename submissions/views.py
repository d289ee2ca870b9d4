"""The pages: the public site, and the panel's statistics and export. Views only decide
what happens next; forms validate, models store.

Promise: no page stores or logs the client address, user agent or exact time; a
submission is stored whole or not at all, and every failure keeps her text on screen.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from submissions import ratelimit
from submissions.crypto import NoPrivateKeyError
from submissions.export import start as start_export
from submissions.forms import ExportForm, TestimonyForm, WithdrawForm, grouped, served_token
from submissions.models import Campaign, Testimony, receipt_digest

logger = logging.getLogger("untold.submissions")
RECEIPT_COOKIE = "receipt"
RECEIPT_SALT = "untold.receipt-cookie"
SMALL_COUNT = 5


def choose_language(request: HttpRequest) -> HttpResponse:
    """``/`` sends the browser to the language it prefers, English otherwise."""
    language = translation.get_language_from_request(request)
    return redirect("form") if language is None else HttpResponseRedirect(f"/{language}/")


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
def testimony_form(request: HttpRequest) -> HttpResponse:
    campaign, now = Campaign.from_settings(), timezone.now()
    if request.method == "GET":
        if not campaign.is_open_at(now):
            return closed(request, campaign, status=200)
        form = TestimonyForm(initial={"served": served_token(now)})
        return render_form(request, form)

    limited = ratelimit.check(
        request,
        "submit",
        per_client=settings.UNTOLD_RATE_PER_CLIENT,
        site=settings.UNTOLD_RATE_SITE,
    )
    if limited:
        return render_form(request, refreshed(TestimonyForm(request.POST)), limited=limited)
    form = TestimonyForm(request.POST, damaged=arrived_damaged(request))
    valid = form.is_valid()
    if not campaign.accepts(now, form.cleaned_data.get("served")):
        return closed(request, campaign, status=403, text=request.POST.get("text", ""))
    if not valid:
        return render_form(request, refreshed(form), status=400, expired="served" in form.errors)
    if form.is_from_a_robot:
        return redirect("thanks")
    try:
        # One INSERT is stored whole or not at all on its own, without the two extra
        # round trips of BEGIN and COMMIT. Inside a transaction someone else opened (a
        # test, or ATOMIC_REQUESTS) a savepoint keeps a failure here from poisoning it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            _, code = form.save(language=translation.get_language())
    except DatabaseError as error:
        # The class name only: the message could quote SQL parameters.
        logger.error("a testimony could not be saved: %s", type(error).__name__)
        return render_form(request, form, status=503, unsaved=True)
    thanks_path = reverse("thanks")
    response = HttpResponseRedirect(thanks_path)
    response.set_signed_cookie(
        RECEIPT_COOKIE,
        code,
        salt=RECEIPT_SALT,
        path=thanks_path,
        secure=not settings.DEBUG,
        httponly=True,
        samesite="Strict",
    )
    return response


def arrived_damaged(request: HttpRequest) -> bool:
    """Whether the form came with bytes that are not UTF-8 (a broken client, or a lone
    surrogate sent as %ED%A0%80). Django reads them as U+FFFD, which she did not write;
    a U+FFFD she did write arrives as valid bytes and is kept."""
    replaced = any(
        "\ufffd" in name or any("\ufffd" in value for value in request.POST.getlist(name))
        for name in request.POST
    )
    if request.content_type == "application/x-www-form-urlencoded":
        body = request.body  # still readable after parsing, for this type
        if body.isascii() and not replaced:
            # As browsers send it: every non-ASCII byte percent-encoded, and none of them
            # read as U+FFFD. The common case, decided without decoding the body again.
            return False
        # Percent-decoding leaves the ASCII separators in place, so the whole is UTF-8
        # exactly when every part is.
        try:
            unquote_to_bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False
    # A multipart body is streamed and gone once parsed, so the replacement character is
    # the only trace. The form page posts urlencoded; only other clients post multipart.
    return replaced


def refreshed(form: TestimonyForm) -> TestimonyForm:
    """The same form with a fresh served-at token if hers was missing or broken, so that
    she can send it again; a good token is kept, with the grace period it carries."""
    if not form.is_bound or "served" not in form.errors:
        return form
    data = form.data.copy()
    data["served"] = served_token()
    return TestimonyForm(data, damaged=form.damaged)


def render_form(
    request: HttpRequest,
    form: TestimonyForm,
    *,
    status: int = 200,
    limited: ratelimit.Limited | None = None,
    unsaved: bool = False,
    expired: bool = False,
) -> HttpResponse:
    context = {
        "form": form,
        "limited": limited,
        "unsaved": unsaved,
        "expired": expired,
        "kiosk": settings.UNTOLD_KIOSK,
    }
    response = render(request, "submissions/form.html", context, status=status)
    return limited.refuse(response) if limited else response


def closed(
    request: HttpRequest, campaign: Campaign, *, status: int, text: str = ""
) -> HttpResponse:
    now = timezone.now()
    context = {
        "not_yet": not campaign.has_opened_at(now),
        "opens_at": campaign.opens_at and campaign.local(campaign.opens_at),
        "closes_at": campaign.local(campaign.closes_at),
        "unsent_text": text,
    }
    return render(request, "submissions/closed.html", context, status=status)


@require_GET
def thanks(request: HttpRequest) -> HttpResponse:
    code = request.get_signed_cookie(RECEIPT_COOKIE, default=None, salt=RECEIPT_SALT, max_age=600)
    context = {"code": code and grouped(code), "kiosk": settings.UNTOLD_KIOSK}
    response = render(request, "submissions/thanks.html", context)
    # Shown once: the cookie goes with this response.
    response.delete_cookie(RECEIPT_COOKIE, path=reverse("thanks"), samesite="Strict")
    return response


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
def withdraw(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "submissions/withdraw.html", {"form": WithdrawForm()})
    limited = ratelimit.check(
        request,
        "withdraw",
        per_client=settings.UNTOLD_RATE_WITHDRAW_PER_CLIENT,
        site=settings.UNTOLD_RATE_SITE,
    )
    if limited:
        context = {"form": WithdrawForm(), "limited": limited}
        return limited.refuse(render(request, "submissions/withdraw.html", context))
    form = WithdrawForm(request.POST)
    if not form.is_valid():
        return render(request, "submissions/withdraw.html", {"form": form}, status=400)
    # The same answer whether or not the code matched anything.
    Testimony.objects.filter(receipt_digest=receipt_digest(form.cleaned_data["code"])).delete()
    return render(request, "submissions/withdrawn.html")


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    campaign = Campaign.from_settings()
    context = {
        "closes_at": campaign.local(campaign.closes_at),
        "delete_after": campaign.delete_after,
        "retain_days": settings.UNTOLD_RETAIN_DAYS,
    }
    return render(request, "submissions/privacy.html", context)


@require_GET
def quick_exit(request: HttpRequest) -> HttpResponse:
    """Leave at once for a neutral site and tell the browser to forget this one."""
    response = HttpResponseRedirect(settings.UNTOLD_EXIT_URL)
    response["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


# Django's own error pages are wrapped in requires_csrf_token, which reads the body of a
# POST: after a body Django refuses to read (a form declared in another charset), that
# raised again and a 400 or 404 became a 500. These pages need no token.


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "400.html", status=400)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A stale or missing CSRF token on the story form: show the form again with her text
    and a fresh token instead of Django's bare 403 page."""
    if request.method == "POST" and "text" in request.POST:
        data = request.POST.copy()
        data["served"] = request.POST.get("served") or served_token()
        return render_form(request, TestimonyForm(data), status=403, expired=True)
    return render(request, "403.html", status=403)


@permission_required("submissions.view_statistics", raise_exception=True)
def statistics(request: HttpRequest) -> HttpResponse:
    """Counts and bar charts for moderators and campaign staff. Staff who may not read
    testimonies see counts below 5 as "<5", so that a rare group cannot be singled out."""
    suppress = not request.user.has_perm("submissions.change_testimony")
    charts = []
    titles = {
        "status": _("By status"),
        "day": _("By day received"),
        "language": _("By language"),
        "form": _("By form of violence"),
        "age_group": _("By age group"),
        "region": _("By region"),
    }
    for key, rows in Testimony.objects.statistics().items():
        charts.append({"key": key, "title": titles[key], "bars": bar_chart(rows, suppress)})
    context = {
        **admin.site.each_context(request),
        "charts": charts,
        "suppress": suppress,
        "title": _("Statistics"),
    }
    return render(request, "admin/statistics.html", context)


def bar_chart(rows: list[tuple[str, int]], suppress: bool) -> list[dict]:
    """Bars as (label, shown count, width in per cent, y offset) for a server-drawn SVG."""
    top = max((count for _, count in rows), default=0) or 1
    bars = []
    for index, (label, count) in enumerate(rows):
        hidden = suppress and 0 < count < SMALL_COUNT
        bars.append(
            {
                "label": label,
                "shown": f"<{SMALL_COUNT}" if hidden else str(count),
                "width": 0 if hidden else round(100 * count / top, 1),
                "y": index * 24,
            }
        )
    return bars


@permission_required("submissions.export", raise_exception=True)
@require_http_methods(["GET", "POST"])
def export(request: HttpRequest) -> HttpResponse:
    """The export page; its POST streams the CSV. The audit event is written before the
    first byte, with the row count the plan already knows."""
    form = ExportForm(request.POST or None, initial={"k": settings.UNTOLD_EXPORT_K})
    context = {**admin.site.each_context(request), "form": form, "title": _("Export")}
    if request.method == "GET" or not form.is_valid():
        return render(request, "admin/export.html", context, status=400 if form.errors else 200)
    bom = form.cleaned_data["bom"]
    try:
        plan = start_export(k=form.cleaned_data["k"], bom=bom, actor=request.user.get_username())
    except NoPrivateKeyError as error:
        context["cannot_open"] = error
        return render(request, "admin/export.html", context, status=503)
    response = StreamingHttpResponse(plan.stream(bom=bom), content_type="text/csv; charset=utf-8")
    filename = f"untold-export-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

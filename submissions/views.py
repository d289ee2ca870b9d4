"""The public pages: the form, its thanks page, withdrawal, privacy and the quick exit.
Views only decide what happens next; forms validate, models store. The panel's pages
live in ``submissions/panel``.

Promise: no page stores or logs the client address, user agent or exact time; a
submission is stored whole or not at all, and every failure keeps her text on screen.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import cast
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.db import DatabaseError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    HttpResponseServerError,
    QueryDict,
)
from django.shortcuts import redirect, render
from django.urls import get_script_prefix, reverse
from django.utils import formats, timezone, translation
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from submissions import ratelimit, receipts
from submissions.campaign import Campaign
from submissions.forms import MAX_TEXT_LENGTH, TestimonyForm, WithdrawForm, served_token
from submissions.models import Testimony

logger = logging.getLogger("untold.submissions")


def choose_language(request: HttpRequest) -> HttpResponse:
    """``/`` sends the browser to the language it prefers, English otherwise."""
    language = translation.get_language_from_request(request)
    return redirect("form") if language is None else HttpResponseRedirect(f"/{language}/")


def campaign_context(request: HttpRequest) -> dict[str, object]:
    """What every page may show (a context processor): who runs the campaign and how to
    reach them, and whether this is a booth and how long it waits for her."""
    reset = settings.UNTOLD_KIOSK_IDLE_SECONDS + settings.UNTOLD_KIOSK_WARNING_SECONDS
    return {
        "organisation": settings.UNTOLD_ORGANISATION,
        "contact": settings.UNTOLD_CONTACT,
        "kiosk": settings.UNTOLD_KIOSK,
        "kiosk_idle_seconds": settings.UNTOLD_KIOSK_IDLE_SECONDS,
        "kiosk_warning_seconds": settings.UNTOLD_KIOSK_WARNING_SECONDS,
        # How long a booth left untouched keeps a page, warning included.
        "kiosk_reset_seconds": reset,
        "kiosk_reset_minutes": -(-reset // 60),
    }


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
def testimony_form(request: HttpRequest) -> HttpResponse:
    campaign, now = Campaign.from_settings(), timezone.now()
    if request.method == "GET":
        if not campaign.is_open_at(now):
            return closed(request, campaign, status=200)
        form = TestimonyForm(initial={"served": served_token(now)})
        return render_form(request, form)

    form = TestimonyForm(request.POST, damaged=arrived_damaged(request))
    valid = form.is_valid()
    if not campaign.accepts(now, form.cleaned_data.get("served")):
        return closed(request, campaign, status=403, text=request.POST.get("text", ""))
    # Only a story that would be stored spends the site-wide budget: a flood of empty
    # or broken posts costs its sender alone.
    storable = valid and not form.is_from_a_robot
    with ratelimit.counting(
        request,
        "submit",
        own=[(ratelimit.client_key(request), settings.UNTOLD_RATE_PER_CLIENT)],
        site=settings.UNTOLD_RATE_SITE,
        spend=storable,
    ) as counted:
        # Sealed while the cache counts: both take about as long.
        testimony, code = (
            form.sealed(language=translation.get_language()) if storable else (None, "")
        )
    if counted.limited:
        return render_form(request, refreshed(form), limited=counted.limited)
    if not valid:
        return render_form(request, refreshed(form), status=400, expired="served" in form.errors)
    if testimony is None:  # from a robot
        return redirect("thanks")
    try:
        testimony.store()
    except DatabaseError as error:
        # The class name only: the message could quote SQL parameters.
        logger.error("a testimony could not be saved: %s", type(error).__name__)
        return render_form(request, form, status=503, unsaved=True)
    pages = thanks_pages()
    response = HttpResponseRedirect(dict(pages)[translation.get_language()])
    receipts.hand_over(response, code, paths=pages)
    return response


def thanks_pages() -> list[tuple[str, str]]:
    """Each language's thanks page: the code waits for whichever she opens."""
    return list(thanks_pages_under(get_script_prefix()))


@cache
def thanks_pages_under(prefix: str) -> tuple[tuple[str, str], ...]:
    # Once per process (and script prefix): reversing the page in each language took
    # about 70 µs of every submission, 1.4 % of the real path (bench/submit.py).
    pages = []
    for language, _ in settings.LANGUAGES:
        with translation.override(language):
            pages.append((language, reverse("thanks")))
    return tuple(pages)


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
    data = cast(QueryDict, form.data).copy()
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
        # For the character counter, which writes numbers as the page's language does.
        "limit": MAX_TEXT_LENGTH,
        "separator": formats.get_format("THOUSAND_SEPARATOR"),
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
    """The receipt code, again on a reload or in another language until its cookies
    expire. At a booth the next person must not find it: the cookies go as it is shown,
    and the code stays on screen until "Done" or the booth's idle timeout."""
    code = receipts.received(request, translation.get_language())
    response = render(request, "submissions/thanks.html", {"code": code and receipts.grouped(code)})
    if settings.UNTOLD_KIOSK:
        receipts.forget(response, paths=thanks_pages())
    return response


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
def withdraw(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "submissions/withdraw.html", withdrawal_context(WithdrawForm()))
    form = WithdrawForm(request.POST)
    valid = form.is_valid()
    limited = ratelimit.check(
        request,
        "withdraw",
        own=[(ratelimit.client_key(request), settings.UNTOLD_RATE_WITHDRAW_PER_CLIENT)],
        site=settings.UNTOLD_RATE_SITE,
        spend=valid,
    )
    if limited:
        # She had confirmed: she is asked again once the wait is over, code and all.
        if valid and form.cleaned_data["confirmed"]:
            template, context = "submissions/withdraw_confirm.html", withdrawal_context(form)
        else:
            template, context = "submissions/withdraw.html", withdrawal_context(WithdrawForm())
        return limited.refuse(render(request, template, {**context, "limited": limited}))
    if not valid:
        return render(request, "submissions/withdraw.html", withdrawal_context(form), status=400)
    # Neither step looks the code up: the confirmation, and the answer after it, are the
    # same whether or not the code belonged to a story.
    if not form.cleaned_data["confirmed"]:
        return render(request, "submissions/withdraw_confirm.html", withdrawal_context(form))
    Testimony.objects.filter(receipt_digest=receipts.digest(form.cleaned_data["code"])).delete()
    return render(request, "submissions/withdrawn.html", withdrawal_context(form))


def withdrawal_context(form: WithdrawForm) -> dict[str, object]:
    code = form.cleaned_data.get("code") if form.is_bound and not form.errors else None
    return {
        "form": form,
        "code": code and receipts.grouped(code),
        "may_have_a_typo": form.may_have_a_typo,
        "backup_days": settings.UNTOLD_BACKUP_DAYS,
    }


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    campaign = Campaign.from_settings()
    context = {
        "closes_at": campaign.local(campaign.closes_at),
        "purge_on": campaign.purge_on,
        "retain_days": settings.UNTOLD_RETAIN_DAYS,
        "backup_days": settings.UNTOLD_BACKUP_DAYS,
    }
    return render(request, "submissions/privacy.html", context)


@require_GET
def safety(request: HttpRequest) -> HttpResponse:
    return render(request, "submissions/safety.html")


@require_GET
def quick_exit(request: HttpRequest) -> HttpResponse:
    """Leave at once for a neutral site and tell the browser to forget this one. A booth
    has no browser to leave: it starts again at an empty form, forgetting the same."""
    target = reverse("form") if settings.UNTOLD_KIOSK else settings.UNTOLD_EXIT_URL
    response = HttpResponseRedirect(target)
    response["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


# Django's own error pages are wrapped in requires_csrf_token, which reads the body of a
# POST: after a body Django refuses to read (a form declared in another charset), that
# raised again and a 400 or 404 became a 500. These pages need no token.


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "400.html", status=400)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page as every other page, in her language, with the quick exit, the safety
    page and a booth's idle return: Django's own renders it without the request. If even
    that fails, a fixed page keeps the quick exit."""
    try:
        return render(request, "500.html", status=500)
    except Exception as error:
        logger.error("the error page could not be rendered: %s", type(error).__name__)
        return HttpResponseServerError(SERVER_ERROR_FALLBACK)


# In the three languages, for when no template can be rendered.
SERVER_ERROR_FALLBACK = """<!doctype html>
<html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Error · Қате · Ошибка</title>
<p><a href="/exit/" rel="noreferrer">Leave this site · <span lang="kk">Сайттан шығу</span> ·
<span lang="ru">Покинуть сайт</span></a></p>
<h1>Something went wrong · <span lang="kk">Бірдеңе дұрыс болмады</span> ·
<span lang="ru">Что-то пошло не так</span></h1>
"""


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A stale or missing CSRF token on the story form, sent from this site's own page:
    show the form again with her text and a fresh token instead of Django's bare 403.

    Only for a post from this site: a page elsewhere could otherwise post a text of its
    choosing and have it shown back as her form, one click from being sent. And never
    with a consent chosen: she chooses again."""
    if request.method == "POST" and "text" in request.POST and from_this_site(request):
        data = request.POST.copy()
        data.pop("consent", None)
        data["served"] = request.POST.get("served") or served_token()
        return render_form(request, TestimonyForm(data), status=403, expired=True)
    return render(request, "403.html", status=403)


def from_this_site(request: HttpRequest) -> bool:
    """Whether a post came from a page of this site: its Origin, or (from a browser that
    sends none) its Referer, names this site's own origin."""
    own = f"{request.scheme}://{request.get_host()}"
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None:
        return origin == own
    referer = request.META.get("HTTP_REFERER", "")
    return referer == own or referer.startswith(own + "/")

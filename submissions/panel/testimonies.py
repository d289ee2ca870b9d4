"""The moderators' queue, list and reading view, built on the Django admin.

Threat: every reading of a testimony must be on record, once per reading. The list
pages never load sealed text; the original is opened only on a testimony's reading
view, by a user with ``submissions.view_original``, and each page that shows it writes
one AuditEvent.

Promise to the moderators, who read hundreds of stories in a campaign's last days:
they land on the new stories, oldest first, and each decision (approve, reject, skip)
is one keystroke and one page load that leads to the next story, keeping their
filters. The original is set for reading (16 px type, lines of about 70 characters),
beside the campaign text, which starts as the redaction suggestion. A story can be
hidden or blurred before it is read, and a reminder to take a break comes every
``UNTOLD_BREAK_EVERY`` decisions.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import prepare_lookup_value
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.db.models.functions import Length
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from submissions import crypto
from submissions.choices import Consent, Status, ViolenceForm
from submissions.keys import keyring
from submissions.models import AuditEvent, Testimony, TestimonyQuerySet
from submissions.panel.admin import CappedPaginator, DeclaredLookupsOnly
from submissions.panel.forms import SEALED_HERE, ModerationForm
from submissions.redaction import MARKERS, find_identifiers, highlight, suggest_campaign_text

# What each kind of marked detail is, for the legend beside the original.
KIND_LABELS = {
    "email": _("e-mail address"),
    "phone": _("phone number"),
    "iin": _("IIN (individual identification number)"),
    "card": _("payment card number"),
    "url": _("link"),
    "handle": _("social media handle"),
    "address": _("street address or flat"),
}
# Counts the decisions of this session, for the break reminder.
DECISIONS_KEY = "untold_decisions"
DECISIONS = ("_approve_next", "_reject_next", "_skip")


class ViolenceFormFilter(admin.SimpleListFilter):
    title = _("form of violence")
    parameter_name = "form"

    def lookups(self, request, model_admin):
        return ViolenceForm.choices

    def queryset(self, request, queryset):
        if self.value() in ViolenceForm.values:
            return queryset.with_violence_form(self.value())
        return queryset


@admin.register(Testimony)
class TestimonyAdmin(DeclaredLookupsOnly):
    form = ModerationForm
    change_form_template = "admin/submissions/testimony/change_form.html"
    list_display = [
        "short_id",
        "received_on",
        "language",
        "status",
        "violence_forms_display",
        "consent",
        "length_display",
    ]
    list_filter = ["status", "language", "received_on", ViolenceFormFilter, "consent"]
    # Newest day first; within a day the random ids (no arrival order). The same
    # index, read backwards, serves the queue's oldest-first order.
    ordering = ["-received_on", "-id"]
    list_per_page = 50
    # Beside these, Django's own "Delete selected": its confirmation page posts back to it
    # by that name, and it deletes through delete_queryset below (audited).
    actions = ["approve", "reject"]
    readonly_fields = [
        "short_id",
        "received_on",
        "language",
        "status",
        "violence_forms_display",
        "age_group",
        "region",
        "teller",
        "consent",
    ]
    fieldsets = [
        (None, {"fields": ["short_id", "received_on", "language", "status", "consent"]}),
        (_("Answers"), {"fields": ["violence_forms_display", "age_group", "region", "teller"]}),
    ]

    def get_urls(self) -> list:
        queue = path(
            "queue/",
            self.admin_site.admin_view(self.queue_view),
            name="submissions_testimony_queue",
        )
        return [queue, *super().get_urls()]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The list never loads sealed bytes: only their length, for the size bucket.
        return (
            super()
            .get_queryset(request)
            .defer("sealed_text", "sealed_campaign_text")
            .annotate(sealed_length=Length("sealed_text"))
        )

    @admin.display(description=_("id"))
    def short_id(self, obj: Testimony) -> str:
        return obj.short_id

    @admin.display(description=_("forms of violence"))
    def violence_forms_display(self, obj: Testimony) -> str:
        labels = dict(ViolenceForm.choices)
        return ", ".join(str(labels[value]) for value in obj.violence_forms) or "—"

    @admin.display(description=_("length"))
    def length_display(self, obj: Testimony) -> str:
        sealed_length = cast(Any, obj).sealed_length  # annotated by get_queryset
        kib = max(1, (sealed_length - crypto.SEALED_OVERHEAD) // crypto.BUCKET)
        return f"{kib} KiB"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # testimonies arrive only through the public form

    # --- The queue ---------------------------------------------------------------------

    def queue(self, request: HttpRequest, filters: QueryDict) -> TestimonyQuerySet:
        """The new testimonies that the list's ``filters`` select, oldest first. Only the
        list's own filters are taken (400 for any other), and its status filter is
        replaced by "new"."""
        allowed = self.declared_lookups(request)
        testimonies = Testimony.objects.filter(status=Status.NEW)
        try:
            for key, values in filters.lists():
                if key not in allowed:
                    raise BadRequest("not a filter of the list")
                if key.startswith("status"):
                    continue
                for value in values:
                    if key == ViolenceFormFilter.parameter_name:
                        testimonies = testimonies.with_violence_form(value)
                    else:
                        testimonies = testimonies.filter(
                            **{key: prepare_lookup_value(key, value, ",")}
                        )
        except (ValidationError, ValueError):
            raise BadRequest("a filter of the list has a value it cannot take") from None
        return testimonies.order_by("received_on", "id")

    def queue_filters(self, request: HttpRequest) -> QueryDict:
        """The list's filters, as the admin carries them from the list to a record's
        page and back (``_changelist_filters``)."""
        return QueryDict(request.GET.get("_changelist_filters", ""))

    def next_story(self, queue: TestimonyQuerySet, after: Testimony | None) -> Testimony | None:
        """The first story of the queue after ``after`` (skipped ones come round again)."""
        if after is None:
            return queue.only("id").first()
        later = Q(received_on__gt=after.received_on) | Q(
            received_on=after.received_on, id__gt=after.id
        )
        return queue.filter(later).only("id").first() or (
            queue.exclude(pk=after.pk).only("id").first()
        )

    def reading_url(self, testimony: Testimony, filters: QueryDict) -> str:
        url = reverse("admin:submissions_testimony_change", args=[testimony.pk])
        return f"{url}?{urlencode({'_changelist_filters': filters.urlencode()})}"

    def queue_view(self, request: HttpRequest) -> HttpResponse:
        """Go to the oldest new story the filters select, or say that none is left."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        filters = request.GET
        first = self.next_story(self.queue(request, filters), after=None)
        if first is not None:
            return HttpResponseRedirect(self.reading_url(first, filters))
        changelist = reverse("admin:submissions_testimony_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Nothing left to read"),
            "list_url": f"{changelist}?{filters.urlencode()}" if filters else changelist,
            "filtered": bool(filters),
        }
        return TemplateResponse(request, "admin/submissions/testimony/queue_empty.html", context)

    # --- The reading view ----------------------------------------------------------------

    def render_change_form(
        self, request, context, add=False, change=False, form_url="", obj=None
    ) -> HttpResponse:
        """The hook Django calls with the page's context, once per page that is shown
        (never for a save that redirects): the original is opened here, once, on record;
        an empty campaign text starts as the redaction suggestion."""
        if obj is not None:
            context.update(self.reading_context(request, obj, context["adminform"].form))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def reading_context(
        self, request: HttpRequest, testimony: Testimony, form: ModerationForm
    ) -> dict[str, object]:
        filters = self.queue_filters(request)
        # Counted only so far, as a list counts its rows: counting every new story took
        # the page from 13 to 33 ms between 100,000 and 1,000,000 stories (bench/scale.py).
        left = CappedPaginator(self.queue(request, filters), per_page=1)
        context: dict[str, object] = {
            "left": min(left.count, left.cap),  # the plural: "10000+" is said as 10,000 is
            "left_shown": left.shown,
            "statistics_only": testimony.consent == Consent.STATISTICS,
            "queue_filters": filters.urlencode(),
            "legend": [(MARKERS[kind], label) for kind, label in KIND_LABELS.items()],
        }
        original = self.open_original(request, testimony)
        if not isinstance(original, str):
            return context | original
        empty = not form.is_bound and not form.initial.get("campaign_text")
        if empty and not form.cannot_open and testimony.consent == Consent.QUOTE:
            form.initial["campaign_text"] = suggest_campaign_text(original)
            context["suggested"] = True
        context["original_html"] = format_html_join(
            "",
            "{}",
            (
                (
                    format_html(
                        '<mark class="found">{}<span class="kind"> {}</span></mark>',
                        segment,
                        MARKERS[kind],
                    )
                    if kind
                    else segment,
                )
                for segment, kind in highlight(original)
            ),
        )
        context["findings"] = find_identifiers(original)
        return context

    def open_original(self, request: HttpRequest, testimony: Testimony) -> str | dict:
        """The original text, opened and put on record; or, if it may not or cannot be
        opened, the context that says so. Never ciphertext as text."""
        if not request.user.has_perm("submissions.view_original"):
            return {"original_refused": True}
        if not keyring().can_open:
            return {"original_error": SEALED_HERE}
        try:
            text = testimony.open_text()
        except crypto.SealError as error:
            return {"original_error": _("Cannot open this text: %(error)s") % {"error": error}}
        AuditEvent.record(
            AuditEvent.Action.VIEWED, actor=request.user.get_username(), testimony=testimony
        )
        return text

    def save_model(self, request, obj, form, change) -> None:
        if "campaign_text" in form.changed_data:
            text = form.cleaned_data["campaign_text"]
            if text.strip():
                obj.seal_campaign_text(text)
            else:
                # A blank campaign text is none: a quotable story without one can be
                # neither approved nor exported.
                obj.sealed_campaign_text = None
            obj.save(update_fields=["sealed_campaign_text"])
            AuditEvent.record(
                AuditEvent.Action.EDITED, actor=request.user.get_username(), testimony=obj
            )

    def log_change(self, request, obj, message):
        """Nothing in Django's change log: the audit trail records each step, and a
        second, timestamped row per click would only date the moderator's work twice."""
        return None

    def log_deletions(self, request, queryset):
        """Nothing in Django's change log: see log_change."""
        return []

    def response_change(self, request: HttpRequest, obj: Testimony) -> HttpResponse:
        """After a save: a decision, then the next story of the queue (keeping the list's
        filters); or, for a plain save, the list as Django's admin does."""
        decision = next((name for name in DECISIONS if name in request.POST), None)
        if decision is None or not self.has_change_permission(request, obj):
            return super().response_change(request, obj)
        actor = request.user.get_username()
        if decision == "_approve_next":
            try:
                obj.approve(by=actor)
            except ValueError:
                self.message_user(
                    request,
                    _("This story may be quoted: write its campaign text before approving."),
                    messages.ERROR,
                )
                return HttpResponseRedirect(request.get_full_path())
            self.message_user(request, _("Approved %(id)s.") % {"id": obj.short_id})
        elif decision == "_reject_next":
            reason = " ".join(request.POST.get("reason", "").split())[:500]
            obj.reject(by=actor, reason=reason)
            self.message_user(request, _("Rejected %(id)s.") % {"id": obj.short_id})
        self.count_decision(request)
        filters = self.queue_filters(request)
        following = self.next_story(self.queue(request, filters), after=obj)
        if following is None:
            return HttpResponseRedirect(
                f"{reverse('admin:submissions_testimony_queue')}?{filters.urlencode()}"
            )
        return HttpResponseRedirect(self.reading_url(following, filters))

    def count_decision(self, request: HttpRequest) -> None:
        made = request.session.get(DECISIONS_KEY, 0) + 1
        request.session[DECISIONS_KEY] = made
        every = settings.UNTOLD_BREAK_EVERY
        if every and made % every == 0:
            self.message_user(
                request,
                ngettext(
                    "You have read %(n)d story in this session. A few minutes away from "
                    "the screen help: stand up, look outside, drink some water.",
                    "You have read %(n)d stories in this session. A few minutes away from "
                    "the screen help: stand up, look outside, drink some water.",
                    made,
                )
                % {"n": made},
                messages.INFO,
            )

    def delete_model(self, request: HttpRequest, obj: Testimony) -> None:
        obj.delete_on_record(by=request.user.get_username())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        cast(TestimonyQuerySet, queryset).delete_on_record(by=request.user.get_username())

    @admin.action(
        description=_("Approve selected (quotable ones need a campaign text)"),
        permissions=["change"],
    )
    def approve(self, request: HttpRequest, queryset: TestimonyQuerySet) -> None:
        approved, skipped = queryset.approve(by=request.user.get_username())
        self.message_user(
            request,
            ngettext("Approved %(n)d testimony.", "Approved %(n)d testimonies.", approved)
            % {"n": approved},
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(n)d quotable testimony has no campaign text yet and was not approved.",
                    "%(n)d quotable testimonies have no campaign text yet and were not approved.",
                    skipped,
                )
                % {"n": skipped},
                messages.WARNING,
            )

    @admin.action(description=_("Reject selected"), permissions=["change"])
    def reject(self, request: HttpRequest, queryset: TestimonyQuerySet) -> None:
        count = queryset.reject(by=request.user.get_username())
        self.message_user(
            request,
            ngettext("Rejected %(n)d testimony.", "Rejected %(n)d testimonies.", count)
            % {"n": count},
        )

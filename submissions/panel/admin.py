"""The panel's lists and pages for testimonies and the audit trail.

Threat: every reading of a testimony must be on record. The list pages never load
sealed text; the original is opened only on a testimony's own page, by a user with
``submissions.view_original``, and each opening writes an AuditEvent.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth.models import Group, User
from django.core.exceptions import BadRequest, ValidationError
from django.db.models import QuerySet
from django.db.models.functions import Length
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions import crypto
from submissions.choices import ViolenceForm
from submissions.keys import keyring
from submissions.models import AuditEvent, Testimony, TestimonyQuerySet
from submissions.panel.forms import SEALED_HERE, ModerationForm
from submissions.redaction import find_identifiers, highlight, suggest_campaign_text


class ViolenceFormFilter(admin.SimpleListFilter):
    title = _("form of violence")
    parameter_name = "form"

    def lookups(self, request, model_admin):
        return ViolenceForm.choices

    def queryset(self, request, queryset):
        if self.value() in ViolenceForm.values:
            return queryset.with_violence_form(self.value())
        return queryset


class DeclaredLookupsOnly(admin.ModelAdmin):
    """A list that answers only the filters it offers.

    Django's admin lets a list be filtered by any lookup on a local field
    (``?sealed_text__contains=a``), and a malformed one can reach the database
    (``?status__regex=(``). Here any filter parameter that is not one of the list's own
    declared filters is refused with a 400 before a query is made."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return request is not None and lookup in self.declared_lookups(request)

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Refuse (400) an action on something that is not one of this list's ids,
        before a query turns it into a 500."""
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                self.model._meta.pk.to_python(value)
            except ValidationError:
                raise BadRequest("not a record of this list") from None
        return super().response_action(request, queryset)

    def declared_lookups(self, request: HttpRequest) -> set[str]:
        """The query parameters of the list's own filters (fields named in
        ``list_filter``, or SimpleListFilter classes) and of its date hierarchy."""
        names: set[str | None] = set()
        for list_filter in self.get_list_filter(request):
            if isinstance(list_filter, type) and issubclass(list_filter, admin.SimpleListFilter):
                names.add(list_filter.parameter_name)
            elif isinstance(list_filter, str):
                field = get_fields_from_path(self.model, list_filter)[-1]
                spec = admin.FieldListFilter.create(
                    field, request, {}, self.model, self, field_path=list_filter
                )
                names.update(spec.expected_parameters())
        if self.date_hierarchy:
            names.update(f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day"))
        return {name for name in names if name}


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
    ordering = ["-received_on", "id"]
    list_per_page = 50
    show_full_result_count = False
    # Beside these, Django's own "Delete selected": its confirmation page posts back to it
    # by that name, and it deletes through delete_queryset below (from the live database, audited).
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
        (_("Campaign text"), {"fields": ["campaign_text"]}),
    ]

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

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs) -> Any:
        form: Any = super().get_form(request, obj, change, **kwargs)
        suggestion = getattr(request, "untold_suggestion", None)
        if suggestion is None:
            return form

        class Suggested(form):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, suggestion=suggestion, **kwargs)

        return Suggested

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The original is opened (and audited) only for a page that shows it: a GET, or a
        form sent back with errors; never for a save that redirects."""
        if request.method == "GET" and "suggest" in request.GET:
            testimony = self.get_object(request, object_id)
            if testimony is not None and self.has_view_permission(request, testimony):
                original = self.open_original(request, testimony)
                if isinstance(original, str):
                    cast(Any, request).untold_suggestion = suggest_campaign_text(original)
        response = super().change_view(request, object_id, form_url, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data is not None:
            testimony = response.context_data.get("original")
            if testimony is not None:
                response.context_data.update(self.original_context(request, testimony))
        return response

    def open_original(self, request: HttpRequest, testimony: Testimony) -> str | dict:
        """The original text, opened once per request and on record; or, if it may not or
        cannot be opened, the context that says so. Never ciphertext as text."""
        if hasattr(request, "untold_original"):
            return cast(Any, request).untold_original
        if not request.user.has_perm("submissions.view_original"):
            result: str | dict = {"original_refused": True}
        elif not keyring().can_open:
            result = {"original_error": SEALED_HERE}
        else:
            try:
                result = testimony.open_text()
            except crypto.SealError as error:
                result = {
                    "original_error": _("Cannot open this text: %(error)s") % {"error": error}
                }
            else:
                AuditEvent.record(
                    AuditEvent.Action.VIEWED, actor=request.user.get_username(), testimony=testimony
                )
        cast(Any, request).untold_original = result
        return result

    def original_context(self, request: HttpRequest, testimony: Testimony) -> dict:
        original = self.open_original(request, testimony)
        if not isinstance(original, str):
            return original
        return {
            "original_html": format_html_join(
                "",
                "{}",
                (
                    (format_html('<mark title="{}">{}</mark>', kind, segment) if kind else segment,)
                    for segment, kind in highlight(original)
                ),
            ),
            "findings": find_identifiers(original),
        }

    def save_model(self, request, obj, form, change) -> None:
        if "campaign_text" in form.changed_data:
            text = form.cleaned_data["campaign_text"]
            if text.strip():
                obj.seal_campaign_text(text)
            else:
                # A blank campaign text is none: it can be neither approved nor exported.
                obj.sealed_campaign_text = None
            obj.save(update_fields=["sealed_campaign_text"])
            AuditEvent.record(
                AuditEvent.Action.EDITED, actor=request.user.get_username(), testimony=obj
            )

    def response_change(self, request: HttpRequest, obj: Testimony) -> HttpResponse:
        actor = request.user.get_username()
        if "_approve" in request.POST and self.has_change_permission(request, obj):
            try:
                obj.approve(by=actor)
            except ValueError:
                self.message_user(
                    request, _("Write a campaign text before approving."), messages.ERROR
                )
                return HttpResponseRedirect(request.path)
            self.message_user(request, _("Approved."), messages.SUCCESS)
        elif "_reject" in request.POST and self.has_change_permission(request, obj):
            obj.reject(by=actor)
            self.message_user(request, _("Rejected."), messages.SUCCESS)
        return super().response_change(request, obj)

    def delete_model(self, request: HttpRequest, obj: Testimony) -> None:
        obj.delete_on_record(by=request.user.get_username())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        cast(TestimonyQuerySet, queryset).delete_on_record(by=request.user.get_username())

    @admin.action(
        description=_("Approve selected (those with a campaign text)"), permissions=["change"]
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
                    "%(n)d testimony has no campaign text yet and was not approved.",
                    "%(n)d testimonies have no campaign text yet and were not approved.",
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


# --- Audit trail -----------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(DeclaredLookupsOnly):
    list_display = ["at", "actor", "action", "subject", "record", "detail"]
    list_filter = ["action", "at"]
    search_fields = ["actor", "subject"]
    date_hierarchy = "at"

    @admin.display(description=_("record"))
    def record(self, obj: AuditEvent) -> str:
        return obj.testimony_id.hex[:8] if obj.testimony_id else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        return {}


# --- Staff accounts ------------------------------------------------------------------------

# Groups, passwords and second factors are changed only on the command line of the
# moderation host (create_moderator, grant_group, revoke_group, reset_password,
# reset_second_factor): no panel page offers them, and none shows a device's secret.
for model in (User, Group, TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(User)
class StaffAccountAdmin(DeclaredLookupsOnly):
    """Administrators list accounts and deactivate or reactivate them; nothing else."""

    list_display = ["username", "groups_display", "is_active", "last_login"]
    list_filter = ["is_active"]
    search_fields = ["username"]
    ordering = ["username"]
    fields = ["username", "groups_display", "is_active", "last_login"]
    readonly_fields = ["username", "groups_display", "last_login"]
    actions = ["deactivate", "reactivate"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("groups"))
    def groups_display(self, obj: User) -> str:
        return ", ".join(group.name for group in obj.groups.all()) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        if obj.pk == request.user.pk and not obj.is_active:
            # Nobody locks themselves out from here; another administrator can.
            obj.is_active = True
        obj.save(update_fields=["is_active"])

    @admin.action(description=_("Deactivate selected accounts"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet) -> None:
        for user in queryset.filter(is_active=True).exclude(pk=request.user.pk):
            user.is_active = False
            user.save(update_fields=["is_active"])

    @admin.action(description=_("Reactivate selected accounts"), permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet) -> None:
        for user in queryset.filter(is_active=False):
            user.is_active = True
            user.save(update_fields=["is_active"])

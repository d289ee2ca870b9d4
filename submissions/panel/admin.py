"""The panel's lists beside the testimonies' (submissions/panel/testimonies.py): the
audit trail, read by administrators, and the staff accounts, which they may only
deactivate and reactivate; and what every list of the panel shares.

Threat: a list that answers any lookup leaks what it does not show (a sealed column's
bytes, through ``?sealed_text__contains=``), and an account page that offers groups,
permissions, passwords or second factors lets an administrator make themselves a
reader of stories. Neither is offered here.
"""

from __future__ import annotations

from typing import cast

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth.models import Group, User
from django.core.exceptions import BadRequest, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions.models import AuditEvent, StrOrPromise
from submissions.staff import StaffGroup


class CappedPaginator(Paginator):
    """Counts a list's rows up to ``cap`` and no further (the page then says "10000+").

    Counting every row of a list is the one query of a list page that reads the whole
    table: at 1,000,000 stories it took most of the page's time (bench/scale.py). Up to
    ``cap`` rows are read through the list's index, whatever the table's size. The
    reading view counts the stories left in the queue the same way."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        rows = cast(QuerySet, self.object_list)
        return rows.values("pk")[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    @property
    def shown(self) -> int | str:
        """The count as a page says it: "10000+" beyond the cap."""
        return f"{self.cap}+" if self.capped else self.count


class DeclaredLookupsOnly(admin.ModelAdmin):
    """A list that answers only the filters it offers, counts its rows only so far
    (``CappedPaginator``) and never counts each filter's choices (facets, which read
    the whole table).

    Django's admin lets a list be filtered by any lookup on a local field
    (``?sealed_text__contains=a``), and a malformed one can reach the database
    (``?status__regex=(``). Here any filter parameter that is not one of the list's own
    declared filters is refused with a 400 before a query is made."""

    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

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


# --- Audit trail -----------------------------------------------------------------------


class Blank(dict):
    """Values for a sentence; a value an older event does not hold reads as "?"."""

    def __missing__(self, key: str) -> str:
        return "?"


Action = AuditEvent.Action
# Each event as a sentence: %(actor)s, %(subject)s (an account or group), %(record)s (a
# story's short id), and the event's details by name.
SENTENCES: dict[str, StrOrPromise] = {
    Action.VIEWED: _("%(actor)s read the original of story %(record)s"),
    Action.EDITED: _("%(actor)s edited the campaign text of story %(record)s"),
    Action.APPROVED: _("%(actor)s approved story %(record)s"),
    Action.REJECTED: _("%(actor)s rejected story %(record)s"),
    Action.DELETED: _("%(actor)s deleted the story %(record)s"),
    Action.EXPORTED: _(
        "%(actor)s exported %(rows)s stories (%(suppressed)s left out, smallest group %(k)s)"
    ),
    Action.EXPORT_FAILED: _(
        "%(actor)s asked for an export, refused: %(unopened)s campaign texts would not open"
    ),
    Action.LOGGED_IN: _("%(actor)s signed in"),
    Action.LOGIN_FAILED: _("a sign-in as %(actor)s failed"),
    Action.ROTATED_KEYS: _(
        "%(actor)s moved %(moved)s values to key %(to_key_id)s (%(failed)s would not open)"
    ),
    Action.PURGED: _("%(actor)s deleted all %(count)s stories at the end of retention"),
    Action.ACCOUNT_CREATED: _("%(actor)s created the account %(subject)s"),
    Action.ACCOUNT_DELETED: _("%(actor)s deleted the account %(subject)s"),
    Action.ACCOUNT_DEACTIVATED: _("%(actor)s deactivated the account %(subject)s"),
    Action.ACCOUNT_REACTIVATED: _("%(actor)s reactivated the account %(subject)s"),
    Action.ACCOUNT_RENAMED: _("%(actor)s renamed the account %(previous)s to %(subject)s"),
    Action.STAFF_GRANTED: _("%(actor)s made %(subject)s staff"),
    Action.STAFF_REVOKED: _("%(actor)s made %(subject)s no longer staff"),
    Action.SUPERUSER_GRANTED: _("%(actor)s made %(subject)s a superuser"),
    Action.SUPERUSER_REVOKED: _("%(actor)s made %(subject)s no longer a superuser"),
    Action.GROUP_ADDED: _("%(actor)s added %(subject)s to the group %(item)s"),
    Action.GROUP_REMOVED: _("%(actor)s removed %(subject)s from the group %(item)s"),
    Action.PERMISSION_ADDED: _("%(actor)s gave %(subject)s the permission %(item)s"),
    Action.PERMISSION_REMOVED: _("%(actor)s took the permission %(item)s from %(subject)s"),
    Action.GROUP_PERMISSION_ADDED: _(
        "%(actor)s gave the group %(subject)s the permission %(item)s"
    ),
    Action.GROUP_PERMISSION_REMOVED: _(
        "%(actor)s took the permission %(item)s from the group %(subject)s"
    ),
    Action.PASSWORD_CHANGED: _("%(actor)s set a new password for %(subject)s"),
    Action.DEVICE_ADDED: _("%(actor)s gave %(subject)s a second factor (%(device)s)"),
    Action.DEVICE_CHANGED: _("%(actor)s changed a second factor of %(subject)s (%(device)s)"),
    Action.DEVICE_REMOVED: _("%(actor)s removed a second factor of %(subject)s (%(device)s)"),
    Action.BACKUP_CODE_ADDED: _("%(actor)s added a backup code for %(subject)s"),
    Action.KEY_MADE: _("%(actor)s made a new key for %(subject)s (%(reason)s)"),
    Action.KEY_GRANTED: _("%(actor)s granted %(subject)s the keys %(keys)s"),
    Action.KEY_REVOKED: _("%(actor)s took every key from %(subject)s (%(reason)s)"),
    Action.KEY_RESEALED: _("%(actor)s locked the key of %(subject)s with a new password"),
}


GROUP_NAMES: dict[str, StrOrPromise] = dict(StaffGroup.choices)
DEVICES: dict[str, StrOrPromise] = {
    "authenticator": _("authenticator app"),
    "backup codes": _("backup codes"),
}


@admin.register(AuditEvent)
class AuditEventAdmin(DeclaredLookupsOnly):
    list_display = ["at", "sentence"]
    list_filter = ["action", "at"]
    search_fields = ["actor", "subject"]
    # No date hierarchy: its links list the years, months or days that hold events,
    # read from every event (at 1,000,000 stories, a whole-table scan per page). The
    # "when" filter offers today, the past 7 days, this month and this year instead.

    @admin.display(description=_("what happened"))
    def sentence(self, obj: AuditEvent) -> str:
        values = Blank(
            {str(key): str(value) for key, value in obj.detail.items()},
            actor=obj.actor,
            subject=obj.subject,
            record=obj.testimony_id.hex[:8] if obj.testimony_id else "?",
        )
        # Names kept in English in the record, said in the reader's language here.
        for key, names in (("item", GROUP_NAMES), ("subject", GROUP_NAMES), ("device", DEVICES)):
            if values.get(key) in names:
                values[key] = str(names[values[key]])
        said = str(SENTENCES.get(obj.action, obj.get_action_display())) % values
        if obj.action == Action.REJECTED and obj.detail.get("reason"):
            said += str(_(", because: %(reason)s")) % values
        if obj.action == Action.LOGIN_FAILED and obj.detail.get("step") == "code":
            said += str(_(" (the code was wrong)"))
        return said

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
        names = [str(GROUP_NAMES.get(group.name, group.name)) for group in obj.groups.all()]
        return ", ".join(names) or "—"

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

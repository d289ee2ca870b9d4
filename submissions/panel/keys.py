"""The Keys page: who holds which campaign secret, and granting or revoking them.

Promise: a secret reaches an account only from someone who holds it: a signed-in
moderator here, or the command line with the offline key file. Campaign staff see
the page (their own key's fingerprint, to compare) but cannot grant; administrators
hold nothing and do not see it. Each grant and revocation is on the audit trail.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from submissions import custody
from submissions.keys import keyring
from submissions.models import Secret, StrOrPromise
from submissions.staff import StaffGroup

SECRET_NAMES: dict[str, StrOrPromise] = {
    Secret.STORY: _("story key"),
    Secret.CAMPAIGN_TEXT: _("campaign-text key"),
}


class KeyChangeForm(forms.Form):
    """What the page's buttons post: whose keys, and grant or revoke."""

    user = forms.IntegerField(min_value=1, max_value=2**31 - 1)
    action = forms.ChoiceField(choices=[("grant", "grant"), ("revoke", "revoke")])


def can_see_keys(user: Any) -> bool:
    return bool(custody.holds(user))


def can_grant(user: Any) -> bool:
    return user.has_perm("submissions.change_testimony") and bool(custody.holds(user))


@require_http_methods(["GET", "POST"])
def keys_page(request: HttpRequest) -> HttpResponse:
    if not can_see_keys(request.user):
        raise PermissionDenied
    if request.method == "POST":
        return change(request)
    held = {kind for kind, _ in custody.secrets_of(keyring())}
    accounts = []
    people = User.objects.filter(is_active=True, groups__name__in=list(custody.HOLDS)).distinct()
    listed = people.order_by("username").select_related("staff_key")
    for person in listed.prefetch_related("groups", "key_grants"):
        stored = getattr(person, "staff_key", None)
        if stored is not None and not stored.public_key:
            stored = None  # carried over, not signed in since
        granted = {grant.secret for grant in person.key_grants.all()}
        should = custody.holds(person)
        accounts.append(
            {
                "user": person,
                "groups": ", ".join(str(StaffGroup(g.name).label) for g in person.groups.all()),
                "fingerprint": custody.fingerprint(stored.public_key) if stored else None,
                "holds": [SECRET_NAMES[s] for s in sorted(granted)],
                "missing": [SECRET_NAMES[s] for s in sorted(should - granted)],
                "can_be_granted": stored is not None and bool((should - granted) & held),
            }
        )
    context = {
        **admin.site.each_context(request),
        "title": _("Keys"),
        "accounts": accounts,
        "may_grant": can_grant(request.user) and bool(held),
        "holds_nothing": not held,
    }
    return render(request, "admin/keys.html", context)


def change(request: HttpRequest) -> HttpResponse:
    """Grant or revoke, then back to the page (post/redirect/get)."""
    if not can_grant(request.user):
        raise PermissionDenied
    form = KeyChangeForm(request.POST)
    if not form.is_valid():
        raise Http404
    person = get_object_or_404(User, pk=form.cleaned_data["user"], is_active=True)
    by = request.user.get_username()
    if form.cleaned_data["action"] == "revoke":
        custody.revoke(person, by=by)
        messages.success(request, _("%(name)s holds no key now.") % {"name": person.username})
    else:
        try:
            made = custody.grant(person, custody.secrets_of(keyring()), by=by)
        except custody.CustodyError as error:
            messages.error(request, str(error))
        else:
            granted = ngettext(
                "%(name)s was granted %(n)d key.", "%(name)s was granted %(n)d keys.", made
            )
            messages.success(request, granted % {"name": person.username, "n": made})
    return HttpResponseRedirect(reverse("admin:keys"))

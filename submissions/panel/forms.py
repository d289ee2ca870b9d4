"""The panel's forms: the moderator's campaign text, and the export's options."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminPasswordChangeForm
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from submissions import crypto, custody
from submissions.accounts import acting_as
from submissions.keys import keyring
from submissions.models import StrOrPromise, Testimony

SEALED_HERE = _(
    "You hold no key that opens this text. A moderator who holds the keys can grant them "
    "to you on the Keys page."
)


class ModerationForm(forms.ModelForm):
    campaign_text = forms.CharField(
        label=_("Campaign text"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        help_text=_("The redacted copy the campaign may use. The original is never exported."),
    )

    class Meta:
        model = Testimony
        fields: list[str] = []

    reason = forms.CharField(
        label=_("Reason for rejecting (optional, kept in the audit trail)"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cannot_open: StrOrPromise | None = None
        if not keyring().can_open_campaign:
            self.fields["campaign_text"].disabled = True
            self.cannot_open = SEALED_HERE
            return
        try:
            current = self.instance.open_campaign_text()
        except crypto.SealError as error:
            self.fields["campaign_text"].disabled = True
            self.cannot_open = _("The campaign text cannot be opened: %(error)s") % {"error": error}
            return
        self.initial["campaign_text"] = current or ""

    def clean_campaign_text(self) -> str:
        return self.cleaned_data["campaign_text"].replace("\r\n", "\n")


class ExportForm(forms.Form):
    # The field names are the export's own terms (k-anonymity; a byte-order mark); the
    # labels say what they do.
    k = forms.IntegerField(
        label=_("Smallest group"),
        help_text=_(
            "Every combination of answers in the file is shared by at least this many stories."
        ),
        min_value=2,
    )
    bom = forms.BooleanField(
        label=_("For Excel"),
        help_text=_(
            "Adds an invisible mark at the start of the file, without which Excel shows "
            "Kazakh and Russian letters wrongly."
        ),
        required=False,
        initial=True,
    )

    def clean_k(self) -> int:
        if self.cleaned_data["k"] < settings.UNTOLD_EXPORT_K:
            raise forms.ValidationError(
                _("The smallest group is at least %(k)s stories.") % {"k": settings.UNTOLD_EXPORT_K}
            )
        return self.cleaned_data["k"]


class PanelPasswordChangeForm(AdminPasswordChangeForm):
    """Django's password change, which also re-wraps the account's key under the new
    password, in one transaction: the key never stays locked with the old one."""

    def save(self, commit: bool = True):
        with transaction.atomic(), acting_as(self.user.get_username()):
            user = super().save(commit)
            custody.reseal_account_key(
                user, self.cleaned_data["old_password"], self.cleaned_data["new_password1"]
            )
        return user

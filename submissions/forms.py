"""The forms of the public pages: the story form and the withdrawal form. They validate
and normalise; the views only decide what happens next."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.core import signing
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from submissions import receipts
from submissions.choices import AgeGroup, Consent, Region, Teller, ViolenceForm
from submissions.models import Testimony

MAX_TEXT_LENGTH = 10_000
SERVED_SALT = "untold.form-served"
# A form left open longer than this must be reloaded; its text is kept on screen.
SERVED_MAX_AGE = timedelta(days=2)
PREFER_NOT = ("", _("Prefer not to say"))
QUIET = {"autocomplete": "off"}
DAMAGED = _(
    "Your text arrived damaged and could not be read in full. Nothing was stored. Please "
    "check your text, especially any strange signs in it, and send it again."
)
SENT_TWICE = _("This answer was sent twice with different values. Please check it and send again.")


class FixedChoices(forms.Field):
    """For choice fields whose choices and widget never change: each form shares them
    instead of deep-copying every choice, its lazy label and the widget (most of a form's
    set-up cost, on the path of every submission). Never change such a field's widget
    on a form instance: it is the class's."""

    def __deepcopy__(self, memo: dict) -> forms.Field:
        result = copy.copy(self)
        memo[id(self)] = result
        result.error_messages = self.error_messages.copy()
        result.validators = self.validators[:]
        return result


class FixedChoiceField(FixedChoices, forms.ChoiceField):
    pass


class FixedMultipleChoiceField(FixedChoices, forms.MultipleChoiceField):
    pass


def served_token(now: datetime | None = None) -> str:
    """A signed note of when the form was served: the grace period after the close
    applies only to forms served before it."""
    return signing.dumps(int((now or timezone.now()).timestamp()), salt=SERVED_SALT)


class TestimonyForm(forms.Form):
    text = forms.CharField(
        label=_("Your story"),
        strip=False,
        # No maxlength attribute: a browser would cut a pasted text silently. The
        # limit is checked on the server, and the text stays on screen.
        widget=forms.Textarea(
            attrs={"rows": 14, "spellcheck": "false", "aria-describedby": "text-help", **QUIET}
        ),
        error_messages={
            "required": _("Please write your story before sending it."),
            "null_characters_not_allowed": _(
                "Your text contains an invisible null character. Please remove it and send again."
            ),
        },
    )
    forms_of_violence = FixedMultipleChoiceField(
        label=_("What happened (optional, choose any)"),
        choices=ViolenceForm.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    age_group = FixedChoiceField(
        label=_("Age when it happened (optional)"),
        choices=[PREFER_NOT, *AgeGroup.choices],
        required=False,
        widget=forms.Select(attrs=QUIET),
    )
    region = FixedChoiceField(
        label=_("Where it happened (optional)"),
        choices=[PREFER_NOT, *Region.choices],
        required=False,
        widget=forms.Select(attrs=QUIET),
    )
    teller = FixedChoiceField(
        label=_("Who is telling (optional)"),
        choices=[*Teller.choices, PREFER_NOT],
        required=False,
        widget=forms.RadioSelect,
    )
    consent = FixedChoiceField(
        label=_("How may the campaign use your story?"),
        choices=Consent.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Please choose how your story may be used.")},
    )
    understood = forms.BooleanField(
        label=_(
            "I understand that my story is sent anonymously: nobody, including me, can link "
            "it to me later, except with the receipt code I will be shown."
        ),
        error_messages={"required": _("Please confirm that you understand this.")},
    )
    served = forms.CharField(widget=forms.HiddenInput, required=False)
    # A honeypot: hidden from people by CSS and from screen readers by aria-hidden on its
    # wrapper; automated posters tend to fill every field.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", **QUIET}),
    )

    def __init__(self, *args: Any, damaged: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by the view when the body was not valid UTF-8: Django reads such bytes as
        # U+FFFD, which is not what she wrote, so the form must not be stored.
        self.damaged = damaged

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].replace("\r\n", "\n").replace("\r", "\n")
        if not text.strip():
            raise forms.ValidationError(_("Please write your story before sending it."))
        if len(text) > MAX_TEXT_LENGTH:
            over = len(text) - MAX_TEXT_LENGTH
            raise forms.ValidationError(
                ngettext(
                    "Your story has %(count)s characters; the limit is %(limit)s. "
                    "Please shorten it by %(over)s character. Your text is still here.",
                    "Your story has %(count)s characters; the limit is %(limit)s. "
                    "Please shorten it by %(over)s characters. Your text is still here.",
                    over,
                )
                % {"count": len(text), "limit": MAX_TEXT_LENGTH, "over": over}
            )
        return text

    def clean_served(self) -> datetime:
        try:
            seconds = signing.loads(
                self.cleaned_data["served"], salt=SERVED_SALT, max_age=SERVED_MAX_AGE
            )
            return datetime.fromtimestamp(int(seconds), tz=UTC)
        except (signing.BadSignature, TypeError, ValueError, OverflowError):
            raise forms.ValidationError(
                _("This form is too old or was changed. Please send it again."),
                code="served",
            ) from None

    def clean(self) -> dict[str, object]:
        # A browser sends each single answer once. Two different values come from a broken
        # or forged client, and Django would silently keep the last: two consents, say,
        # must not quietly become "may be quoted". The same value twice is one answer.
        if hasattr(self.data, "getlist"):
            for name, field in self.fields.items():
                multiple = isinstance(field, forms.MultipleChoiceField)
                if not multiple and len(set(self.data.getlist(name))) > 1:
                    self.add_error(name, SENT_TWICE)
        if self.damaged:
            raise forms.ValidationError(DAMAGED, code="damaged")
        return self.cleaned_data

    @property
    def is_from_a_robot(self) -> bool:
        return bool(self.cleaned_data.get("website"))

    def save(self, *, language: str) -> tuple[Testimony, str]:
        """Seal and store the testimony; return it with its one-time receipt code."""
        data = self.cleaned_data
        testimony = Testimony(
            language=language,
            age_group=data["age_group"],
            region=data["region"],
            teller=data["teller"],
            consent=data["consent"],
        )
        testimony.violence_forms = data["forms_of_violence"]
        testimony.seal_text(data["text"])
        code = receipts.new_code()
        testimony.set_receipt_code(code)
        testimony.save(force_insert=True)
        return testimony, code


class WithdrawForm(forms.Form):
    code = forms.CharField(
        label=_("Receipt code"),
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "numeric", **QUIET}),
        help_text=_("16 digits, as shown after you sent your story."),
        error_messages={
            "required": _("Please enter your receipt code."),
            "max_length": _("A receipt code has 16 digits."),
        },
    )

    def clean_code(self) -> str:
        digits = "".join(ch for ch in self.cleaned_data["code"] if ch not in " -")
        if len(digits) != 16 or not digits.isascii() or not digits.isdigit():
            raise forms.ValidationError(_("A receipt code has 16 digits."))
        return digits

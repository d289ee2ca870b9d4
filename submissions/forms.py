"""The forms of the public pages: the story form and the withdrawal form. They validate
and normalise; the views only decide what happens next."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django import forms
from django.conf import settings
from django.core import signing
from django.forms.boundfield import BoundField
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


FormClass = TypeVar("FormClass", bound=type[forms.Form])


class FixedFields(dict[str, forms.Field]):
    """The fields of a form that no instance changes (``fixed_fields``)."""

    def __deepcopy__(self, memo: dict) -> dict[str, forms.Field]:
        return dict(self)


def fixed_fields(form_class: FormClass) -> FormClass:
    """Each form of this class shares the class's fields, their widgets and choices,
    instead of deep-copying them all with their attributes and lazy labels (most of a
    form's set-up cost, on the path of every submission). Never change a field, or its
    widget, on such a form instance: it is the class's."""
    form_class.base_fields = FixedFields(form_class.base_fields)
    return form_class


class DescribedBoundField(BoundField):
    """A field whose input names its inline error (``<id>_error``, as Django names it)
    after its help and descriptions, radios and checkboxes included: a screen reader
    reads the error with the field. Django names it only on a field without an
    ``aria-describedby`` of its own and outside a fieldset."""

    def build_widget_attrs(self, attrs: dict[str, Any], widget: Any = None) -> dict[str, Any]:
        attrs = super().build_widget_attrs(attrs, widget)
        if self.errors and self.auto_id:
            widget = widget or self.field.widget
            described = attrs.get("aria-describedby") or widget.attrs.get("aria-describedby")
            names = str(described).split() if described else []
            error = f"{self.auto_id}_error"
            attrs["aria-describedby"] = " ".join(names if error in names else [*names, error])
        return attrs


class DescribedOptions:
    """Choices that each carry a plain description. A long one is shown under its option
    and named by the option's ``aria-describedby`` (``<option id>-description``); a
    one-line hint (``in_label``) is read as part of the label instead, which spares
    each option two ids on a page that must stay small."""

    def __init__(
        self, descriptions: Mapping[Any, Any], *args: Any, in_label: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.descriptions = descriptions
        self.in_label = in_label

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)  # type: ignore[misc]
        option["description"] = self.descriptions.get(str(option["value"]), "")
        if not self.in_label:
            attrs = option["attrs"]
            described = [f"{attrs['id']}-description", attrs.get("aria-describedby")]
            attrs["aria-describedby"] = " ".join(filter(None, described))
        return option


class DescribedRadioSelect(DescribedOptions, forms.RadioSelect):
    pass


class DescribedCheckboxes(DescribedOptions, forms.CheckboxSelectMultiple):
    pass


class GroupedSelect(forms.Select):
    """Options labelled "Country — place" listed under one ``<optgroup>`` per country,
    the country said once: Kazakhstan's twenty regions in Russian shrink the form page
    by about 0.5 KB (bench/page_weight.py), and a screen reader names the group."""

    def optgroups(self, name: str, value: Any, attrs: Any = None) -> list[Any]:
        grouped: list[Any] = []
        for group, options, index in super().optgroups(name, value, attrs):
            country, separator, place = str(options[0]["label"]).partition(" — ")
            if not separator:
                grouped.append((group, options, index))
                continue
            options[0]["label"] = place
            if grouped and grouped[-1][0] == country:
                grouped[-1][1].extend(options)
            else:
                grouped.append((country, options, index))
        return grouped


# What she agrees to with each choice, concretely: who reads it, whether it is changed,
# where it may appear, and what cannot be taken back.
CONSENT_CHOICES = [
    (Consent.QUOTE, _("It may be quoted, without any name")),
    (Consent.STATISTICS, _("It may only be counted, never quoted")),
]
CONSENT_DESCRIPTIONS = {
    Consent.QUOTE: _(
        "The campaign's moderators read it in full and remove names and other details that "
        "could identify anyone. They may shorten it, but add nothing. Campaign staff receive "
        "only that edited text, and parts of it may then appear, without any name, on the "
        "campaign's posters, social media, reports and exhibitions. Once a part has been "
        "used there, it cannot be taken back."
    ),
    Consent.STATISTICS: _(
        "The campaign's moderators read it in full, and nobody else does. It is not "
        "shortened or edited, because no words from it are used: it is only counted with "
        "the others, and the counts (for example, how many stories tell of economic "
        "violence) may appear in the campaign's reports and posters. Counts already "
        "published cannot be taken back, but none of them points to one person."
    ),
}
VIOLENCE_DESCRIPTIONS = {
    ViolenceForm.PHYSICAL: _("Hitting, pushing, choking, burning or hurting the body."),
    ViolenceForm.SEXUAL: _("Any sexual act or touching without consent, also by a husband."),
    ViolenceForm.PSYCHOLOGICAL: _("Threats, insults, humiliation, control, keeping you alone."),
    ViolenceForm.ECONOMIC: _("Taking or controlling money, documents or work."),
    ViolenceForm.HARASSMENT: _("Unwanted words, touching or following: outside, at work, online."),
    ViolenceForm.TRAFFICKING: _("Being sold, moved or held to work, for sex or to marry."),
    ViolenceForm.FGM: _("Cutting or harming the genitals for no medical reason."),
    ViolenceForm.CHILD_MARRIAGE: _("A marriage, or a nikah, before the age of 18."),
    ViolenceForm.OTHER: _("Anything else that hurt you."),
}


def served_token(now: datetime | None = None) -> str:
    """A signed note of when the form was served: the grace period after the close
    applies only to forms served before it."""
    return signing.dumps(int((now or timezone.now()).timestamp()), salt=SERVED_SALT)


@fixed_fields
class TestimonyForm(forms.Form):
    bound_field_class = DescribedBoundField

    # How her story may be used is asked first, before she writes it.
    consent = forms.ChoiceField(
        label=_("How may the campaign use your story?"),
        choices=CONSENT_CHOICES,
        widget=DescribedRadioSelect(CONSENT_DESCRIPTIONS),
        error_messages={"required": _("Choose how your story may be used.")},
    )
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
    forms_of_violence = forms.MultipleChoiceField(
        label=_("What happened (optional, choose any)"),
        choices=ViolenceForm.choices,
        required=False,
        widget=DescribedCheckboxes(VIOLENCE_DESCRIPTIONS, in_label=True),
    )
    age_group = forms.ChoiceField(
        label=_("Age when it happened (optional)"),
        choices=[PREFER_NOT, *AgeGroup.choices],
        required=False,
        widget=forms.Select(attrs=QUIET),
    )
    region = forms.ChoiceField(
        label=_("Where it happened (optional)"),
        choices=[PREFER_NOT, *Region.choices],
        required=False,
        widget=GroupedSelect(attrs=QUIET),
    )
    teller = forms.ChoiceField(
        label=_("Who is telling (optional)"),
        choices=[*Teller.choices, PREFER_NOT],
        required=False,
        widget=forms.RadioSelect,
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

    def sealed(self, *, language: str) -> tuple[Testimony, str]:
        """The testimony, sealed and not yet stored, with its one-time receipt code."""
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
        return testimony, code


class WithdrawForm(forms.Form):
    bound_field_class = DescribedBoundField

    code = forms.CharField(
        label=_("Receipt code"),
        max_length=40,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "aria-describedby": "code-help", **QUIET}
        ),
        help_text=_("16 digits, as shown after you sent your story."),
        error_messages={
            "required": _("Please enter your receipt code."),
            "max_length": _("A receipt code has 16 digits."),
        },
    )
    # Set by the confirmation page's button: the first post only asks "are you sure?".
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_code(self) -> str:
        digits = "".join(ch for ch in self.cleaned_data["code"] if ch not in " -")
        if len(digits) != 16 or not digits.isascii() or not digits.isdigit():
            raise forms.ValidationError(_("A receipt code has 16 digits."))
        if receipts.has_typo(digits) and not settings.UNTOLD_CODES_WITHOUT_CHECK_DIGIT:
            raise forms.ValidationError(
                _(
                    "This code has a typo: a digit is wrong, or two are swapped. Check it "
                    "against the code you kept."
                ),
                code="typo",
            )
        return digits

    @property
    def may_have_a_typo(self) -> bool:
        """Whether the code was taken although it fails its check digit: a code from the
        first release (``UNTOLD_CODES_WITHOUT_CHECK_DIGIT``), or a typo, which nobody
        can tell apart."""
        if not self.is_bound or self.errors:
            return False
        return receipts.has_typo(self.cleaned_data["code"])

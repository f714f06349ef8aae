from __future__ import annotations

import uuid
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Fieldset, Layout, Submit
from django import forms
from django.utils.functional import cached_property

from changeday.lib.honeypot import HoneypotFormMixin
from pledges.models import Kind, Region, SectorSlug

TEXT_MIN = 10
TEXT_MAX = 500


class PledgeTextField(forms.CharField):
    """Counts a line break as one character, as the textarea's maxlength does:
    browsers send each line break as CRLF, so a pledge the browser let someone
    type in full would otherwise be refused as too long."""

    def to_python(self, value: Any) -> str:
        return super().to_python(value).replace("\r\n", "\n")


class SubmissionTokenField(forms.UUIDField):
    """The hidden token the form was drawn with. A missing or mangled one is not the person's
    fault: a fresh token stands in, and the same promise from the same address is still caught
    as a repeat (pledges.services.pledge_create)."""

    widget = forms.HiddenInput

    def to_python(self, value: Any) -> uuid.UUID:
        try:
            return super().to_python(value) or uuid.uuid4()
        except forms.ValidationError:
            return uuid.uuid4()


class PledgeForm(HoneypotFormMixin, forms.Form):
    text = PledgeTextField(
        label="I pledge to…",
        min_length=TEXT_MIN,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": TEXT_MAX}),
        help_text=(
            f"Your promise in plain words, {TEXT_MIN} to {TEXT_MAX} characters. No matter how big or small."
        ),
        error_messages={
            "required": "Write your pledge.",
            "min_length": f"Your pledge needs at least {TEXT_MIN} characters.",
            "max_length": f"Your pledge can be at most {TEXT_MAX} characters (it has %(show_value)d).",
        },
    )
    display_name = forms.CharField(
        label="Your name as it should appear",
        max_length=100,
        required=False,
        help_text="Shown with your pledge. Leave it out if you pledge anonymously.",
    )
    is_anonymous = forms.BooleanField(label="Show my pledge as anonymous", required=False)
    role = forms.CharField(
        label="Your role or job title",
        max_length=100,
        help_text="For example: staff nurse, carer, housing officer, patient.",
        error_messages={"required": "Tell us your role, for example nurse, carer or patient."},
    )
    organisation = forms.CharField(label="Organisation (optional)", max_length=200, required=False)
    region = forms.ChoiceField(
        label="Region",
        choices=[("", "Choose your region")] + Region.choices,
        error_messages={
            "required": "Choose your region.",
            "invalid_choice": "Choose a region from the list.",
        },
    )
    kind = forms.ChoiceField(
        label="Is this pledge personal or organisational?",
        choices=Kind.choices,
        initial=Kind.PERSONAL,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose personal or organisational."},
    )
    sectors = forms.MultipleChoiceField(
        label="Which sectors does your pledge touch?",
        choices=SectorSlug.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "Choose one or more. Pledges that join up health, social care and housing are especially welcome."
        ),
        error_messages={
            "required": "Choose at least one sector.",
            "invalid_choice": "Choose sectors from the list.",
        },
    )
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        help_text=(
            "We send you a link to confirm your pledge. Never shown in public. "
            "After Change Day we will ask you at most three times how it went; one click stops it."
        ),
        error_messages={
            "required": "Enter your email address so you can confirm your pledge.",
            "invalid": "Enter an email address like name@example.org.",
        },
    )
    consent_to_publish = forms.BooleanField(
        label="I agree that my pledge, name, role, organisation and region are published on this site",
        error_messages={"required": "Pledges are public: tick this box to agree to publication."},
    )
    wants_reminders = forms.BooleanField(
        label="Remind me by email before Change Day and the pledge deadline", required=False
    )
    submission_token = SubmissionTokenField()

    # The layout's order, so the error summary lists problems as the page shows the fields.
    field_order = [
        "text",
        "sectors",
        "kind",
        "display_name",
        "is_anonymous",
        "role",
        "organisation",
        "region",
        "email",
        "wants_reminders",
        "consent_to_publish",
    ]

    def __init__(self, *args: Any, action: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.action = action

    @cached_property
    def helper(self) -> FormHelper:
        # Built when the form is drawn, not for every submission that only validates.
        helper = FormHelper()
        helper.form_action = self.action
        helper.form_method = "post"
        helper.attrs = {"novalidate": ""}
        helper.layout = Layout(
            Fieldset("Your pledge", "text", "sectors", "kind"),
            Fieldset("About you", "display_name", "is_anonymous", "role", "organisation", "region"),
            self.honeypot_layout(),
            Fieldset("Keeping in touch", "email", "wants_reminders", "consent_to_publish"),
            "submission_token",
            Submit("submit", "Make my pledge", css_class="btn-lg"),
            HTML('<p class="form-text mt-3">We will email you a link to confirm your pledge.</p>'),
        )
        return helper

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("is_anonymous") and not (cleaned.get("display_name") or "").strip():
            self.add_error("display_name", "Enter the name to show, or tick “Show my pledge as anonymous”.")
        return cleaned


class DataRequestForm(HoneypotFormMixin, forms.Form):
    email = forms.EmailField(
        label="Your email address",
        max_length=254,
        help_text="The address you gave when you pledged.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

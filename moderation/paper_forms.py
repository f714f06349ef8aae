"""The organisers' forms for paper pledges: a card typed in, a file of cards, a withdrawal."""

from __future__ import annotations

from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Fieldset, Layout, Submit
from django import forms
from django.utils.functional import cached_property
from django.utils.html import format_html

from pledges.forms import PledgeForm, text_count_html
from pledges.paper import NOTE_MAX, PAPER_REFERENCE_MAX, paper_reference_normalise
from pledges.paper_import import PAPER_CSV_COLUMNS

# A file of cards bigger than this is not a file of cards.
PAPER_FILE_MAX_BYTES = 2 * 1024 * 1024
BOXES_NEED_AN_ADDRESS = "This box needs the email address from the card; leave it unticked without one."


class PaperPledgeForm(PledgeForm):
    """The pledge form's fields, for an organiser typing a card in: its reference, an optional
    address, the card's boxes, and the organiser's word that the pledger ticked consent.

    Fast to fill card after card: the reference box has the focus, nothing the browser
    remembers of the organiser is offered for the pledger's name or address, and the
    organisation box is the pledge form's type-ahead over the directory."""

    paper_reference = forms.CharField(
        label="Card reference",
        # Longer than a reference may be, so a too-long one gets a sentence, not a cut.
        max_length=PAPER_REFERENCE_MAX + 20,
        help_text="As printed or written on the card, for example ABC-0012. One pledge per card.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
        error_messages={"required": "Enter the reference printed or written on the card."},
    )
    # A card is counted as collected on paper (Pledge.channel), not by the poster that brought
    # someone to the online form: the online form's source tag has no place here.
    source = None
    wants_follow_through = forms.BooleanField(
        label="The card asks for “did you do it?” emails after Change Day", required=False
    )
    consent_on_card = forms.BooleanField(
        label="The pledger ticked the consent box on the card",
        help_text="Cards without the consent box ticked cannot be entered: we may not publish them.",
        error_messages={
            "required": "Only cards on which the pledger ticked the consent box can be entered: without it "
            "we may not publish the pledge."
        },
    )

    name_missing = "Enter the name the pledger wrote, or tick that the card asks to be anonymous."

    # The pledge form's order, the card's reference first and the organiser's word on consent last.
    field_order = [
        "paper_reference",
        *(name for name in PledgeForm.field_order if name != "consent_to_publish"),
        "wants_follow_through",
        "consent_on_card",
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Not the public form's: no robots here, no double submissions to fold (the card's
        # reference is the duplicate rule), and consent is the organiser's word about the card.
        for name in (self.honeypot_field, "submission_token", "consent_to_publish"):
            del self.fields[name]
        self.order_fields(self.field_order)
        fields = self.fields
        fields["text"].label = "The pledge, as written after “I pledge to”"
        fields["text"].help_text = "10 to 500 characters. “I pledge to” is removed if you type it."
        fields["text"].error_messages["required"] = "Type the pledge from the card."
        fields["display_name"].label = "Name as the pledger wants it shown"
        fields["display_name"].help_text = "Leave it out if the card asks to be anonymous."
        fields["is_anonymous"].label = "The card asks to be shown as anonymous"
        fields["role"].label = "Role or job title"
        fields["role"].help_text = "For example: porter, care worker, patient."
        fields["role"].error_messages["required"] = "Enter the pledger's role, for example porter or patient."
        fields[
            "organisation"
        ].help_text = "Start typing to choose it from our directory; if it is not there, type its full name."
        fields["region"].error_messages["required"] = "Choose the pledger's region."
        fields["kind"].label = "Personal or organisational?"
        fields["kind"].error_messages["required"] = "Choose personal or organisational."
        fields["sectors"].label = "Sectors"
        email = fields["email"]
        email.required = False
        email.label = "Email address (optional)"
        email.help_text = (
            "Only if the pledger wrote one on the card. Never shown in public. With one, they are told "
            "when their pledge is published, with a link to withdraw it; without one, nothing is ever "
            "sent and they withdraw by asking an organiser."
        )
        fields["wants_reminders"].label = "The card asks for reminders before Change Day and the deadline"
        # What the browser remembers is the organiser's own name and address, never the pledger's.
        for name in ("display_name", "email", "organisation", "role"):
            fields[name].widget.attrs["autocomplete"] = "off"

    def clean_paper_reference(self) -> str:
        try:
            return paper_reference_normalise(self.cleaned_data["paper_reference"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not (cleaned.get("email") or "").strip():
            for name in ("wants_reminders", "wants_follow_through"):
                if cleaned.get(name):
                    self.add_error(name, BOXES_NEED_AN_ADDRESS)
        return cleaned

    @cached_property
    def helper(self) -> FormHelper:
        helper = FormHelper()
        # The page draws the <form> itself (its CSRF token and action).
        helper.form_tag = False
        helper.layout = Layout(
            Fieldset("The card", "paper_reference", "text", HTML(text_count_html()), "sectors", "kind"),
            Fieldset(
                "The pledger",
                "display_name",
                "is_anonymous",
                "role",
                "organisation",
                Div("org", css_id="organisation-choices"),
                "region",
            ),
            Fieldset(
                "If the card gives an email address", "email", "wants_reminders", "wants_follow_through"
            ),
            Fieldset("Consent", "consent_on_card"),
            Submit("submit", "Enter this pledge", css_class="btn-lg"),
        )
        return helper


class PaperFileForm(forms.Form):
    file = forms.FileField(
        label="CSV file of cards",
        help_text=format_html(
            "Saved from a spreadsheet as “CSV UTF-8”, the first line naming the columns: {}.",
            ", ".join(PAPER_CSV_COLUMNS),
        ),
        error_messages={
            "required": "Choose the CSV file to enter.",
            "empty": "The file is empty.",
        },
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > PAPER_FILE_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {PAPER_FILE_MAX_BYTES // (1024 * 1024)} MB: split it."
            )
        return upload


class PaperWithdrawForm(forms.Form):
    pledge = forms.CharField(
        label="Card reference or the pledge's link",
        max_length=300,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": "Enter the card's reference, or the pledge's link."},
    )
    note = forms.CharField(
        label="When and how the pledger asked",
        max_length=NOTE_MAX,
        help_text="Kept in the audit record, for example “asked in person on 12 March”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"required": "Say when and how the pledger asked, for the record."},
    )

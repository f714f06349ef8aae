from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Fieldset, Layout, Submit
from django import forms
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from changeday.lib.honeypot import HoneypotFormMixin
from organisations.models import Organisation
from organisations.selectors import organisation_by_slug
from pledges.models import Kind, Region, SectorSlug
from pledges.sources import source_clean, source_looks_made

TEXT_MIN = 10
TEXT_MAX = 500
SLUG = re.compile(r"[-a-zA-Z0-9_]{1,120}")
ORG_NOT_FOUND = (
    "We could not find that organisation in our directory: type its name again and choose it from the list."
)


# A few promises per sector, to show how small a pledge may be. Without the script they are
# plain examples; the script makes each a button that puts its words in the box.
PLEDGE_EXAMPLES: dict[str, list[str]] = {
    SectorSlug.NHS: [
        "learn the name of every porter and cleaner on my ward",
        "ask every patient what matters to them today, not only what is the matter",
        "take my full lunch break and encourage my team to take theirs",
    ],
    SectorSlug.SOCIAL_CARE: [
        "spend five minutes of every visit talking about what the person I support enjoys",
        "invite a district nurse to our next team meeting so we plan care together",
        "write down one thing each resident taught me this week",
    ],
    SectorSlug.HOUSING: [
        "ask every new tenant whether anyone at home needs help from health or care services",
        "learn who the social workers are for the estates I look after",
        "check on older tenants during every cold snap this winter",
    ],
    SectorSlug.PATIENT_CARER: [
        "write down my questions before every appointment",
        "tell the staff who help my mum when something they did made a difference",
        "share what I know about caring with a new carer in my area",
    ],
}


def text_count_html() -> str:
    return format_html(
        '<p class="form-text" id="text-count" aria-live="polite">Up to {} characters.</p>', TEXT_MAX
    )


def _examples_html() -> str:
    labels = dict(SectorSlug.choices)
    groups = [
        format_html(
            '<li><span class="fw-semibold">{}</span><ul class="cd-examples-list">{}</ul></li>',
            labels[slug],
            format_html_join("", '<li data-pledge-example="id_text">{}</li>', ((text,) for text in texts)),
        )
        for slug, texts in PLEDGE_EXAMPLES.items()
    ]
    # Folded on the form (a phone screen of examples would push the rest of the form away);
    # <details> opens without any script.
    return format_html(
        '<details class="cd-examples mb-3"><summary class="form-text mb-1" id="examples-hint">'
        "Need an idea? Some examples, by sector</summary>"
        '<ul class="list-unstyled small mb-0">{}</ul></details>',
        mark_safe("".join(groups)),  # noqa: S308 - each part built by format_html above
    )


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


class SourceField(forms.CharField):
    """The source tag a poster's QR code brought (pledges.sources), carried in a hidden field.
    A tag the site did not make is dropped, never an error, and never drawn back: what was
    typed into the address bar does not reach the page."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, max_length=None, **kwargs)

    def to_python(self, value: Any) -> str:
        return source_clean(value)

    def bound_data(self, data: Any, initial: Any) -> str:
        return source_looks_made(data)


@dataclass(frozen=True)
class PledgePrefill:
    """What a poster's link fills in on a blank form (`?sector=`, `?org=`, `?source=`). Each
    part is checked alone and an unknown one left out: a mistyped or made-up link still
    opens the form."""

    sector: str = ""
    organisation: Organisation | None = None
    source: str = ""


def pledge_prefill_read(query: Mapping[str, Any]) -> PledgePrefill:
    sector = query.get("sector", "")
    slug = query.get("org", "")
    organisation = None
    if isinstance(slug, str) and SLUG.fullmatch(slug):
        organisation = organisation_by_slug(slug=slug)
    return PledgePrefill(
        sector=sector if sector in SectorSlug.values else "",
        organisation=organisation,
        source=source_clean(query.get("source", "")),
    )


class PledgeForm(HoneypotFormMixin, forms.Form):
    text = PledgeTextField(
        label="I pledge to…",
        min_length=TEXT_MIN,
        max_length=TEXT_MAX,
        # data-char-*: the live count under the box (static/js/changeday.js); without the
        # script the line under the box says the limit and the server says by how much.
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "maxlength": TEXT_MAX,
                "data-char-limit": TEXT_MAX,
                "data-char-count": "text-count",
                "aria-describedby": "id_text_helptext text-count",
            }
        ),
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
    organisation = forms.CharField(
        label="Organisation (optional)",
        max_length=200,
        required=False,
        help_text=(
            "Your employer, or the organisation pledging. Start typing to choose it from our directory; "
            "if it is not there, type its full name."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    # The directory entry chosen (its slug): set by the type-ahead, or by the radio buttons
    # the "Find your organisation" button shows without JavaScript.
    org = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
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
    source = SourceField()

    name_missing = "Enter the name to show, or tick “Show my pledge as anonymous”."

    # The layout's order, so the error summary lists problems as the page shows the fields.
    field_order = [
        "text",
        "sectors",
        "kind",
        "display_name",
        "is_anonymous",
        "role",
        "organisation",
        "org",
        "region",
        "email",
        "wants_reminders",
        "consent_to_publish",
    ]

    def __init__(
        self,
        *args: Any,
        action: str = "",
        find_action: str = "",
        suggest_url: str = "",
        privacy_url: str = "",
        org_matches: list[tuple[str, str]] | None = None,
        org_query: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.action = action
        self.find_action = find_action
        if privacy_url and "email" in self.fields:
            email = self.fields["email"]
            email.help_text = format_html(
                '{} <a href="{}">How we use and keep your data</a>.', email.help_text, privacy_url
            )
        organisation = self.fields["organisation"]
        if suggest_url:
            # static/js/changeday.js makes the box a combobox listing what this URL finds.
            organisation.widget.attrs["data-org-suggest"] = suggest_url
            organisation.widget.attrs["data-org-choice"] = "id_org"
        self.choosing = org_matches is not None
        if org_matches:
            # "Find your organisation" without JavaScript: the matches as radio buttons,
            # the rest of the form as the person filled it in.
            self.fields["org"] = forms.ChoiceField(
                label="Choose your organisation",
                required=False,
                choices=[
                    *((slug, name) for name, slug in org_matches),
                    ("", "None of these: keep what I typed"),
                ],
                widget=forms.RadioSelect,
                help_text=format_html(
                    "What our directory holds for “{}”. Choose yours, then carry on with your pledge.",
                    org_query,
                ),
            )
        elif org_matches is not None:
            organisation.help_text = format_html(
                "Our directory has no organisation called “{}”. Check the spelling and search again, or keep "
                "the name as you typed it: organisers will add it.",
                org_query,
            )

    @cached_property
    def helper(self) -> FormHelper:
        # Built when the form is drawn, not for every submission that only validates.
        helper = FormHelper()
        helper.form_action = self.action
        helper.form_method = "post"
        helper.attrs = {"novalidate": ""}
        helper.layout = Layout(
            # Enter in a text box sends the form with its first submit button, which would
            # otherwise be "Find your organisation": this one, unseen and out of the tab order.
            HTML(
                '<div class="cd-hp" aria-hidden="true">'
                '<button type="submit" name="submit" value="Make my pledge" tabindex="-1">'
                "Make my pledge</button>"
                "</div>"
            ),
            Fieldset(
                "Your pledge", "text", HTML(text_count_html()), HTML(_examples_html()), "sectors", "kind"
            ),
            Fieldset(
                "About you",
                "display_name",
                "is_anonymous",
                "role",
                "organisation",
                self._find_button(),
                Div("org", css_id="organisation-choices"),
                "region",
            ),
            self.honeypot_layout(),
            Fieldset("Keeping in touch", "email", "wants_reminders", "consent_to_publish"),
            "submission_token",
            "source",
            Submit("submit", "Make my pledge", css_class="btn-lg"),
            HTML('<p class="form-text mt-3">We will email you a link to confirm your pledge.</p>'),
        )
        return helper

    def _find_button(self) -> HTML:
        if not self.find_action:
            return HTML("")
        # formaction: the same form, all it holds, goes to the search, which draws it again
        # with the matches; nothing is lost and nothing is stored.
        return HTML(
            format_html(
                '<p><button type="submit" class="btn btn-outline-primary" name="find_organisation" value="1" '
                'formaction="{}#organisation-choices">Find your organisation</button></p>',
                self.find_action,
            )
        )

    def clean_org(self) -> Any:
        slug = (self.cleaned_data.get("org") or "").strip()
        if not slug:
            return None
        organisation = organisation_by_slug(slug=slug) if SLUG.fullmatch(slug) else None
        if organisation is None:
            raise forms.ValidationError(ORG_NOT_FOUND)
        return organisation

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("is_anonymous") and not (cleaned.get("display_name") or "").strip():
            self.add_error("display_name", self.name_missing)
        if "org" in self.errors:
            # Said beside the box the person can see and fix, not the hidden choice.
            self.errors.pop("org")
            self.add_error("organisation", ORG_NOT_FOUND)
        return cleaned


class DataRequestForm(HoneypotFormMixin, forms.Form):
    email = forms.EmailField(
        label="Your email address",
        max_length=254,
        help_text="The address you gave when you pledged.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class AddressChangeForm(forms.Form):
    """ "Wrong address? Change it" on the page after pledging: the same rules as the pledge form's."""

    email = forms.EmailField(
        label="The right address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": "Enter the address the link should go to.",
            "invalid": "Enter an email address like name@example.org.",
        },
    )

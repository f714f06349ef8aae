"""The moderation page's query-string and button parsing, and the visitors' report form."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django import forms
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.selectors import SLUG_RE
from changeday.lib.honeypot import HoneypotFormMixin
from moderation.models import ORGANISER_ACTIONS, Action, RejectionReason, ReportReason, Subject
from moderation.selectors import REVIEW_STATES
from pledges.models import SectorSlug, Status, StoryStatus
from pledges.screening import FlagReason

ACTION_CHOICE_ERROR = "Choose publish, reject, hide or restore."
STALE_SELECTION = "That selection is out of date. Reload the queue and try again."
CAMPAIGN_CHOICE_ERROR = "That campaign does not exist. Choose one from the list."
NEWS_SINCE_ERROR = "This page is too old to say what is new. Reload the queue."
# The news is what came since the queue was opened: a page left open longer has
# nothing useful to say, and a reload gives the queue as it is.
NEWS_HORIZON = timedelta(days=1)


class CampaignSlugField(forms.ModelChoiceField):
    """A campaign by slug; anything that cannot be a slug (a null character)
    is refused before the lookup, which would otherwise be a database error."""

    def to_python(self, value: Any) -> Campaign | None:
        if value in self.empty_values:
            return None
        if not SLUG_RE.fullmatch(str(value)):
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


def campaign_choice() -> CampaignSlugField:
    """A campaign by its slug; none given means the current campaign (the view decides)."""
    return CampaignSlugField(
        queryset=Campaign.objects.order_by("-opens_at"),
        to_field_name="slug",
        required=False,
        empty_label=None,
        error_messages={"invalid_choice": CAMPAIGN_CHOICE_ERROR},
    )


class QueueFilterForm(forms.Form):
    campaign = campaign_choice()
    subject = forms.ChoiceField(
        choices=[("", "Pledges and stories"), (Subject.PLEDGE, "Pledges"), (Subject.STORY, "Stories")],
        required=False,
        label="Show",
        error_messages={"invalid_choice": "Choose pledges, stories or both."},
    )
    status = forms.ChoiceField(
        choices=[("", "Needs a decision")]
        + [(s, Status(s).label) for s in REVIEW_STATES]
        # Stories only: organisers may read them, never publish them.
        + [(StoryStatus.PRIVATE, "Private stories (not for publishing)")],
        required=False,
        error_messages={"invalid_choice": "Choose a status from the list."},
    )
    sector = forms.ChoiceField(
        choices=[("", "All sectors"), *SectorSlug.choices],
        required=False,
        error_messages={"invalid_choice": "Choose a sector from the list."},
    )
    flag = forms.ChoiceField(
        choices=[("", "Any screening result"), *FlagReason.choices],
        required=False,
        label="Screening flag",
        error_messages={"invalid_choice": "Choose a screening flag from the list."},
    )


class QueueNewsForm(QueueFilterForm):
    """The queue's filters and when the page was opened, as the page asks for its news."""

    since = forms.DateTimeField(error_messages={"required": NEWS_SINCE_ERROR, "invalid": NEWS_SINCE_ERROR})

    def clean_since(self) -> datetime:
        since: datetime = self.cleaned_data["since"]
        now = timezone.now()
        # A little ahead is allowed: the page's clock is the server's, but not to the microsecond.
        if not now - NEWS_HORIZON <= since <= now + timedelta(minutes=1):
            raise forms.ValidationError(NEWS_SINCE_ERROR)
        return since


class DashboardForm(forms.Form):
    campaign = campaign_choice()


class DecisionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[(action, Action(action).label) for action in ORGANISER_ACTIONS],
        error_messages={"required": ACTION_CHOICE_ERROR, "invalid_choice": ACTION_CHOICE_ERROR},
    )
    reason_code = forms.ChoiceField(
        choices=[("", "Choose a reason"), *RejectionReason.choices],
        required=False,
        error_messages={"invalid_choice": "Choose a reason for rejecting from the list."},
    )
    reason_text = forms.CharField(
        required=False,
        max_length=500,
        error_messages={"max_length": "Keep the reason to 500 characters or fewer."},
    )
    # The status the card showed: a pledge's or a story's (the names they share mean the same).
    expected_status = forms.ChoiceField(
        choices=[*Status.choices, (StoryStatus.PRIVATE, StoryStatus.PRIVATE.label)],
        required=False,
        error_messages={"invalid_choice": STALE_SELECTION},
    )
    all_on_page = forms.BooleanField(required=False)


class ReportForm(HoneypotFormMixin, forms.Form):
    reason = forms.ChoiceField(
        label="Why should an organiser look at this pledge?",
        choices=ReportReason.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose why you are reporting this pledge.",
            "invalid_choice": "Choose a reason from the list.",
        },
    )
    detail = forms.CharField(
        label="Anything else an organiser should know (optional)",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 500}),
        error_messages={"max_length": "Keep it to 500 characters or fewer (it has %(show_value)d)."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The page's template writes the <form> tag; the layout places the honeypot.
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout("reason", "detail", self.honeypot_layout())

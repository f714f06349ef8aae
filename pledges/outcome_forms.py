"""The follow-through's form: how a promise went, and an optional story.

Kept apart from pledges/forms.py, which holds the pledge form's own fields and helpers."""

from __future__ import annotations

from django import forms

from pledges.models import STORY_MAX_LENGTH, Outcome

OUTCOME_HINTS = {
    Outcome.DONE: "I did what I promised.",
    Outcome.STARTED: "It is under way.",
    Outcome.NOT_YET: "I have not got to it yet.",
    Outcome.DID_NOT_WORK: "I tried, and it did not work out.",
}


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(
        label="How did your pledge go?",
        choices=Outcome.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose one of the answers: done, started, not yet, or it didn't work out.",
            "invalid_choice": "Choose one of the answers: done, started, not yet, or it didn't work out.",
        },
    )
    # No max_length here: the limit is said in our words (clean_story), after line
    # endings are counted the way the page's counter counts them.
    story = forms.CharField(label="What changed? (optional)", required=False, widget=forms.Textarea)
    story_public = forms.BooleanField(label="You may publish my story beside my pledge", required=False)

    def clean_story(self) -> str:
        # Browsers send a new line as CR LF; the counter beside the box, and people,
        # count it as one character.
        text = self.cleaned_data["story"].replace("\r\n", "\n").replace("\r", "\n").strip()
        if len(text) > STORY_MAX_LENGTH:
            raise forms.ValidationError(
                f"Keep your story to {STORY_MAX_LENGTH} characters: it has {len(text)} now, "
                f"so please shorten it by {len(text) - STORY_MAX_LENGTH}."
            )
        return text

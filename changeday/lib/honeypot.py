"""A honeypot for public forms: one extra text field that people never see or
reach (hidden by the CSS class `cd-hp`, not an inline style, which the
Content-Security-Policy forbids; out of the tab order and the accessibility
tree), and that form-filling robots fill in.

    class SignupForm(HoneypotFormMixin, forms.Form): ...

    if form.is_valid():
        if form.caught_in_honeypot:
            return <the same success answer as a real submission, storing nothing>
        ...

Crispy layouts list their fields, so add `self.honeypot_layout()` to the
layout; a hand-written template includes "_honeypot.html" with field=form.website.
"""

from __future__ import annotations

from typing import Any

from crispy_forms.layout import Div, Field
from django import forms

HONEYPOT_FIELD = "website"


class HoneypotFormMixin:
    """Adds the honeypot field and takes it out of cleaned_data again, so the
    view can still pass cleaned_data straight to a service."""

    honeypot_field = HONEYPOT_FIELD
    caught_in_honeypot = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[self.honeypot_field] = forms.CharField(  # type: ignore[attr-defined]
            # A name robots like to fill; a label that tells anyone who does reach it.
            label="Leave this field empty",
            required=False,
            # Whatever a robot sends, its length must not turn into an error it can learn from.
            max_length=None,
            widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
        )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        self.caught_in_honeypot = bool((cleaned.pop(self.honeypot_field, "") or "").strip())
        return cleaned

    def honeypot_layout(self) -> Div:
        return Div(Field(self.honeypot_field), css_class="cd-hp", aria_hidden="true")

from __future__ import annotations

from typing import Any

from django import forms

from organisations.selectors import SEARCH_MAX
from pages.posters import CARDS_PER_SHEET, MAX_CARD_NUMBER, MAX_CARD_SHEETS


class OrganisationPosterSearchForm(forms.Form):
    """The posters page's search of the whole directory, for an organisation not yet taking part."""

    q = forms.CharField(
        label="Find an organisation in the directory",
        max_length=SEARCH_MAX,
        required=False,
        error_messages={"max_length": f"Search with {SEARCH_MAX} characters or fewer."},
    )


class PledgeCardsForm(forms.Form):
    """Which cards to print: numbered on from the first, two to a sheet."""

    first = forms.IntegerField(
        label="Number of the first card",
        min_value=1,
        max_value=MAX_CARD_NUMBER,
        initial=1,
        help_text="Printing more later? Start after the last number you printed, so no two cards share one.",
        error_messages={
            "required": "Give the number of the first card, for example 1.",
            "invalid": "Give the first card's number in digits, for example 41.",
            "min_value": "Card numbers start at 1.",
            "max_value": f"Card numbers go up to {MAX_CARD_NUMBER:,}.",
        },
    )
    sheets = forms.IntegerField(
        label=f"Sheets of A4 ({CARDS_PER_SHEET} cards on each)",
        min_value=1,
        max_value=MAX_CARD_SHEETS,
        initial=10,
        error_messages={
            "required": "Say how many sheets to print.",
            "invalid": "Give the number of sheets in digits, for example 10.",
            "min_value": "Print at least one sheet.",
            "max_value": f"Print at most {MAX_CARD_SHEETS} sheets at a time.",
        },
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        first, sheets = cleaned.get("first"), cleaned.get("sheets")
        if first and sheets and first + sheets * CARDS_PER_SHEET - 1 > MAX_CARD_NUMBER:
            self.add_error("sheets", f"Card numbers go up to {MAX_CARD_NUMBER:,}: print fewer sheets.")
        return cleaned

"""CSV cells that a spreadsheet shows as typed, never runs (CSV injection)."""

from __future__ import annotations

# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """Text that would start a formula, with a quote in front; anything else as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value

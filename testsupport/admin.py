"""What the admin's forms post, for tests that change a row through the admin as an organiser does."""

from __future__ import annotations

from typing import Any

# The pledge change page's inlines (sectors, audit, reports), posted back empty.
PLEDGE_INLINES_EMPTY = {
    f"{prefix}-{count}": "0"
    for prefix in ("sector_links", "moderation_events", "reports")
    for count in ("TOTAL_FORMS", "INITIAL_FORMS")
}


def pledge_admin_values(pledge: Any, **changes: str) -> dict[str, str]:
    """The pledge change form as the admin shows it for `pledge`, with `changes` typed over it."""
    values = {
        "text": pledge.text,
        "display_name": pledge.display_name,
        "role": pledge.role,
        "organisation": pledge.organisation,
        "region": pledge.region,
        "kind": pledge.kind,
        **({"consent_to_publish": "on"} if pledge.consent_to_publish else {}),
        **({"is_anonymous": "on"} if pledge.is_anonymous else {}),
        **PLEDGE_INLINES_EMPTY,
    }
    return {**values, **changes}

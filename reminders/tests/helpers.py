"""Test data for reminders, made through the services as people make it."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.utils import timezone

from campaigns.models import Campaign
from reminders.models import Anchor, Audience, Reminder, ReminderSignup
from reminders.services import (
    reminder_send_batch,
    reminder_signup_confirm,
    reminder_signup_create,
    reminders_dispatch,
)


def signup(campaign: Campaign, email: str, *, confirm: bool = True) -> ReminderSignup:
    made = reminder_signup_create(campaign=campaign, email=email, send_confirmation=False)
    return reminder_signup_confirm(signup=made) if confirm else made


def reminder(campaign: Campaign, **overrides: Any) -> Reminder:
    """As an organiser adds one in the admin (full_clean runs the admin's checks)."""
    values: dict[str, Any] = {
        "anchor": Anchor.DEADLINE,
        "days_before": 7,
        "send_time": time(9, 0),
        "audience": Audience.EVERYONE,
    }
    values.update(overrides)
    made = Reminder(campaign=campaign, **values)
    made.full_clean()
    made.save()
    return made


def run_due(now: datetime | None = None, **kwargs: Any) -> list[Any]:
    """One pass of the beat task, with the worker's batches sent in this process."""
    now = now or timezone.now()
    results = reminders_dispatch(now=now, **kwargs)
    for result in results:
        for first_id, last_id in result.batches:
            reminder_send_batch(run_id=result.run.pk, first_id=first_id, last_id=last_id, now=now)
    return results


# --- The campaign admin page, as an organiser posts it -------------------------------------


def _local(value: Any) -> tuple[str, str]:
    value = timezone.localtime(value)
    return value.strftime("%Y-%m-%d"), value.strftime("%H:%M:%S")


# The campaign page's two inlines over the reminders table: the reminders, then the
# follow-through moments, which the admin numbers as the second formset of that name.
FOLLOW_THROUGH_PREFIX = "reminders-2"


def campaign_admin_form(
    campaign_values: dict[str, Any],
    reminders: list[dict[str, str]],
    initial: int = 0,
    *,
    follow_through: list[dict[str, str]] | None = None,
    follow_through_initial: int = 0,
) -> dict:
    data = dict(campaign_values)
    for prefix, rows, first in (
        ("reminders", reminders, initial),
        (FOLLOW_THROUGH_PREFIX, follow_through or [], follow_through_initial),
    ):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": str(len(rows)),
                f"{prefix}-INITIAL_FORMS": str(first),
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
        for n, values in enumerate(rows):
            data.update({f"{prefix}-{n}-{key}": value for key, value in values.items()})
    return data


def campaign_admin_values(slug: str, *, opens: Any, deadline: Any, change_day: Any) -> dict[str, str]:
    opens_date, opens_time = _local(opens)
    deadline_date, deadline_time = _local(deadline)
    return {
        "name": "Admin-made day",
        "slug": slug,
        "hashtag": "AdminDay",
        "description": "Made in the admin.",
        "opens_at_0": opens_date,
        "opens_at_1": opens_time,
        "change_day": change_day.isoformat(),
        "deadline_0": deadline_date,
        "deadline_1": deadline_time,
        "target": "1000",
        "moderation_mode": "post",
        "report_threshold": "3",
        "blocked_words": "",
        "staff_domains": "nhs.net",
        "staff_domains_label": "NHS staff",
        "retention_days": "180",
    }

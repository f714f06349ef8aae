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

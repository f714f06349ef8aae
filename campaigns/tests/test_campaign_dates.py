"""A campaign's phase and days left at their boundaries, and the rules that keep
its dates sensible. What the pages show of them is in pages/tests/test_campaign_pages.py."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from campaigns.models import Campaign, ModerationMode, Phase
from campaigns.services import campaign_create

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")


def london(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """A moment given in UK time, stored as UTC as the database holds it."""
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(ZoneInfo("UTC"))


# --- Phase and days left at their boundaries ------------------------------------------

# Days are UK calendar days: not blocks of 24 hours (20:00 four days before a
# 17:00 deadline is 4 days left), and not UTC dates (the clocks go forward on
# 28 March 2027, so 00:00 on 31 March in London is still 30 March in UTC).
OPENS = london(date(2027, 2, 1), 9)
DEADLINE = london(date(2027, 3, 31), 17)


@pytest.fixture
def fixed_campaign(make_campaign: Any) -> Campaign:
    return make_campaign(opens_at=OPENS, change_day=date(2027, 3, 3), deadline=DEADLINE)


MICROSECOND = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("now", "phase"),
    [
        (OPENS - MICROSECOND, Phase.UPCOMING),
        (OPENS, Phase.OPEN),
        (DEADLINE - MICROSECOND, Phase.OPEN),
        (DEADLINE, Phase.CLOSED),
        (DEADLINE + timedelta(days=365), Phase.CLOSED),
    ],
    ids=["just before opening", "at opening", "just before the deadline", "at the deadline", "long after"],
)
def test_the_phase_at_its_boundaries(fixed_campaign: Campaign, now: datetime, phase: Phase) -> None:
    assert fixed_campaign.phase(now) is phase


@pytest.mark.parametrize(
    ("now", "days"),
    [
        (OPENS, 58),
        (london(date(2027, 3, 27), 20), 4),
        (london(date(2027, 3, 30), 23, 59), 1),
        (london(date(2027, 3, 31), 0, 0), 0),
        (london(date(2027, 3, 31), 9), 0),
        (DEADLINE - MICROSECOND, 0),
        (DEADLINE, 0),
        (DEADLINE + timedelta(days=3), 0),
    ],
    ids=[
        "at opening",
        "before the clocks change",
        "the evening before the last day",
        "the first minute of the last day",
        "the morning of the last day",
        "just before the deadline",
        "at the deadline",
        "after the deadline",
    ],
)
def test_days_left_at_its_boundaries(fixed_campaign: Campaign, now: datetime, days: int) -> None:
    assert fixed_campaign.days_left(now) == days


def test_with_a_midnight_deadline_the_day_before_is_the_last_day(make_campaign: Any) -> None:
    campaign = make_campaign(
        opens_at=OPENS, change_day=date(2027, 3, 3), deadline=london(date(2027, 4, 1), 0)
    )

    # "Pledge until 31 March": 31 March is the last day, 30 March has one more.
    assert campaign.days_left(london(date(2027, 3, 31), 10)) == 0
    assert campaign.days_left(london(date(2027, 3, 31), 23, 59)) == 0
    assert campaign.days_left(london(date(2027, 3, 30), 10)) == 1


# --- Campaign dates are refused when they make no sense ----------------------------------


def _values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Backwards Day",
        "slug": "backwards-day",
        "hashtag": "Backwards",
        "description": "Dates the wrong way round.",
        "opens_at": DEADLINE,
        "change_day": date(2027, 3, 3),
        "deadline": OPENS,
        "target": 1000,
        "moderation_mode": ModerationMode.POST,
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize("deadline", [OPENS, DEADLINE], ids=["before opening", "at opening"])
def test_campaign_create_refuses_a_deadline_not_after_opening(db: None, deadline: datetime) -> None:
    with pytest.raises(ValidationError):
        campaign_create(**_values(opens_at=DEADLINE, deadline=deadline))

    assert not Campaign.objects.exists()


def test_the_refusal_of_a_backwards_deadline_says_so_in_words(db: None) -> None:
    with pytest.raises(ValidationError) as refused:
        campaign_create(**_values())

    # Shown next to the deadline in the admin, in words an organiser understands.
    assert "The pledge deadline must be after the opening time." in refused.value.message_dict["deadline"]
    assert "constraint" not in " ".join(refused.value.messages).lower()


def test_the_database_refuses_a_deadline_before_opening_even_without_validation(db: None) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.create(**_values())

    assert not Campaign.objects.exists()


def test_the_database_refuses_a_deadline_equal_to_opening(db: None) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.create(**_values(opens_at=OPENS, deadline=OPENS))

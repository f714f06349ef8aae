"""The home page and campaign pages: which campaign people see, its dates and
days left. The rules behind the dates are tested in campaigns/tests/test_campaign_dates.py."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.selectors import campaign_get_current

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")


def london(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """A moment given in UK time, stored as UTC as the database holds it."""
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(ZoneInfo("UTC"))


def long_date(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def today() -> date:
    return timezone.localdate()


def named(make_campaign: Any, name: str, **dates: Any) -> Campaign:
    slug = name.lower().replace(" ", "-")
    return make_campaign(name=name, slug=slug, **dates)


# --- The home page ------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/campaigns/nhs-change-day/"])
def test_the_campaign_page_shows_name_hashtag_dates_days_left_and_a_pledge_link(
    make_campaign: Any, url: str
) -> None:
    change_day = today() + timedelta(days=10)
    deadline_day = today() + timedelta(days=20)
    campaign = make_campaign(
        name="NHS Change Day",
        slug="nhs-change-day",
        hashtag="#NHSChangeDay",
        opens_at=timezone.now() - timedelta(days=1),
        change_day=change_day,
        deadline=london(deadline_day, 17, 30),
    )

    response = Client().get(url)

    assert response.status_code == 200
    body = response.content.decode()
    assert "NHS Change Day" in body
    assert "#NHSChangeDay" in body and "##" not in body
    assert long_date(change_day) in body
    assert f"{long_date(deadline_day)}, 17:30" in body
    assert "20 days" in body
    assert f'href="/campaigns/{campaign.slug}/pledge/">Make a pledge</a>' in body


def test_on_the_last_day_the_page_says_it_is_the_last_day(make_campaign: Any) -> None:
    end_of_today = timezone.localtime().replace(hour=23, minute=59, second=59, microsecond=999999)
    make_campaign(opens_at=timezone.now() - timedelta(days=5), deadline=end_of_today)

    body = Client().get("/").content.decode()

    assert "Last day today" in body
    assert "Make a pledge" in body


def test_with_one_day_left_the_page_says_1_day(make_campaign: Any) -> None:
    make_campaign(
        opens_at=timezone.now() - timedelta(days=5),
        deadline=london(today() + timedelta(days=1), 12),
    )

    body = Client().get("/").content.decode()

    assert "1 day<" in body
    assert "1 days" not in body


def test_the_home_page_shows_the_open_campaign_closing_soonest(make_campaign: Any) -> None:
    now = timezone.now()
    named(make_campaign, "Open Later", opens_at=now - timedelta(days=9), deadline=now + timedelta(days=30))
    soonest = named(
        make_campaign, "Open Soonest", opens_at=now - timedelta(days=1), deadline=now + timedelta(days=5)
    )
    named(make_campaign, "Upcoming One", opens_at=now + timedelta(hours=1), deadline=now + timedelta(days=3))
    named(make_campaign, "Closed One", opens_at=now - timedelta(days=90), deadline=now - timedelta(hours=1))

    body = Client().get("/").content.decode()

    assert campaign_get_current() == soonest
    assert "Open Soonest" in body
    assert "Open Later" not in body
    assert f'href="/campaigns/{soonest.slug}/pledge/"' in body


def test_with_none_open_the_home_page_shows_the_next_to_open(make_campaign: Any) -> None:
    now = timezone.now()
    named(make_campaign, "Opens Later", opens_at=now + timedelta(days=9), deadline=now + timedelta(days=30))
    nxt = named(
        make_campaign, "Opens Next", opens_at=now + timedelta(days=2), deadline=now + timedelta(days=40)
    )
    named(make_campaign, "Closed One", opens_at=now - timedelta(days=90), deadline=now - timedelta(hours=1))

    body = Client().get("/").content.decode()

    assert campaign_get_current() == nxt
    assert "Opens Next" in body
    opens = timezone.localtime(nxt.opens_at)
    assert f"Pledging opens on {long_date(opens)} at {opens:%H:%M}" in body
    assert "Make a pledge" not in body


def test_with_all_closed_the_home_page_shows_the_last_to_close(make_campaign: Any) -> None:
    now = timezone.now()
    named(
        make_campaign,
        "Closed Long Ago",
        opens_at=now - timedelta(days=400),
        deadline=now - timedelta(days=300),
    )
    last = named(
        make_campaign, "Closed Lately", opens_at=now - timedelta(days=90), deadline=now - timedelta(days=2)
    )
    named(
        make_campaign, "Closed Between", opens_at=now - timedelta(days=200), deadline=now - timedelta(days=20)
    )

    body = Client().get("/").content.decode()

    assert campaign_get_current() == last
    assert "Closed Lately" in body
    assert f"Pledging closed on {timezone.localtime(last.deadline).day} " in body
    assert "Make a pledge" not in body


def test_with_no_campaign_the_home_page_says_there_is_none(db: None) -> None:
    response = Client().get("/")

    assert response.status_code == 200
    assert "There is no Change Day campaign running at the moment" in response.content.decode()
    assert campaign_get_current() is None


@pytest.mark.parametrize(
    "url",
    [
        "/campaigns/no-such-campaign/",
        "/campaigns/no-such-campaign/pledge/",
        "/campaigns/no-such-campaign/pledge/sent/",
        "/campaigns/" + "x" * 300 + "/",
        "/campaigns/%00/",
    ],
)
def test_an_unknown_campaign_is_a_404(campaign: Campaign, url: str) -> None:
    response = Client(raise_request_exception=False).get(url)

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()

"""The organisers' dashboard: pledges confirmed each hour over the last 48 hours, in all,
by sector and by region, counted from the pledges (UK hours, every hour shown), never more
than a minute old, and read through the confirmation index however many pledges came before."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.tools.management.commands import load_pledges
from conftest import create_pledge
from moderation.dashboard import HOURS, pledges_per_hour
from pledges.models import Pledge
from pledges.services import pledge_confirm

pytestmark = pytest.mark.django_db

DASHBOARD = "/moderation/dashboard/"
# A fixed moment, passed to the services and the selector rather than faking the clock.
# December: the UK is on GMT, so UK hours are UTC hours here.
NOW = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
SECTORS = ["nhs", "social-care", "housing", "patient-carer"]


@pytest.fixture(autouse=True)
def _no_counts_from_another_test() -> Iterator[None]:
    """The counts are cached by campaign and minute, and campaign ids repeat between runs."""

    def clear() -> None:
        if settings.REDIS_URL:
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL)
            keys = list(client.scan_iter(match="*moderation:per-hour:*"))
            if keys:
                client.delete(*keys)
        else:
            cache.clear()

    clear()
    yield
    clear()


def confirmed_at(campaign: Any, n: int, at: datetime, **fields: Any) -> Pledge:
    """A pledge its pledger confirmed at `at`."""
    return pledge_confirm(pledge=create_pledge(campaign, n, confirm=False, **fields), now=at)


def hour(day: Any, at: datetime) -> Any:
    [found] = [h for h in day.hours if h.start == at]
    return found


def test_each_hour_counts_its_confirmed_pledges_exactly_in_all_by_sector_and_by_region(
    campaign: Any, make_campaign: Any
) -> None:
    this_hour = datetime(2026, 12, 7, 14, tzinfo=UTC)
    first_hour = this_hour - timedelta(hours=HOURS - 1)
    confirmed_at(campaign, 1, NOW - timedelta(minutes=10), sectors=["nhs"], region="london")
    confirmed_at(campaign, 2, this_hour, sectors=["nhs", "social-care"], region="north-west")
    confirmed_at(campaign, 3, this_hour - timedelta(minutes=115), sectors=["housing"], region="london")
    # The flagged one waits for an organiser: it was confirmed all the same.
    confirmed_at(campaign, 4, first_hour, sectors=["patient-carer"], region="scotland", text="see www.x.org")
    confirmed_at(campaign, 5, first_hour - timedelta(seconds=1), region="wales")  # older than 48 hours
    confirmed_at(campaign, 6, NOW + timedelta(seconds=1), region="wales")  # after the moment asked about
    create_pledge(campaign, 7, confirm=False)  # never confirmed
    other = make_campaign(name="Another day", slug="another-day")
    confirmed_at(other, 8, NOW - timedelta(minutes=5))

    day = pledges_per_hour(campaign=campaign, now=NOW)

    assert [h.start for h in day.hours] == [first_hour + timedelta(hours=n) for n in range(HOURS)]
    assert [h.current for h in day.hours] == [False] * (HOURS - 1) + [True]
    assert hour(day, this_hour).total == 2
    assert hour(day, this_hour).by_sector == (2, 1, 0, 0)
    regions = dict(zip([g.key for g in day.regions], hour(day, this_hour).by_region, strict=True))
    assert regions["london"] == 1 and regions["north-west"] == 1 and sum(regions.values()) == 2
    twelve = hour(day, this_hour - timedelta(hours=2))
    assert (twelve.total, twelve.by_sector) == (1, (0, 0, 1, 0))
    assert (day.hours[0].total, day.hours[0].by_sector) == (1, (0, 0, 0, 1))
    # Every other hour is there, at zero.
    assert [h.total for h in day.hours].count(0) == HOURS - 3
    assert day.total == 4
    assert {g.key: g.total for g in day.sectors} == {
        "nhs": 2,
        "social-care": 1,
        "housing": 1,
        "patient-carer": 1,
    }
    assert {g.key: g.total for g in day.regions if g.total} == {"london": 2, "north-west": 1, "scotland": 1}
    assert day.busiest.start == this_hour


def test_hours_are_uk_hours_and_the_autumn_repeated_hour_stays_two(campaign: Any) -> None:
    # The clocks went back at 02:00 BST on 25 October 2026: 01:00 came twice.
    now = datetime(2026, 10, 25, 3, 30, tzinfo=UTC)
    confirmed_at(campaign, 1, datetime(2026, 10, 25, 0, 20, tzinfo=UTC))  # 01:20 BST
    confirmed_at(campaign, 2, datetime(2026, 10, 25, 1, 20, tzinfo=UTC))  # 01:20 GMT
    confirmed_at(campaign, 3, datetime(2026, 10, 25, 1, 40, tzinfo=UTC))  # 01:40 GMT

    day = pledges_per_hour(campaign=campaign, now=now)

    local = [(timezone.localtime(h.start).strftime("%H:%M %Z"), h.total) for h in day.hours[-5:]]
    assert local == [("00:00 BST", 0), ("01:00 BST", 1), ("01:00 GMT", 2), ("02:00 GMT", 0), ("03:00 GMT", 0)]


def test_the_counts_are_never_more_than_a_minute_old(campaign: Any) -> None:
    assert pledges_per_hour(campaign=campaign, now=NOW).total == 0
    confirmed_at(campaign, 1, NOW - timedelta(minutes=1))

    # Worked out this same minute: the pledge waits for the next one...
    assert pledges_per_hour(campaign=campaign, now=NOW + timedelta(seconds=59)).total == 0
    # ...and is there once it comes.
    assert pledges_per_hour(campaign=campaign, now=NOW + timedelta(seconds=60)).total == 1


@pytest.fixture
def organiser_client(client: Client, organiser: Any) -> Client:
    client.force_login(organiser)
    return client


def test_the_page_shows_the_last_48_hours_in_tables_and_a_chart_with_words(
    organiser_client: Client, campaign: Any
) -> None:
    create_pledge(campaign, 1, sectors=["nhs", "housing"], region="london")
    create_pledge(campaign, 2, sectors=["social-care"], region="midlands")

    response = organiser_client.get(DASHBOARD, {"campaign": campaign.slug})

    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    page = response.content.decode()
    assert "person1@example.org" not in page
    for table in ("dash-sectors", "dash-regions"):
        body = page.split(f'id="{table}"')[1].split("</table>")[0]
        assert "<caption>Pledges confirmed each hour by" in body
        assert body.count('<th scope="row"') == HOURS + 1  # every hour, and the total
        assert '<th scope="col">Hour</th>' in body
        # Newest hour first: the hour under way holds both pledges.
        newest = re.search(r"<tbody>\s*<tr>(.*?)</tr>", body, re.S).group(1)
        assert "(so far)" in newest
        cells = re.findall(r'<td class="text-end">(\d+)</td>', newest)
        assert cells[0] == "2"
    sectors_row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", page.split('id="dash-sectors"')[1], re.S).group(1)
    assert re.findall(r'<td class="text-end">(\d+)</td>', sectors_row) == ["2", "1", "1", "1", "0"]
    svg = page.split("<svg")[1].split("</svg>")[0]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert svg.count('<rect class="bar') == HOURS
    assert "2 pledges in all" in svg
    assert f'href="/moderation/?campaign={campaign.slug}"' in page


def test_the_page_costs_the_same_queries_for_one_pledge_or_many(
    organiser_client: Client, campaign: Any
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert organiser_client.get(DASHBOARD, {"campaign": campaign.slug}).status_code == 200
        return len(captured.captured_queries)

    create_pledge(campaign, 1)
    one = queries()
    _no_counts_cached()  # counted afresh, not read from what the first visit cached
    for n in range(2, 40):
        create_pledge(
            campaign, n, sectors=SECTORS[: 1 + n % 4], region=["london", "wales", "midlands"][n % 3]
        )
    assert queries() == one
    # From the cache, the pledges are not read at all.
    cached = [q["sql"] for q in _captured(organiser_client, campaign) if "pledges_pledge" in q["sql"]]
    assert cached == []


def _no_counts_cached() -> None:
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(match="*moderation:per-hour:*"):
            client.delete(key)
    else:
        cache.clear()


def _captured(client: Client, campaign: Any) -> list[dict[str, str]]:
    with CaptureQueriesContext(connection) as captured:
        client.get(DASHBOARD, {"campaign": campaign.slug})
    return captured.captured_queries


def test_the_dashboard_is_for_organisers_only(client: Client, stranger: Any, campaign: Any) -> None:
    anonymous = client.get(DASHBOARD, {"campaign": campaign.slug})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/?next=/moderation/dashboard/")

    client.force_login(stranger)
    assert client.get(DASHBOARD, {"campaign": campaign.slug}).status_code == 403


@pytest.mark.parametrize("slug", ["no-such-day", "<script>alert(1)</script>", "a\x00b"])
def test_an_unknown_campaign_is_a_clear_400_that_echoes_nothing(organiser_client: Client, slug: str) -> None:
    response = organiser_client.get(DASHBOARD, {"campaign": slug})

    assert response.status_code == 400
    page = response.content.decode()
    assert "That campaign does not exist. Choose one from the list." in page
    assert "<script>alert" not in page


def test_a_campaign_name_with_markup_is_shown_as_text(organiser_client: Client, make_campaign: Any) -> None:
    campaign = make_campaign(name="<img src=x onerror=alert(1)> Day", slug="markup-day")
    page = organiser_client.get(DASHBOARD, {"campaign": campaign.slug}).content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; Day" in page


def test_the_queue_links_to_the_dashboard(organiser_client: Client, campaign: Any) -> None:
    page = organiser_client.get("/moderation/", {"campaign": campaign.slug}).content.decode()
    assert f'href="/moderation/dashboard/?campaign={campaign.slug}"' in page


def test_the_campaigns_admin_list_links_to_the_dashboard(organiser: Any, campaign: Any) -> None:
    organiser.is_superuser = True
    organiser.save()
    client = Client()
    client.force_login(organiser)
    page = client.get("/admin/campaigns/campaign/").content.decode()
    assert f'href="/moderation/dashboard/?campaign={campaign.slug}"' in page


# --- The plan on PostgreSQL -------------------------------------------------------------------


def _plan(sql: str) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres_only("partial indexes and the planner's choice are PostgreSQL's")
def test_the_index_leaves_out_unconfirmed_pledges() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'pledge_confirmed_idx'")
        [(definition,)] = cursor.fetchall()
    assert "(campaign_id, confirmed_at)" in definition
    assert definition.endswith("WHERE (confirmed_at IS NOT NULL)"), definition


@pytest.mark.postgres_only("partial indexes and the planner's choice are PostgreSQL's")
def test_the_last_48_hours_are_read_through_the_confirmation_index_alone(make_campaign: Any) -> None:
    # A campaign open for most of a year: the last two days are a sliver of its pledges.
    now = timezone.now()
    campaign = make_campaign(opens_at=now - timedelta(days=300))
    call_command(load_pledges.Command(), campaign=campaign.slug, count=4000, seed=7)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pledges_pledge")

    with CaptureQueriesContext(connection) as captured:
        pledges_per_hour(campaign=campaign, now=now)
    [sql] = [q["sql"] for q in captured.captured_queries if 'FROM "pledges_pledge"' in q["sql"]]
    plan = _plan(sql)

    assert "pledge_confirmed_idx" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "Index Cond" in plan and "confirmed_at >=" in plan, plan


# --- Refreshing itself: the figures alone, for the open page --------------------------------

DAY = "/moderation/dashboard/day/"


def test_the_figures_alone_are_for_organisers_only_and_come_from_the_same_minutes_count(
    client: Client, stranger: Any, organiser: Any, campaign: Any
) -> None:
    create_pledge(campaign, 1, sectors=["nhs", "housing"], email="secret-one@example.org")

    anonymous = client.get(DAY, {"campaign": campaign.slug})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/?next=/moderation/dashboard/day/")
    client.force_login(stranger)
    refused = client.get(DAY, {"campaign": campaign.slug})
    assert refused.status_code == 403 and "dash-sectors" not in refused.content.decode()

    client.force_login(organiser)
    assert client.get(DASHBOARD, {"campaign": campaign.slug}).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(DAY, {"campaign": campaign.slug})

    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    part = response.content.decode()
    assert "<html" not in part and "<script" not in part
    assert 'id="dash-sectors"' in part and 'id="dash-regions"' in part and "<svg" in part
    assert re.search(r"Updated at \d\d:\d\d:\d\d</strong>", part)
    assert "1 pledge in all" in part
    assert "secret-one" not in part
    # Counted once this minute, by the page: the figures alone read no pledge.
    assert not [q for q in captured.captured_queries if "pledges_pledge" in q["sql"]]


@pytest.mark.parametrize("slug", ["no-such-day", "<script>alert(1)</script>", "a\x00b"])
def test_the_figures_of_an_unknown_campaign_are_a_clear_400_that_echoes_nothing(
    organiser_client: Client, slug: str
) -> None:
    response = organiser_client.get(DAY, {"campaign": slug})

    assert response.status_code == 400
    part = response.content.decode()
    assert "That campaign does not exist. Choose one from the list." in part
    assert "<script>alert" not in part


def test_without_javascript_the_page_says_when_it_was_counted_and_offers_a_refresh_link(
    organiser_client: Client, campaign: Any
) -> None:
    page = organiser_client.get(DASHBOARD, {"campaign": campaign.slug}).content.decode()

    assert re.search(r"<strong>Updated at \d\d:\d\d:\d\d</strong> \(UK time\)", page)
    assert f'<a href="/moderation/dashboard/?campaign={campaign.slug}" id="dash-refresh">Refresh</a>' in page
    assert f'data-url="/moderation/dashboard/day/?campaign={campaign.slug}" data-every="30"' in page
    # Our own script file only: the site's CSP allows no inline script.
    assert '<script src="/static/js/dashboard.js" defer></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)


def test_the_dashboard_links_the_pledges_and_organisations_csv(
    organiser_client: Client, campaign: Any
) -> None:
    page = organiser_client.get(DASHBOARD, {"campaign": campaign.slug}).content.decode()

    assert f'href="/moderation/export.csv?campaign={campaign.slug}">Pledges CSV</a>' in page
    assert f'href="/campaigns/{campaign.slug}/organisations/export.csv">Organisations CSV</a>' in page

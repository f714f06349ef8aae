"""The public statistics page: per-day, sector, region and organisation figures."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import create_pledge
from pages.stats import campaign_stats, stats_cache_key, stats_league
from pages.tests.orgs import make_org, org_pledge
from pledges.models import Pledge

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_stats(campaign: Any) -> Any:
    # The Redis cache outlives a test (and a run, whose fresh database reuses ids):
    # forget only this campaign's figures, not the other tests' cache entries.
    cache.delete(stats_cache_key(campaign.pk))
    yield
    cache.delete(stats_cache_key(campaign.pk))


def _published_on(pledge: Any, when: datetime) -> None:
    Pledge.objects.filter(pk=pledge.pk).update(published_at=when)


def _a_few_pledges(campaign: Any) -> None:
    # 23:30 UTC on 1 June is 00:30 on 2 June in London (BST): a UK day, not a UTC one.
    leeds = make_org(1, name="Leeds Teaching Hospitals", region="north-east-and-yorkshire")
    shelter = make_org(2, name="Shelter Cymru", kind="charity", region="wales")
    hidden = make_org(3, name="Hidden Trust")
    one = org_pledge(campaign, leeds, 1, sectors=["nhs"], region="london")
    two = org_pledge(campaign, leeds, 2, sectors=["nhs", "social-care"], region="london")
    three = org_pledge(campaign, shelter, 3, sectors=["housing"], region="wales")
    four = create_pledge(
        campaign,
        4,
        sectors=["housing", "patient-carer"],
        region="north-west",
        email="secret-four@example.org",
    )
    unconfirmed = org_pledge(campaign, hidden, 5, confirm=False, region="scotland")
    _published_on(one, datetime(2027, 6, 1, 10, 0, tzinfo=UTC))
    _published_on(two, datetime(2027, 6, 1, 23, 30, tzinfo=UTC))
    _published_on(three, datetime(2027, 6, 2, 9, 0, tzinfo=UTC))
    _published_on(four, datetime(2027, 6, 4, 12, 0, tzinfo=UTC))
    assert unconfirmed.published_at is None


def test_the_figures_count_published_pledges_per_uk_day_sector_region_and_organisation(campaign: Any) -> None:
    _a_few_pledges(campaign)

    stats = campaign_stats(campaign=campaign)

    assert stats.total == 4 and stats.integration == 2
    assert [(d.day, d.published, d.integration) for d in stats.days] == [
        (date(2027, 6, 1), 1, 0),
        (date(2027, 6, 2), 2, 1),
        (date(2027, 6, 3), 0, 0),
        (date(2027, 6, 4), 1, 1),
    ]
    sectors = {row.key: row.count for row in stats.sectors}
    assert sectors == {"nhs": 2, "social-care": 1, "housing": 2, "patient-carer": 1}
    regions = {row.key: row.count for row in stats.regions if row.count}
    assert regions == {"london": 2, "wales": 1, "north-west": 1}
    assert stats.regions[0].key == "london"
    # The organisations from their counters (the league table's top), not by counting pledges.
    assert [(row.name, row.pledges) for row in stats_league(campaign=campaign)] == [
        ("Leeds Teaching Hospitals", 2),
        ("Shelter Cymru", 1),
    ]


def test_the_page_shows_the_numbers_in_tables_and_charts_without_emails_or_unpublished_pledges(
    campaign: Any,
) -> None:
    _a_few_pledges(campaign)

    response = Client().get(f"/campaigns/{campaign.slug}/stats/")

    body = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in body and "<title" in body and "<desc" in body and "<table" in body
    assert "Wed 2 June 2027" in body and "Shelter Cymru" in body and "North West" in body
    assert "Hidden Trust" not in body
    assert "@example.org" not in body and "secret-four" not in body
    assert 'style="' not in body and "<style" not in body
    assert "<script>" not in body and "<script " not in body.replace('<script src="', "")


def test_the_page_works_for_a_campaign_with_no_published_pledges(campaign: Any) -> None:
    create_pledge(campaign, 1, confirm=False)

    response = Client().get(f"/campaigns/{campaign.slug}/stats/")

    body = response.content.decode()
    assert response.status_code == 200
    assert "No published pledges yet" in body
    assert "<svg" not in body


def test_a_second_request_within_five_minutes_reads_the_cache_not_the_pledges(campaign: Any) -> None:
    _a_few_pledges(campaign)
    client = Client()

    with CaptureQueriesContext(connection) as first:
        assert client.get(f"/campaigns/{campaign.slug}/stats/").status_code == 200
    create_pledge(campaign, 9, organisation="Late Trust")
    with CaptureQueriesContext(connection) as second:
        body = client.get(f"/campaigns/{campaign.slug}/stats/").content.decode()

    assert any("pledges_pledge" in q["sql"] for q in first.captured_queries)
    # Only the top ten of the league is read again, from the organisations' counters.
    assert not any("pledges_pledge" in q["sql"] for q in second.captured_queries)
    assert len(second.captured_queries) < len(first.captured_queries)
    assert "Late Trust" not in body


def test_an_unknown_campaign_is_a_404(campaign: Any) -> None:
    assert Client().get("/campaigns/no-such-campaign/stats/").status_code == 404


def test_the_campaign_page_links_to_the_statistics(campaign: Any) -> None:
    body = Client().get(f"/campaigns/{campaign.slug}/").content.decode()
    assert f'href="/campaigns/{campaign.slug}/stats/">Statistics</a>' in body


# --- The follow-through funnel ---------------------------------------------------------------


def _at(campaign: Any, days_after_change_day: int) -> datetime:
    return datetime.combine(campaign.change_day, datetime.min.time(), tzinfo=UTC) + timedelta(
        days=days_after_change_day, hours=12
    )


def _answers(campaign: Any, organiser: Any) -> None:
    from moderation.services import pledge_moderate
    from pledges.outcomes import pledge_outcome_record

    def answer(pledge: Any, outcome: str, days: int | None) -> None:
        when = _at(campaign, days) if days is not None else None
        pledge_outcome_record(pledge=pledge, outcome=outcome, now=when)

    one = create_pledge(campaign, 1, sectors=["nhs"], region="london")
    two = create_pledge(campaign, 2, sectors=["nhs", "social-care"], region="london")
    three = create_pledge(campaign, 3, sectors=["housing"], region="wales")
    create_pledge(campaign, 4, sectors=["housing"], region="north-west")  # never answers
    hidden = create_pledge(campaign, 5, sectors=["nhs"], region="london")
    early = create_pledge(campaign, 6, sectors=["social-care"], region="wales")
    create_pledge(campaign, 7, sectors=["nhs"], region="london", confirm=False)
    answer(one, "started", 1)
    answer(one, "done", 2)  # changed their answer: counted once, as done, in its latest week
    answer(two, "started", 9)
    answer(three, "not-yet", 1)
    answer(hidden, "done", 1)
    answer(early, "didnt-work", None)  # before Change Day
    pledge_moderate(pledge_ids=[hidden.pk], action="hide", actor=organiser)


def test_the_funnel_counts_published_pledges_answers_and_changes_by_sector_region_and_week(
    campaign: Any, organiser: Any
) -> None:
    _answers(campaign, organiser)

    follow = campaign_stats(campaign=campaign).follow_through

    assert follow is not None
    overall = follow.overall
    assert (overall.published, overall.answered, overall.changed, overall.done) == (5, 4, 2, 1)
    assert (overall.answered_share, overall.changed_share, overall.done_share) == (80, 40, 20)
    sectors = {row.key: (row.published, row.answered, row.changed, row.done) for row in follow.sectors}
    assert sectors == {
        "nhs": (2, 2, 2, 1),
        "social-care": (2, 2, 1, 0),
        "housing": (2, 1, 0, 0),
        "patient-carer": (0, 0, 0, 0),
    }
    regions = {
        row.key: (row.published, row.answered, row.changed, row.done)
        for row in follow.regions
        if row.published
    }
    assert regions == {"london": (2, 2, 2, 1), "wales": (2, 2, 0, 0), "north-west": (1, 0, 0, 0)}
    weeks = [(w.week, w.starts, w.answered, w.done, w.started, w.not_yet, w.didnt_work) for w in follow.weeks]
    day = campaign.change_day
    assert weeks == [
        (0, day - timedelta(days=7), 1, 0, 0, 0, 1),
        (1, day, 2, 1, 0, 1, 0),
        (2, day + timedelta(days=7), 1, 0, 1, 0, 0),
    ]


def _by_week(groups: Any) -> dict[str, list[tuple[int, int, int, int, int]]]:
    def row(w: Any) -> tuple[int, int, int, int, int]:
        return (w.week, w.done, w.started, w.not_yet, w.didnt_work)

    return {group.key: [row(w) for w in group.weeks] for group in groups}


def test_answers_week_by_week_are_counted_by_sector_and_by_region_in_the_week_last_given(
    campaign: Any, organiser: Any
) -> None:
    _answers(campaign, organiser)

    follow = campaign_stats(campaign=campaign).follow_through

    assert follow is not None
    # Weeks 0 (before Change Day), 1 and 2 for every group answered in, quiet weeks as zero;
    # the pledge that said "started" in week 1 and "done" in week 2 counts once, as done, in week 2.
    assert _by_week(follow.weeks_by_sector) == {
        "nhs": [(0, 0, 0, 0, 0), (1, 1, 0, 0, 0), (2, 0, 1, 0, 0)],
        "social-care": [(0, 0, 0, 0, 1), (1, 0, 0, 0, 0), (2, 0, 1, 0, 0)],
        "housing": [(0, 0, 0, 0, 0), (1, 0, 0, 1, 0), (2, 0, 0, 0, 0)],
    }
    assert [group.key for group in follow.weeks_by_region] == ["london", "wales"]
    assert _by_week(follow.weeks_by_region) == {
        "london": [(0, 0, 0, 0, 0), (1, 1, 0, 0, 0), (2, 0, 1, 0, 0)],
        "wales": [(0, 0, 0, 0, 1), (1, 0, 0, 1, 0), (2, 0, 0, 0, 0)],
    }
    assert [group.label for group in follow.weeks_by_sector] == ["NHS", "Social care", "Housing"]


def test_the_page_shows_the_funnel_in_accessible_tables_without_scripts(
    campaign: Any, organiser: Any
) -> None:
    _answers(campaign, organiser)

    body = Client().get(f"/campaigns/{campaign.slug}/stats/").content.decode()

    assert 'id="follow-heading"' in body
    assert "the makers of <strong>4</strong> (80%) said how it went" in body
    for caption in (
        "Follow-through by sector",
        "Follow-through by region, most pledges first",
        "Answers each week",
    ):
        assert f"<caption>{caption}" in body
    sectors = body[body.index('id="follow-sectors"') :]
    sectors = sectors[: sectors.index("</table>")]
    assert '<th scope="col">Sector</th>' in sectors
    assert '<th scope="row" class="fw-normal">NHS</th><td class="text-end">2</td>' in sectors
    assert "Before Change Day" in body and f"Week 1, from {campaign.change_day:%-d %B %Y}" in body
    assert "An answer counts in the week it was last given" in body
    for table_id, caption, groups in (
        ("sectors", "by sector", ["NHS", "Social care", "Housing"]),
        ("regions", "by region, most pledges first", ["London", "Wales"]),
    ):
        table = body[body.index(f'id="follow-weeks-{table_id}"') :]
        table = table[: table.index("</table>")]
        assert f"<caption>Answers each week since Change Day, {caption}</caption>" in table
        assert 'aria-describedby="follow-weeks-note"' in table
        assert re.findall(r'<th scope="rowgroup" colspan="6">([^<]+)</th>', table) == groups
        assert table.count(f"Week 2, from {campaign.change_day + timedelta(days=7):%-d %B %Y}") == len(groups)
    assert "<script>" not in body and 'style="' not in body and "@example.org" not in body


def test_the_weeks_by_sector_and_region_read_a_fixed_number_of_queries_whatever_the_pledges(
    campaign: Any,
) -> None:
    from pledges.outcomes import pledge_outcome_record

    sectors = [["nhs"], ["social-care", "housing"], ["patient-carer"], ["nhs", "housing"]]
    regions = ["london", "wales", "scotland", "north-west", "south-east"]
    outcomes = ["done", "started", "not-yet", "didnt-work"]

    def queries() -> int:
        cache.delete(stats_cache_key(campaign.pk))
        with CaptureQueriesContext(connection) as captured:
            Client().get(f"/campaigns/{campaign.slug}/stats/")
        return len(captured)

    def answered(numbers: range) -> None:
        for n in numbers:
            pledge = create_pledge(
                campaign, n, sectors=sectors[n % len(sectors)], region=regions[n % len(regions)]
            )
            outcome = outcomes[n % len(outcomes)]
            pledge_outcome_record(pledge=pledge, outcome=outcome, now=_at(campaign, 3 * n))

    answered(range(1, 3))
    few = queries()
    answered(range(3, 40))
    assert queries() == few
    follow = campaign_stats(campaign=campaign).follow_through
    assert follow is not None
    assert len(follow.weeks_by_region) == len(regions) and len(follow.weeks_by_sector) == 4
    assert sum(w.answered for group in follow.weeks_by_region for w in group.weeks) == 39


def test_the_funnel_says_nobody_answered_yet(campaign: Any) -> None:
    create_pledge(campaign, 1)
    body = Client().get(f"/campaigns/{campaign.slug}/stats/").content.decode()
    assert "Nobody has said yet how their promise went" in body
    assert "<caption>Answers each week" not in body


def test_the_funnel_reads_a_fixed_number_of_queries_whatever_the_number_of_pledges(
    campaign: Any, organiser: Any
) -> None:
    from pledges.outcomes import pledge_outcome_record

    def queries() -> int:
        cache.delete(stats_cache_key(campaign.pk))
        with CaptureQueriesContext(connection) as captured:
            campaign_stats(campaign=campaign)
        return len(captured)

    def answered(numbers: range) -> None:
        for n in numbers:
            pledge = create_pledge(
                campaign, n, sectors=["nhs", "housing"], region="wales" if n % 2 else "london"
            )
            pledge_outcome_record(pledge=pledge, outcome="done" if n % 3 else "not-yet", now=_at(campaign, n))

    answered(range(1, 3))
    few = queries()
    answered(range(3, 30))
    assert queries() == few

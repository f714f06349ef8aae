"""The wall's indexes hold published pledges only (a new pledge pays no entry in
them), and the wall's own queries still match them: PostgreSQL uses a partial
index only when the query implies its WHERE clause."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.tools.management.commands import load_pledges
from conftest import create_pledge
from pledges import selectors

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.postgres_only("partial and GIN indexes are PostgreSQL's"),
]

WALL_INDEX = "pledge_wall_published_idx"
SEARCH_INDEX = "pledge_search_published_idx"


@pytest.fixture
def busy_campaign(campaign: Any) -> Any:
    """Enough pledges, some never confirmed, and fresh statistics, for the
    planner to choose as it would on Change Day: on a handful of rows a
    sequential scan wins. Loaded in bulk: through the services it would take most of a minute."""
    call_command(load_pledges.Command(), campaign=campaign.slug, count=3000, seed=3)
    for n in range(20):
        create_pledge(campaign, n, confirm=False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pledges_pledge")
    return campaign


def _wall_queries(campaign: Any, **query: str) -> list[str]:
    """The pledge queries the wall page ran, in order."""
    with CaptureQueriesContext(connection) as queries:
        response = Client().get(f"/campaigns/{campaign.slug}/wall/", query)
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries if 'FROM "pledges_pledge"' in q["sql"]]


def _plan(sql: str, *settings: str) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in settings:
            cursor.execute(f"SET LOCAL {setting}")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _wall_plan(campaign: Any, **query: str) -> str:
    """EXPLAIN of the query that read the page the wall showed."""
    return _plan(_wall_queries(campaign, **query)[-1])


def test_the_wall_and_word_indexes_leave_out_pledges_that_are_not_published() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'pledges_pledge' "
            "AND indexname IN (%s, %s, 'pledge_wall_idx', 'pledge_text_search_idx')",
            [WALL_INDEX, SEARCH_INDEX],
        )
        found = dict(cursor.fetchall())
    assert sorted(found) == sorted([WALL_INDEX, SEARCH_INDEX])
    for definition in found.values():
        assert definition.endswith("WHERE ((status)::text = 'published'::text)"), definition


def test_the_walls_first_page_reads_the_published_wall_index_in_order(busy_campaign: Any) -> None:
    plan = _wall_plan(busy_campaign)

    assert f"Index Scan using {WALL_INDEX}" in plan, plan
    assert "Sort" not in plan, plan


def test_a_rare_word_is_looked_up_in_the_published_word_index_and_its_pledges_read_by_id(
    busy_campaign: Any,
) -> None:
    create_pledge(busy_campaign, 99, text="play the harmonica for the patients on my ward")

    # The last two: the page may first count what was published in the last hour.
    *_, probe, page = _wall_queries(busy_campaign, q="harmonica")

    # The planner takes a word it has no statistics for as common and walks the wall testing
    # every pledge's words: the whole wall, for a word no pledge has.
    assert f"Bitmap Index Scan on {SEARCH_INDEX}" in _plan(
        probe, "enable_indexscan = off", "enable_seqscan = off"
    )
    assert "to_tsvector" not in page
    assert WALL_INDEX not in _plan(page)


def test_a_common_word_on_the_wall_walks_the_wall_index_instead_of_sorting_every_match(
    busy_campaign: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More matches than a sort may take (a few thousand at a million pledges; 20 here).
    monkeypatch.setattr(selectors, "SEARCH_SORT_LIMIT", 20)
    # The planner knows how common a word is only from the statistics object on the
    # searched expression (a partial index gives it none): without them it takes
    # every word for a rare one, and reads and sorts every pledge that has it.
    plan = _wall_plan(busy_campaign, q="discharge")

    assert f"Index Scan using {WALL_INDEX}" in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.parametrize("few", [5000, 0], ids=["matches-read-by-id", "wall-walked"])
def test_a_word_search_pages_newest_first_the_same_whichever_way_it_reads(
    campaign: Any, monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    monkeypatch.setattr(selectors, "SEARCH_SORT_LIMIT", few)
    made = [
        create_pledge(campaign, n, text=f"learn the harmonica with patient number {n}").public_id
        for n in range(30)
    ]
    for n in range(30, 35):
        create_pledge(campaign, n)
    create_pledge(campaign, 99, confirm=False, text="an unconfirmed harmonica pledge stays off the wall")

    shown, cursor = [], ""
    while True:
        page = selectors.wall_pledges(
            campaign=campaign, filters=selectors.WallFilters(q="harmonica"), cursor=cursor
        )
        shown += [pledge.public_id for pledge in page.pledges]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert shown == made[::-1]
    assert selectors.wall_pledges(campaign=campaign, filters=selectors.WallFilters(q="zzquux")).pledges == []


def test_a_common_word_is_asked_about_once_and_then_walked_at_once(
    busy_campaign: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "SEARCH_SORT_LIMIT", 20)
    search = selectors.WallFilters(q="discharge")

    def pledge_queries() -> tuple[int, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            page = selectors.wall_pledges(campaign=busy_campaign, filters=search)
        shown = [pledge.public_id for pledge in page.pledges]
        return sum('FROM "pledges_pledge"' in q["sql"] for q in queries.captured_queries), shown

    first, shown = pledge_queries()
    again, shown_again = pledge_queries()

    assert (first, again) == (2, 1)
    assert shown_again == shown and len(shown) == selectors.WALL_PAGE_SIZE


def test_an_organisations_wall_reads_the_organisation_index_in_order(busy_campaign: Any) -> None:
    from pledges.models import Pledge, Status
    from pledges.tests.orgdata import make_organisation

    riverside = make_organisation("Riverside Homes")
    make_organisation("Rivers Care Ltd")
    # One pledge in ten counts for it, set in bulk as load_pledges loads them.
    published = Pledge.objects.filter(campaign=busy_campaign, status=Status.PUBLISHED).order_by("id")
    Pledge.objects.filter(id__in=list(published.values_list("id", flat=True)[::10])).update(org=riverside)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pledges_pledge")

    plan = _wall_plan(busy_campaign, organisation=riverside.slug)

    assert "Index Scan using pledge_org_wall_idx" in plan, plan
    assert "Sort" not in plan, plan

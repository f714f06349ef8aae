"""The wall's indexes hold published pledges only (a new pledge pays no entry in
them), and the wall's own queries still match them: PostgreSQL uses a partial
index only when the query implies its WHERE clause."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import create_pledge

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="partial and GIN indexes are PostgreSQL's"),
]

WALL_INDEX = "pledge_wall_published_idx"
SEARCH_INDEX = "pledge_search_published_idx"


@pytest.fixture
def busy_campaign(campaign: Any) -> Any:
    """Enough pledges, some never confirmed, and fresh statistics, for the
    planner to choose as it would on Change Day: on a handful of rows a
    sequential scan wins. Loaded in bulk: through the services it would take most of a minute."""
    call_command("load_pledges", campaign=campaign.slug, count=3000, seed=3)
    for n in range(20):
        create_pledge(campaign, n, confirm=False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pledges_pledge")
    return campaign


def _wall_plan(campaign: Any, **query: str) -> str:
    """EXPLAIN of the pledge query that the wall page ran."""
    with CaptureQueriesContext(connection) as queries:
        response = Client().get(f"/campaigns/{campaign.slug}/wall/", query)
    assert response.status_code == 200
    [sql] = [q["sql"] for q in queries.captured_queries if 'FROM "pledges_pledge"' in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


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


def test_a_word_search_on_the_wall_reads_the_published_word_index(busy_campaign: Any) -> None:
    create_pledge(busy_campaign, 99, text="play the harmonica for the patients on my ward")

    plan = _wall_plan(busy_campaign, q="harmonica")

    assert f"Bitmap Index Scan on {SEARCH_INDEX}" in plan, plan


def test_a_common_word_on_the_wall_walks_the_wall_index_instead_of_sorting_every_match(
    busy_campaign: Any,
) -> None:
    # The planner knows how common a word is only from the statistics object on the
    # searched expression (a partial index gives it none): without them it takes
    # every word for a rare one, and reads and sorts every pledge that has it.
    plan = _wall_plan(busy_campaign, q="discharge")

    assert f"Index Scan using {WALL_INDEX}" in plan, plan
    assert "Sort" not in plan, plan

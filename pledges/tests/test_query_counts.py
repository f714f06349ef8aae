"""No N+1: each page costs the same number of queries for few or many pledges
(issue 7). The unfiltered wall and the moderation queue of hidden pledges are
covered in test_wall.py and test_moderation_views.py; these add the wall's
filters, the permalink, the API's pledge list and a queue of flagged pledges."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from campaigns.selectors import campaign_memo_forget
from conftest import create_pledge
from moderation.services import pledge_moderate, pledge_report
from pledges.models import Pledge, Status

pytestmark = pytest.mark.django_db

SECTOR_MIXES = [["nhs"], ["nhs", "housing"], ["social-care", "housing", "patient-carer"]]


def _queries(get: Callable[[], Any]) -> int:
    cache.clear()  # every measurement starts with cold totals and counters
    campaign_memo_forget()  # and reads its campaign
    with CaptureQueriesContext(connection) as captured:
        response = get()
    assert response.status_code == 200, response.content[:300]
    return len(captured.captured_queries)


def _published(campaign: Any, start: int, count: int, **overrides: Any) -> list[Pledge]:
    return [
        create_pledge(
            campaign,
            n,
            **{
                "email": f"count{n}@example.org",
                "text": f"walk with a carer to the clinic every week, pledge {n}",
                "sectors": SECTOR_MIXES[n % len(SECTOR_MIXES)],
                "organisation": "Leeds Housing" if n % 2 else "",
                "kind": "organisational" if n % 2 else "personal",
                **overrides,
            },
        )
        for n in range(start, start + count)
    ]


@pytest.mark.parametrize(
    "query",
    [{}, {"sector": "housing"}, {"integration": "1"}, {"region": "london"}, {"q": "carer"}],
    ids=["unfiltered", "sector", "integration", "region", "word"],
)
def test_the_wall_with_each_filter_costs_the_same_queries_for_3_or_30_pledges(
    campaign: Any, query: dict[str, str]
) -> None:
    client = Client()

    def wall() -> Any:
        return client.get(f"/campaigns/{campaign.slug}/wall/", query)

    _published(campaign, 0, 3)
    few = _queries(wall)
    _published(campaign, 3, 27)
    assert _queries(wall) == few
    assert len(set(_shown_on_wall(wall()))) >= 10


def _shown_on_wall(response: Any) -> list[str]:
    import re

    return re.findall(r'href="/pledges/([0-9a-z]+)/"', response.content.decode())


def test_a_permalink_costs_the_same_queries_whatever_the_pledge_and_the_campaign_hold(
    campaign: Any, organiser: Any
) -> None:
    plain = create_pledge(campaign, 1, sectors=["nhs"])
    busy = create_pledge(campaign, 2, sectors=["nhs", "social-care", "housing", "patient-carer"])
    # A history of decisions and reports must not cost a query per entry.
    pledge_report(pledge=busy, reporter_key="visitor-1", network_key="network-1", reason="offensive")
    pledge_moderate(pledge_ids=[busy.pk], action="hide", actor=organiser)
    pledge_moderate(pledge_ids=[busy.pk], action="restore", actor=organiser)
    _published(campaign, 10, 20)
    client = Client()

    plain_queries = _queries(lambda: client.get(f"/pledges/{plain.public_id}/"))
    busy_queries = _queries(lambda: client.get(f"/pledges/{busy.public_id}/"))

    assert busy_queries == plain_queries


@pytest.mark.parametrize("query", [{}, {"sector": "housing"}, {"q": "carer"}], ids=["all", "sector", "word"])
def test_the_api_pledge_list_costs_the_same_queries_for_3_or_30_pledges(
    campaign: Any, query: dict[str, str]
) -> None:
    client = Client()

    def page() -> Any:
        return client.get(f"/api/v1/campaigns/{campaign.slug}/pledges", {"limit": "100", **query})

    _published(campaign, 0, 3)
    few = _queries(page)
    _published(campaign, 3, 27)
    assert len(page().json()["results"]) >= 10
    assert _queries(page) == few


def test_the_queue_of_flagged_and_waiting_pledges_costs_the_same_queries_for_4_or_40(
    client: Client, organiser: Any, pre_campaign: Any
) -> None:
    def add(start: int, count: int) -> None:
        for n in range(start, start + count):
            # Every other one is flagged by screening (an address in the text).
            text = f"email me at nurse{n}@example.net to join the walk" if n % 2 else None
            overrides = {"text": text} if text else {}
            pledge = _published(pre_campaign, n, 1, **overrides)[0]
            assert pledge.status == Status.PENDING

    client.force_login(organiser)

    def queue() -> Any:
        return client.get("/moderation/", {"campaign": pre_campaign.slug})

    add(0, 4)
    few = _queries(queue)
    add(4, 36)
    assert len(queue().context["cards"]) == 40
    assert _queries(queue) == few

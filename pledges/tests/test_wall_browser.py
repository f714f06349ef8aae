"""A visitor narrows the wall in a real browser: the filters land in the address,
stay chosen on the page, and carry over to the next page of pledges."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import create_pledge
from pledges.selectors import WALL_PAGE_SIZE
from testsupport.browser import screenshot

pytestmark = pytest.mark.django_db(transaction=True)

MATCHING = WALL_PAGE_SIZE + 2
FILTERS = {"q": ["tenant"], "sector": ["housing"], "region": ["north-west"], "kind": ["organisational"]}


def _wall(campaign: Any) -> set[str]:
    """MATCHING pledges that pass every filter, and one decoy failing each."""
    wanted = {"sectors": ["housing", "social-care"], "region": "north-west", "kind": "organisational"}
    expected = set()
    for n in range(MATCHING):
        text = f"visit one tenant at home each week to check their heating works, visit {n}"
        create_pledge(campaign, n, text=text, **wanted)
        expected.add(f"I pledge to {text}")
    decoys = [
        {"text": "answer every tenant call within a day", "sectors": ["nhs"]},
        {"text": "visit one tenant in a new town each week", "region": "london"},
        {"text": "help one tenant move closer to family", "kind": "personal"},
        {"text": "fix one broken heater on the estate each week"},
    ]
    for n, decoy in enumerate(decoys, start=100):
        create_pledge(campaign, n, **{**wanted, **decoy})
    return expected


def _shown(page: Any) -> list[str]:
    return page.locator(".cd-pledge-card .fs-5").all_inner_texts()


def _query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_a_visitor_filters_the_wall_and_pages_through_with_the_filters_in_the_address(
    live_site: str, campaign: Any, chromium: Any
) -> None:
    expected = _wall(campaign)
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{live_site}/campaigns/{campaign.slug}/wall/")
    assert page.locator("#totals-heading").inner_text() == f"{MATCHING + 4} pledges so far"
    assert len(_shown(page)) == WALL_PAGE_SIZE

    page.get_by_role("searchbox", name="Words").fill("tenant")
    page.get_by_role("combobox", name="Sector", exact=True).select_option(label="Housing")
    page.get_by_role("combobox", name="Region").select_option(label="North West")
    page.get_by_role("combobox", name="Kind").select_option(label="Organisational")
    page.get_by_role("button", name="Show pledges").click()

    page.wait_for_url("**/wall/?*")
    assert _query(page) == FILTERS
    first_page = _shown(page)
    assert len(first_page) == WALL_PAGE_SIZE and set(first_page) <= expected
    # The page keeps what the visitor chose.
    assert page.get_by_role("searchbox", name="Words").input_value() == "tenant"
    assert page.get_by_role("combobox", name="Sector", exact=True).input_value() == "housing"
    assert page.get_by_role("combobox", name="Region").input_value() == "north-west"
    assert page.get_by_role("combobox", name="Kind").input_value() == "organisational"
    screenshot(page, "wall-filtered")

    page.get_by_role("link", name="Older pledges").click()
    page.wait_for_url("**cursor=*")
    query = _query(page)
    assert query.pop("cursor") and query == FILTERS
    second_page = _shown(page)
    assert len(second_page) == MATCHING - WALL_PAGE_SIZE
    assert set(first_page) | set(second_page) == expected
    assert page.get_by_role("link", name="Older pledges").count() == 0
    screenshot(page, "wall-filtered-older")

    page.get_by_role("searchbox", name="Words").fill("zebra")
    page.get_by_role("button", name="Show pledges").click()
    page.wait_for_url("**q=zebra*")
    assert _query(page) == {**FILTERS, "q": ["zebra"]}
    assert _shown(page) == []
    assert "No published pledges match these filters yet." in page.inner_text("main")
    screenshot(page, "wall-no-results")

    page.get_by_role("link", name="Clear filters").click()
    page.wait_for_url(f"**/campaigns/{campaign.slug}/wall/")
    assert _query(page) == {}
    assert page.get_by_role("combobox", name="Sector", exact=True).input_value() == ""
    assert len(_shown(page)) == WALL_PAGE_SIZE

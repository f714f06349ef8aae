"""The total on the campaign page moves in a real browser, without a reload,
after a pledge is published."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from conftest import create_pledge
from pledges.selectors import campaign_totals
from testsupport.browser import screenshot


@pytest.mark.django_db(transaction=True)
def test_the_campaign_page_counter_moves_without_a_reload(
    live_server: Any, campaign: Any, chromium: Any
) -> None:
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}/")
    assert page.locator('[data-counter="total"]').inner_text() == "0"
    page.evaluate("window.__notReloaded = true")

    create_pledge(campaign, sectors=["nhs", "housing"], region="wales")

    page.wait_for_function(
        "() => document.querySelector('[data-counter=\"total\"]').textContent === '1'", timeout=15_000
    )
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator('[data-counter="sector:housing"]').inner_text() == "1"
    assert page.locator('[data-counter="integration"]').inner_text() == "1"
    assert page.locator('[data-counter-noun="total"]').inner_text() == "pledge"
    assert page.locator("[data-counter-progress]").evaluate("el => el.value") == 1
    screenshot(page, "campaign-counter-moved")


@pytest.mark.django_db(transaction=True)
def test_past_100000_the_bar_moves_on_to_a_million_after_a_live_update(
    live_server: Any, make_campaign: Any, chromium: Any
) -> None:
    from bench.tools.management.commands import load_pledges

    campaign = make_campaign(target=5_000_000)
    call_command(load_pledges.Command(), campaign=campaign.slug, count=120_000, seed=19, stdout=io.StringIO())
    total = campaign_totals(campaign=campaign).total
    assert 100_000 < total < 1_000_000
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}/")

    create_pledge(campaign)

    page.wait_for_function(
        f"() => document.querySelector('[data-counter-progress]').value === {total + 1}", timeout=15_000
    )
    # Drawn again by the script from the page's list, not by the server.
    assert page.locator("#totals-goal").inner_text() == (
        "Next milestone: 1,000,000 pledges, on the way to 5,000,000"
    )
    assert page.locator("[data-counter-progress]").evaluate("el => el.max") == 1_000_000

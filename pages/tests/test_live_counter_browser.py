"""The total on the campaign page moves in a real browser, without a reload,
after a pledge is published."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import create_pledge
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

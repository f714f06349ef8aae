"""Issue 19 item 6 in a real browser on a phone: an example pledge fills the box with a tap and
the character count follows what is typed."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.models import Campaign
from pledges.forms import PLEDGE_EXAMPLES
from testsupport.browser import screenshot


@pytest.mark.django_db(transaction=True)
def test_an_example_fills_the_box_and_the_count_follows(
    live_server: Any, campaign: Campaign, chromium: Any
) -> None:
    page = chromium.new_page(viewport={"width": 390, "height": 844}, has_touch=True)
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}/pledge/")
    count = page.locator("#text-count")
    assert count.inner_text() == "500 characters left of 500."
    example = PLEDGE_EXAMPLES["housing"][0]
    page.get_by_text("Need an idea? Some examples, by sector").tap()
    page.get_by_role("button", name=example).tap()
    box = page.get_by_label("I pledge to…")
    assert box.input_value() == example
    assert count.inner_text() == f"{500 - len(example)} characters left of 500."
    box.fill("x" * 12)
    assert count.inner_text() == "488 characters left of 500."
    assert count.get_attribute("aria-live") == "polite"
    screenshot(page, "pledge-form-examples")

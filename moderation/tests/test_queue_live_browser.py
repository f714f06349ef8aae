"""In a real browser, the open queue tells an organiser of a report that hid a pledge and of a
new pledge waiting, without a reload and without moving the card they are working on."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import create_pledge
from moderation import views
from moderation.services import pledge_moderate, pledge_report
from testsupport.browser import axe_violations, browser_log_in, screenshot, script_errors


@pytest.mark.django_db(transaction=True)
def test_a_report_that_hides_a_pledge_is_told_without_a_reload(
    live_site: str, pre_campaign: Any, organiser: Any, chromium: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Asked every second here, so the test is quick; the page says how often it asks.
    monkeypatch.setattr(views, "NEWS_EVERY_SECONDS", 1)
    working_on = create_pledge(pre_campaign, 1)
    create_pledge(pre_campaign, 2)
    on_wall = create_pledge(pre_campaign, 3)
    pledge_moderate(pledge_ids=[on_wall.pk], action="publish", actor=organiser)
    on_wall.refresh_from_db()

    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    browser_log_in(context, organiser, live_site)
    page = context.new_page()
    errors = script_errors(page, console=True)
    page.goto(f"{live_site}/moderation/?campaign={pre_campaign.slug}")
    page.wait_for_function("() => document.activeElement.classList.contains('mod-card')")
    focused = page.evaluate("document.activeElement.id")
    assert focused == f"pledge-{working_on.public_id}"
    cards = page.locator(".mod-card").count()
    page.evaluate("window.notReloaded = true")

    for visitor in range(pre_campaign.report_threshold):
        pledge_report(
            pledge=on_wall, reporter_key=f"v{visitor}", network_key=f"n{visitor}", reason="offensive"
        )
    create_pledge(pre_campaign, 4)

    news = page.locator("#mod-news")
    news.get_by_role("link", name="Show them").wait_for(timeout=8_000)
    assert news.get_attribute("role") == "status"
    assert news.get_attribute("aria-live") == "polite"
    text = news.inner_text()
    assert "1 new pledge waiting" in text
    assert "1 pledge newly hidden" in text
    assert f"{pre_campaign.report_threshold} new reports" in text
    # Told, not reloaded: the cards and the focus are where the organiser left them.
    assert page.evaluate("window.notReloaded") is True
    assert page.locator(".mod-card").count() == cards
    assert page.evaluate("document.activeElement.id") == focused
    screenshot(page, "moderation-live-news")

    news.get_by_role("link", name="Show them").click()
    page.wait_for_function("() => !window.notReloaded && document.querySelectorAll('.mod-card').length === 4")
    assert page.locator(f"#pledge-{on_wall.public_id}").get_attribute("data-status") == "hidden"

    # The queue's dashboard link: the hour under way counts the four confirmed pledges.
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("heading", name="The day so far").wait_for()
    first_row = page.locator("#dash-sectors tbody tr").first
    assert "(so far)" in first_row.inner_text()
    assert first_row.locator("td").first.inner_text() == "4"
    screenshot(page, "moderation-dashboard")
    assert errors == []

    # axe is injected as a script, which the site's CSP (held above) rightly refuses.
    checking = chromium.new_context(bypass_csp=True)
    browser_log_in(checking, organiser, live_site)
    checked = checking.new_page()
    checked.goto(f"{live_site}/moderation/dashboard/?campaign={pre_campaign.slug}")
    assert axe_violations(checked) == []

"""In a real browser, the organisers' dashboard left open refreshes its figures without a
reload, under the site's strict Content-Security-Policy."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import create_pledge
from moderation import views
from moderation.tests.test_dashboard import _no_counts_cached
from testsupport.browser import axe_violations, browser_log_in, script_errors


@pytest.mark.django_db(transaction=True)
def test_the_open_dashboard_shows_new_pledges_without_a_reload(
    live_site: str, campaign: Any, organiser: Any, chromium: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Asked every second here, so the test is quick; the page says how often it asks.
    monkeypatch.setattr(views, "DASHBOARD_REFRESH_SECONDS", 1)
    _no_counts_cached()
    create_pledge(campaign, 1)

    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    browser_log_in(context, organiser, live_site)
    page = context.new_page()
    errors = script_errors(page, console=True)
    page.goto(f"{live_site}/moderation/dashboard/?campaign={campaign.slug}")
    first_cell = page.locator("#dash-sectors tbody tr").first.locator("td").first
    assert first_cell.inner_text() == "1"
    page.evaluate("window.notReloaded = true")

    create_pledge(campaign, 2)
    create_pledge(campaign, 3)
    # The figures are counted once a minute (moderation.dashboard): let that minute pass.
    _no_counts_cached()

    page.wait_for_function(
        "() => document.querySelector('#dash-sectors tbody tr td').textContent === '3'", timeout=8_000
    )
    assert page.evaluate("window.notReloaded") is True
    assert "3 pledges confirmed in the last 48 hours" in page.locator("#dash-day").inner_text()
    assert page.get_by_role("link", name="Refresh").count() == 1
    assert errors == []
    _no_counts_cached()

    # axe is injected as a script, which the site's CSP (held above) rightly refuses.
    checking = chromium.new_context(bypass_csp=True)
    browser_log_in(checking, organiser, live_site)
    checked = checking.new_page()
    checked.goto(f"{live_site}/moderation/dashboard/?campaign={campaign.slug}")
    assert axe_violations(checked) == []

"""Issue 19 item 9 where a browser is the honest check: the admin campaign page fits a 1,366 px
window, the wall's filters fold behind one button on a phone and stand open on a wide screen,
and the total glows when it moves, except under reduced motion."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from campaigns.models import Campaign
from conftest import create_pledge
from reminders.admin import campaign_schedule_default
from testsupport.browser import screenshot


def _logged_in(chromium: Any, live_server: Any, user: Any, **context: Any) -> Any:
    client = Client()
    client.force_login(user)
    browser_context = chromium.new_context(**context)
    browser_context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return browser_context.new_page()


@pytest.mark.django_db(transaction=True)
def test_the_admin_campaign_page_fits_a_1366_pixel_window(
    live_site: str, live_server: Any, campaign: Campaign, organiser: Any, chromium: Any
) -> None:
    # The usual reminder and follow-through rows, as the admin makes them for a new campaign:
    # filled rows are what widened the page.
    campaign_schedule_default(campaign)
    page = _logged_in(chromium, live_server, organiser, viewport={"width": 1366, "height": 768})
    page.goto(f"{live_site}/admin/campaigns/campaign/{campaign.pk}/change/")
    assert page.locator("h1").first.inner_text().startswith("Change campaign")
    width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, "admin-campaign-1366")
    assert width <= 1366, f"the page is {width} px wide"


@pytest.mark.django_db(transaction=True)
def test_the_walls_filters_fold_on_a_phone_and_stand_open_on_a_wide_screen(
    live_server: Any, campaign: Campaign, chromium: Any
) -> None:
    create_pledge(campaign)
    wall = f"{live_server.url}/campaigns/{campaign.slug}/wall/"
    phone = chromium.new_page(viewport={"width": 390, "height": 844})
    phone.goto(wall)
    assert phone.locator("details.cd-wall-filters-fold").evaluate("el => el.open") is False
    assert not phone.locator("#wall-q").is_visible()
    phone.get_by_text("Filter the pledges", exact=True).click()
    assert phone.locator("#wall-q").is_visible()
    screenshot(phone, "wall-filters-phone-opened")
    # With a filter on, the phone shows what narrows the wall.
    phone.goto(f"{wall}?region=london")
    assert phone.locator("#wall-region").is_visible()

    wide = chromium.new_page(viewport={"width": 1366, "height": 768})
    wide.goto(wall)
    assert wide.locator("#wall-q").is_visible()
    assert not wide.locator("details.cd-wall-filters-fold > summary").is_visible()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("motion", ["no-preference", "reduce"])
def test_the_total_glows_when_it_moves_unless_motion_is_unwelcome(
    live_server: Any, campaign: Campaign, chromium: Any, motion: str
) -> None:
    context = chromium.new_context(viewport={"width": 390, "height": 844}, reduced_motion=motion)
    page = context.new_page()
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}/")
    assert page.locator(".cd-progress").evaluate("el => el.max") == 1000
    create_pledge(campaign)
    page.wait_for_function(
        "() => document.querySelector('[data-counter=\"total\"]').classList.contains('cd-moved')",
        timeout=15_000,
    )
    animation = page.locator('[data-counter="total"]').evaluate("el => getComputedStyle(el).animationName")
    assert animation == ("none" if motion == "reduce" else "cd-moved")
    assert "Next milestone: 1,000 pledges" in page.locator("#totals-goal").inner_text()

"""The follow-through in a real browser: the outcome page's character counter, its
accessibility in every state a pledger meets it in, and "promises kept" moving on the
campaign page without a reload once someone says "done"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from conftest import create_pledge
from pages.tests.test_accessibility_browser import _audit
from pledges.outcomes import outcome_url, pledge_outcome_record
from testsupport.browser import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def _path(pledge: Any, base: str) -> str:
    return outcome_url(pledge=pledge).removeprefix(base)


def test_a_pledger_answers_done_with_a_story_counting_characters_as_they_type(
    live_site: str, campaign: Any, chromium: Any
) -> None:
    pledge = create_pledge(campaign, 1)
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    page.goto(live_site + _path(pledge, live_site))
    count = page.locator("#story-count")
    assert count.inner_text() == "600 characters left of 600."

    page.get_by_label("What changed? (optional)").fill("x" * 610)
    assert count.inner_text() == "10 characters too many: please shorten it to 600."
    page.get_by_label("What changed? (optional)").fill("Carers now get a named contact on day one.")
    assert count.inner_text() == "558 characters left of 600."
    page.get_by_label("Done").check()
    page.get_by_label("You may publish my story beside my pledge").check()
    page.get_by_role("button", name="Send my answer").click()

    page.get_by_role("heading", name="Thank you for telling us").wait_for()
    screenshot(page, "outcome-thanks")
    page.get_by_role("link", name="your pledge").click()
    assert page.get_by_text("Outcome: Done").is_visible()
    assert page.get_by_text("Carers now get a named contact on day one.").is_visible()


def test_promises_kept_move_on_the_campaign_page_without_a_reload(
    live_server: Any, campaign: Any, chromium: Any
) -> None:
    pledge = create_pledge(campaign, 1)
    page = chromium.new_page()
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}/")
    assert page.get_by_text("No promises reported kept yet").is_visible()
    page.evaluate("window.__notReloaded = true")

    pledge_outcome_record(pledge=pledge, outcome="done")

    page.wait_for_function(
        "() => document.querySelector('[data-counter-some=\"outcome:done\"]').hidden === false",
        timeout=15_000,
    )
    assert page.evaluate("window.__notReloaded") is True
    assert not page.get_by_text("No promises reported kept yet").is_visible()
    assert page.locator(".cd-kept").inner_text().strip() == "1 promise kept so far"
    assert page.locator('[data-counter="outcome:started"]').inner_text() == "0"
    screenshot(page, "promises-kept-moved")


def test_the_follow_through_pages_have_no_serious_accessibility_problem(
    live_site: str, campaign: Any, make_campaign: Any, chromium: Any
) -> None:
    pledge = create_pledge(campaign, 1)
    answered = create_pledge(campaign, 2)
    pledge_outcome_record(pledge=answered, outcome="done", story_text="We did it.", story_public=True)
    now = timezone.now()
    closed = make_campaign(
        name="Change Day 2026",
        slug="change-day-2026",
        opens_at=now - timedelta(days=90),
        change_day=(now - timedelta(days=60)).date(),
        deadline=now - timedelta(days=30),
    )
    old = create_pledge(closed, 3, now=closed.deadline - timedelta(days=20))
    Campaign.objects.filter(pk=closed.pk).update(outcomes_close=now - timedelta(days=1))
    audit = _audit(chromium, live_site, viewport={"width": 1280, "height": 900})
    page = audit.page

    audit.visit("outcome", _path(pledge, live_site))
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_role("heading", name="Please check your answer").wait_for()
    audit.check("outcome-errors")
    audit.visit("outcome-answered", _path(answered, live_site))
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_role("heading", name="Thank you for telling us").wait_for()
    audit.check("outcome-thanks")
    audit.visit("outcome-closed", _path(old, live_site), status=410)
    audit.visit("outcome-bad-link", "/pledges/outcome/not-a-token/", status=400)
    audit.visit("permalink-with-story", f"/pledges/{answered.public_id}/")
    audit.visit("wall-with-outcomes", f"/campaigns/{campaign.slug}/wall/?order=changes")
    audit.visit("campaign-promises-kept", f"/campaigns/{campaign.slug}/")

    audit.assert_clean()

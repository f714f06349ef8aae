"""An organiser clears the moderation queue in a real browser with the keyboard alone."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from moderation.models import ModerationEvent
from moderation.services import pledge_moderate, pledge_report
from pledges.models import Pledge, Status
from pledges.selectors import campaign_totals
from pledges.services import campaign_recompute_totals, pledge_confirm, pledge_create
from testsupport.browser import browser_log_in, screenshot, script_errors

# Wait for the moderation page to settle after one decision: the card decided is
# gone or redrawn with a new status, nothing is in flight, and focus is on a card
# (or on the "all decided" note once the page is empty).
SETTLED = """([id, status]) => {
  const card = document.getElementById(id);
  const moved = !card || card.dataset.status !== status;
  const busy = document.querySelector('.mod-card.is-busy, .htmx-request');
  const focus = document.activeElement;
  const focused = focus && (focus.classList.contains('mod-card') || focus.id === 'mod-cleared');
  return moved && !busy && focused;
}"""


def _make(campaign: Any, n: int) -> Pledge:
    pledge = pledge_create(
        campaign=campaign,
        # A few carry a link, so the screening flags them.
        text=f"learn the name of every person in bay {n} before I start my round"
        + (" (see www.example.org/names)" if 12 <= n < 15 else ""),
        display_name=f"Pledger {n}",
        is_anonymous=False,
        role="Healthcare assistant",
        organisation="Bradford Royal Infirmary" if n % 2 else "",
        region="north-east-and-yorkshire",
        kind="personal",
        sectors=["nhs", "social-care"] if n % 3 else ["housing"],
        email=f"pledger{n}@example.org",
        consent_to_publish=True,
        wants_reminders=False,
        submission_token=uuid.uuid4(),
        send_confirmation=False,
    ).pledge
    return pledge_confirm(pledge=pledge)


# 40 in every run; `MODERATION_BROWSER_PLEDGES=1000 make test PYTEST_ARGS=-k keyboard`
# runs the full-size queue (it spans 20 pages of 50).
QUEUE_SIZE = int(os.environ.get("MODERATION_BROWSER_PLEDGES", "40"))


def _queue(pre_campaign: Any, organiser: Any) -> list[Pledge]:
    """QUEUE_SIZE pledges: 12 published and then hidden after reports, 3 flagged, the rest waiting."""
    pledges = [_make(pre_campaign, n) for n in range(QUEUE_SIZE)]
    for pledge in pledges[:12]:
        pledge_moderate(pledge_ids=[pledge.pk], action="publish", actor=organiser)
        pledge.refresh_from_db()
        for visitor in range(pre_campaign.report_threshold):
            pledge_report(
                pledge=pledge,
                reporter_key=f"{pledge.pk}-{visitor}",
                network_key=f"network-{visitor}",
                reason="offensive",
            )
    assert Pledge.objects.filter(campaign=pre_campaign, status=Status.HIDDEN).count() == 12
    assert Pledge.objects.filter(campaign=pre_campaign, status=Status.PENDING).count() == QUEUE_SIZE - 12
    return pledges


def _keys_for(status: str, turn: int) -> list[str]:
    """A mix of every decision; a hidden pledge always leaves the queue, so it empties."""
    if status == Status.HIDDEN:
        return ["u"] if turn % 2 else ["r", "ArrowDown", "Enter"]
    return [["p"], ["r", "ArrowDown", "ArrowDown", "Enter"], ["h"]][turn % 3]


@pytest.mark.django_db(transaction=True)
def test_an_organiser_clears_the_queue_with_the_keyboard_alone(
    live_site: str, pre_campaign: Any, organiser: Any, chromium: Any
) -> None:
    pledges = _queue(pre_campaign, organiser)
    events_before = ModerationEvent.objects.count()
    decisions = 0

    context = chromium.new_context(viewport={"width": 1366, "height": 860})
    browser_log_in(context, organiser, live_site)
    page = context.new_page()
    errors = script_errors(page)
    page.goto(f"{live_site}/moderation/?campaign={pre_campaign.slug}")
    page.wait_for_function("() => window.htmx && document.activeElement.classList.contains('mod-card')")
    assert page.locator(".mod-card").count() == min(QUEUE_SIZE, 50)
    assert page.locator("#mod-counts").inner_text().split() == [
        *"Hidden after reports 12".split(),
        *"Flagged by screening 3".split(),
        *f"Waiting {QUEUE_SIZE - 15}".split(),
        *"Stories waiting 0".split(),
        *f"Total to decide {QUEUE_SIZE}".split(),
    ]
    assert "pledger1@example.org" not in page.content()
    screenshot(page, "moderation-queue")

    # j and k walk the cards; x selects one.
    first = page.evaluate("document.activeElement.id")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.id") != first
    page.keyboard.press("k")
    assert page.evaluate("document.activeElement.id") == first
    page.keyboard.press("x")
    assert page.locator(f"#{first} .mod-select").is_checked()
    page.keyboard.press("x")
    page.keyboard.press("?")
    assert page.locator("#mod-help-more").is_visible()

    for turn in range(3 * QUEUE_SIZE):
        if page.locator(".mod-card").count() == 0:
            break
        # A page of 50 cleared with more waiting reloads with the next ones.
        page.wait_for_function("() => document.activeElement.classList.contains('mod-card')")
        card_id, status = page.evaluate("[document.activeElement.id, document.activeElement.dataset.status]")
        assert card_id.startswith("pledge-"), f"focus left the cards: {card_id!r}"
        for key in _keys_for(status, turn):
            page.keyboard.press(key)
        page.wait_for_function(SETTLED, arg=[card_id, status], timeout=10_000)
        decisions += 1
    else:
        pytest.fail("the queue did not empty")

    assert page.locator("#mod-cleared").is_visible()
    assert page.evaluate("document.activeElement.id") == "mod-cleared"
    assert page.locator("#mod-counts").inner_text().split()[-1] == "0"
    assert errors == []
    screenshot(page, "moderation-cleared")

    assert not Pledge.objects.filter(
        campaign=pre_campaign, status__in=[Status.PENDING, Status.HIDDEN]
    ).exists()
    # Every keyboard decision left exactly one record, made by this organiser.
    assert ModerationEvent.objects.count() - events_before == decisions
    assert ModerationEvent.objects.filter(actor=organiser).count() == decisions + 12  # + the setup publishes
    for pledge in pledges:
        assert pledge.moderation_events.filter(actor=organiser).exists()
    published = Pledge.objects.filter(campaign=pre_campaign, status=Status.PUBLISHED).count()
    assert published > 0 and Pledge.objects.filter(status=Status.REJECTED).exists()
    assert campaign_totals(campaign=pre_campaign).total == published
    assert campaign_recompute_totals(campaign=pre_campaign) == {}

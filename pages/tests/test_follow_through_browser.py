"""The whole follow-through in real browsers: the "did you do it?" email reaches a pledger,
who answers "Done" with a story on a phone; an organiser publishes the story from the queue;
a visitor who has the campaign page open sees the promises kept move without reloading it,
and finds the story on the pledge's page and on the wall."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from campaigns.models import ModerationMode
from conftest import _campaign, create_pledge
from moderation.services import pledge_moderate
from pledges.models import Outcome, Pledge, StoryStatus
from reminders.models import Anchor, Audience, Reminder
from reminders.services import reminder_send_batch, reminders_dispatch
from testsupport.browser import browser_log_in, screenshot
from testsupport.mail import email_html, email_text

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
PROMISE = "give every new carer a named contact on their first day"
STORY = "Eleven new carers have started since March and every one met their named contact on day one."


def _outcome_link(message: Any, base_url: str) -> str:
    found = re.search(rf"{re.escape(base_url)}/pledges/outcome/\S+/", email_text(message))
    assert found, f"no outcome link in:\n{email_text(message)}"
    return found.group(0)


def test_a_pledger_says_done_an_organiser_publishes_the_story_and_a_visitor_sees_it_without_a_reload(
    live_site: str, organiser: Any, chromium: Any, smtp_inbox: Any
) -> None:
    now = timezone.now()
    campaign = _campaign(
        name="Change Day 2027",
        slug="follow-through-day",
        moderation_mode=ModerationMode.PRE,
        opens_at=now - timedelta(days=40),
        change_day=(now - timedelta(days=15)).date(),
        deadline=now + timedelta(days=10),
    )
    pledge = create_pledge(campaign, 1, text=PROMISE, email="jo.carer@example.org")
    pledge_moderate(pledge_ids=[pledge.pk], action="publish", actor=organiser)
    # The default first moment: 14 days after Change Day, to every published pledge.
    Reminder.objects.create(
        campaign=campaign,
        anchor=Anchor.AFTER_CHANGE_DAY,
        days_after=14,
        send_time=time(0, 0),
        audience=Audience.FOLLOW_ALL,
    )

    # A visitor has the campaign page open all along.
    visitor = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    visitor.goto(f"{live_site}/campaigns/{campaign.slug}/")
    assert visitor.get_by_text("No promises reported kept yet").is_visible()
    visitor.evaluate("window.__notReloaded = true")

    # The follow-through run, through the same machinery the workers use.
    for result in reminders_dispatch():
        for first_id, last_id in result.batches:
            reminder_send_batch(run_id=result.run.pk, first_id=first_id, last_id=last_id)
    (message,) = smtp_inbox.wait_for(1)
    assert message["To"] == "jo.carer@example.org"
    assert PROMISE in email_text(message) and PROMISE in email_html(message)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    pledger = chromium.new_context(**PHONE).new_page()
    pledger.goto(_outcome_link(message, live_site))
    assert PROMISE in pledger.inner_text("main")
    assert Pledge.objects.get().outcome == ""  # opening the link changed nothing
    pledger.get_by_label("Done").tap()
    pledger.get_by_label("What changed? (optional)").fill(STORY)
    pledger.get_by_label("You may publish my story beside my pledge").tap()
    screenshot(pledger, "follow-through-1-answer")
    pledger.get_by_role("button", name="Send my answer").tap()
    pledger.get_by_role("heading", name="Thank you for telling us").wait_for()
    screenshot(pledger, "follow-through-2-thanks")
    pledge.refresh_from_db()
    assert pledge.outcome == Outcome.DONE
    assert pledge.story.status == StoryStatus.PENDING  # a pre-moderated campaign: an organiser decides

    # The counter moved with the answer; the visitor's page follows without a reload.
    visitor.wait_for_function(
        "() => document.querySelector('[data-counter-some=\"outcome:done\"]').hidden === false",
        timeout=15_000,
    )
    assert visitor.locator(".cd-kept").inner_text().strip() == "1 promise kept so far"

    context = chromium.new_context(viewport={"width": 1366, "height": 860})
    browser_log_in(context, organiser, live_site)
    queue = context.new_page()
    queue.goto(f"{live_site}/moderation/?campaign={campaign.slug}")
    card = queue.locator(f"#story-{pledge.public_id}")
    assert STORY in card.inner_text()
    card.focus()
    queue.keyboard.press("p")
    queue.wait_for_function(
        "(id) => !document.getElementById(id) && !document.querySelector('.htmx-request')",
        arg=f"story-{pledge.public_id}",
        timeout=10_000,
    )
    screenshot(queue, "follow-through-3-published")
    pledge.story.refresh_from_db()
    assert pledge.story.status == StoryStatus.PUBLISHED

    permalink = visitor.context.new_page()
    permalink.goto(f"{live_site}/pledges/{pledge.public_id}/")
    assert permalink.get_by_text("Outcome: Done").is_visible()
    assert permalink.get_by_text(STORY).is_visible()
    permalink.goto(f"{live_site}/campaigns/{campaign.slug}/wall/?order=changes")
    assert STORY[:60] in permalink.inner_text("main")
    assert "jo.carer@example.org" not in permalink.content()
    screenshot(permalink, "follow-through-4-wall")
    assert visitor.evaluate("window.__notReloaded") is True

"""On a phone: an organiser logs in, types in a pledge from a paper card, and the public wall
shows it and counts it."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import create_pledge
from moderation.models import Action, ModerationEvent
from pledges.models import Channel, Pledge, Status
from testsupport.browser import PHONE, axe_violations, log_in_through_the_form, screenshot, script_errors

pytestmark = pytest.mark.django_db(transaction=True)

PROMISE = "learn the name of every porter who takes my patients to theatre"


def test_an_organiser_on_a_phone_enters_a_paper_pledge_and_it_appears_on_the_wall(
    live_site: str, campaign: Any, organiser: Any, chromium: Any
) -> None:
    create_pledge(campaign, 1, text="answer every call bell within a minute")
    visitor = chromium.new_context(**PHONE).new_page()
    visitor.goto(f"{live_site}/campaigns/{campaign.slug}/wall/")
    assert visitor.locator("#totals-heading").inner_text() == "1 pledge so far"
    assert PROMISE not in visitor.content()

    # axe is injected as a script, which the site's CSP rightly refuses.
    page = chromium.new_context(**PHONE, bypass_csp=True).new_page()
    errors = script_errors(page)
    page.goto(f"{live_site}/campaigns/{campaign.slug}/paper/")
    log_in_through_the_form(
        page,
        email="organiser@example.org",
        password="pw-organiser-1",
        then=f"/campaigns/{campaign.slug}/paper/",
    )
    assert page.get_by_role("heading", level=1).inner_text() == "Paper pledges"
    # The card's reference has the focus: the organiser starts typing at once.
    assert page.evaluate("document.activeElement.name") == "paper_reference"
    # Nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert axe_violations(page) == []
    screenshot(page, "paper-1-empty-form")

    page.keyboard.type("cd27-0042")
    page.get_by_label("The pledge, as written after “I pledge to”").fill(f"I pledge to {PROMISE}")
    page.get_by_label("NHS", exact=True).tap()
    page.get_by_label("Name as the pledger wants it shown").fill("Tunde")
    page.get_by_label("Role or job title").fill("Theatre nurse")
    page.get_by_role("combobox", name="Region").select_option(label="London")
    page.get_by_label("The pledger ticked the consent box on the card").tap()
    screenshot(page, "paper-2-card-typed")
    page.get_by_role("button", name="Enter this pledge").tap()

    page.wait_for_url(f"**/campaigns/{campaign.slug}/paper/?entered=*")
    status = page.locator("#paper-entered")
    assert status.inner_text().startswith("Card CD27-0042 entered: published.")
    # An empty form, ready for the next card.
    assert page.locator("#id_paper_reference").input_value() == ""
    assert page.evaluate("document.activeElement.name") == "paper_reference"
    assert axe_violations(page) == []
    screenshot(page, "paper-3-entered")

    pledge = Pledge.objects.get(paper_reference="CD27-0042")
    assert (pledge.channel, pledge.status, pledge.text, pledge.email) == (
        Channel.PAPER,
        Status.PUBLISHED,
        PROMISE,
        "",
    )
    assert ModerationEvent.objects.filter(pledge=pledge, action=Action.PAPER_ENTRY, actor=organiser).exists()

    visitor.reload()
    assert visitor.locator("#totals-heading").inner_text() == "2 pledges so far"
    card = visitor.locator("article", has_text=PROMISE)
    assert card.count() == 1 and "Tunde" in card.inner_text()
    card.get_by_role("link").first.tap()
    visitor.wait_for_url(f"**/pledges/{pledge.public_id}/")
    assert "Collected on a paper card" in visitor.locator("#collected-on-paper").inner_text()
    screenshot(visitor, "paper-4-permalink")
    assert errors == []

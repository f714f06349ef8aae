"""A person pledges in a real browser: on a phone from the home page to the
published permalink through the confirmation email, and with the keyboard alone."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pledges.models import Pledge, Status
from testsupport.browser import PHONE, screenshot, script_errors
from testsupport.mail import email_text

pytestmark = pytest.mark.django_db(transaction=True)

PROMISE = "sit with one lonely patient on my ward each shift and learn what matters to them"


def _confirm_link(message: Any, base_url: str) -> str:
    found = re.search(rf"{re.escape(base_url)}/pledges/confirm/\S+/", email_text(message))
    assert found, f"no confirmation link in:\n{email_text(message)}"
    return found.group(0)


def test_a_person_pledges_on_a_phone_from_the_home_page_to_the_published_permalink(
    live_site: str, campaign: Any, chromium: Any, smtp_inbox: Any, celery_worker: Any
) -> None:
    page = chromium.new_context(**PHONE).new_page()
    errors = script_errors(page)

    page.goto(live_site + "/")
    assert page.get_by_role("heading", level=1).inner_text() == campaign.name
    assert page.locator("#totals-heading").inner_text() == "0 pledges so far"
    screenshot(page, "journey-1-home")
    page.get_by_role("link", name="Make a pledge").first.tap()

    page.wait_for_url(f"**/campaigns/{campaign.slug}/pledge/")
    assert page.get_by_role("heading", level=1).inner_text() == "Make a pledge"
    page.get_by_label("I pledge to…").fill(PROMISE)
    page.get_by_label("NHS", exact=True).tap()
    page.get_by_label("Patient or carer").tap()
    page.get_by_label("Your name as it should appear").fill("Ade Okafor")
    page.get_by_label("Your role or job title").fill("Healthcare assistant")
    page.get_by_label("Organisation (optional)").fill("Royal Cornwall Hospitals")
    page.get_by_role("combobox", name="Region").select_option(label="South West")
    page.get_by_label("Email address").fill("ade.okafor@example.org")
    page.get_by_label("I agree that my pledge").tap()
    screenshot(page, "journey-2-form-filled")
    page.get_by_role("button", name="Make my pledge").tap()

    page.wait_for_url(f"**/campaigns/{campaign.slug}/pledge/sent/")
    assert page.get_by_role("heading", level=1).inner_text() == "Check your email"
    assert "your pledge is not public until you do" in page.inner_text("main")
    # Issue 19: the pledger's own page (their session, never shared) says where the link went.
    assert "We have sent an email to ade.okafor@example.org" in page.inner_text("main")
    screenshot(page, "journey-3-sent")

    # The outbox row goes through the real Celery worker to the SMTP server on loopback.
    (message,) = smtp_inbox.wait_for(1)
    assert message["To"] == "ade.okafor@example.org"
    assert message["Subject"] == f"Confirm your pledge for {campaign.name}"
    page.goto(_confirm_link(message, live_site))
    assert page.get_by_role("heading", level=1).inner_text() == "Confirm your pledge"
    assert page.locator("blockquote").inner_text() == f"I pledge to {PROMISE}"
    # Opening the link (as a mail scanner would) confirms nothing: the button does.
    assert Pledge.objects.get().status == Status.UNCONFIRMED
    screenshot(page, "journey-4-confirm")
    page.get_by_role("button", name="Confirm my pledge").tap()

    pledge = Pledge.objects.get()
    page.wait_for_url(f"**/pledges/{pledge.public_id}/")
    assert page.get_by_role("status").inner_text() == "Thank you: your pledge is confirmed and published."
    assert page.get_by_role("heading", level=1).inner_text() == f"I pledge to {PROMISE}"
    assert "Ade Okafor, Healthcare assistant, Royal Cornwall Hospitals" in page.inner_text("article")
    assert "South West · Personal pledge" in page.inner_text("article")
    sectors = page.get_by_role("list", name="Sectors").get_by_role("listitem")
    assert sectors.all_inner_texts() == ["NHS", "Patient or carer"]
    permalink = f"{live_site}/pledges/{pledge.public_id}/"
    assert page.get_by_label("Link to your pledge").input_value() == permalink
    # The pledger's own view offers sharing (WhatsApp first: where ward teams talk).
    assert page.get_by_role("link", name="WhatsApp (share, opens in a new tab)").is_visible()
    assert "ade.okafor@example.org" not in page.content()
    screenshot(page, "journey-5-permalink")
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED

    page.get_by_role("link", name=campaign.name).tap()
    assert page.locator("#totals-heading").inner_text() == "1 pledge so far"
    assert errors == []


FOCUS_STYLE = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    id: el.id, tag: el.tagName, text: (el.value || el.textContent || '').trim().slice(0, 40),
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
    shadow: style.boxShadow,
  };
}"""


def _tab_to(page: Any, element_id: str, *, seen: list[dict[str, Any]], limit: int = 40) -> None:
    """Press Tab until the element has the focus, noting each stop's focus style."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUS_STYLE)
        seen.append(stop)
        if stop["id"] == element_id:
            return
    pytest.fail(f"Tab never reached #{element_id}; it went through {[s['id'] or s['tag'] for s in seen]}")


def test_the_pledge_form_is_filled_and_sent_with_the_keyboard_alone_with_the_focus_always_visible(
    live_site: str, campaign: Any, chromium: Any
) -> None:
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{live_site}/campaigns/{campaign.slug}/pledge/")
    stops: list[dict[str, Any]] = []

    # The first Tab shows the skip link; Enter on it moves past the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    assert page.get_by_role("link", name="Skip to main content").is_visible()
    screenshot(page, "keyboard-1-skip-link")
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")

    _tab_to(page, "id_text", seen=stops)
    page.keyboard.type(PROMISE)
    _tab_to(page, "id_sectors_1", seen=stops)  # Social care
    page.keyboard.press("Space")
    _tab_to(page, "id_sectors_2", seen=stops)  # Housing
    page.keyboard.press("Space")
    # Radios are one stop: the arrow keys choose within the group.
    _tab_to(page, "id_kind_0", seen=stops)
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.id") == "id_kind_1"
    _tab_to(page, "id_display_name", seen=stops)
    page.keyboard.type("Ward 7 team")
    _tab_to(page, "id_role", seen=stops)
    page.keyboard.type("Ward manager")
    _tab_to(page, "id_region", seen=stops)
    page.keyboard.type("Wales")  # a closed select chooses by typing
    _tab_to(page, "id_email", seen=stops)
    page.keyboard.type("ward7@example.org")
    _tab_to(page, "id_consent_to_publish", seen=stops)
    page.keyboard.press("Space")
    _tab_to(page, "submit-id-submit", seen=stops)
    screenshot(page, "keyboard-2-submit-focused")

    hidden = [stop for stop in stops if not stop["outline"]]
    assert hidden == [], f"focus not visible on {hidden}"
    page.keyboard.press("Enter")

    page.wait_for_url(f"**/campaigns/{campaign.slug}/pledge/sent/")
    assert page.get_by_role("heading", level=1).inner_text() == "Check your email"
    pledge = Pledge.objects.get()
    assert (pledge.text, pledge.display_name, pledge.role) == (PROMISE, "Ward 7 team", "Ward manager")
    assert (pledge.region, pledge.kind, pledge.status) == ("wales", "organisational", Status.UNCONFIRMED)
    assert sorted(pledge.sector_slugs) == ["housing", "social-care"]
    assert pledge.consent_to_publish and not pledge.wants_reminders


def test_a_keyboard_user_who_misses_a_field_is_taken_to_the_errors_and_from_there_to_the_field(
    live_site: str, campaign: Any, chromium: Any
) -> None:
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{live_site}/campaigns/{campaign.slug}/pledge/")
    page.get_by_label("I pledge to…").focus()
    page.keyboard.type(PROMISE)
    page.get_by_role("button", name="Make my pledge").focus()
    page.keyboard.press("Enter")

    page.get_by_role("heading", name="Please check your pledge").wait_for()
    # The summary takes the focus, so a screen reader reads it out first.
    assert page.evaluate("document.activeElement.id") == "form-errors"
    assert page.get_by_label("I pledge to…").input_value() == PROMISE
    screenshot(page, "keyboard-3-errors")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Which sectors does your pledge touch?"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "id_sectors_0"

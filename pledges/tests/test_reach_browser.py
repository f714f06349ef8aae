"""On a phone: a visitor who opens a shared pledge makes their own from it; the plain share
links carry the permalink and the hashtag; the phone's share sheet is offered only where the
browser has one; the new pages pass axe."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from campaigns.models import Campaign
from conftest import create_pledge
from pledges.models import Pledge, Status
from pledges.services import pledge_confirmation_url
from testsupport.browser import PHONE, axe_violations, screenshot, script_errors
from testsupport.mail import email_text

pytestmark = pytest.mark.django_db(transaction=True)


def _carried(href: str) -> str:
    parts = urlsplit(href)
    if parts.scheme == "mailto":
        return unquote(parts.query)
    return " ".join(value for values in parse_qs(parts.query).values() for value in values)


OWN_PROMISE = "ask every porter I work with what would make their shift easier, and do one thing"


def test_a_visitor_arrives_at_a_shared_pledge_and_makes_their_own_from_it(
    live_site: str, campaign: Any, chromium: Any, smtp_inbox: Any, celery_worker: Any
) -> None:
    create_pledge(campaign, 1, text="learn the name of every porter on my corridor", sectors=["nhs"])
    shared = create_pledge(
        campaign,
        2,
        display_name="",
        is_anonymous=True,
        role="Staff Nurse",
        text="answer every call bell within a minute",
    )
    page = chromium.new_context(**PHONE).new_page()
    errors = script_errors(page)

    page.goto(f"{live_site}/pledges/{shared.public_id}/")

    assert page.title() == f"A staff nurse's pledge \N{EM DASH} {campaign.name}"
    assert page.locator("#totals-heading").inner_text() == "2 pledges so far"
    more = page.get_by_role("region", name="More NHS pledges")
    assert "learn the name of every porter" in more.inner_text()
    permalink = f"{live_site}/pledges/{shared.public_id}/"
    links = page.locator("[data-share-link]")
    assert links.count() == 5
    for i in range(links.count()):
        link = links.nth(i)
        carried = _carried(link.get_attribute("href") or "")
        assert permalink in carried, link.inner_text()
        assert campaign.hashtag in carried, link.inner_text()
    # No share sheet in this browser: its button stays hidden, the links do the work.
    assert not page.locator("[data-share-button]").is_visible()
    screenshot(page, "reach-1-shared-pledge")

    page.get_by_role("link", name="Make your own pledge").tap()

    page.wait_for_url(f"**/campaigns/{campaign.slug}/pledge/")
    assert page.get_by_role("heading", level=1).inner_text() == "Make a pledge"
    assert page.get_by_label("I pledge to…").is_visible()
    screenshot(page, "reach-2-own-pledge-form")
    page.get_by_label("I pledge to…").fill(OWN_PROMISE)
    page.get_by_label("NHS", exact=True).tap()
    page.get_by_label("Your name as it should appear").fill("Kofi Mensah")
    page.get_by_label("Your role or job title").fill("Porter")
    page.get_by_role("combobox", name="Region").select_option(label="London")
    page.get_by_label("Email address").fill("kofi.mensah@example.org")
    page.get_by_label("I agree that my pledge").tap()
    page.get_by_role("button", name="Make my pledge").tap()

    page.wait_for_url(f"**/campaigns/{campaign.slug}/pledge/sent/")
    assert page.get_by_role("heading", level=1).inner_text() == "Check your email"
    assert "We have sent an email to kofi.mensah@example.org" in page.inner_text("main")
    screenshot(page, "reach-3-own-pledge-sent")

    # Through the real Celery worker to the SMTP server on loopback: the only email sent.
    (message,) = smtp_inbox.wait_for(1)
    assert message["To"] == "kofi.mensah@example.org"
    link = re.search(rf"{re.escape(live_site)}/pledges/confirm/\S+/", email_text(message))
    assert link, email_text(message)
    page.goto(link.group(0))
    assert page.locator("blockquote").inner_text() == f"I pledge to {OWN_PROMISE}"
    page.get_by_role("button", name="Confirm my pledge").tap()

    own = Pledge.objects.get(email="kofi.mensah@example.org")
    page.wait_for_url(f"{live_site}/pledges/{own.public_id}/")
    own.refresh_from_db()
    assert own.status == Status.PUBLISHED
    assert page.get_by_role("heading", level=1).inner_text() == f"I pledge to {OWN_PROMISE}"
    assert "Kofi Mensah, Porter" in page.inner_text("article")
    assert page.get_by_label("Link to your pledge").input_value() == f"{live_site}/pledges/{own.public_id}/"
    assert "kofi.mensah@example.org" not in page.content()
    # Their pledge counts, and in turn offers them the ways to share it.
    assert page.locator("#totals-heading").inner_text() == "3 pledges so far"
    assert page.get_by_role("link", name="WhatsApp (share, opens in a new tab)").is_visible()
    screenshot(page, "reach-4-own-pledge-permalink")
    assert errors == []


def test_the_phones_share_sheet_gets_the_permalink_and_the_hashtag(
    live_site: str, campaign: Any, chromium: Any
) -> None:
    pledge = create_pledge(campaign, 1)
    context = chromium.new_context(**PHONE)
    # A phone's navigator.share, recording what the page hands it.
    context.add_init_script("navigator.share = async (data) => { window.shared = data; };")
    page = context.new_page()

    page.goto(f"{live_site}/pledges/{pledge.public_id}/")
    page.get_by_role("button", name="Share").tap()

    page.wait_for_function("() => window.shared !== undefined")
    shared = page.evaluate("() => window.shared")
    assert shared["url"] == f"{live_site}/pledges/{pledge.public_id}/"
    assert f"#{campaign.hashtag}" in shared["text"]
    screenshot(page, "reach-5-share-sheet-button")


def test_the_new_pages_have_no_serious_accessibility_problem(
    live_site: str, campaign: Any, chromium: Any
) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(
        organiser_name="NHS Change Day team",
        contact_email="team@changeday.example",
        privacy_notice="We hold your pledge.\n\nWrite to us.",
    )
    visitors = create_pledge(campaign, 1)
    own = create_pledge(campaign, 2, confirm=False)
    context = chromium.new_context(bypass_csp=True, **PHONE)
    page = context.new_page()
    findings: dict[str, list[str]] = {}

    def check(name: str, path: str) -> None:
        response = page.goto(live_site + path)
        assert response is not None and response.status == 200, path
        screenshot(page, f"a11y-reach-{name}")
        if found := axe_violations(page):
            findings[name] = found

    check("permalink-visitor", f"/pledges/{visitors.public_id}/")
    # The pledger's own view: confirmed in this browser.
    page.goto(pledge_confirmation_url(pledge=own))
    page.get_by_role("button", name="Confirm my pledge").tap()
    page.wait_for_url(f"**/pledges/{own.public_id}/")
    check("permalink-owner", f"/pledges/{own.public_id}/")
    check("campaign", f"/campaigns/{campaign.slug}/")
    for name in ("privacy", "accessibility", "cookies"):
        check(f"site-{name}", f"/{name}/")
        check(f"campaign-{name}", f"/campaigns/{campaign.slug}/{name}/")

    assert not findings, findings

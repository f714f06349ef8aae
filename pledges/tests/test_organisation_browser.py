"""Choosing an organisation in a real browser: a care-home manager on a phone picks theirs
with the type-ahead, confirms from a work address on its domain, and the permalink and
the wall show the verified badge; the combobox by keyboard, checked by axe while open;
and the same choice with JavaScript off."""

from __future__ import annotations

import re
from typing import Any

import pytest

from changeday.tests.test_csp_browser import COLLECT_VIOLATIONS
from organisations.models import OrganisationTotal
from pledges.models import Pledge, Status
from pledges.tests.orgdata import make_organisation
from testsupport.browser import PHONE, axe_violations, screenshot, script_errors
from testsupport.mail import email_text

pytestmark = pytest.mark.django_db(transaction=True)

PROMISE = "learn the name of every resident's favourite song and play it for them each week"


@pytest.fixture
def directory(transactional_db: None) -> dict[str, Any]:
    return {
        "sunrise": make_organisation("Sunrise Care Homes", domains=("sunrisecare.org.uk",)),
        "sunny": make_organisation("Sunny Vale Care", domains=("sunnyvale.org.uk",)),
        "east": make_organisation("East Sunrise Surgery", kind="gp-practice"),
        "leeds": make_organisation("Leeds Teaching Hospitals NHS Trust", kind="nhs-trust"),
    }


def _fill_the_rest(page: Any, *, tap: bool) -> None:
    press = "tap" if tap else "click"
    page.get_by_label("I pledge to…").fill(PROMISE)
    getattr(page.get_by_label("Social care", exact=True), press)()
    page.get_by_label("Your name as it should appear").fill("Grace Mensah")
    page.get_by_label("Your role or job title").fill("Care home manager")
    page.get_by_role("combobox", name="Region").select_option(label="North West")


def test_a_care_home_manager_picks_their_organisation_on_a_phone_and_their_pledge_shows_verified_staff(
    live_site: str,
    campaign: Any,
    directory: dict[str, Any],
    chromium: Any,
    smtp_inbox: Any,
    celery_worker: Any,
) -> None:
    context = chromium.new_context(**PHONE)
    # The site's own Content-Security-Policy stays on: the combobox needs nothing inline.
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    errors = script_errors(page)
    page.goto(f"{live_site}/campaigns/{campaign.slug}/pledge/")
    _fill_the_rest(page, tap=True)

    box = page.get_by_role("combobox", name="Organisation (optional)")
    box.tap()
    box.press_sequentially("sunr", delay=60)
    listbox = page.get_by_role("listbox", name="Organisations in our directory")
    listbox.wait_for()
    assert box.get_attribute("aria-expanded") == "true"
    assert listbox.get_by_role("option").all_inner_texts() == ["Sunrise Care Homes", "East Sunrise Surgery"]
    screenshot(page, "organisation-1-type-ahead-on-a-phone")
    listbox.get_by_role("option", name="Sunrise Care Homes").tap()

    assert box.input_value() == "Sunrise Care Homes"
    assert page.locator("#id_org").input_value() == "sunrise-care-homes"
    assert box.get_attribute("aria-expanded") == "false" and listbox.is_hidden()
    assert page.evaluate("window.__cspViolations") == []
    page.get_by_label("Email address").fill("grace.mensah@sunrisecare.org.uk")
    page.get_by_label("I agree that my pledge").tap()
    page.get_by_role("button", name="Make my pledge").tap()

    page.wait_for_url(f"**/campaigns/{campaign.slug}/pledge/sent/")
    (message,) = smtp_inbox.wait_for(1)
    link = re.search(rf"{re.escape(live_site)}/pledges/confirm/\S+/", email_text(message)).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm my pledge").tap()

    page.wait_for_url(re.compile(r"/pledges/[0-9a-z]+/$"))
    pledge = Pledge.objects.get()
    assert page.url.endswith(f"/pledges/{pledge.public_id}/")
    assert (pledge.status, pledge.org, pledge.verified) == (Status.PUBLISHED, directory["sunrise"], "staff")
    article = page.locator("article")
    assert "Grace Mensah, Care home manager, Sunrise Care Homes" in article.inner_text()
    badge = article.locator(".cd-verified")
    assert badge.inner_text() == "verified: staff at Sunrise Care Homes"
    assert badge.is_visible()
    assert (
        "We checked that this pledge was confirmed from an email address at Sunrise Care Homes."
        in article.inner_text()
    )
    assert "grace.mensah" not in page.content()
    screenshot(page, "organisation-2-permalink-verified")

    page.goto(f"{live_site}/campaigns/{campaign.slug}/wall/")
    card = page.locator("article", has_text=PROMISE)
    assert card.locator(".cd-verified").inner_text() == "verified: staff at Sunrise Care Homes"
    # The card's sentence is for screen readers: in the accessibility tree, not on screen.
    sentence = card.get_by_text("We checked that this pledge was confirmed from an email address at Sunrise")
    assert sentence.count() == 1 and sentence.bounding_box()["width"] <= 1
    assert "grace.mensah" not in page.content()
    screenshot(page, "organisation-3-wall-verified")
    totals = OrganisationTotal.objects.filter(campaign=campaign, organisation=directory["sunrise"])
    assert sum(row.pledges for row in totals) == 1

    # The organisation's page and the league table count the pledge at once.
    page.goto(f"{live_site}/campaigns/{campaign.slug}/organisations/sunrise-care-homes/")
    assert page.locator("#organisation-totals-heading").inner_text().startswith("1 published pledge for")
    assert PROMISE in page.inner_text("main")
    page.goto(f"{live_site}/campaigns/{campaign.slug}/organisations/league/")
    first = page.locator("#league tbody tr").first
    assert first.get_by_role("rowheader").inner_text() == "Sunrise Care Homes"
    assert first.locator("td").all_inner_texts()[0] == "1"  # its rank
    assert first.locator("td").all_inner_texts()[-1] == "1"  # its pledges
    screenshot(page, "organisation-4-league")
    assert errors == []


def test_the_organisation_combobox_works_with_the_keyboard_and_passes_axe_while_open(
    live_site: str, campaign: Any, directory: dict[str, Any], chromium: Any
) -> None:
    # bypass_csp: axe is a script the site's policy must refuse.
    page = chromium.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    page.goto(f"{live_site}/campaigns/{campaign.slug}/pledge/")
    box = page.get_by_role("combobox", name="Organisation (optional)")
    box.focus()
    page.keyboard.type("sun", delay=60)
    listbox = page.get_by_role("listbox", name="Organisations in our directory")
    listbox.wait_for()
    assert listbox.get_by_role("option").all_inner_texts() == [
        "Sunny Vale Care",
        "Sunrise Care Homes",
        "East Sunrise Surgery",
    ]

    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    active = box.get_attribute("aria-activedescendant")
    assert page.locator(f"#{active}").inner_text() == "Sunrise Care Homes"
    assert page.locator(f"#{active}").get_attribute("aria-selected") == "true"
    assert page.get_by_role("status").filter(has_text="organisations found").count() == 1
    screenshot(page, "organisation-4-combobox-open")
    found = axe_violations(page)
    assert found == [], "\n".join(found)

    page.keyboard.press("Enter")  # chooses; does not send the form
    assert page.url.endswith(f"/campaigns/{campaign.slug}/pledge/")
    assert box.input_value() == "Sunrise Care Homes"
    assert page.locator("#id_org").input_value() == "sunrise-care-homes"
    assert box.get_attribute("aria-expanded") == "false"

    # Typing on changes the name: the choice goes with it.
    page.keyboard.type(" Ltd")
    assert page.locator("#id_org").input_value() == ""
    page.keyboard.press("Escape")
    assert box.get_attribute("aria-expanded") == "false"
    found = axe_violations(page)
    assert found == [], "\n".join(found)


def test_without_javascript_find_your_organisation_offers_the_matches_and_keeps_the_form(
    live_site: str, campaign: Any, directory: dict[str, Any], chromium: Any
) -> None:
    page = chromium.new_context(java_script_enabled=False, **PHONE).new_page()
    page.goto(f"{live_site}/campaigns/{campaign.slug}/pledge/")
    _fill_the_rest(page, tap=True)
    page.get_by_label("Organisation (optional)").fill("sunrise")
    page.get_by_label("Email address").fill("grace.mensah@sunrisecare.org.uk")
    page.get_by_label("I agree that my pledge").tap()
    page.get_by_role("button", name="Find your organisation").tap()

    page.get_by_role("group", name="Choose your organisation").wait_for()
    assert page.get_by_label("I pledge to…").input_value() == PROMISE
    assert page.get_by_label("Email address").input_value() == "grace.mensah@sunrisecare.org.uk"
    assert page.get_by_label("Social care", exact=True).is_checked()
    assert page.get_by_label("I agree that my pledge").is_checked()
    screenshot(page, "organisation-5-no-javascript-choices")
    assert not Pledge.objects.exists()
    page.get_by_label("Sunrise Care Homes").tap()
    page.get_by_role("button", name="Make my pledge").tap()

    page.wait_for_url(f"**/campaigns/{campaign.slug}/pledge/sent/")
    pledge = Pledge.objects.get()
    assert (pledge.org, pledge.organisation, pledge.text) == (
        directory["sunrise"],
        "Sunrise Care Homes",
        PROMISE,
    )


def test_the_search_without_javascript_passes_axe_with_matches_and_without(
    live_site: str, campaign: Any, directory: dict[str, Any], chromium: Any
) -> None:
    page = chromium.new_context(bypass_csp=True, **PHONE).new_page()
    for query, choices in (("sun", 4), ("zebra crossing", 0)):
        page.goto(f"{live_site}/campaigns/{campaign.slug}/pledge/organisation/?organisation={query}")
        assert page.locator("input[type=radio][name=org]").count() == choices
        screenshot(page, f"organisation-6-search-{choices}-choices")
        found = axe_violations(page)
        assert found == [], "\n".join(found)

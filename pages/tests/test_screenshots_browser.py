"""Full-page screenshots of the site's pages on a phone (390 x 844) and a desktop (1366 x 768),
kept as test artifacts in var/test-artifacts/screenshots/ (page-<name>-<viewport>.png) so a
person can look at every page after each run. Each page must load, show its main heading,
and on the phone fit the screen's width (nothing to scroll sideways).

To add a page: one line in SHOTS,
    Shot("file-name", "/campaigns/{open}/the/path/"),
with the places of pages.tests.sitedata.site_places in braces (`organiser=True` for an
organiser's page; `then=` for what a person does first, such as pressing a button; `status=`
when the page is not a 200)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pages.tests.sitedata import site_data_make, site_places
from testsupport.browser import SCREENSHOTS, browser_log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1366, "height": 768}},
}


@dataclass(frozen=True)
class Shot:
    name: str  # the screenshot's file: page-<name>-<viewport>.png
    path: str  # "{place}"s filled from pages.tests.sitedata.site_places
    organiser: bool = False
    # What a person does on the page before it is photographed (fill, press a button).
    then: Callable[[Any], None] | None = None
    status: int = 200


def _send_empty_pledge(page: Any) -> None:
    page.get_by_role("button", name="Make my pledge").click()
    page.get_by_role("heading", name="Please check your pledge").wait_for()


SHOTS: list[Shot] = [
    Shot("home", "/"),
    Shot("campaign-upcoming", "/campaigns/{upcoming}/"),
    Shot("campaign-closed", "/campaigns/{closed}/"),
    Shot("pledge-form", "/campaigns/{open}/pledge/"),
    Shot("pledge-form-errors", "/campaigns/{open}/pledge/", then=_send_empty_pledge),
    Shot("sent", "/campaigns/{open}/pledge/sent/"),
    Shot("confirm", "{confirm_link}"),
    Shot("permalink", "/pledges/{named}/"),
    Shot("permalink-anonymous", "/pledges/{anonymous}/"),
    Shot("permalink-organisation", "/pledges/{organisational}/"),
    Shot("withdraw", "{withdraw_link}"),
    Shot("outcome", "{outcome_answered_link}"),
    Shot("wall", "/campaigns/{open}/wall/"),
    Shot("wall-filtered", "/campaigns/{open}/wall/?sector=housing&region=north-west"),
    Shot("wall-no-results", "/campaigns/{open}/wall/?q=zebra"),
    Shot("stats", "/campaigns/{open}/stats/"),
    Shot("organisations", "/campaigns/{open}/organisations/"),
    Shot("league", "/campaigns/{open}/organisations/league/"),
    Shot("organisation", "/campaigns/{open}/organisations/{riverside}/"),
    Shot("privacy", "/campaigns/{open}/privacy/"),
    Shot("accessibility", "/accessibility/"),
    Shot("cookies", "/cookies/"),
    Shot("remind-me", "/campaigns/{upcoming}/remind-me/"),
    Shot("your-data", "/your-data/"),
    Shot("your-data-pledges", "{data_link}"),
    Shot("widget", "/campaigns/{open}/widget/"),
    Shot("not-found", "/no/such/page/", status=404),
    Shot("login", "/accounts/login/"),
    Shot("moderation", "/moderation/?campaign={open}", organiser=True),
    Shot("moderation-dashboard", "/moderation/dashboard/?campaign={open}", organiser=True),
    Shot("posters", "/campaigns/{open}/posters/", organiser=True),
    Shot("paper", "/campaigns/{open}/paper/", organiser=True),
]

# Laid out for a phone or not, the page is as wide as the screen: a wider one scrolls sideways.
# Measured against the screen's width as configured, not window.innerWidth: a phone's browser
# zooms out to show a page wider than it, and innerWidth grows with the page.
OVERFLOW = """(width) => {
  const wide = [...document.querySelectorAll('body *')]
    // Boxes reaching past the screen, and boxes whose content spills out of them unclipped.
    .filter((el) => el.getBoundingClientRect().right > width + 1
      || (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible'))
    .slice(-3)
    .map((el) => el.outerHTML.split('>')[0].slice(0, 100) + '>');
  return {scrollWidth: document.documentElement.scrollWidth, wide};
}"""


def _photograph(page: Any, shot: Shot, places: dict[str, str], base_url: str, viewport: str) -> list[str]:
    """The page's problems, if any, once it is photographed."""
    response = page.goto(base_url + shot.path.format(**places))
    if response is None or response.status != shot.status:
        return [f"answered {response.status if response else 'nothing'}, not {shot.status}"]
    if shot.then:
        shot.then(page)
    problems = []
    heading = page.locator("h1").first
    if not heading.count() or not heading.is_visible():
        problems.append("no visible main heading (h1)")
    screenshot(page, f"page-{shot.name}-{viewport}")
    if viewport == "phone":
        width = VIEWPORTS["phone"]["viewport"]["width"]
        found = page.evaluate(OVERFLOW, width)
        if found["scrollWidth"] > width:
            problems.append(
                f"{found['scrollWidth']} px wide on a {width} px screen, scrolls sideways "
                f"(wider than the screen: {found['wide']})"
            )
    return problems


def test_every_page_is_photographed_on_a_phone_and_a_desktop_and_fits_the_phone(
    live_site: str,
    make_campaign: Any,
    organiser: Any,
    stranger: Any,
    chromium: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site = site_data_make(make_campaign=make_campaign, organiser=organiser, stranger=stranger)
    places = site_places(site)
    problems: list[str] = []
    for viewport, options in VIEWPORTS.items():
        visitor = chromium.new_context(**options)
        staff = chromium.new_context(**options)
        browser_log_in(staff, organiser, live_site)
        pages = {False: visitor.new_page(), True: staff.new_page()}
        for shot in SHOTS:
            found = _photograph(pages[shot.organiser], shot, places, live_site, viewport)
            problems += [f"{shot.name} ({viewport}): {problem}" for problem in found]
        visitor.close()
        staff.close()
    with capsys.disabled():
        print(f"\nScreenshots of {len(SHOTS)} pages, phone and desktop: {SCREENSHOTS}/page-*.png")

    assert not problems, "\n".join(problems)


def test_the_phone_width_check_catches_a_page_that_scrolls_sideways(chromium: Any) -> None:
    page = chromium.new_context(**VIEWPORTS["phone"]).new_page()
    page.set_content(
        '<!doctype html><html lang="en"><meta name="viewport" content="width=device-width">'
        '<title>Wide</title><main><h1>Wide</h1><p id="wide">' + "x" * 300 + "</p></main></html>"
    )

    found = page.evaluate(OVERFLOW, 390)

    assert found["scrollWidth"] > 390
    assert '<p id="wide">' in found["wide"]

"""Issue 19 item 9, what the HTML and feed validators found: <time datetime> values a validator
accepts, the wall's Atom feed announced in its head, feed entries with <updated> and their
sectors, valid attributes on the moderation page, the wall's filters folding on a phone, and
the site's own 404 under DEBUG too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import feedparser
import pytest
from django.conf import settings
from django.http import Http404, HttpResponse
from django.test import Client, RequestFactory

from campaigns.models import Campaign
from changeday.middleware import FriendlyNotFoundInDebugMiddleware
from conftest import create_pledge

pytestmark = pytest.mark.django_db

# HTML's valid global date and time string takes at most three digits of fractions.
VALID_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,3})?)?(Z|[+-]\d\d:\d\d)$")
TEMPLATES = Path(settings.BASE_DIR, "templates")


def test_no_template_writes_a_datetime_with_microseconds() -> None:
    # |date:'c' writes Python's isoformat, six digits of fractions, which the validator refuses.
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if re.search(r"datetime=\"[^\"]*\|date:'c'", path.read_text())
    ]
    assert offenders == []


def test_the_walls_time_elements_carry_valid_datetimes(campaign: Campaign) -> None:
    create_pledge(campaign)
    html = Client().get(f"/campaigns/{campaign.slug}/wall/").content.decode()
    values = re.findall(r'<time datetime="([^"]*)"', html)
    assert values
    assert all(VALID_DATETIME.match(value) for value in values), values


def test_the_moderation_pages_times_and_attributes_are_valid_html(
    pre_campaign: Campaign, organiser: Any
) -> None:
    create_pledge(pre_campaign)
    client = Client()
    client.force_login(organiser)
    html = client.get("/moderation/").content.decode()
    # htmx reads data-hx-* as it reads hx-*; only the former is valid HTML.
    assert not re.search(r"\shx-[a-z-]+=", html)
    assert "data-hx-post=" in html
    assert all(VALID_DATETIME.match(value) for value in re.findall(r'<time datetime="([^"]*)"', html))


def test_the_wall_announces_its_atom_feed_in_the_head(campaign: Campaign) -> None:
    html = Client().get(f"/campaigns/{campaign.slug}/wall/?sector=housing").content.decode()
    head = html.split("</head>", 1)[0]
    assert (
        f'<link rel="alternate" type="application/atom+xml" title="Change Day 2027: housing pledges" '
        f'href="/campaigns/{campaign.slug}/feed/housing/">'
    ) in head
    plain = Client().get(f"/campaigns/{campaign.slug}/wall/").content.decode().split("</head>", 1)[0]
    assert (
        'type="application/atom+xml" title="Change Day 2027: pledges" '
        f'href="/campaigns/{campaign.slug}/feed/"' in plain
    )


def test_feed_entries_carry_updated_and_their_sectors_as_categories(campaign: Campaign) -> None:
    create_pledge(campaign, 1, sectors=["social-care", "housing"])
    create_pledge(campaign, 2, sectors=["nhs"])
    feed = feedparser.parse(Client().get(f"/campaigns/{campaign.slug}/feed/").content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert len(feed.entries) == 2
    for entry in feed.entries:
        assert entry.updated_parsed is not None
        assert entry.published_parsed is not None
    terms = {entry.id: sorted(tag.term for tag in entry.tags) for entry in feed.entries}
    assert sorted(terms.values()) == [["housing", "social-care"], ["nhs"]]


def test_the_walls_filters_fold_behind_one_button_and_stay_open_without_a_script(campaign: Campaign) -> None:
    html = Client().get(f"/campaigns/{campaign.slug}/wall/").content.decode()
    fold = re.search(r"<details class=\"cd-wall-filters-fold[^>]*>", html)
    assert fold is not None
    assert " open " in fold.group(0) and "data-fold-narrow" in fold.group(0)
    assert "data-fold-keep-open" not in fold.group(0)
    assert '<summary class="btn btn-outline-primary mb-2">Filter the pledges</summary>' in html
    filtered = Client().get(f"/campaigns/{campaign.slug}/wall/?region=wales").content.decode()
    assert "data-fold-keep-open" in filtered


@pytest.mark.parametrize("path", ["/no-such-page/", "/pledges/zzzzzzzz/", "/campaigns/no-such-campaign/"])
def test_under_debug_a_missing_page_is_the_sites_own_404(
    settings: Any, campaign: Campaign, path: str
) -> None:
    settings.DEBUG = True
    response = Client().get(path)
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and "Go to the current campaign" in html
    # Not Django's technical page, which lists every URL pattern of the site.
    assert "URLconf" not in html and "Django tried these URL patterns" not in html


def test_under_debug_a_missing_slash_is_still_added(settings: Any, campaign: Campaign) -> None:
    settings.DEBUG = True
    response = Client().get(f"/campaigns/{campaign.slug}")
    assert response.status_code == 301
    assert response["Location"] == f"/campaigns/{campaign.slug}/"


def test_under_debug_only_not_found_is_caught_and_errors_keep_their_traceback(settings: Any) -> None:
    settings.DEBUG = True
    middleware = FriendlyNotFoundInDebugMiddleware(lambda request: HttpResponse())
    request = RequestFactory().get("/")
    assert middleware.process_exception(request, RuntimeError("a real bug")) is None
    assert middleware.process_exception(request, Http404("gone")).status_code == 404
    settings.DEBUG = False
    assert middleware.process_exception(request, Http404("gone")) is None

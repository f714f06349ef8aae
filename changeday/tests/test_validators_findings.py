"""Issue 19 item 9, what the HTML and feed validators found: <time datetime> values a validator
accepts, the wall's and the campaign page's Atom feeds announced in their heads (titled with the
sector's label), every feed's entries with <updated> and their sectors, valid attributes on the
moderation page, the wall's filters folding on a phone, and the site's own 404 under DEBUG too."""

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
from pledges.outcomes import pledge_outcome_record
from pledges.tests.atom import atom_entries

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


def _alternates(path: str) -> list[tuple[str, str]]:
    """The (title, href) of each Atom feed a page announces in its head."""
    head = Client().get(path).content.decode().split("</head>", 1)[0]
    link = r'<link rel="alternate" type="application/atom\+xml" title="([^"]*)" href="([^"]*)">'
    return re.findall(link, head)


def test_the_wall_announces_its_atom_feeds_in_the_head_titled_with_the_sectors_label(
    campaign: Campaign,
) -> None:
    slug = campaign.slug
    assert _alternates(f"/campaigns/{slug}/wall/?sector=social-care") == [
        ("Change Day 2027: Social care pledges", f"/campaigns/{slug}/feed/social-care/"),
        ("Change Day 2027: Social care changes made", f"/campaigns/{slug}/feed/social-care/changes/"),
    ]
    assert _alternates(f"/campaigns/{slug}/wall/") == [
        ("Change Day 2027: pledges", f"/campaigns/{slug}/feed/"),
        ("Change Day 2027: changes made", f"/campaigns/{slug}/feed/changes/"),
    ]
    # Each link's title is the title of the feed it points at.
    for title, href in _alternates(f"/campaigns/{slug}/wall/?sector=patient-carer"):
        assert feedparser.parse(Client().get(href).content).feed.title == title


def test_the_campaign_page_announces_its_atom_feeds_in_the_head(campaign: Campaign) -> None:
    for path in (f"/campaigns/{campaign.slug}/", "/"):
        assert _alternates(path) == [
            ("Change Day 2027: pledges", f"/campaigns/{campaign.slug}/feed/"),
            ("Change Day 2027: changes made", f"/campaigns/{campaign.slug}/feed/changes/"),
        ]


def test_every_feeds_entries_carry_updated_and_their_sectors_as_categories(campaign: Campaign) -> None:
    # Read as XML, not through feedparser: it reports an entry without <updated> as updated
    # when it was published, so it could not tell the element was missing.
    create_pledge(campaign, 1, sectors=["social-care", "housing"])
    done = create_pledge(campaign, 2, sectors=["social-care"])
    pledge_outcome_record(pledge=done, outcome="done", story_text="We did it.", story_public=True)
    paths = ("feed/", "feed/social-care/", "feed/changes/", "feed/social-care/changes/")
    counts = {}
    for path in paths:
        body = Client().get(f"/campaigns/{campaign.slug}/{path}").content
        assert not feedparser.parse(body).bozo, path
        entries = atom_entries(body)
        counts[path] = len(entries)
        for entry in entries:
            assert entry.updated is not None, f"{path}: {entry.id} has no <updated>"
            assert entry.updated_at.tzinfo is not None, entry.updated
            assert {"social-care"} <= set(entry.categories), (path, entry.categories)
        if not path.endswith("changes/"):
            assert all(entry.published is not None for entry in entries), path
    assert counts == {paths[0]: 2, paths[1]: 2, paths[2]: 1, paths[3]: 1}


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

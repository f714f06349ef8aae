"""Every page a person can reach is valid HTML: the Nu HTML checker (vnu, the W3C validator's
engine) reads each one, in each state people meet it in (filled and empty, form errors, bad
and expired links, error pages), and finds no error.

PAGES is the list; a guard fails when a URL pattern is neither in it nor in NOT_HTML, so a new
page cannot be left out. To add a page: one line in PAGES,
    Page("app:url-name", "file-name", "/campaigns/{open}/the/path/"),
with the places of pages.tests.sitedata.site_places in braces; `who="organiser"` for an
organiser's page, `post={...}` to send a form, `status=` when it is not a 200, or a function
of the Visit instead of the path for anything more."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.test.signals import template_rendered
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.defaults import server_error

from conftest import create_pledge
from moderation.services import story_moderate
from pages.tests.sitedata import SiteData, site_data_make, site_places
from pledges.models import Story
from pledges.outcomes import outcome_url
from pledges.services import pledge_confirmation_url, pledger_data_url
from testsupport.htmlcheck import Finding, vnu_check, vnu_missing
from testsupport.processes import BASE_DIR

pytestmark = pytest.mark.django_db


class Visit:
    """The site's data and the people looking at it, each a test client with its own session."""

    def __init__(self, site: SiteData | None) -> None:
        self._site = site
        self.places = site_places(site) if site else {}
        self.visitor = Client()
        self.organiser = Client()
        self.stranger = Client()
        if site is not None:
            self.organiser.force_login(site.organiser)
            self.stranger.force_login(site.stranger)

    @property
    def site(self) -> SiteData:
        assert self._site is not None, "this page needs the site's data: leave before_data off"
        return self._site

    @property
    def slug(self) -> str:
        return self.site.open.slug


@dataclass(frozen=True)
class Page:
    route: str | None  # the URL pattern's "namespace:name" (None: Django's error handlers)
    name: str  # the file vnu reads, and how a failure names the page
    # The path, "{place}"s filled from site_places; or how to reach the page, given the Visit.
    at: str | Callable[[Visit], HttpResponse]
    status: int = 200
    who: str = "visitor"  # whose browser asks: "visitor", "organiser" or "stranger"
    post: dict[str, Any] | None = None  # a form sent to the path, instead of a GET
    headers: dict[str, str] = field(default_factory=dict)
    # A fragment htmx swaps into a page: checked inside a minimal document.
    fragment: bool = False
    # Fetched before the site has any data (the home page with no campaign).
    before_data: bool = False

    def fetch(self, visit: Visit) -> HttpResponse:
        if callable(self.at):
            return self.at(visit)
        client = getattr(visit, self.who)
        path = self.at.format(**visit.places)
        if self.post is not None:
            return client.post(path, self.post, **self.headers)
        return client.get(path, **self.headers)


def _pledge_form(**overrides: Any) -> dict[str, Any]:
    return {
        "text": "listen to every carer on my ward before the end of each shift",
        "display_name": "Sam Patel",
        "role": "Staff nurse",
        "organisation": "Riverside Homes",
        "region": "north-west",
        "kind": "personal",
        "sectors": ["nhs", "social-care"],
        "email": f"pledger-{uuid.uuid4().hex[:8]}@example.org",
        "consent_to_publish": "on",
        "wants_reminders": "on",
        "submission_token": str(uuid.uuid4()),
        **overrides,
    }


def _pledged(v: Visit) -> Client:
    """A browser that has just pledged: the page after it shows the address typed."""
    pledger = Client()
    response = pledger.post(f"/campaigns/{v.slug}/pledge/", _pledge_form())
    assert response.status_code == 302, response.content[:2000]
    return pledger


def _sent_with_address(v: Visit) -> HttpResponse:
    return _pledged(v).get(f"/campaigns/{v.slug}/pledge/sent/")


def _sent_address_errors(v: Visit) -> HttpResponse:
    return _pledged(v).post(f"/campaigns/{v.slug}/pledge/sent/address/", {"email": "not an address"})


def _sent_again(v: Visit) -> HttpResponse:
    return _pledged(v).post(f"/campaigns/{v.slug}/pledge/sent/again/", follow=True)


def _fresh(v: Visit, n: int, **overrides: Any) -> Any:
    """A published pledge of its own, for a page that changes what it shows."""
    return create_pledge(v.site.open, n, email=f"fresh{n}@example.org", **overrides)


def _path(url: str) -> str:
    return url.removeprefix(settings.SITE_URL)


def _wall_next_page(v: Visit) -> HttpResponse:
    first = v.visitor.get(f"/campaigns/{v.slug}/wall/").content.decode()
    found = re.search(r'href="(\?[^"]*cursor=[^"]+)"', first)
    assert found, "the wall has no next page: give sitedata more pledges"
    return v.visitor.get(f"/campaigns/{v.slug}/wall/" + found[1].replace("&amp;", "&"))


def _password_reset_confirm(v: Visit) -> HttpResponse:
    user = v.site.organiser
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    # Django trades the token for a session and redirects to ".../set-password/".
    return Client().get(f"/accounts/reset/{uid}/{token}/", follow=True)


def _logged_out(v: Visit) -> HttpResponse:
    organiser = Client()
    organiser.force_login(v.site.organiser)
    # LOGOUT_REDIRECT_URL: logging out lands on the home page.
    return organiser.post("/accounts/logout/", follow=True)


def _too_many(v: Visit) -> HttpResponse:
    with override_settings(RATE_LIMITS={**settings.RATE_LIMITS, "data-request": (1, 3600)}):
        network = {"REMOTE_ADDR": "192.0.2.77"}
        v.visitor.post("/your-data/", {"email": "not an address"}, **network)
        return v.visitor.post("/your-data/", {"email": "not an address"}, **network)


def _csrf_refused(v: Visit) -> HttpResponse:
    return Client(enforce_csrf_checks=True).post("/your-data/", {"email": "sam@example.org"})


def _server_error(v: Visit) -> HttpResponse:
    # No address of ours fails on purpose: Django's handler renders templates/500.html.
    return server_error(RequestFactory().get("/"))


def _decided(v: Visit) -> HttpResponse:
    flagged = v.site.flagged
    decision = {"action": "reject", "reason_code": "spam", "pledge": f"{flagged.public_id}:{flagged.status}"}
    return v.organiser.post(
        "/moderation/decide/", {"return_to": f"campaign={v.slug}", **decision}, follow=True
    )


def _decided_by_htmx(v: Visit) -> HttpResponse:
    hidden = v.site.hidden
    decision = {"action": "restore", "pledge": f"{hidden.public_id}:{hidden.status}"}
    return v.organiser.post(
        "/moderation/decide/", {"return_to": f"campaign={v.slug}", **decision}, HTTP_HX_REQUEST="true"
    )


def _news(v: Visit) -> HttpResponse:
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    return v.organiser.get("/moderation/news/", {"campaign": v.slug, "since": since})


def _data_erased(v: Visit) -> HttpResponse:
    pledge = _fresh(v, 301)
    return v.visitor.post(_path(pledger_data_url(pledge=pledge)) + "delete/")


def _outcome_answered(v: Visit) -> HttpResponse:
    pledge = _fresh(v, 302)
    answer = {"outcome": "done", "story": "We changed the handover sheet.", "story_public": "on"}
    return v.visitor.post(_path(outcome_url(pledge=pledge)), answer)


def _outcome_story_rejected(v: Visit) -> HttpResponse:
    """The link revisited after an organiser rejected the story: the page gives their reason."""
    pledge = _fresh(v, 304)
    answer = {"outcome": "done", "story": "We changed the <b>handover</b> sheet.", "story_public": "on"}
    v.visitor.post(_path(outcome_url(pledge=pledge)), answer)
    story = Story.objects.get(pledge=pledge)
    reason = {"reason_code": "spam", "reason_text": "an <i>advert</i>"}
    story_moderate(story_ids=[story.pk], action="reject", actor=v.site.organiser, **reason)
    return v.visitor.get(_path(outcome_url(pledge=pledge)))


def _confirmed_by_owner(v: Visit) -> HttpResponse:
    """The pledger's own view of their pledge, straight after confirming it (held by screening)."""
    pledge = _fresh(v, 303, confirm=False, text="email my ward at www.example.org each week")
    return Client().post(_path(pledge_confirmation_url(pledge=pledge)), follow=True)


ORGANISER = "organiser"
EMPTY_FORM = {"submission_token": "9d7e0c1e-8a53-4c0b-9a55-5f1d0f1f0a11"}
BAD_PLEDGE = {**EMPTY_FORM, "text": "short", "email": "sam@", "sectors": ["nhs"], "region": "wales"}
FIND_RIVER = {**EMPTY_FORM, "organisation": "river", "text": "listen more", "sectors": ["housing"]}

PAGES: list[Page] = [
    # The home page before any campaign exists.
    Page("pages:home", "home-no-campaign", "/", before_data=True),
    # --- pages: campaign pages, widget, stats, organisations, trust pages ---------------------
    Page("pages:home", "home", "/"),
    Page("pages:campaign_detail", "campaign-open", "/campaigns/{open}/"),
    Page("pages:campaign_detail", "campaign-upcoming", "/campaigns/{upcoming}/"),
    Page("pages:campaign_detail", "campaign-closed", "/campaigns/{closed}/"),
    Page("pages:campaign_detail", "campaign-finished", "/campaigns/{finished}/"),
    Page("pages:campaign_detail", "campaign-not-found", "/campaigns/no-such-day/", status=404),
    Page("pages:campaign_widget", "widget", "/campaigns/{open}/widget/"),
    Page("pages:campaign_widget", "widget-sector", "/campaigns/{open}/widget/?sector=housing"),
    Page("pages:campaign_stats", "stats", "/campaigns/{open}/stats/"),
    Page("pages:campaign_stats", "stats-empty", "/campaigns/{upcoming}/stats/"),
    Page("pages:campaign_stats", "stats-closed", "/campaigns/{closed}/stats/"),
    Page("pages:organisations", "organisations", "/campaigns/{open}/organisations/"),
    Page(
        "pages:organisations",
        "organisations-filtered",
        "/campaigns/{open}/organisations/?kind=housing-association&region=north-west",
    ),
    Page("pages:organisations", "organisations-none", "/campaigns/{upcoming}/organisations/"),
    Page("pages:organisation_league", "league", "/campaigns/{open}/organisations/league/"),
    Page(
        "pages:organisation_league",
        "league-per-staff",
        "/campaigns/{open}/organisations/league/?per=staff&region=north-west",
    ),
    Page(
        "pages:organisation_league",
        "league-bad-query",
        "/campaigns/{open}/organisations/league/?per=moon",
        status=400,
    ),
    Page("pages:organisation", "organisation", "/campaigns/{open}/organisations/{riverside}/"),
    Page(
        "pages:organisation",
        "organisation-filtered",
        "/campaigns/{open}/organisations/{northfield}/?sector=nhs&q=team",
    ),
    Page(
        "pages:organisation", "organisation-not-found", "/campaigns/{open}/organisations/nobody/", status=404
    ),
    Page("pages:privacy", "privacy", "/privacy/"),
    Page("pages:accessibility", "accessibility", "/accessibility/"),
    Page("pages:cookies", "cookies", "/cookies/"),
    Page("pages:campaign_privacy", "campaign-privacy-own-words", "/campaigns/{open}/privacy/"),
    Page("pages:campaign_privacy", "campaign-privacy-default", "/campaigns/{closed}/privacy/"),
    Page("pages:campaign_accessibility", "campaign-accessibility", "/campaigns/{open}/accessibility/"),
    Page("pages:campaign_cookies", "campaign-cookies", "/campaigns/{open}/cookies/"),
    # --- pledges: the form, the pages after it, links from emails, the wall, permalinks -------
    Page("pledges:create", "pledge-form", "/campaigns/{open}/pledge/"),
    Page("pledges:create", "pledge-form-errors", "/campaigns/{open}/pledge/", post=EMPTY_FORM, status=400),
    Page(
        "pledges:create", "pledge-form-errors-typed", "/campaigns/{open}/pledge/", post=BAD_PLEDGE, status=400
    ),
    Page("pledges:create", "pledge-form-upcoming", "/campaigns/{upcoming}/pledge/"),
    Page("pledges:create", "pledge-form-closed", "/campaigns/{closed}/pledge/"),
    Page(
        "pledges:find-organisation",
        "pledge-form-find-organisation",
        "/campaigns/{open}/pledge/organisation/",
        post=FIND_RIVER,
    ),
    Page(
        "pledges:find-organisation",
        "pledge-form-find-organisation-none",
        "/campaigns/{open}/pledge/organisation/?organisation=zebra",
    ),
    Page("pledges:sent", "sent", "/campaigns/{open}/pledge/sent/"),
    Page("pledges:sent", "sent-with-address", _sent_with_address),
    Page("pledges:sent-address", "sent-address-errors", _sent_address_errors, status=400),
    Page("pledges:sent-again", "sent-again", _sent_again),
    Page(
        "pledges:sent-again",
        "sent-again-no-session",
        "/campaigns/{open}/pledge/sent/again/",
        post={},
        status=400,
    ),
    Page("pledges:confirm", "confirm", "{confirm_link}"),
    Page("pledges:confirm", "confirm-bad-link", "/pledges/confirm/not-a-token/", status=400),
    Page("pledges:confirm", "confirm-expired", "{confirm_expired_link}", status=410),
    Page("pledges:confirm", "confirm-gone", "{confirm_gone_link}", status=404),
    Page("pledges:withdraw", "withdraw", "{withdraw_link}"),
    Page("pledges:withdraw", "withdrawn", "{withdrawn_link}", post={}),
    Page("pledges:withdraw", "withdraw-bad-link", "/pledges/withdraw/not-a-token/", status=400),
    Page("pledges:outcome", "outcome", "{outcome_link}"),
    Page("pledges:outcome", "outcome-answered", "{outcome_answered_link}"),
    Page("pledges:outcome", "outcome-errors", "{outcome_link}", post={"story": "x" * 700}, status=400),
    Page("pledges:outcome", "outcome-thanks", _outcome_answered),
    Page("pledges:outcome", "outcome-story-rejected", _outcome_story_rejected),
    Page("pledges:outcome", "outcome-bad-link", "/pledges/outcome/not-a-token/", status=400),
    Page("pledges:outcome", "outcome-gone", "{outcome_gone_link}", status=404),
    Page("pledges:outcome", "outcome-withdrawn", "{outcome_withdrawn_link}", status=410),
    Page("pledges:outcome", "outcome-closed", "{outcome_closed_link}", status=410),
    Page("pledges:detail", "permalink", "/pledges/{named}/"),
    Page("pledges:detail", "permalink-anonymous", "/pledges/{anonymous}/"),
    Page("pledges:detail", "permalink-organisation", "/pledges/{organisational}/"),
    Page("pledges:detail", "permalink-markup", "/pledges/{markup}/"),
    Page("pledges:detail", "permalink-owner-waiting", _confirmed_by_owner),
    Page("pledges:detail", "permalink-finished-campaign", "/pledges/{finished_pledge}/"),
    Page("pledges:detail", "permalink-not-found", "/pledges/nosuchpledge/", status=404),
    Page("pledges:wall", "wall", "/campaigns/{open}/wall/"),
    Page("pledges:wall", "wall-page-2", _wall_next_page),
    Page(
        "pledges:wall",
        "wall-filtered",
        "/campaigns/{open}/wall/?sector=housing&region=north-west&kind=organisational",
    ),
    Page("pledges:wall", "wall-search", "/campaigns/{open}/wall/?q=carer"),
    Page("pledges:wall", "wall-organisation", "/campaigns/{open}/wall/?organisation={riverside}"),
    Page("pledges:wall", "wall-changes-first", "/campaigns/{open}/wall/?order=changes"),
    Page("pledges:wall", "wall-outcome-done", "/campaigns/{open}/wall/?outcome=done"),
    Page("pledges:wall", "wall-no-results", "/campaigns/{open}/wall/?q=zebra&sector=housing"),
    Page("pledges:wall", "wall-bad-filter", "/campaigns/{open}/wall/?sector=moon", status=400),
    Page("pledges:wall", "wall-closed", "/campaigns/{closed}/wall/"),
    Page("pledges:data-request", "your-data", "/your-data/"),
    Page("pledges:data-request", "your-data-errors", "/your-data/", post={"email": "sam@"}, status=400),
    Page("pledges:data-sent", "your-data-sent", "/your-data/sent/"),
    Page("pledges:data", "your-data-pledges", "{data_link}"),
    Page("pledges:data", "your-data-bad-link", "/your-data/not-a-token/", status=400),
    Page("pledges:data", "your-data-gone", "{data_gone_link}", status=410),
    Page("pledges:data", "your-data-expired", "{data_expired_link}", status=410),
    Page("pledges:data-erase", "your-data-erased", _data_erased),
    # --- moderation: a visitor's report, the organisers' queue and dashboard -----------------
    Page(
        "moderation:report",
        "report-errors",
        "/pledges/{named}/report/",
        post={"detail": "<b>rude</b>"},
        status=400,
    ),
    Page("moderation:paper", "paper", "/campaigns/{open}/paper/", who=ORGANISER),
    Page("moderation:paper", "paper-errors", "/campaigns/{open}/paper/", post={}, who=ORGANISER, status=400),
    Page(
        "moderation:paper-import",
        "paper-import-errors",
        "/campaigns/{open}/paper/file/",
        post={},
        who=ORGANISER,
        status=400,
    ),
    Page(
        "moderation:paper-withdraw",
        "paper-withdraw-errors",
        "/campaigns/{open}/paper/withdraw/",
        post={},
        who=ORGANISER,
        status=400,
    ),
    Page("pages:posters", "posters", "/campaigns/{open}/posters/", who=ORGANISER),
    Page("pages:posters", "posters-search", "/campaigns/{open}/posters/?q=river", who=ORGANISER),
    Page(
        "pages:poster_pdf",
        "posters-unknown-sector",
        "/campaigns/{open}/posters/poster.pdf?sector=nowhere",
        who=ORGANISER,
        status=404,
    ),
    Page(
        "pages:pledge_cards",
        "posters-bad-card-numbers",
        "/campaigns/{open}/posters/cards.pdf?first=abc&sheets=0",
        who=ORGANISER,
        status=400,
    ),
    Page("moderation:queue", "moderation", "/moderation/?campaign={open}", who=ORGANISER),
    Page(
        "moderation:queue", "moderation-stories", "/moderation/?campaign={open}&subject=story", who=ORGANISER
    ),
    Page(
        "moderation:queue",
        "moderation-private-stories",
        "/moderation/?campaign={open}&status=private",
        who=ORGANISER,
    ),
    Page(
        "moderation:queue", "moderation-hidden", "/moderation/?campaign={open}&status=hidden", who=ORGANISER
    ),
    Page("moderation:queue", "moderation-empty", "/moderation/?campaign={upcoming}", who=ORGANISER),
    Page(
        "moderation:queue",
        "moderation-bad-filter",
        "/moderation/?campaign={open}&sector=moon",
        who=ORGANISER,
        status=400,
    ),
    Page("moderation:decide", "moderation-decided", _decided),
    Page(
        "moderation:decide",
        "moderation-decide-errors",
        "/moderation/decide/",
        post={"action": "publish"},
        who=ORGANISER,
        status=400,
    ),
    Page("moderation:decide", "moderation-decide-fragment", _decided_by_htmx, fragment=True),
    Page("moderation:news", "moderation-news-fragment", _news, fragment=True),
    Page(
        "moderation:dashboard",
        "moderation-dashboard",
        "/moderation/dashboard/?campaign={open}",
        who=ORGANISER,
    ),
    Page(
        "moderation:dashboard-day",
        "moderation-dashboard-day-fragment",
        "/moderation/dashboard/day/?campaign={open}",
        who=ORGANISER,
        fragment=True,
    ),
    # --- reminders: remind me, its confirmation, unsubscribing, stopping ---------------------
    Page("reminders:signup", "remind-me", "/campaigns/{upcoming}/remind-me/"),
    Page(
        "reminders:signup",
        "remind-me-errors",
        "/campaigns/{open}/remind-me/",
        post={"email": "sam@"},
        status=400,
    ),
    Page("reminders:signup", "remind-me-closed", "/campaigns/{closed}/remind-me/"),
    Page("reminders:signup-sent", "remind-me-sent", "/campaigns/{open}/remind-me/sent/"),
    Page("reminders:confirm", "remind-me-confirm", "{remind_confirm_link}"),
    Page("reminders:confirm", "remind-me-confirmed", "{remind_confirm_link}", post={}),
    Page("reminders:confirm", "remind-me-confirm-expired", "{remind_confirm_expired_link}", status=410),
    Page("reminders:confirm", "remind-me-confirm-bad-link", "/reminders/confirm/not-a-token/", status=400),
    Page("reminders:unsubscribe", "unsubscribe", "{unsubscribe_link}"),
    Page("reminders:unsubscribe", "unsubscribed", "{unsubscribe_signup_link}", post={}),
    Page("reminders:unsubscribe", "unsubscribe-bad-link", "/reminders/unsubscribe/not-a-token/", status=400),
    Page("reminders:stop-all", "stop-all", "{stop_all_link}"),
    Page("reminders:stop-all", "stopped-all", "{stop_all_signup_link}", post={}),
    Page("reminders:stop-all", "stop-all-bad-link", "/reminders/stop-all/not-a-token/", status=400),
    Page("reminders:follow-through-stop", "follow-through-stop", "{follow_through_stop_link}"),
    Page(
        "reminders:follow-through-stop",
        "follow-through-stopped",
        "{follow_through_stop_anonymous_link}",
        post={},
    ),
    Page("reminders:follow-through-stop", "follow-through-ended", "{follow_through_ended_link}", status=410),
    Page(
        "reminders:follow-through-stop",
        "follow-through-stop-bad-link",
        "/reminders/follow-through/stop/not-a-token/",
        status=400,
    ),
    # --- organisers' accounts -----------------------------------------------------------------
    Page("login", "login", "/accounts/login/"),
    Page(
        "login",
        "login-errors",
        "/accounts/login/",
        post={"username": "organiser@example.org", "password": "no"},
    ),
    Page("logout", "logged-out", _logged_out),
    Page("password_reset", "password-reset", "/accounts/password_reset/"),
    Page(
        "password_reset",
        "password-reset-errors",
        "/accounts/password_reset/",
        post={"email": "x"},
        status=400,
    ),
    Page("password_reset_done", "password-reset-done", "/accounts/password_reset/done/"),
    Page("password_reset_confirm", "password-reset-confirm", _password_reset_confirm),
    Page("password_reset_confirm", "password-reset-confirm-bad-link", "/accounts/reset/MQ/not-a-token/"),
    Page("password_reset_complete", "password-reset-complete", "/accounts/reset/done/"),
    Page("password_change", "password-change", "/accounts/password_change/", who=ORGANISER),
    Page("password_change_done", "password-change-done", "/accounts/password_change/done/", who=ORGANISER),
    # --- error pages (Django's handlers) -------------------------------------------------------
    Page(None, "400", "/", headers={"HTTP_HOST": "not-our-site.example"}, status=400),
    Page(None, "403", "/moderation/", who="stranger", status=403),
    Page(None, "403-csrf", _csrf_refused, status=403),
    Page(None, "404", "/no/such/page/", status=404),
    Page(None, "429", _too_many, status=429),
    Page(None, "500", _server_error, status=500),
]

# Every other URL pattern, and why vnu does not read it.
NOT_HTML: dict[str, str] = {
    "pledges:organisation-suggest": "JSON for the type-ahead",
    "pledges:feed": "Atom (feedparser reads it in test_feeds.py)",
    "pledges:sector-feed": "Atom (feedparser reads it in test_feeds.py)",
    "pledges:changes-feed": "Atom (feedparser reads it in test_changes_feed.py)",
    "pledges:sector-changes-feed": "Atom (feedparser reads it in test_changes_feed.py)",
    "pledges:data-download": "a JSON download",
    "pages:organisation_export": "CSV for organisers",
    "moderation:export": "CSV for organisers",
    "moderation:paper-template": "the CSV template for paper pledges",
    "pages:poster_svg": "an SVG poster for printing (test_posters.py parses it and reads its QR code)",
    "pages:share_image_campaign": "a PNG for link previews (test_share_images.py reads it)",
    "pages:share_image_organisation": "a PNG for link previews (test_share_images.py reads it)",
    "pages:share_image_pledge": "a PNG for link previews (test_share_images.py reads it)",
    "pages:share_image_wall": "a PNG for link previews (test_share_images.py reads it)",
    "admin/login/": "Django's admin",
}
# Whole namespaces left out: Django's own admin and the JSON API (schemathesis checks it).
NOT_HTML_NAMESPACES = ("admin", "api-v1", "bench")

# Templates no page renders as the page itself: parts included in pages, emails, the admin's.
TEMPLATES = BASE_DIR / "templates"
NOT_A_PAGE = ("emails/", "admin/", "pages/trust/", "base.html")
NOT_RENDERED = {
    # Django's logout would show it; LOGOUT_REDIRECT_URL takes people to the home page instead.
    "registration/logged_out.html",
}

# A fragment lands in the moderation queue, whose bulk form its cards' checkboxes belong to.
WRAPPER = (
    '<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>A fragment</title></head>'
    '<body><main><form id="bulk-form" method="post" action="/moderation/decide/"></form>'
    "{}</main></body></html>"
)


def _routes(patterns: list[Any], namespace: str = "") -> Iterator[str]:
    """Each URL pattern as "namespace:name" (its route when it has no name)."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace or "") if part)
            if inner.split(":", 1)[0] not in NOT_HTML_NAMESPACES:
                yield from _routes(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}:{entry.name}".lstrip(":") if entry.name else str(entry.pattern)


def test_every_url_pattern_is_checked_or_said_not_to_be_html() -> None:
    routes = set(_routes(get_resolver().url_patterns))
    listed = {page.route for page in PAGES if page.route}

    unchecked = sorted(routes - listed - NOT_HTML.keys())
    stale = sorted((listed | NOT_HTML.keys()) - routes)

    assert not unchecked, (
        f"New pages are not checked by vnu: {unchecked}. Add a line for each to PAGES in "
        "pages/tests/test_html_validity.py (or to NOT_HTML, saying why it is not HTML)."
    )
    assert not stale, f"PAGES or NOT_HTML name patterns the site no longer has: {stale}"
    assert len({page.name for page in PAGES}) == len(PAGES), "two pages share a file name"


def _page_templates() -> set[str]:
    names = {str(path.relative_to(TEMPLATES)) for path in TEMPLATES.rglob("*.html")}
    return {
        name for name in names if not name.startswith(NOT_A_PAGE) and not Path(name).name.startswith("_")
    } - NOT_RENDERED


def _fetch_all(visit: Visit, pages: list[Page], folder: Path) -> tuple[dict[Path, str], list[str]]:
    files: dict[Path, str] = {}
    problems = []
    for page in pages:
        response = page.fetch(visit)
        if response.status_code != page.status:
            problems.append(f"{page.name}: answered {response.status_code}, not {page.status}")
            continue
        if not response["Content-Type"].startswith("text/html"):
            problems.append(f"{page.name}: answered {response['Content-Type']}, not HTML")
            continue
        html = response.content.decode()
        path = folder / f"{page.name}.html"
        path.write_text(WRAPPER.format(html) if page.fragment else html, encoding="utf-8")
        files[path] = page.name
    return files, problems


@pytest.fixture
def rendered_templates() -> Iterator[set[str]]:
    names: set[str] = set()

    def record(sender: Any, template: Any, **kwargs: Any) -> None:
        names.add(template.name)

    template_rendered.connect(record)
    yield names
    template_rendered.disconnect(record)


def _report(findings: list[Finding], files: dict[Path, str]) -> str:
    by_page: dict[str, list[str]] = {}
    for finding in findings:
        by_page.setdefault(files.get(finding.file, str(finding.file)), []).append(finding.describe())
    return "\n".join(
        f"{page} ({next((p for p, n in files.items() if n == page), '')}):\n    " + "\n    ".join(lines)
        for page, lines in sorted(by_page.items())
    )


def test_every_page_is_valid_html(
    tmp_path: Path,
    make_campaign: Any,
    organiser: Any,
    stranger: Any,
    rendered_templates: set[str],
) -> None:
    missing = vnu_missing()
    if missing:
        if os.environ.get("CHANGEDAY_REQUIRE_SERVICES") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    before, after = [p for p in PAGES if p.before_data], [p for p in PAGES if not p.before_data]
    files, problems = _fetch_all(Visit(None), before, tmp_path)
    site = site_data_make(make_campaign=make_campaign, organiser=organiser, stranger=stranger)
    more_files, more_problems = _fetch_all(Visit(site), after, tmp_path)
    files |= more_files
    problems += more_problems
    assert not problems, "pages did not answer as expected:\n" + "\n".join(problems)

    findings = vnu_check(sorted(files))

    if findings:
        pytest.fail(
            f"vnu found errors in {len({f.file for f in findings})} pages:\n" + _report(findings, files)
        )
    # The list reaches every page template: a page added with a template of its own is seen.
    unseen = sorted(_page_templates() - rendered_templates)
    assert not unseen, f"no page in PAGES renders these templates: {unseen}"

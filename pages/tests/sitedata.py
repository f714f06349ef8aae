"""A site with something on every page, made through the services as people make it: the
data behind the HTML validity check (test_html_validity.py) and the screenshots
(test_screenshots_browser.py), so both look at the pages a visitor would meet on the day.

An open post-moderated campaign with published pledges in every sector (more than one wall
page), an anonymous one, an organisation's verified one, outcomes and published stories,
pledges waiting for an organiser (flagged, hidden after reports, stories); an upcoming, a
closed and a finished campaign (outcomes closed); two organisations taking part; remind-me
sign-ups; an organiser and a stranger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from changeday.lib.tokens import make_token
from conftest import create_pledge
from moderation.services import pledge_report
from organisations.models import Organisation, OrganisationCampaign
from pledges.models import Pledge
from pledges.outcomes import OUTCOME_PURPOSE, outcome_url, pledge_outcome_record
from pledges.services import (
    CONFIRM_PURPOSE,
    DATA_PURPOSE,
    pledge_confirmation_token,
    pledge_confirmation_url,
    pledge_withdraw,
    pledge_withdraw_url,
    pledger_data_url,
)
from pledges.tests.orgdata import make_organisation
from reminders.models import ReminderSignup
from reminders.services import (
    SIGNUP_CONFIRM_PURPOSE,
    follow_through_stop_token,
    signup_confirmation_url,
    stop_all_token,
    unsubscribe_token,
)
from reminders.tests.helpers import signup

# Typed by people, shown back to everyone: markup must come out as text and leave the page valid.
MARKUP = '<b>listen</b> & "learn" <script>alert(1)</script> from every carer'
SECTORS = (["nhs"], ["social-care"], ["housing"], ["patient-carer"], ["nhs", "social-care"])
REGIONS = ("london", "north-west", "midlands", "wales", "scotland")
WALL_PLEDGES = 27  # more than one wall page (24)
GONE = "nosuchpledge"  # a public id no pledge has (erased, purged)


@dataclass
class SiteData:
    open: Campaign
    upcoming: Campaign
    closed: Campaign
    finished: Campaign  # closed, and its outcomes closed too
    organiser: Any
    stranger: Any
    riverside: Organisation
    northfield: Organisation
    named: Pledge  # published, a person's name, an outcome and a published story
    anonymous: Pledge
    organisational: Pledge  # an organisation's pledge, verified staff at Riverside Homes
    markup: Pledge  # markup typed into every field
    unconfirmed: Pledge
    withdrawn: Pledge
    flagged: Pledge  # held by screening for an organiser
    hidden: Pledge  # hidden after reports
    finished_pledge: Pledge
    waiting_signup: ReminderSignup
    confirmed_signup: ReminderSignup


def _campaigns(make_campaign: Any) -> tuple[Campaign, Campaign, Campaign, Campaign]:
    now = timezone.now()
    open_ = make_campaign(
        staff_domains="nhs.net",
        organiser_name="NHS Change Day team",
        contact_email="team@changeday.example",
    )
    # The campaign's own words on one trust page; the others fall back to the site's.
    Campaign.objects.filter(pk=open_.pk).update(
        privacy_notice="We hold your pledge and your address.\n\nWrite to us to see them.",
        retention_days=180,
    )
    open_.refresh_from_db()
    upcoming = make_campaign(
        name="Change Day 2028",
        slug="change-day-2028",
        opens_at=now + timedelta(days=200),
        change_day=(now + timedelta(days=230)).date(),
        deadline=now + timedelta(days=260),
    )
    closed = make_campaign(
        name="Change Day 2026",
        slug="change-day-2026",
        opens_at=now - timedelta(days=90),
        change_day=(now - timedelta(days=30)).date(),
        deadline=now - timedelta(days=10),
    )
    finished = make_campaign(
        name="Change Day 2025",
        slug="change-day-2025",
        opens_at=now - timedelta(days=400),
        change_day=(now - timedelta(days=370)).date(),
        deadline=now - timedelta(days=340),
        outcomes_close=now - timedelta(days=250),
    )
    return open_, upcoming, closed, finished


def site_data_make(*, make_campaign: Any, organiser: Any, stranger: Any) -> SiteData:
    """Everything above; the conftest fixtures of the same names give the arguments."""
    open_, upcoming, closed, finished = _campaigns(make_campaign)
    riverside = make_organisation(
        "Riverside Homes",
        domains=("riversidehomes.org.uk",),
        kind="housing-association",
        region="north-west",
        headcount=1200,
    )
    northfield = make_organisation(
        "Northfield General Hospital", kind="nhs-trust", region="midlands", headcount=5400
    )
    OrganisationCampaign.objects.create(
        organisation=riverside,
        campaign=open_,
        welcome="Everyone at Riverside is pledging this year: add yours.",
        contact_name="Priya, our Change Day lead",
    )

    for n in range(WALL_PLEDGES):
        org = (riverside, northfield, None)[n % 3]
        create_pledge(
            open_,
            100 + n,
            sectors=SECTORS[n % len(SECTORS)],
            region=REGIONS[n % len(REGIONS)],
            org=org,
            organisation=org.name if org else "",
        )
    named = create_pledge(
        open_,
        1,
        display_name="Sam Patel",
        role="Staff nurse",
        text="learn the name of every patient's carer on my ward",
        email="sam.patel@nhs.net",
        sectors=["nhs", "patient-carer"],
    )
    pledge_outcome_record(
        pledge=named,
        outcome="done",
        story_text="Carers now sign in at the desk and we greet them.",
        story_public=True,
    )
    started = create_pledge(open_, 2, sectors=["housing"], region="wales")
    pledge_outcome_record(pledge=started, outcome="started")
    anonymous = create_pledge(open_, 3, is_anonymous=True, role="Care worker", sectors=["social-care"])
    organisational = create_pledge(
        open_,
        4,
        kind="organisational",
        display_name="Riverside Homes",
        role="Housing association",
        org=riverside,
        organisation=riverside.name,
        email="k.ahmed@riversidehomes.org.uk",
        sectors=["housing", "social-care"],
        region="north-west",
    )
    markup = create_pledge(open_, 5, text=MARKUP, display_name="<i>Jo</i> & co", role='"><b>role</b>')
    unconfirmed = create_pledge(open_, 6, confirm=False)
    withdrawn = pledge_withdraw(pledge=create_pledge(open_, 7))
    flagged = create_pledge(open_, 8, text="read www.example.org/spam for the best pledge of all")
    hidden = create_pledge(open_, 9, text="a pledge three networks reported")
    for network in ("192.0.2.1", "198.51.100.1", "203.0.113.1"):
        pledge_report(pledge=hidden, reporter_key=network, network_key=network, reason="offensive")
    # Stories waiting for an organiser: one that may identify a patient, one kept private.
    pledge_outcome_record(
        pledge=create_pledge(open_, 10),
        outcome="done",
        story_text="Mr Jones in bed 4 sleeps better now",
        story_public=True,
    )
    pledge_outcome_record(
        pledge=create_pledge(open_, 11), outcome="not-yet", story_text="a quiet word", story_public=False
    )

    create_pledge(closed, 20, region="wales", kind="organisational", now=closed.deadline - timedelta(days=20))
    finished_pledge = create_pledge(finished, 21, now=finished.deadline - timedelta(days=20))
    return SiteData(
        open=open_,
        upcoming=upcoming,
        closed=closed,
        finished=finished,
        organiser=organiser,
        stranger=stranger,
        riverside=riverside,
        northfield=northfield,
        named=named,
        anonymous=anonymous,
        organisational=organisational,
        markup=markup,
        unconfirmed=unconfirmed,
        withdrawn=withdrawn,
        flagged=flagged,
        hidden=hidden,
        finished_pledge=finished_pledge,
        waiting_signup=signup(open_, "waiting@example.org", confirm=False),
        confirmed_signup=signup(upcoming, "early@example.org"),
    )


def _path(url: str) -> str:
    return urlsplit(url).path


def token_made_days_ago(days: int, *, purpose: str, value: str) -> str:
    """A genuine token as the real helper makes it, only the clock wound back."""
    moment = timezone.now() - timedelta(days=days)
    with mock.patch("django.core.signing.time.time", return_value=moment.timestamp()):
        return make_token(purpose=purpose, value=value)


def _at(name: str, token: str) -> str:
    return reverse(name, kwargs={"token": token})


def site_places(site: SiteData) -> dict[str, str]:
    """What page addresses are written with: "/campaigns/{open}/wall/", "/pledges/{named}/",
    "{confirm_link}" (the path of a link from an email)."""
    expired_confirm = pledge_confirmation_token(pledge=site.unconfirmed).split(":")[0]
    signup_id = site.waiting_signup.public_id
    return {
        "open": site.open.slug,
        "upcoming": site.upcoming.slug,
        "closed": site.closed.slug,
        "finished": site.finished.slug,
        "riverside": site.riverside.slug,
        "northfield": site.northfield.slug,
        "named": site.named.public_id,
        "anonymous": site.anonymous.public_id,
        "organisational": site.organisational.public_id,
        "markup": site.markup.public_id,
        "finished_pledge": site.finished_pledge.public_id,
        # Links from emails: genuine, expired, and for a pledge that is no longer there.
        "confirm_link": _path(pledge_confirmation_url(pledge=site.unconfirmed)),
        "confirm_expired_link": _at(
            "pledges:confirm", token_made_days_ago(30, purpose=CONFIRM_PURPOSE, value=expired_confirm)
        ),
        "confirm_gone_link": _at("pledges:confirm", make_token(purpose=CONFIRM_PURPOSE, value=GONE)),
        "withdraw_link": _path(pledge_withdraw_url(pledge=site.anonymous)),
        "withdrawn_link": _path(pledge_withdraw_url(pledge=site.withdrawn)),
        "outcome_link": _path(outcome_url(pledge=site.anonymous)),
        "outcome_answered_link": _path(outcome_url(pledge=site.named)),
        "outcome_withdrawn_link": _path(outcome_url(pledge=site.withdrawn)),
        "outcome_closed_link": _path(outcome_url(pledge=site.finished_pledge)),
        "outcome_gone_link": _at("pledges:outcome", make_token(purpose=OUTCOME_PURPOSE, value=GONE)),
        "data_link": _path(pledger_data_url(pledge=site.named)),
        "data_expired_link": _at(
            "pledges:data", token_made_days_ago(3, purpose=DATA_PURPOSE, value=site.named.public_id)
        ),
        "data_gone_link": _at("pledges:data", make_token(purpose=DATA_PURPOSE, value=GONE)),
        "remind_confirm_link": _path(signup_confirmation_url(signup=site.waiting_signup)),
        "remind_confirm_expired_link": _at(
            "reminders:confirm", token_made_days_ago(30, purpose=SIGNUP_CONFIRM_PURPOSE, value=signup_id)
        ),
        "unsubscribe_link": _at("reminders:unsubscribe", unsubscribe_token(pledge=site.named)),
        "unsubscribe_signup_link": _at(
            "reminders:unsubscribe", unsubscribe_token(signup=site.confirmed_signup)
        ),
        "stop_all_link": _at("reminders:stop-all", stop_all_token(pledge=site.named)),
        "stop_all_signup_link": _at("reminders:stop-all", stop_all_token(signup=site.confirmed_signup)),
        "follow_through_stop_link": _at(
            "reminders:follow-through-stop", follow_through_stop_token(pledge=site.named)
        ),
        "follow_through_stop_anonymous_link": _at(
            "reminders:follow-through-stop", follow_through_stop_token(pledge=site.anonymous)
        ),
        "follow_through_ended_link": _at(
            "reminders:follow-through-stop", follow_through_stop_token(pledge=site.finished_pledge)
        ),
    }

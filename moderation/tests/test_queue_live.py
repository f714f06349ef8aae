"""The open moderation queue learns what came in since it was opened (pledges waiting,
flagged by screening, hidden after reports, reports, stories) from a small endpoint it
asks every few seconds: one line in a polite live region, never a change to the cards."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.tools.management.commands import load_pledges
from campaigns.services import organiser_group_ensure
from conftest import create_pledge
from moderation.forms import NEWS_SINCE_ERROR
from moderation.services import pledge_moderate, pledge_report
from pledges.models import Pledge, Status
from pledges.outcomes import pledge_outcome_record

pytestmark = pytest.mark.django_db

QUEUE = "/moderation/"
NEWS = "/moderation/news/"
FLAGGED_TEXT = "read the handover notes at www.example.org/notes before every single shift"


@pytest.fixture
def organiser_client(client: Client, organiser: Any) -> Client:
    client.force_login(organiser)
    return client


@pytest.fixture
def second_organiser(django_user_model: Any) -> Any:
    user = django_user_model.objects.create_user(username="second@example.org", password="pw-second-1")
    user.groups.add(organiser_group_ensure())
    return user


def news_url(client: Client, query: str) -> str:
    """The address the queue page gives its live region, as the browser reads it."""
    response = client.get(f"{QUEUE}?{query}")
    assert response.status_code == 200
    region = re.search(r'<div id="mod-news"[^>]*>', response.content.decode())
    assert region, "the queue has no live region for news"
    tag = region.group(0)
    assert 'role="status"' in tag and 'aria-live="polite"' in tag
    return html.unescape(re.search(r'data-url="([^"]*)"', tag).group(1))


def news_line(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def parse_since(url: str) -> datetime:
    return datetime.fromisoformat(parse_qs(urlsplit(url).query)["since"][0])


def hide_by_reports(pledge: Pledge, *, n: int) -> None:
    pledge_moderate(pledge_ids=[pledge.pk], action="publish", actor=None)
    pledge.refresh_from_db()
    for visitor in range(n):
        pledge_report(
            pledge=pledge,
            reporter_key=f"r{pledge.pk}-{visitor}",
            network_key=f"n{visitor}",
            reason="offensive",
        )
    pledge.refresh_from_db()
    assert pledge.status == Status.HIDDEN


def test_the_news_counts_what_came_in_since_the_queue_was_opened(
    organiser_client: Client, pre_campaign: Any
) -> None:
    create_pledge(pre_campaign, 1)  # waiting before the page was opened: not news
    url = news_url(organiser_client, f"campaign={pre_campaign.slug}")
    assert news_line(organiser_client, url) == ""

    create_pledge(pre_campaign, 2)
    create_pledge(pre_campaign, 3, sectors=["housing"])
    create_pledge(pre_campaign, 4, text=FLAGGED_TEXT)
    create_pledge(pre_campaign, 5, confirm=False)  # not confirmed: not waiting
    hide_by_reports(create_pledge(pre_campaign, 6), n=pre_campaign.report_threshold)
    pledge_outcome_record(
        pledge=create_pledge(pre_campaign, 7),
        outcome="done",
        story_text="the ward now hands over at the bedside",
        story_public=True,
    )

    line = news_line(organiser_client, url)
    # Pledges 2, 3 and 7 wait; 4 was flagged; 6 was hidden after its reports.
    assert line == (
        "New since you opened this page at "
        f"{timezone.localtime(parse_since(url)):%H:%M}: 3 new pledges waiting, "
        "1 new pledge flagged by screening, 1 pledge newly hidden, "
        f"{pre_campaign.report_threshold} new reports, 1 new story waiting. Show them"
    )
    # The link brings them in: the queue itself, with the page's filters.
    assert f'href="/moderation/?campaign={pre_campaign.slug}"' in organiser_client.get(url).content.decode()

    # The same queue filtered to housing hears only of what it would show.
    housing = news_url(organiser_client, f"campaign={pre_campaign.slug}&sector=housing&status=hidden")
    assert "status" not in parse_qs(urlsplit(housing).query)
    create_pledge(pre_campaign, 8, sectors=["housing", "nhs"])
    create_pledge(pre_campaign, 9)
    assert "1 new pledge waiting." in news_line(organiser_client, housing)


def test_the_news_filtered_by_a_screening_flag_counts_only_what_carries_it(
    organiser_client: Client, pre_campaign: Any
) -> None:
    url = news_url(organiser_client, f"campaign={pre_campaign.slug}&flag=link")
    create_pledge(pre_campaign, 1)
    create_pledge(pre_campaign, 2, text=FLAGGED_TEXT)
    # Flagged, then published by an organiser and hidden after reports: its reports count too.
    flagged = create_pledge(pre_campaign, 3, text=FLAGGED_TEXT + " and after")
    hide_by_reports(flagged, n=pre_campaign.report_threshold)
    hide_by_reports(create_pledge(pre_campaign, 4), n=pre_campaign.report_threshold)

    line = news_line(organiser_client, url)

    assert line.endswith(
        ": 1 new pledge flagged by screening, 1 pledge newly hidden, "
        f"{pre_campaign.report_threshold} new reports. Show them"
    )
    assert (
        f'href="/moderation/?campaign={pre_campaign.slug}&amp;flag=link"'
        in organiser_client.get(url).content.decode()
    )


def test_an_organisers_own_decisions_are_not_news_but_a_colleagues_are(
    organiser_client: Client, organiser: Any, second_organiser: Any, pre_campaign: Any
) -> None:
    mine, theirs = create_pledge(pre_campaign, 1), create_pledge(pre_campaign, 2)
    url = news_url(organiser_client, f"campaign={pre_campaign.slug}")

    pledge_moderate(pledge_ids=[mine.pk], action="hide", actor=organiser)
    assert news_line(organiser_client, url) == ""

    pledge_moderate(pledge_ids=[theirs.pk], action="hide", actor=second_organiser)
    assert ": 1 pledge newly hidden. Show them" in news_line(organiser_client, url)


def test_a_report_on_a_pledge_still_on_the_wall_is_not_news(
    organiser_client: Client, pre_campaign: Any
) -> None:
    on_wall = create_pledge(pre_campaign, 1)
    pledge_moderate(pledge_ids=[on_wall.pk], action="publish", actor=None)
    url = news_url(organiser_client, f"campaign={pre_campaign.slug}")
    on_wall.refresh_from_db()
    # Below the threshold: the pledge stays on the wall, and the queue does not list it.
    pledge_report(pledge=on_wall, reporter_key="a", network_key="na", reason="spam")
    assert news_line(organiser_client, url) == ""


def test_the_news_costs_the_same_few_queries_however_much_came_in(
    organiser_client: Client, pre_campaign: Any
) -> None:
    url = news_url(organiser_client, f"campaign={pre_campaign.slug}")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            organiser_client.get(url)
        return len(captured.captured_queries)

    create_pledge(pre_campaign, 1)
    few = queries()
    for n in range(2, 30):
        create_pledge(pre_campaign, n, text=FLAGGED_TEXT + f" {n}" if n % 3 else f"pledge number {n} today")
    assert queries() == few
    line = news_line(organiser_client, url)
    assert ": 10 new pledges waiting, 19 new pledges flagged by screening. Show them" in line


@pytest.mark.parametrize(
    "query",
    [
        "since=%3Cscript%3Ealert(1)%3C/script%3E",
        "since=",
        "",
        "since=2001-01-01T00:00:00%2B00:00",  # older than a day: the page is stale
        "since=2999-01-01T00:00:00%2B00:00",
    ],
    ids=["markup", "empty", "missing", "too-old", "future"],
)
def test_a_since_the_page_could_not_have_sent_is_a_clear_400(
    organiser_client: Client, campaign: Any, query: str
) -> None:
    response = organiser_client.get(f"{NEWS}?campaign={campaign.slug}&{query}")

    assert response.status_code == 400
    body = response.content.decode()
    assert NEWS_SINCE_ERROR.replace("'", "&#x27;") in body
    assert "<script" not in body


def test_markup_in_the_filters_is_refused_and_never_echoed(organiser_client: Client, campaign: Any) -> None:
    since = timezone.now().isoformat()
    for query in (
        {"campaign": "<b>x</b>", "since": since},
        {"campaign": campaign.slug, "sector": '"><img src=x onerror=alert(1)>', "since": since},
    ):
        response = organiser_client.get(NEWS, query)
        assert response.status_code == 400
        assert "<b>x" not in response.content.decode()
        assert "<img" not in response.content.decode()


def test_the_news_is_for_organisers_only(client: Client, stranger: Any, campaign: Any) -> None:
    query = {"campaign": campaign.slug, "since": timezone.now().isoformat()}

    anonymous = client.get(NEWS, query)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/?next=/moderation/news/")

    client.force_login(stranger)
    assert client.get(NEWS, query).status_code == 403


def test_a_since_a_moment_ahead_of_the_server_is_accepted(organiser_client: Client, campaign: Any) -> None:
    since = (timezone.now() + timedelta(seconds=20)).isoformat()
    response = organiser_client.get(NEWS, {"campaign": campaign.slug, "since": since})
    assert response.status_code == 200


@pytest.mark.postgres_only("partial indexes and the planner's choice are PostgreSQL's")
def test_the_news_reads_the_queues_partial_indexes_not_the_campaigns_pledges(
    organiser_client: Client, campaign: Any
) -> None:
    call_command(load_pledges.Command(), campaign=campaign.slug, count=3000, seed=5)
    for n in range(20):
        create_pledge(campaign, n, text=FLAGGED_TEXT + f" {n}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pledges_pledge")
    url = news_url(organiser_client, f"campaign={campaign.slug}")

    with CaptureQueriesContext(connection) as captured:
        organiser_client.get(url)
    reads = [q["sql"] for q in captured.captured_queries if '"pledges_pledge"' in q["sql"]]
    assert len(reads) == 3  # waiting, flagged and hidden in one; reports; stories

    for sql in reads:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Seq Scan on pledges_pledge" not in plan, plan
        assert "pledge_queue_idx" in plan or "story_queue_idx" in plan, plan

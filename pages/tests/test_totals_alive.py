"""Issue 19 item 7, a total that feels alive: the count is the headline, early on the bar runs
to the next milestone instead of "0% of 500,000", "+N in the last hour", and the newest pledges
on the home page (published ones only, never an email)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from conftest import create_pledge
from pledges.selectors import campaign_milestones, next_milestone
from pledges.services import pledge_confirm

pytestmark = pytest.mark.django_db


def _page(path: str = "/") -> str:
    return Client().get(path).content.decode()


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def test_a_new_campaign_runs_its_bar_to_the_first_milestone_not_to_the_target(campaign: Campaign) -> None:
    html = _page()
    assert (
        'data-counter-progress data-target="500000" data-milestones="1000 10000 100000" value="0" max="1000"'
        in html
    )
    assert "Next milestone: 1,000 pledges, on the way to 500,000" in _text(html)
    assert "0% of the target" not in _text(html)
    assert '<h2 id="totals-heading" class="cd-headline">' in html


@pytest.mark.parametrize(
    ("total", "target", "expected"),
    [
        (0, 500_000, 1_000),
        (999, 500_000, 1_000),
        (1_000, 500_000, 10_000),
        (12_345, 500_000, 100_000),
        (100_000, 500_000, None),
        (100_000, 5_000_000, 1_000_000),
        (1_000_000, 50_000_000, 10_000_000),
        (10_000_000, 50_000_000, None),
        (0, 800, None),
        (5_000, 8_000, None),
    ],
)
def test_the_next_milestone_is_the_first_above_the_total_and_below_the_target(
    total: int, target: int, expected: int | None
) -> None:
    assert next_milestone(total=total, target=target) == expected


def test_milestones_go_on_by_tens_to_the_target_and_the_page_hands_the_script_the_same_list(
    make_campaign: Any,
) -> None:
    assert campaign_milestones(target=50_000_000) == [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
    assert campaign_milestones(target=1_000) == []
    campaign = make_campaign(target=50_000_000)

    html = _page(f"/campaigns/{campaign.slug}/")

    assert 'data-milestones="1000 10000 100000 1000000 10000000"' in html
    # One list: the script reads the page's, and keeps none of its own.
    script = (Path(settings.BASE_DIR) / "static" / "js" / "changeday.js").read_text()
    assert "dataset.milestones" in script
    assert "100000" not in script


def test_a_small_target_shows_the_share_of_the_target(make_campaign: Any) -> None:
    campaign = make_campaign(target=800)
    create_pledge(campaign)
    text = _text(_page(f"/campaigns/{campaign.slug}/"))
    assert "0% of the target of 800" in text
    assert "Next milestone" not in text


def test_pledges_published_in_the_last_hour_are_counted_and_older_ones_are_not(campaign: Campaign) -> None:
    create_pledge(campaign, 1)
    create_pledge(campaign, 2)
    older = create_pledge(campaign, 3, confirm=False)
    pledge_confirm(pledge=older, now=timezone.now() - timedelta(hours=2))
    html = _page(f"/campaigns/{campaign.slug}/")
    assert "+2 in the last hour" in _text(html)
    assert 'data-last-hour="2"' in html


def test_no_pledges_in_the_last_hour_shows_no_plus_zero(campaign: Campaign) -> None:
    html = _page(f"/campaigns/{campaign.slug}/")
    assert re.search(r'<p class="cd-last-hour[^"]*" data-last-hour="0" hidden>', html)


def test_the_home_page_shows_the_newest_published_pledges_and_no_emails(campaign: Campaign) -> None:
    for n in range(1, 5):
        create_pledge(campaign, n, text=f"bring <b>cake</b> to the night shift, week {n}")
    create_pledge(campaign, 9, confirm=False, text="a pledge nobody has confirmed yet")
    html = _page()
    recent = html.split('id="recent-heading"', 1)[1].split("</section>", 1)[0]
    assert recent.count('class="card cd-pledge-card') == 3
    assert "week 4" in recent and "week 3" in recent and "week 2" in recent and "week 1" not in recent
    assert "&lt;b&gt;cake&lt;/b&gt;" in recent and "<b>cake" not in recent
    assert "nobody has confirmed" not in html
    assert "@example.org" not in html


def test_the_moving_total_glows_only_without_reduced_motion() -> None:
    css = Path(settings.BASE_DIR, "static/css/changeday.css").read_text()
    assert ".cd-total.cd-moved { animation: cd-moved" in css
    reduced = css.split("@media (prefers-reduced-motion: reduce)", 1)[1].split("}\n}", 1)[0]
    assert ".cd-total.cd-moved { animation: none; }" in reduced

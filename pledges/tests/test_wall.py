"""The pledge wall: published pledges only, newest first, filters in the URL,
keyset pages, and never an email address."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from campaigns.selectors import campaign_memo_forget
from conftest import create_pledge
from moderation.services import pledge_moderate
from pledges.models import Pledge
from pledges.selectors import WALL_PAGE_SIZE

pytestmark = pytest.mark.django_db


def _pledge(campaign: Any, n: int, *, publish: bool = True, **overrides: Any) -> Pledge:
    return create_pledge(campaign, n, confirm=publish, **{"email": f"wall{n}@example.org", **overrides})


def _wall(campaign: Any, **query: str) -> Any:
    return Client().get(f"/campaigns/{campaign.slug}/wall/", query)


def _shown(response: Any) -> list[str]:
    return re.findall(r'href="/pledges/([0-9a-z]+)/"', response.content.decode())


def test_the_wall_shows_published_pledges_newest_first_and_nothing_else(
    campaign: Any, organiser: Any
) -> None:
    older = _pledge(campaign, 1)
    newer = _pledge(campaign, 2)
    unconfirmed = _pledge(campaign, 3, publish=False)
    hidden = _pledge(campaign, 4)
    pledge_moderate(pledge_ids=[hidden.pk], action="hide", actor=organiser)

    response = _wall(campaign)

    shown = list(dict.fromkeys(_shown(response)))
    assert response.status_code == 200
    assert shown == [newer.public_id, older.public_id]
    body = response.content.decode()
    assert unconfirmed.public_id not in body and hidden.public_id not in body
    assert "@example.org" not in body and "wall1" not in body
    assert f"/pledges/{newer.public_id}/#report" in body


def test_each_filter_narrows_the_wall_and_they_combine(campaign: Any) -> None:
    nhs = _pledge(campaign, 1, sectors=["nhs"], region="wales")
    joined = _pledge(campaign, 2, sectors=["housing", "social-care"], region="london")
    organisation = _pledge(
        campaign, 3, sectors=["housing"], kind="organisational", organisation="Leeds Housing", region="wales"
    )
    words = _pledge(campaign, 4, text="teach every new starter how to use the hoists safely")

    def ids(**query: str) -> set[str]:
        return set(_shown(_wall(campaign, **query)))

    assert ids(sector="housing") == {joined.public_id, organisation.public_id}
    assert ids(integration="1") == {joined.public_id}
    assert ids(region="wales") == {nhs.public_id, organisation.public_id}
    assert ids(kind="organisational") == {organisation.public_id}
    assert ids(organisation="leeds housing") == {organisation.public_id}
    assert ids(q="hoists") == {words.public_id}
    assert ids(sector="housing", region="wales") == {organisation.public_id}
    assert ids(sector="patient-carer") == set()


def test_pages_follow_on_without_repeats_and_keep_the_filters(campaign: Any) -> None:
    made = [_pledge(campaign, n, region="midlands") for n in range(WALL_PAGE_SIZE + 6)]
    _pledge(campaign, 999, region="london")

    first = _wall(campaign, region="midlands")
    next_link = (
        re.search(r'href="\?([^"]+)" rel="next"', first.content.decode()).group(1).replace("&amp;", "&")
    )
    assert "region=midlands" in next_link
    second = Client().get(f"/campaigns/{campaign.slug}/wall/?{next_link}")

    seen = list(dict.fromkeys(_shown(first))) + list(dict.fromkeys(_shown(second)))
    assert len(seen) == len(made) == len(set(seen))
    assert set(seen) == {p.public_id for p in made}
    assert 'rel="next"' not in second.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"cursor": "forged!!"}, "That page link is broken"),
        ({"cursor": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk6YWJj"}, "That page link is broken"),  # a year past 9999
        ({"sector": "dentistry"}, "Choose a sector from the list."),
        ({"region": "mars"}, "Choose a region from the list."),
        ({"kind": "both"}, "Choose personal or organisational."),
        ({"q": "x" * 300}, "Keep searches to 200 characters or fewer."),
        ({"q": "a\x00b"}, "Searches cannot contain null characters."),
    ],
)
def test_bad_filters_and_forged_cursors_get_a_400_with_a_message(
    campaign: Any, query: dict[str, str], message: str
) -> None:
    _pledge(campaign, 1)
    response = _wall(campaign, **query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_wall_costs_the_same_queries_for_few_or_many_pledges(campaign: Any) -> None:
    def queries() -> int:
        cache.clear()  # both measurements start cold: totals and the shared cards
        campaign_memo_forget()  # and the campaign
        with CaptureQueriesContext(connection) as captured:
            assert _wall(campaign).status_code == 200
        return len(captured)

    for n in range(3):
        _pledge(campaign, n, sectors=["nhs", "housing"])
    few = queries()
    for n in range(3, 30):
        _pledge(campaign, n, sectors=["nhs", "housing"])
    assert queries() == few


def test_the_atom_feed_lists_published_pledges_per_campaign_and_per_sector(campaign: Any) -> None:
    from xml.etree import ElementTree

    housing = _pledge(campaign, 1, sectors=["housing"], text="fix the <b>bins</b> & lights in block C")
    nhs = _pledge(campaign, 2, sectors=["nhs"])
    waiting = _pledge(campaign, 3, publish=False)

    def entries(path: str) -> list[str]:
        response = Client().get(path)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/atom+xml")
        body = response.content.decode()
        assert "@example.org" not in body and waiting.public_id not in body
        root = ElementTree.fromstring(response.content)
        ns = {"a": "http://www.w3.org/2005/Atom"}
        return [link.get("href") for link in root.findall("a:entry/a:link", ns)]

    everything = entries(f"/campaigns/{campaign.slug}/feed/")
    assert [href.rsplit("/", 2)[-2] for href in everything] == [nhs.public_id, housing.public_id]
    only_housing = entries(f"/campaigns/{campaign.slug}/feed/housing/")
    assert [href.rsplit("/", 2)[-2] for href in only_housing] == [housing.public_id]
    assert Client().get(f"/campaigns/{campaign.slug}/feed/dentistry/").status_code == 404


def test_an_unknown_integration_value_is_a_clear_400_not_silently_ignored(campaign: Any) -> None:
    response = Client().get(f"/campaigns/{campaign.slug}/wall/?integration=maybe")
    assert response.status_code == 400
    assert "Use integration=1" in response.content.decode()
    assert Client().get(f"/campaigns/{campaign.slug}/wall/?integration=off").status_code == 200

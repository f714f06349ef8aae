"""An organisation's page in a campaign and the index of organisations taking part."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.test import Client

from conftest import create_pledge
from organisations.models import OrganisationCampaign
from pages.tests.orgs import make_org, org_pledge
from pledges.outcomes import pledge_outcome_record
from pledges.services import pledge_withdraw

pytestmark = pytest.mark.django_db


def _page(campaign: Any, organisation: Any, query: str = "") -> Any:
    return Client().get(f"/campaigns/{campaign.slug}/organisations/{organisation.slug}/{query}")


def _body(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def riverside(campaign: Any) -> Any:
    """Riverside Homes with two published pledges, one waiting for its email and one withdrawn;
    Northfield with one of its own; a pledge naming no organisation."""
    riverside = make_org(1, name="Riverside Homes", slug="riverside-homes", kind="housing-association")
    northfield = make_org(2, name="Northfield General Hospital", slug="northfield-general")
    org_pledge(
        campaign,
        riverside,
        1,
        text="check every tenant leaving hospital has heating",
        sectors=["housing", "nhs"],
        email="tenant-checker@riverside.example",
    )
    org_pledge(campaign, riverside, 2, text="visit older tenants before winter", sectors=["social-care"])
    org_pledge(campaign, riverside, 3, text="an unconfirmed riverside promise", confirm=False)
    withdrawn = org_pledge(campaign, riverside, 4, text="a withdrawn riverside promise")
    pledge_withdraw(pledge=withdrawn)
    org_pledge(campaign, northfield, 5, text="learn the name of every patient")
    create_pledge(campaign, 6, text="a promise from nobody in the directory")
    return riverside


def test_an_organisations_page_shows_its_published_pledges_and_totals_by_sector(
    campaign: Any, riverside: Any
) -> None:
    response = _page(campaign, riverside)

    body = _body(response)
    assert response.status_code == 200
    assert '<h1 class="h2 mb-1">Riverside Homes</h1>' in body
    assert "check every tenant leaving hospital has heating" in body
    assert "visit older tenants before winter" in body
    assert "unconfirmed riverside promise" not in body and "withdrawn riverside promise" not in body
    assert "learn the name of every patient" not in body and "nobody in the directory" not in body
    assert re.search(r">2</span> published pledges for", body)
    sectors = dict(
        re.findall(r'<th scope="row" class="fw-normal">([^<]+)</th><td class="text-end">(\d+)</td>', body)
    )
    assert sectors == {"NHS": "1", "Social care": "1", "Housing": "1", "Patient or carer": "0"}
    # The pledger's address never reaches the page.
    assert "tenant-checker" not in body and "riverside.example" not in body


def test_the_walls_filters_narrow_an_organisations_pledges(campaign: Any, riverside: Any) -> None:
    housing = _body(_page(campaign, riverside, "?sector=housing"))
    assert "check every tenant leaving hospital" in housing and "visit older tenants" not in housing

    words = _body(_page(campaign, riverside, "?q=winter"))
    assert "visit older tenants before winter" in words and "check every tenant" not in words

    elsewhere = _body(_page(campaign, riverside, "?region=wales"))
    assert "No published pledges match these filters yet." in elsewhere

    # A typed organisation filter means nothing on an organisation's own page.
    named = _body(_page(campaign, riverside, "?organisation=Northfield+General+Hospital"))
    assert "visit older tenants before winter" in named and "learn the name of every patient" not in named


@pytest.mark.parametrize(
    "query",
    [
        "?sector=plumbing",
        "?region=atlantis",
        "?cursor=not-a-cursor!",
        "?q=" + "x" * 201,
        "?q=a%00b",
        "?order=oldest",
    ],
)
def test_a_bad_filter_or_cursor_is_a_400_saying_what_to_do(campaign: Any, riverside: Any, query: str) -> None:
    response = _page(campaign, riverside, query)

    assert response.status_code == 400
    assert 'role="alert"' in _body(response)


def test_an_organisations_pledges_page_by_keyset_cursor(campaign: Any) -> None:
    organisation = make_org(1)
    for n in range(1, 27):
        org_pledge(campaign, organisation, n, text=f"promise number {n:02d} from the team")

    first = _body(_page(campaign, organisation))
    next_url = re.search(r'href="(\?cursor=[^"]+)" rel="next"', first)
    assert next_url is not None
    second = _body(_page(campaign, organisation, next_url.group(1).replace("&amp;", "&")))

    seen_first = set(re.findall(r"promise number (\d\d)", first))
    seen_second = set(re.findall(r"promise number (\d\d)", second))
    assert len(seen_first) == 24 and len(seen_second) == 2
    assert not seen_first & seen_second and len(seen_first | seen_second) == 26
    assert 'rel="next"' not in second


def test_an_unknown_organisation_or_campaign_is_a_404(campaign: Any, riverside: Any) -> None:
    client = Client()
    assert client.get(f"/campaigns/{campaign.slug}/organisations/no-such-organisation/").status_code == 404
    assert client.get(f"/campaigns/no-such-campaign/organisations/{riverside.slug}/").status_code == 404
    assert client.get("/campaigns/no-such-campaign/organisations/").status_code == 404
    assert client.get(f"/campaigns/{campaign.slug}/organisations/{'a' * 500}/").status_code == 404
    assert client.get(f"/campaigns/{campaign.slug}/organisations/bad%00slug/").status_code == 404


def test_the_welcome_line_and_contact_show_escaped(campaign: Any, riverside: Any) -> None:
    OrganisationCampaign.objects.create(
        organisation=riverside,
        campaign=campaign,
        welcome='Welcome, team! <script>alert("x")</script><a href="https://evil.example">win</a>',
        contact_name="Jo <b>Bloggs</b>",
    )

    body = _body(_page(campaign, riverside))

    assert "Welcome, team! &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert '<a href="https://evil.example">' not in body and "<script>alert" not in body
    assert "Jo &lt;b&gt;Bloggs&lt;/b&gt;" in body


def test_a_page_without_a_welcome_line_shows_none(campaign: Any, riverside: Any) -> None:
    body = _body(_page(campaign, riverside))
    assert 'id="organisation-welcome"' not in body and 'id="organisation-contact"' not in body


def test_the_follow_through_shows_once_pledgers_say_how_it_went(campaign: Any) -> None:
    organisation = make_org(1)
    done = org_pledge(campaign, organisation, 1)
    started = org_pledge(campaign, organisation, 2)
    not_yet = org_pledge(campaign, organisation, 3)
    assert 'id="organisation-follow-through"' not in _body(_page(campaign, organisation))

    pledge_outcome_record(pledge=done, outcome="done")
    pledge_outcome_record(pledge=started, outcome="started")
    pledge_outcome_record(pledge=not_yet, outcome="not-yet")
    body = _body(_page(campaign, organisation))

    follow = re.search(r'id="organisation-follow-through">(.*?)</p>', body, re.S)
    assert follow is not None
    text = re.sub(r"<[^>]+>", "", follow.group(1))
    assert "the makers of 2 of these pledges said they became changes: 1 done and 1 started" in text
    changes = _body(_page(campaign, organisation, "?outcome=changes"))
    assert changes.count("Outcome: Done") == 1 and changes.count("Outcome: Started") == 1
    assert "Outcome: Not yet" not in changes


def test_the_share_link_is_a_plain_link_to_copy_with_no_third_party_script(
    campaign: Any, riverside: Any
) -> None:
    body = _body(_page(campaign, riverside))

    link = re.search(
        r'<input class="form-control" id="organisation-link" type="text" value="([^"]+)" readonly>', body
    )
    assert link is not None and link.group(1).endswith(
        f"/campaigns/{campaign.slug}/organisations/riverside-homes/"
    )
    assert 'data-copy-target="organisation-link"' in body
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', body)
    assert all(src.startswith("/") for src in scripts), scripts
    assert "<iframe" not in body


def test_the_organisation_page_offers_the_share_sheet_and_plain_links_with_the_hashtag(
    campaign: Any, riverside: Any
) -> None:
    body = _body(_page(campaign, riverside))
    page_url = f"http://testserver/campaigns/{campaign.slug}/organisations/riverside-homes/"

    sheet = re.search(r"<button[^>]*data-share-button[^>]*>", body)
    assert sheet is not None
    assert f'data-share-url="{page_url}"' in sheet.group(0)
    assert "#ChangeDay" in html.unescape(sheet.group(0))
    links = {
        network: html.unescape(href)
        for network, href in re.findall(r'data-share-link="([a-z]+)" href="([^"]+)"', body)
    }
    assert set(links) == {"whatsapp", "email", "facebook", "linkedin", "x"}
    for network, href in links.items():
        parts = urlsplit(href)
        carried = (
            unquote(parts.query)
            if parts.scheme == "mailto"
            else " ".join(value for values in parse_qs(parts.query).values() for value in values)
        )
        assert page_url in carried, network
        assert "ChangeDay" in carried, network
        assert "Riverside Homes" in carried or network == "facebook", network


def test_an_organisation_with_no_pledge_yet_has_a_page_that_asks_for_one(campaign: Any) -> None:
    organisation = make_org(7, name="Quiet Practice", kind="gp-practice")

    response = _page(campaign, organisation)

    assert response.status_code == 200
    assert "Be the first to pledge" in _body(response)


def test_a_new_pledge_shows_on_the_shared_page_at_once(campaign: Any, riverside: Any) -> None:
    assert "a brand new promise" not in _body(_page(campaign, riverside))

    org_pledge(campaign, riverside, 9, text="a brand new promise from the repairs team")

    body = _body(_page(campaign, riverside))
    assert "a brand new promise from the repairs team" in body
    assert re.search(r">3</span> published pledges for", body)


# --- The index ------------------------------------------------------------------------------


def _index(campaign: Any, query: str = "") -> Any:
    return Client().get(f"/campaigns/{campaign.slug}/organisations/{query}")


def test_the_index_lists_organisations_taking_part_a_to_z_with_their_counts(campaign: Any) -> None:
    zeta = make_org(1, name="Zeta Care", kind="care-provider", region="wales")
    alpha = make_org(2, name="Alpha Trust", kind="nhs-trust", region="london")
    never = make_org(3, name="Never Pledged Council", kind="council")
    gone = make_org(4, name="Withdrawn Charity", kind="charity")
    for n in range(1, 4):
        org_pledge(campaign, zeta, n)
    org_pledge(campaign, alpha, 10)
    pledge_withdraw(pledge=org_pledge(campaign, gone, 20))
    org_pledge(campaign, never, 30, confirm=False)

    body = _body(_index(campaign))

    rows = re.findall(
        r'organisations/([a-z0-9-]+)/">([^<]+)</a></th>'
        r'<td>([^<]+)</td><td>([^<]+)</td><td class="text-end">(\d+)',
        body,
    )
    assert rows == [
        (alpha.slug, "Alpha Trust", "NHS trust", "London", "1"),
        (zeta.slug, "Zeta Care", "Care provider", "Wales", "3"),
    ]
    assert "<caption>" in body and 'scope="col"' in body


def test_the_index_filters_by_kind_and_region(campaign: Any) -> None:
    care = make_org(1, name="Wales Care", kind="care-provider", region="wales")
    trust = make_org(2, name="London Trust", kind="nhs-trust", region="london")
    org_pledge(campaign, care, 1)
    org_pledge(campaign, trust, 2)

    by_kind = _body(_index(campaign, "?kind=care-provider"))
    by_region = _body(_index(campaign, "?region=london"))
    neither = _body(_index(campaign, "?kind=care-provider&region=london"))

    assert "Wales Care" in by_kind and "London Trust" not in by_kind
    assert "London Trust" in by_region and "Wales Care" not in by_region
    assert "No organisation matching these filters has a published pledge yet." in neither


@pytest.mark.parametrize("query", ["?kind=bank", "?region=mars", "?page=0", "?page=abc", "?page=99999999"])
def test_a_bad_index_filter_is_a_400_saying_what_to_do(campaign: Any, query: str) -> None:
    response = _index(campaign, query)
    assert response.status_code == 400 and 'role="alert"' in _body(response)


def test_the_index_pages(campaign: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pages.views_organisations.LEAGUE_PAGE_SIZE", 2)
    for n, name in enumerate(["Alder", "Birch", "Cedar", "Damson", "Elm"], start=1):
        org_pledge(campaign, make_org(n, name=name), n)

    first, second, third = (_body(_index(campaign, f"?page={page}")) for page in (1, 2, 3))

    def names(body: str) -> list[str]:
        return re.findall(r'/">([A-Z][a-z]+)</a></th>', body)

    assert (
        names(first) == ["Alder", "Birch"]
        and names(second) == ["Cedar", "Damson"]
        and names(third) == ["Elm"]
    )
    assert "Page 1 of 3" in first and 'href="?page=2" rel="next"' in first
    assert 'href="?page=1" rel="prev"' in second and 'rel="next"' not in third
    assert "<strong>5</strong> organisations taking part" in first
    past_the_end = _index(campaign, "?page=4")
    assert past_the_end.status_code == 400 and "not one of these pages" in _body(past_the_end)


def test_the_campaign_page_links_to_the_organisations_taking_part(campaign: Any) -> None:
    body = _body(Client().get(f"/campaigns/{campaign.slug}/"))
    assert f'href="/campaigns/{campaign.slug}/organisations/">Organisations taking part</a>' in body

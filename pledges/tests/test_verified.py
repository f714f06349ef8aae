"""Verified staff: a pledge confirmed from an address at its chosen organisation's domain
(or a subdomain) shows "verified: staff at <organisation>"; one from a staff domain the
campaign lists shows the campaign's label and names no organisation; anything else,
look-alike domains included, shows nothing. The address itself is never shown."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import create_pledge
from pledges.models import Verified
from pledges.tests.orgdata import make_organisation

pytestmark = pytest.mark.django_db

STAFF_SENTENCE = "We checked that this pledge was confirmed from an email address at Riverside Homes."
SHARED_SENTENCE = "We checked that this pledge was confirmed from an email address used by NHS staff."


@pytest.fixture
def nhs_campaign(make_campaign: Any) -> Any:
    return make_campaign(staff_domains="nhs.net\nhscni.net", staff_domains_label="NHS staff")


@pytest.fixture
def riverside(db: None) -> Any:
    return make_organisation(
        "Riverside Homes", domains=("riversidehomes.org.uk",), kind="housing-association"
    )


def _pages(pledge: Any) -> dict[str, str]:
    slug = pledge.campaign.slug
    client = Client()
    return {
        "permalink": client.get(f"/pledges/{pledge.public_id}/").content.decode(),
        "wall": client.get(f"/campaigns/{slug}/wall/").content.decode(),
        "feed": client.get(f"/campaigns/{slug}/feed/").content.decode(),
        "api": client.get(f"/api/v1/campaigns/{slug}/pledges").content.decode(),
    }


def _api_item(pledge: Any) -> dict[str, Any]:
    results = Client().get(f"/api/v1/campaigns/{pledge.campaign.slug}/pledges").json()["results"]
    (item,) = [row for row in results if row["public_id"] == pledge.public_id]
    return item


@pytest.mark.parametrize(
    "email",
    ["k.ahmed@riversidehomes.org.uk", "K.Ahmed@Staff.RiversideHomes.ORG.uk"],
    ids=["domain", "subdomain"],
)
def test_a_pledge_confirmed_from_its_organisations_domain_shows_verified_staff_and_says_what_was_checked(
    nhs_campaign: Any, riverside: Any, email: str
) -> None:
    pledge = create_pledge(nhs_campaign, 1, org=riverside, email=email)

    assert pledge.verified == Verified.STAFF
    pages = _pages(pledge)
    for name in ("permalink", "wall"):
        page = pages[name]
        assert '<span class="badge cd-verified">verified: staff at Riverside Homes</span>' in page, name
        # One sentence says what the badge means: shown on the permalink, read out on the wall's card.
        assert STAFF_SENTENCE in page, name
    assert f'<span class="small text-body-secondary">{STAFF_SENTENCE}</span>' in pages["permalink"]
    assert f'<span class="visually-hidden">{STAFF_SENTENCE}</span>' in pages["wall"]
    assert "Verified: staff at Riverside Homes." in pages["feed"]
    assert _api_item(pledge)["verified"] == {"kind": "staff", "label": "staff at Riverside Homes"}
    for name, page in pages.items():
        assert "ahmed" not in page.lower(), f"the address shows on the {name}"


def test_a_pledge_confirmed_from_a_shared_staff_domain_shows_the_campaigns_label_and_names_no_organisation(
    nhs_campaign: Any, riverside: Any
) -> None:
    # Chose an organisation, but confirmed from nhs.net, which every trust shares.
    pledge = create_pledge(nhs_campaign, 1, org=riverside, email="sam.jones@nhs.net")

    assert pledge.verified == Verified.SHARED_DOMAIN
    pages = _pages(pledge)
    for name in ("permalink", "wall"):
        assert '<span class="badge cd-verified">verified: NHS staff</span>' in pages[name], name
        assert SHARED_SENTENCE in pages[name]
        assert "staff at" not in pages[name]
    assert "Verified: NHS staff." in pages["feed"]
    assert _api_item(pledge)["verified"] == {"kind": "shared-domain", "label": "NHS staff"}
    assert all("sam.jones" not in page for page in pages.values())


def test_a_pledge_from_any_other_address_or_with_no_organisation_chosen_shows_no_badge(
    nhs_campaign: Any, riverside: Any
) -> None:
    personal = create_pledge(nhs_campaign, 1, org=riverside, email="kamal@gmail.com")
    # The organisation's domain, but no organisation chosen: staff of what?
    unchosen = create_pledge(nhs_campaign, 2, email="kamal@riversidehomes.org.uk")

    for pledge in (personal, unchosen):
        assert pledge.verified == ""
        pages = _pages(pledge)
        assert "cd-verified" not in pages["permalink"] and "cd-verified" not in pages["wall"]
        assert "Verified:" not in pages["feed"]
        assert _api_item(pledge)["verified"] is None


@pytest.mark.parametrize(
    "email",
    [
        "k@riversidehomes.org.uk.evil.example",  # the org's domain as a prefix of another
        "k@evilriversidehomes.org.uk",  # ends with it, without a dot boundary
        "k@riversidehоmes.org.uk",  # a Cyrillic "о" in the name
        "k@rivеrsidehomes.org.uk",  # a Cyrillic "е"
        "k@riversidehomes.org.uk@evil.example",  # the last @ decides the domain
        "k@org.uk",  # a parent of the org's domain is not the org's
        "k@evilnhs.net",
        "k@nhs.net.evil.example",
        "k@nhs.nеt",  # Cyrillic "е" in the shared domain
    ],
    ids=[
        "prefix",
        "no-dot-boundary",
        "cyrillic-o",
        "cyrillic-e",
        "two-ats",
        "parent",
        "shared-no-dot-boundary",
        "shared-prefix",
        "shared-cyrillic",
    ],
)
def test_a_look_alike_domain_verifies_nothing(nhs_campaign: Any, riverside: Any, email: str) -> None:
    pledge = create_pledge(nhs_campaign, 1, org=riverside, email=email)

    assert pledge.verified == ""
    assert "cd-verified" not in Client().get(f"/pledges/{pledge.public_id}/").content.decode()


def test_a_campaign_that_lists_no_shared_domain_verifies_only_organisations_own(
    campaign: Any, riverside: Any
) -> None:
    shared = create_pledge(campaign, 1, email="sam@nhs.net")
    staff = create_pledge(campaign, 2, org=riverside, email="sam@riversidehomes.org.uk")

    assert (shared.verified, staff.verified) == ("", Verified.STAFF)


def test_a_pledge_waiting_for_moderation_is_verified_when_confirmed_and_shows_it_once_published(
    make_campaign: Any, riverside: Any, organiser: Any
) -> None:
    from moderation.services import pledge_moderate

    pre = make_campaign(slug="pre-day", moderation_mode="pre")
    pledge = create_pledge(pre, 1, org=riverside, email="k@riversidehomes.org.uk")
    assert pledge.verified == Verified.STAFF
    assert "cd-verified" not in Client().get(f"/campaigns/{pre.slug}/wall/").content.decode()

    pledge_moderate(pledge_ids=[pledge.pk], action="publish", actor=organiser)

    assert (
        "verified: staff at Riverside Homes" in Client().get(f"/campaigns/{pre.slug}/wall/").content.decode()
    )


def test_the_wall_and_the_api_cost_the_same_queries_for_3_or_30_verified_pledges(
    nhs_campaign: Any, riverside: Any
) -> None:
    from django.core.cache import cache

    from campaigns.selectors import campaign_memo_forget

    others = [make_organisation(f"Care Home {n}", domains=(f"carehome{n}.org.uk",)) for n in range(3)]

    def add(start: int, count: int) -> None:
        for n in range(start, start + count):
            org = [riverside, *others][n % 4]
            domain = org.domains.first().domain
            email = f"p{n}@nhs.net" if n % 5 == 0 else f"p{n}@{domain}"
            create_pledge(nhs_campaign, n, org=org, email=email)

    def cost(url: str) -> int:
        cache.clear()
        campaign_memo_forget()
        with CaptureQueriesContext(connection) as captured:
            assert Client().get(url).status_code == 200
        return len(captured.captured_queries)

    urls = [f"/campaigns/{nhs_campaign.slug}/wall/", f"/api/v1/campaigns/{nhs_campaign.slug}/pledges"]
    add(0, 3)
    few = [cost(url) for url in urls]
    add(3, 27)
    assert [cost(url) for url in urls] == few
    wall = Client().get(urls[0]).content.decode()
    assert len(re.findall("verified: staff at", wall)) >= 10 and "verified: NHS staff" in wall


def test_the_openapi_document_describes_verified_and_the_organisation_filter(db: None) -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    components = schema["components"]["schemas"]
    pledge = components["PledgeOut"]["properties"]

    assert "null otherwise" in pledge["verified"]["description"]
    assert "organisation filter takes it" in pledge["organisation_slug"]["description"]
    verified = components["VerifiedOut"]["properties"]
    assert set(verified["kind"]["enum"]) == {"staff", "shared-domain"}
    assert "never given" in components["VerifiedOut"]["description"]
    assert "NHS staff" in verified["label"]["description"]
    params = {p["name"]: p for p in schema["paths"]["/api/v1/campaigns/{slug}/pledges"]["get"]["parameters"]}
    assert "its slug in the directory" in params["organisation"]["description"]

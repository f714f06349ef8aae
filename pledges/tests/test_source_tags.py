"""The source tag a poster's QR code carries to the pledge form (`?source=`), and the sector or
organisation it fills in: kept only when the site made it, never an error, never drawn back."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.test import Client

from campaigns.models import Campaign
from conftest import create_pledge
from organisations.models import Organisation
from pages.stats import campaign_stats, stats_cache_key
from pledges.models import Pledge
from pledges.services import pledge_confirm
from pledges.sources import source_clean, source_labels

pytestmark = pytest.mark.django_db

SOURCE_INPUT = re.compile(r'<input type="hidden" name="source"(?: value="([^"]*)")? id="id_source">')


@pytest.fixture
def riverside(db: None) -> Organisation:
    return Organisation.objects.create(
        code="RH1/2",
        name="Riverside Homes",
        slug="riverside-homes",
        kind="housing-association",
        region="london",
    )


def _form(campaign: Campaign) -> str:
    return f"/campaigns/{campaign.slug}/pledge/"


def _source_on(page: str) -> str:
    found = SOURCE_INPUT.findall(page)
    assert len(found) == 1, "the form should carry one source field"
    return found[0]


MADE_UP = [
    "poster-evil",
    "poster-nhs-extra",
    "org-nosuchcode",
    "org-",
    "org-.hidden",
    "POSTER",
    " card",
    "card\n",
    "poster\x00",
    "cârd",
    "<script>alert(1)</script>",
    "poster-nhs' OR '1'='1",
    "https://evil.example/pledge",
    "x" * 5000,
    "poster-" + "a" * 40,
]


@pytest.mark.parametrize("raw", MADE_UP)
def test_a_tag_the_site_did_not_make_is_dropped(raw: str, riverside: Organisation) -> None:
    assert source_clean(raw) == ""


@pytest.mark.parametrize(
    "tag",
    [
        "poster",
        "card",
        "poster-nhs",
        "poster-social-care",
        "poster-housing",
        "poster-patient-carer",
        "org-rh1/2",
    ],
)
def test_the_tags_the_site_makes_are_kept(tag: str, riverside: Organisation) -> None:
    assert source_clean(tag) == tag
    assert source_labels([tag])[tag]


def test_an_organisations_tag_counts_only_while_the_directory_holds_its_code(riverside: Organisation) -> None:
    assert source_clean("org-rh1/2") == "org-rh1/2"
    riverside.delete()
    assert source_clean("org-rh1/2") == ""


def test_a_flood_of_made_up_sources_stores_none_and_adds_no_label(
    campaign: Campaign, pledge_data: dict[str, Any], riverside: Organisation
) -> None:
    # Fresh cookies each time and a different address on the loopback: one troll acting as many.
    for n, raw in enumerate(MADE_UP * 2):
        data = {
            **pledge_data,
            "email": f"troll{n}@example.org",
            "text": f"{pledge_data['text']} number {n}",
            "submission_token": str(uuid.uuid4()),
            "source": raw,
        }
        response = Client().post(_form(campaign), data, REMOTE_ADDR=f"127.0.0.{n % 250 + 1}")
        assert response.status_code == 302, response.content[:500]

    assert Pledge.objects.count() == 2 * len(MADE_UP)
    assert set(Pledge.objects.values_list("source", flat=True)) == {""}
    for pledge in Pledge.objects.all():
        pledge_confirm(pledge=pledge)
    from django.core.cache import cache

    cache.delete(stats_cache_key(campaign.pk))
    sources = [(row.label, row.count) for row in campaign_stats(campaign=campaign).sources]
    assert sources == [("Direct or other", 2 * len(MADE_UP))]


def test_markup_in_the_source_is_dropped_and_never_drawn_back(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    markup = '"><script>alert(1)</script>'
    client = Client()

    blank = client.get(_form(campaign), {"source": markup}).content.decode()
    assert _source_on(blank) == ""
    assert "alert(1)" not in blank

    # Sent with a mistake: the form comes back without the markup.
    refused = client.post(_form(campaign), {**pledge_data, "text": "", "source": markup})
    assert refused.status_code == 400
    assert _source_on(refused.content.decode()) == "" and "alert(1)" not in refused.content.decode()

    # "Find your organisation" draws the form back as typed, but not the markup.
    found = client.post(f"/campaigns/{campaign.slug}/pledge/organisation/", {**pledge_data, "source": markup})
    assert found.status_code == 200
    assert _source_on(found.content.decode()) == "" and "alert(1)" not in found.content.decode()


def test_a_posters_tag_survives_a_mistake_and_find_your_organisation(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    client = Client()
    refused = client.post(_form(campaign), {**pledge_data, "text": "", "source": "poster-nhs"})
    assert _source_on(refused.content.decode()) == "poster-nhs"
    found = client.post(
        f"/campaigns/{campaign.slug}/pledge/organisation/", {**pledge_data, "source": "poster-nhs"}
    )
    assert _source_on(found.content.decode()) == "poster-nhs"

    assert client.post(_form(campaign), {**pledge_data, "source": "poster-nhs"}).status_code == 302
    assert Pledge.objects.get().source == "poster-nhs"


def test_an_organisations_poster_link_fills_in_the_organisation_and_its_pledge_counts_for_it(
    campaign: Campaign, pledge_data: dict[str, Any], riverside: Organisation
) -> None:
    client = Client()
    page = client.get(_form(campaign), {"org": riverside.slug, "source": "org-rh1/2"}).content.decode()

    assert 'name="organisation" value="Riverside Homes"' in page
    assert f'name="org" value="{riverside.slug}"' in page
    assert _source_on(page) == "org-rh1/2"

    data = {**pledge_data, "organisation": "Riverside Homes", "org": riverside.slug, "source": "org-rh1/2"}
    assert client.post(_form(campaign), data).status_code == 302
    pledge = Pledge.objects.get()
    assert (pledge.org, pledge.source) == (riverside, "org-rh1/2")


@pytest.mark.parametrize(
    "query",
    [
        {"sector": "dentistry", "org": "no-such-organisation", "source": "org-zzz"},
        {"sector": "<script>alert(1)</script>", "org": "<b>x</b>", "source": "poster-<b>"},
        {"sector": "nhs\x00", "org": "x" * 5000, "source": "card\x00"},
        {"org": ["no-such-one", "nor-this"], "source": ["poster-evil", "org-nope"]},
    ],
)
def test_an_unknown_sector_or_organisation_in_the_forms_link_is_ignored(
    campaign: Campaign, query: dict[str, Any]
) -> None:
    response = Client().get(_form(campaign), query)

    assert response.status_code == 200
    page = response.content.decode()
    assert not re.search(r"<input[^>]*checked", page.split('name="kind"')[0]), "a sector was ticked"
    assert 'name="organisation" value=' not in page and 'name="org" value=' not in page
    assert _source_on(page) == ""
    assert "<script>alert" not in page and "<b>" not in page


def test_a_posters_link_leaves_the_next_visitors_form_blank(
    campaign: Campaign, riverside: Organisation
) -> None:
    first = Client().get(_form(campaign), {"sector": "nhs", "org": riverside.slug, "source": "poster-nhs"})
    assert re.search(r'<input[^>]*value="nhs"[^>]*checked', first.content.decode())

    plain = Client().get(_form(campaign)).content.decode()
    assert "checked" not in plain.split('name="kind"')[0]
    assert "Riverside Homes" not in plain and _source_on(plain) == ""
    other = Client().get(_form(campaign), {"sector": "nhs", "source": "poster"}).content.decode()
    assert "Riverside Homes" not in other and _source_on(other) == "poster"


def test_the_service_refuses_a_source_the_site_does_not_make(campaign: Campaign) -> None:
    with pytest.raises(ValueError, match="Not a source tag"):
        create_pledge(campaign, 1, source="<b>made up</b>")
    assert not Pledge.objects.exists()

"""Organisations in the public API, and the organisers' CSV of organisations' totals."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from organisations.models import OrganisationCampaign, OrganisationDomain
from organisations.services import organisation_totals_apply
from pages.api_organisations import LeagueOut, OrganisationInCampaignOut
from pages.tests.orgs import make_org, org_pledge
from pledges.outcomes import pledge_outcome_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def orgs(campaign: Any) -> dict[str, Any]:
    riverside = make_org(
        1,
        name="Riverside Homes",
        slug="riverside-homes",
        kind="housing-association",
        region="wales",
        headcount=200,
    )
    OrganisationDomain.objects.create(organisation=riverside, domain="riversidehomes.example")
    leeds = make_org(2, name="Leeds Teaching Hospitals", slug="leeds-th", kind="nhs-trust", headcount=None)
    make_org(3, name="Quiet Council", slug="quiet-council", kind="council", region="london", headcount=50)
    done = org_pledge(
        campaign,
        riverside,
        1,
        sectors=["housing", "social-care"],
        email="secret.pledger@riversidehomes.example",
    )
    org_pledge(campaign, riverside, 2, sectors=["housing"])
    org_pledge(campaign, leeds, 3, sectors=["nhs"])
    pledge_outcome_record(pledge=done, outcome="done")
    OrganisationCampaign.objects.create(
        organisation=riverside, campaign=campaign, welcome="Welcome, Riverside!", contact_name="Jo Bloggs"
    )
    return {"riverside": riverside, "leeds": leeds}


def _json(path: str) -> Any:
    response = Client().get(path)
    return response.status_code, response.json()


def test_the_directory_lists_organisations_a_to_z_with_their_public_facts(campaign: Any, orgs: Any) -> None:
    status, body = _json("/api/v1/organisations/")

    assert status == 200
    assert [row["name"] for row in body["results"]] == [
        "Leeds Teaching Hospitals",
        "Quiet Council",
        "Riverside Homes",
    ]
    assert body["count"] == 3 and body["next_page"] is None
    riverside = body["results"][2]
    assert riverside == {
        "slug": "riverside-homes",
        "code": "T00001",
        "name": "Riverside Homes",
        "kind": "housing-association",
        "region": "wales",
        "postcode": "",
        "headcount": 200,
        "domains": ["riversidehomes.example"],
    }


def test_the_directory_searches_filters_and_pages(campaign: Any, orgs: Any) -> None:
    assert [r["slug"] for r in _json("/api/v1/organisations/?q=riverside")[1]["results"]] == [
        "riverside-homes"
    ]
    assert [r["slug"] for r in _json("/api/v1/organisations/?q=T00002")[1]["results"]] == ["leeds-th"]
    assert [r["slug"] for r in _json("/api/v1/organisations/?kind=council")[1]["results"]] == [
        "quiet-council"
    ]
    assert [r["slug"] for r in _json("/api/v1/organisations/?region=wales")[1]["results"]] == [
        "riverside-homes"
    ]
    first = _json("/api/v1/organisations/?limit=2")[1]
    second = _json("/api/v1/organisations/?limit=2&page=2")[1]
    assert len(first["results"]) == 2 and first["next_page"] == 2
    assert [r["slug"] for r in second["results"]] == ["riverside-homes"] and second["next_page"] is None


def test_an_organisation_in_a_campaign_comes_with_its_totals(campaign: Any, orgs: Any) -> None:
    status, body = _json(f"/api/v1/campaigns/{campaign.slug}/organisations/riverside-homes")

    assert status == 200
    # Served from a cached body: still exactly what the documented schema says.
    assert OrganisationInCampaignOut.model_validate(body).model_dump(by_alias=True) == body
    assert body["campaign"] == campaign.slug
    assert body["organisation"]["name"] == "Riverside Homes"
    assert body["totals"] == {
        "pledges": 2,
        "by_sector": {"nhs": 0, "social-care": 1, "housing": 2, "patient-carer": 0},
        "done": 1,
        "started": 0,
    }
    assert body["welcome"] == "Welcome, Riverside!" and body["contact_name"] == "Jo Bloggs"
    assert body["url"].endswith(f"/campaigns/{campaign.slug}/organisations/riverside-homes/")


def test_the_league_ranks_by_pledges_or_per_100_staff(campaign: Any, orgs: Any) -> None:
    status, by_pledges = _json(f"/api/v1/campaigns/{campaign.slug}/league")
    _, by_staff = _json(f"/api/v1/campaigns/{campaign.slug}/league?per=staff")
    _, nhs = _json(f"/api/v1/campaigns/{campaign.slug}/league?kind=nhs-trust")

    assert status == 200
    for body in (by_pledges, by_staff, nhs):
        assert LeagueOut.model_validate(body).model_dump() == body
    assert [(r["rank"], r["slug"], r["pledges"]) for r in by_pledges["results"]] == [
        (1, "riverside-homes", 2),
        (2, "leeds-th", 1),
    ]
    assert (
        by_pledges["results"][0]["per_100_staff"] == 1.0 and by_pledges["results"][1]["per_100_staff"] is None
    )
    assert by_staff["per"] == "staff" and by_staff["left_out"] == 1 and by_staff["count"] == 1
    assert [r["slug"] for r in by_staff["results"]] == ["riverside-homes"]
    assert [r["slug"] for r in nhs["results"]] == ["leeds-th"]


def test_the_league_pages(campaign: Any) -> None:
    for n in range(5):
        organisation = make_org(n, name=f"Org {n}")
        organisation_totals_apply(campaign_id=campaign.pk, deltas={organisation.pk: {"pledges": 10 - n}})

    first = _json(f"/api/v1/campaigns/{campaign.slug}/league?limit=2")[1]
    last = _json(f"/api/v1/campaigns/{campaign.slug}/league?limit=2&page=3")[1]

    assert [r["name"] for r in first["results"]] == ["Org 0", "Org 1"] and first["next_page"] == 2
    assert [(r["rank"], r["name"]) for r in last["results"]] == [(5, "Org 4")] and last["next_page"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/organisations/?kind=bank",
        "/api/v1/organisations/?region=mars",
        "/api/v1/organisations/?q=" + "x" * 500,
        "/api/v1/organisations/?q=a%00b",
        "/api/v1/organisations/?page=0",
        "/api/v1/organisations/?limit=1000",
        "/api/v1/campaigns/{slug}/league?per=patients",
        "/api/v1/campaigns/{slug}/league?kind=bank",
        "/api/v1/campaigns/{slug}/league?page=" + "9" * 40,
    ],
)
def test_bad_parameters_are_a_400_with_one_sentence(campaign: Any, path: str) -> None:
    status, body = _json(path.format(slug=campaign.slug))
    assert status == 400 and isinstance(body["detail"], str) and body["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/campaigns/no-such-campaign/league",
        "/api/v1/campaigns/no-such-campaign/organisations/riverside-homes",
        "/api/v1/campaigns/{slug}/organisations/no-such-organisation",
        "/api/v1/campaigns/{slug}/organisations/" + "a" * 500,
        "/api/v1/campaigns/{slug}/organisations/bad%00slug",
    ],
)
def test_unknown_campaigns_and_organisations_are_a_404(campaign: Any, orgs: Any, path: str) -> None:
    status, body = _json(path.format(slug=campaign.slug))
    assert status == 404 and body["detail"]


def test_no_pledgers_address_reaches_any_organisation_answer(campaign: Any, orgs: Any) -> None:
    for path in (
        "/api/v1/organisations/",
        f"/api/v1/campaigns/{campaign.slug}/organisations/riverside-homes",
        f"/api/v1/campaigns/{campaign.slug}/league",
        f"/api/v1/campaigns/{campaign.slug}/league?per=staff",
    ):
        response = Client().get(path)
        assert response.status_code == 200
        assert "secret.pledger" not in response.content.decode() and "@" not in response.content.decode()
        assert response["Access-Control-Allow-Origin"] == "*"


def test_the_openapi_document_describes_the_organisation_endpoints(db: None) -> None:
    document = Client().get("/api/v1/openapi.json").json()

    paths = document["paths"]
    assert {
        "/api/v1/organisations/",
        "/api/v1/campaigns/{slug}/organisations/{org_slug}",
        "/api/v1/campaigns/{slug}/league",
    } <= set(paths)
    league = paths["/api/v1/campaigns/{slug}/league"]["get"]
    assert "per 100 staff" in league["description"] and "Ties share a rank" in league["description"]
    params = {param["name"]: param for param in league["parameters"]}
    assert params["per"]["schema"]["enum"] == ["", "pledges", "staff"]
    assert "nhs-trust" in params["kind"]["schema"]["enum"]
    directory = paths["/api/v1/organisations/"]["get"]
    assert {param["name"] for param in directory["parameters"]} >= {"q", "kind", "region", "page"}
    assert paths["/api/v1/campaigns/{slug}/organisations/{org_slug}"]["get"]["summary"]


# --- The organisers' CSV --------------------------------------------------------------------


def _export(client: Client, campaign: Any) -> Any:
    return client.get(f"/campaigns/{campaign.slug}/organisations/export.csv")


def test_organisers_get_every_organisation_with_its_totals_as_csv(
    campaign: Any, orgs: Any, organiser: Any
) -> None:
    client = Client()
    client.force_login(organiser)

    response = _export(client, campaign)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Cache-Control"] == "private, no-store"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_slug = {row["slug"]: row for row in rows}
    assert list(by_slug) == ["leeds-th", "quiet-council", "riverside-homes"]
    riverside = by_slug["riverside-homes"]
    assert (riverside["pledges"], riverside["housing"], riverside["social_care"], riverside["done"]) == (
        "2",
        "2",
        "1",
        "1",
    )
    assert riverside["domains"] == "riversidehomes.example" and riverside["per_100_staff"] == "1.0"
    assert riverside["welcome"] == "Welcome, Riverside!" and riverside["contact_name"] == "Jo Bloggs"
    assert by_slug["quiet-council"]["pledges"] == "0" and by_slug["leeds-th"]["per_100_staff"] == ""
    assert "secret.pledger" not in b"".join(_export(client, campaign).streaming_content).decode()


def test_the_csv_is_formula_safe(campaign: Any, organiser: Any) -> None:
    evil = make_org(9, name='=HYPERLINK("https://evil.example","click")', slug="evil")
    OrganisationCampaign.objects.create(
        organisation=evil, campaign=campaign, welcome="+1 cmd|' /C calc'!A0", contact_name="@SUM(1+1)"
    )
    client = Client()
    client.force_login(organiser)

    rows = list(csv.DictReader(io.StringIO(b"".join(_export(client, campaign).streaming_content).decode())))

    assert rows[0]["name"] == '\'=HYPERLINK("https://evil.example","click")'
    assert rows[0]["welcome"] == "'+1 cmd|' /C calc'!A0" and rows[0]["contact_name"] == "'@SUM(1+1)"


def test_strangers_and_visitors_cannot_export(campaign: Any, orgs: Any, stranger: Any) -> None:
    client = Client()
    visitor = _export(client, campaign)
    client.force_login(stranger)
    refused = _export(client, campaign)

    assert visitor.status_code == 302 and "/accounts/login/" in visitor["Location"]
    assert refused.status_code == 403


def test_an_unknown_campaigns_export_is_a_404(organiser: Any) -> None:
    client = Client()
    client.force_login(organiser)
    assert client.get("/campaigns/no-such-campaign/organisations/export.csv").status_code == 404


def test_the_export_costs_the_same_queries_for_5_or_50_organisations(
    campaign: Any, organiser: Any, django_assert_max_num_queries: Any
) -> None:
    client = Client()
    client.force_login(organiser)
    for organisations in (5, 50):
        for n in range(organisations - (0 if organisations == 5 else 5)):
            organisation = make_org(1000 + organisations * 100 + n)
            organisation_totals_apply(campaign_id=campaign.pk, deltas={organisation.pk: {"pledges": n + 1}})
        with django_assert_max_num_queries(9):
            response = _export(client, campaign)
            lines = b"".join(response.streaming_content).decode().splitlines()
        assert len(lines) == organisations + 1


def test_an_organisations_totals_in_the_api_count_a_new_pledge_at_once(campaign: Any, orgs: Any) -> None:
    path = f"/api/v1/campaigns/{campaign.slug}/organisations/riverside-homes"
    assert _json(path)[1]["totals"]["pledges"] == 2

    org_pledge(campaign, orgs["riverside"], 40, sectors=["patient-carer"])

    totals = _json(path)[1]["totals"]
    assert totals["pledges"] == 3 and totals["by_sector"]["patient-carer"] == 1
    league = _json(f"/api/v1/campaigns/{campaign.slug}/league")[1]
    assert league["results"][0]["pledges"] == 3

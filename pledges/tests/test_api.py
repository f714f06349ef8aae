"""The public JSON API under /api/v1/: campaigns, counters, published pledges,
never an email or a database id, and never a 5xx for anything in a query string."""

from __future__ import annotations

import json
import time
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from conftest import create_pledge
from moderation.services import pledge_moderate
from pledges.api import COUNTERS_TTL_SECONDS, counters_cache_forget
from pledges.models import Pledge

pytestmark = pytest.mark.django_db

SLUGS = ("change-day-2027", "pre-day", "second-day")
PLEDGE_KEYS = {
    "public_id",
    "text",
    "display_name",
    "role",
    "organisation",
    "organisation_slug",
    "verified",
    "region",
    "kind",
    "sectors",
    "published_at",
    "url",
    "outcome",
    "story",
}


@pytest.fixture(autouse=True)
def _no_cached_counters() -> Iterator[None]:
    """Cached counters outlive a test in Redis; each test starts without them."""
    counters_cache_forget(*SLUGS)
    yield
    counters_cache_forget(*SLUGS)


def _pledge(campaign: Any, n: int, *, publish: bool = True, **overrides: Any) -> Pledge:
    values = {
        "text": f"ask one patient each day what matters to them, number {n}",
        "role": "Physiotherapist",
        "email": f"api{n}@example.org",
    }
    return create_pledge(campaign, n, confirm=publish, **{**values, **overrides})


def _get(path: str, query: dict[str, str] | None = None, **headers: str) -> Any:
    return Client().get(path, query or {}, headers=headers)


def _pledges(campaign: Any, **query: str) -> Any:
    return _get(f"/api/v1/campaigns/{campaign.slug}/pledges", query)


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _keys(item)}
    return set()


def test_the_campaign_list_gives_each_campaigns_public_details_and_phase(make_campaign: Any) -> None:
    current = make_campaign()
    make_campaign(name="Second day", slug="second-day")

    response = _get("/api/v1/campaigns/")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert {item["slug"] for item in body} == {current.slug, "second-day"}
    first = next(item for item in body if item["slug"] == current.slug)
    assert set(first) == {
        "slug",
        "name",
        "hashtag",
        "description",
        "opens_at",
        "change_day",
        "deadline",
        "target",
        "phase",
    }
    assert first["phase"] == "open"
    assert first["target"] == 500_000 and first["hashtag"] == "ChangeDay"


def test_the_counters_have_exactly_the_contract_shape(campaign: Any) -> None:
    response = _get(f"/api/v1/campaigns/{campaign.slug}/counters")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert {"campaign", "total", "target", "by_sector", "updated_at"} <= set(body)
    assert set(body) - {"campaign", "total", "target", "by_sector", "updated_at"} <= {
        "integration",
        "by_region",
        "by_kind",
        "by_outcome",
    }
    assert body["by_outcome"] == {"done": 0, "started": 0}
    assert body["campaign"] == campaign.slug
    assert body["total"] == 0 and body["target"] == 500_000
    assert body["by_sector"] == {"nhs": 0, "social-care": 0, "housing": 0, "patient-carer": 0}
    assert body["updated_at"] is None


def test_the_counters_move_after_a_pledge_is_published_within_the_cache_lifetime(campaign: Any) -> None:
    url = f"/api/v1/campaigns/{campaign.slug}/counters"
    assert _get(url).json()["total"] == 0

    _pledge(campaign, 1, sectors=["nhs", "housing"])
    time.sleep(1.1)

    body = _get(url).json()
    assert body["total"] == 1
    assert body["by_sector"] == {"nhs": 1, "social-care": 0, "housing": 1, "patient-carer": 0}
    assert body["integration"] == 1
    assert body["updated_at"] is not None


def test_the_counters_carry_cache_control_cors_and_an_etag_that_answers_304(campaign: Any) -> None:
    url = f"/api/v1/campaigns/{campaign.slug}/counters"
    response = _get(url)
    etag = response["ETag"]

    assert response["Cache-Control"] == "public, max-age=1, stale-while-revalidate=5"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10

    again = _get(url, If_None_Match=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert again["Access-Control-Allow-Origin"] == "*"

    assert _get(url, If_None_Match='"something-else"').status_code == 200

    _pledge(campaign, 1)
    counters_cache_forget(campaign.slug)
    changed = _get(url, If_None_Match=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_an_unknown_campaign_is_a_json_404(campaign: Any) -> None:
    for path in ("/api/v1/campaigns/no-such-day/counters", "/api/v1/campaigns/no-such-day/pledges"):
        response = _get(path)
        assert response.status_code == 404
        assert response["Access-Control-Allow-Origin"] == "*"
        assert response.json()["detail"]


def test_the_pledge_list_shows_published_pledges_only_with_public_fields(
    campaign: Any, pre_campaign: Any, organiser: Any
) -> None:
    older = _pledge(campaign, 1)
    anonymous = _pledge(campaign, 2, is_anonymous=True, display_name="Secret Name")
    unconfirmed = _pledge(campaign, 3, publish=False)
    hidden = _pledge(campaign, 4)
    pledge_moderate(pledge_ids=[hidden.pk], action="hide", actor=organiser)
    _pledge(pre_campaign, 5)

    response = _pledges(campaign)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert [item["public_id"] for item in body["results"]] == [anonymous.public_id, older.public_id]
    assert body["next_cursor"] is None
    for item in body["results"]:
        assert set(item) == PLEDGE_KEYS
    first, second = body["results"]
    assert first["display_name"] == "anonymous"
    assert "Secret Name" not in response.content.decode()
    assert second["display_name"] == "Person 1"
    assert second["sectors"] == ["nhs"]
    assert second["url"] == f"{settings.SITE_URL}/pledges/{older.public_id}/"
    text = response.content.decode()
    assert unconfirmed.public_id not in text and hidden.public_id not in text
    assert not {"id", "pk", "email", "campaign_id"} & _keys(body)
    for pledge in (older, anonymous):
        assert f'"id":{pledge.pk}' not in text.replace(" ", "")
    assert _pledges(pre_campaign).json()["results"] == []


def test_the_pledge_list_filters_like_the_wall(campaign: Any) -> None:
    nhs = _pledge(campaign, 1, sectors=["nhs"], region="wales")
    joined = _pledge(campaign, 2, sectors=["housing", "social-care"], region="london")
    organisation = _pledge(
        campaign, 3, sectors=["housing"], kind="organisational", organisation="Leeds Housing", region="wales"
    )
    words = _pledge(campaign, 4, text="teach every new starter how to use the hoists safely")

    def ids(**query: str) -> set[str]:
        response = _pledges(campaign, **query)
        assert response.status_code == 200
        return {item["public_id"] for item in response.json()["results"]}

    assert ids(sector="housing") == {joined.public_id, organisation.public_id}
    assert ids(integration="1") == {joined.public_id}
    assert ids(region="wales") == {nhs.public_id, organisation.public_id}
    assert ids(kind="organisational") == {organisation.public_id}
    assert ids(organisation="leeds housing") == {organisation.public_id}
    assert ids(q="hoists") == {words.public_id}
    assert ids(sector="housing", region="wales") == {organisation.public_id}


def test_cursor_pages_walk_every_published_pledge_once(campaign: Any) -> None:
    made = {_pledge(campaign, n).public_id for n in range(7)}

    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = _pledges(campaign, **query).json()
        assert len(body["results"]) <= 3
        seen += [item["public_id"] for item in body["results"]]
        cursor = body["next_cursor"]
        if not cursor:
            break

    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == made


def test_no_response_body_holds_an_email_address(campaign: Any) -> None:
    for n in range(3):
        _pledge(campaign, n, organisation="Ward 7")
    _pledge(campaign, 9, publish=False)

    for path in (
        "/api/v1/campaigns/",
        f"/api/v1/campaigns/{campaign.slug}/counters",
        f"/api/v1/campaigns/{campaign.slug}/pledges",
        f"/api/v1/campaigns/{campaign.slug}/pledges?limit=100",
        "/api/v1/openapi.json",
    ):
        response = _get(path)
        assert response.status_code == 200, path
        assert "@example" not in response.content.decode(), path


def test_the_openapi_document_describes_the_three_endpoints_and_no_docs_page_is_served(db: None) -> None:
    response = _get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = json.loads(response.content)
    assert set(document["paths"]) >= {
        "/api/v1/campaigns/",
        "/api/v1/campaigns/{slug}/counters",
        "/api/v1/campaigns/{slug}/pledges",
    }
    # The docs page would load Swagger UI from a CDN.
    assert _get("/api/v1/docs").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {"limit": str(10**30)},
        {"limit": "101"},
        {"limit": "-1"},
        {"limit": "0"},
        {"limit": "ten"},
        {"limit": "1e3"},
        {"q": "hoists\x00; drop table"},
        {"organisation": "Leeds\x00"},
        {"q": "x" * 5000},
        {"cursor": "not-a-cursor"},
        {"cursor": "!!!!"},
        {"cursor": urlsafe_b64encode(b"99999999999999999999999999:abc").decode()},
        {"cursor": urlsafe_b64encode(b"1:abc\x00def").decode()},
        {"cursor": urlsafe_b64encode(b"1:' or 1=1 --").decode()},
        {"cursor": "\x00"},
        {"sector": "dentistry"},
        {"sector": "nhs\x00"},
        {"region": "atlantis"},
        {"kind": "robot"},
    ],
)
def test_hostile_query_strings_get_a_400_with_a_message_never_a_5xx(
    campaign: Any, query: dict[str, str]
) -> None:
    _pledge(campaign, 1)

    response = _pledges(campaign, **query)

    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert response["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/campaigns/%00/counters",
        "/api/v1/campaigns/%00/pledges",
        "/api/v1/campaigns/" + "a" * 5000 + "/counters",
        "/api/v1/campaigns/change-day-2027%00/pledges",
        "/api/v1/campaigns/change-day-2027/pledges?integration=%00&limit=&cursor=",
        "/api/v1/campaigns/change-day-2027/pledges?limit=1&limit=100000",
        "/api/v1/campaigns/change-day-2027/pledges?cursor=" + "A" * 10000,
    ],
)
def test_hostile_paths_and_repeated_parameters_are_never_a_5xx(campaign: Any, path: str) -> None:
    response = Client().get(path)

    assert 200 <= response.status_code < 500


def test_counters_served_from_a_process_copy_never_lag_the_shared_second(campaign: Any) -> None:
    url = f"/api/v1/campaigns/{campaign.slug}/counters"
    assert _get(url).json()["total"] == 0
    _pledge(campaign, 1)
    # This process may answer from its own copy, but never past the shared copy's second.
    deadline = time.monotonic() + COUNTERS_TTL_SECONDS + 1
    while _get(url).json()["total"] != 1:
        assert time.monotonic() < deadline, "the counters lagged a publish by more than their second"
        time.sleep(0.05)

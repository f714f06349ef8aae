"""The embeddable counter partner sites put in an iframe."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conftest import create_pledge

pytestmark = pytest.mark.django_db


def test_the_widget_shows_the_live_total_and_may_be_framed_and_cached(campaign: Any) -> None:
    create_pledge(campaign, 1, sectors=["housing"], email="widget-one@example.org")
    create_pledge(campaign, 2, sectors=["nhs"])
    create_pledge(campaign, 3, confirm=False)

    response = Client().get(f"/campaigns/{campaign.slug}/widget/")

    body = response.content.decode()
    assert response.status_code == 200
    assert '<span class="count">2</span>' in body
    assert "X-Frame-Options" not in response.headers
    assert "public" in response["Cache-Control"] and "stale-while-revalidate" in response["Cache-Control"]
    assert "@example.org" not in body and "widget-one" not in body


def test_the_widget_counts_one_sector_when_asked(campaign: Any) -> None:
    create_pledge(campaign, 1, sectors=["housing", "nhs"])
    create_pledge(campaign, 2, sectors=["nhs"])

    body = Client().get(f"/campaigns/{campaign.slug}/widget/", {"sector": "housing"}).content.decode()

    assert '<span class="count">1</span>' in body and "Housing pledges" in body


def test_an_unknown_sector_is_a_400_and_the_campaign_page_shows_the_snippet(campaign: Any) -> None:
    assert Client().get(f"/campaigns/{campaign.slug}/widget/", {"sector": "x<y"}).status_code == 400
    page = Client().get(f"/campaigns/{campaign.slug}/").content.decode()
    assert f"&lt;iframe src=&quot;http://testserver/campaigns/{campaign.slug}/widget/&quot;" in page or (
        f'&lt;iframe src="http://testserver/campaigns/{campaign.slug}/widget/"' in page
    )
    # Other pages still refuse to be framed.
    assert Client().get(f"/campaigns/{campaign.slug}/")["X-Frame-Options"] == "DENY"

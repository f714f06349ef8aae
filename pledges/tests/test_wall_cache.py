"""The wall is shared between visitors for a moment (pledges/views.py): the
whole page for visitors without a session, the cards for organisers. Nobody
ever gets a page made for someone else."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import create_pledge

pytestmark = pytest.mark.django_db


def _wall(client: Client, campaign: Any) -> Any:
    response = client.get(f"/campaigns/{campaign.slug}/wall/")
    assert response.status_code == 200
    return response


def test_a_reload_within_the_second_is_served_from_the_shared_page_without_a_query(campaign: Any) -> None:
    create_pledge(campaign, 1)
    cache.clear()
    first = _wall(Client(), campaign)
    with CaptureQueriesContext(connection) as captured:
        again = _wall(Client(), campaign)
    assert again.content == first.content
    # The campaign that keys the page is the one this process read a moment ago.
    assert captured.captured_queries == []
    assert "Cookie" in again["Vary"]


def test_an_organiser_never_gets_the_visitors_page_nor_the_visitor_the_organisers(
    campaign: Any, organiser: Any
) -> None:
    create_pledge(campaign, 1)
    cache.clear()
    signed_in = Client()
    signed_in.force_login(organiser)

    assert "Organiser login" in _wall(Client(), campaign).content.decode()
    organiser_page = _wall(signed_in, campaign).content.decode()
    assert "Log out" in organiser_page and "Organiser login" not in organiser_page
    visitor_page = _wall(Client(), campaign).content.decode()
    assert "Organiser login" in visitor_page and "Log out" not in visitor_page


def test_a_pledge_hidden_by_an_organiser_leaves_the_shared_wall_at_once(
    campaign: Any, organiser: Any
) -> None:
    from moderation.services import pledge_moderate

    kept = create_pledge(campaign, 1)
    hidden = create_pledge(campaign, 2)
    cache.clear()
    assert hidden.public_id in _wall(Client(), campaign).content.decode()

    pledge_moderate(pledge_ids=[hidden.pk], action="hide", actor=organiser)

    page = _wall(Client(), campaign).content.decode()
    assert hidden.public_id not in page and kept.public_id in page
